import { ECSClient } from '@aws-sdk/client-ecs';
import { awsClientConfig } from '../lib/aws';
import { realClock } from '../lib/clock';
import { runAsStep, type StepEntry } from '../lib/step';
import { run, type AppRollbackInputs } from './run';

/**
 * `node --import tsx pipelines/app-rollback/main.ts` with INPUT_REGION, INPUT_CLUSTER,
 * INPUT_SERVICE, INPUT_REASON and optionally INPUT_TO_TASK_DEFINITION (ARN or family:revision),
 * INPUT_TIMEOUT_SECONDS (1800), INPUT_POLL_SECONDS (15). Outputs: changed, from_task_definition,
 * to_task_definition, image, status, elapsed_seconds.
 */
export const entry: StepEntry<AppRollbackInputs> = {
  title: (inputs) => `app-rollback (${inputs.cluster}/${inputs.service})`,
  inputs: (read) => {
    const toTaskDefinition = read.optional('to_task_definition');
    return {
      region: read.string('region'),
      cluster: read.string('cluster'),
      service: read.string('service'),
      reason: read.string('reason'),
      ...(toTaskDefinition ? { toTaskDefinition } : {}),
      timeoutSeconds: read.number('timeout_seconds', 1800, { min: 1 }),
      pollSeconds: read.number('poll_seconds', 15, { min: 1, max: 600 }),
    };
  },
  run: (inputs) => run(inputs, { ecs: new ECSClient(awsClientConfig(inputs.region)), clock: realClock }),
};

if (require.main === module) runAsStep(entry);
