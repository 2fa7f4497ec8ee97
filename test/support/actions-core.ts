import type { ActionsCore } from '../../pipelines/lib/step';

/**
 * @actions/core as a step entry uses it, for tests: inputs from a map (as `INPUT_*` would give
 * them), every output, failure, notice and masked secret recorded.
 */
export function fakeActionsCore(inputs: Record<string, string> = {}) {
  const calls = { outputs: {} as Record<string, unknown>, failed: [] as string[], info: [] as string[], secrets: [] as string[] };
  const core: ActionsCore = {
    getInput: (name, options) => {
      const value = inputs[name] ?? '';
      if (options?.required && !value) throw new Error(`Input required and not supplied: ${name}`);
      return options?.trimWhitespace === false ? value : value.trim();
    },
    setOutput: (name, value) => void (calls.outputs[name] = value),
    setFailed: (message) => void calls.failed.push(message),
    setSecret: (secret) => void calls.secrets.push(secret),
    info: (message) => void calls.info.push(message),
  };
  return { core, calls };
}

/** The production ECS service the pipeline steps' tests follow, and the ARNs ECS gives its parts. */
export const ECS_SERVICE = {
  cluster: 'upiik-payments-production',
  service: 'upiik-payments-production',
  deploymentArn: (id: string) => `arn:aws:ecs:eu-central-1:123456789012:service-deployment/upiik-payments-production/upiik-payments-production/${id}`,
  revisionArn: (n: number) => `arn:aws:ecs:eu-central-1:123456789012:service-revision/upiik-payments-production/upiik-payments-production/rev-${n}`,
  taskDefinition: (n: number) => `arn:aws:ecs:eu-central-1:123456789012:task-definition/upiik-payments-production:${n}`,
};
