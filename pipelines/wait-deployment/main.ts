import { ECSClient } from '@aws-sdk/client-ecs';
import { awsClientConfig } from '../lib/aws';
import { realClock } from '../lib/clock';
import { InputError, runAsStep, type InputReader, type StepEntry } from '../lib/step';
import { run, type WaitDeploymentInputs } from './run';

/**
 * `node --import tsx pipelines/wait-deployment/main.ts` with INPUT_REGION, INPUT_CLUSTER,
 * INPUT_SERVICE and optionally INPUT_STARTED_AFTER (ISO time), INPUT_TIMEOUT_SECONDS (3600),
 * INPUT_POLL_SECONDS (15). Outputs: status, deployment_arn, reason, task_definition, elapsed_seconds.
 */
export const entry: StepEntry<WaitDeploymentInputs> = {
  title: (inputs) => `wait-deployment (${inputs.cluster}/${inputs.service})`,
  inputs: (read) => {
    const startedAfter = isoTime(read, 'started_after');
    return {
      region: read.string('region'),
      cluster: read.string('cluster'),
      service: read.string('service'),
      ...(startedAfter !== undefined ? { startedAfter } : {}),
      timeoutSeconds: read.number('timeout_seconds', 3600, { min: 1 }),
      pollSeconds: read.number('poll_seconds', 15, { min: 1, max: 600 }),
    };
  },
  run: (inputs) => run(inputs, { ecs: new ECSClient(awsClientConfig(inputs.region)), clock: realClock }),
};

/** An optional ISO time input as epoch ms; refuses anything Date cannot read. */
export function isoTime(read: InputReader, name: string): number | undefined {
  const text = read.optional(name);
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new InputError(`input ${name} must be an ISO time such as 2026-11-29T10:00:00Z (got ${JSON.stringify(text)})`);
  return ms;
}

if (require.main === module) runAsStep(entry);
