import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ECSClient } from '@aws-sdk/client-ecs';
import { awsClientConfig } from '../lib/aws';
import { realClock } from '../lib/clock';
import { InputError, runAsStep, type InputReader, type StepEntry } from '../lib/step';
import { CloudWatchMetricSource } from './cloudwatch-metric-source';
import { run, type Inputs } from './run';

/**
 * `node --import tsx pipelines/canary-analysis/main.ts` with INPUT_* set: compares the canary's
 * version with the stable one over CloudWatch during the bake and rolls it back on a failure.
 * Outputs: verdict (pass | fail | inconclusive), reason, figures (JSON), rollback_requested.
 * Exit 0 on pass and on inconclusive (the workflow decides), 1 on fail, 2 on wrong inputs.
 */

const NAME = /^[A-Za-z0-9_-]{1,255}$/;
/** The same rule as the service's SERVICE_VERSION (service/shared/config.ts). */
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+:@-]{0,127}$/;

function matching(read: InputReader, name: string, pattern: RegExp, accepts: string): string {
  const value = read.string(name);
  if (!pattern.test(value)) throw new InputError(`input ${name} must be ${accepts} (got ${JSON.stringify(value)})`);
  return value;
}

function whole(read: InputReader, name: string, fallback: number, bounds: { min: number; max?: number }): number {
  const value = read.number(name, fallback, bounds);
  if (!Number.isInteger(value)) throw new InputError(`input ${name} must be a whole number (got ${value})`);
  return value;
}

export const entry: StepEntry<Inputs> = {
  title: (i) => `canary-analysis (${i.environment}: ${i.candidateVersion} vs ${i.stableVersion})`,

  inputs(read) {
    const albHint = 'the dimension value app/<name>/<id> (the ARN after ":loadbalancer/"), not the whole ARN';
    const tgHint = 'the dimension value targetgroup/<name>/<id> (the ARN from "targetgroup/" on), not the whole ARN';
    const inputs: Inputs = {
      region: matching(read, 'region', /^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-central-1'),
      cluster: matching(read, 'cluster', NAME, '1-255 letters, digits, - or _'),
      service: matching(read, 'service', NAME, '1-255 letters, digits, - or _'),
      environment: matching(read, 'environment', NAME, 'the stack name the service writes as its Environment dimension (staging, production)'),
      loadBalancer: matching(read, 'load_balancer', /^app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/, albHint),
      candidateTargetGroup: matching(read, 'candidate_target_group', /^targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/, tgHint),
      stableTargetGroup: matching(read, 'stable_target_group', /^targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/, tgHint),
      candidateVersion: matching(read, 'candidate_version', VERSION, "the candidate tasks' SERVICE_VERSION"),
      stableVersion: matching(read, 'stable_version', VERSION, "the stable tasks' SERVICE_VERSION"),
      // At most 2 hours: the deploy role's session (maxSessionDuration, docs/infra.md) ends there.
      bakeSeconds: whole(read, 'bake_seconds', 600, { min: 1, max: 7200 }),
      pollSeconds: whole(read, 'poll_seconds', 60, { min: 1, max: 7200 }),
      thresholds: {
        max5xxRate: read.number('max_5xx_rate', 0.02, { min: 0, max: 1 }),
        maxP99Ms: read.number('max_p99_ms', 2000, { min: 1 }),
        maxPaymentFailureRate: read.number('max_payment_failure_rate', 0.2, { min: 0, max: 1 }),
        maxWebhookFailureRate: read.number('max_webhook_failure_rate', 0.05, { min: 0, max: 1 }),
        minRequests: whole(read, 'min_requests', 50, { min: 1 }),
        minPayments: whole(read, 'min_payments', 5, { min: 1 }),
      },
      stopOnFail: read.boolean('stop_on_fail', true),
    };
    if (inputs.pollSeconds > inputs.bakeSeconds) throw new InputError(`input poll_seconds (${inputs.pollSeconds}) must not exceed bake_seconds (${inputs.bakeSeconds})`);
    // The same group or version on both sides would compare the canary with itself and always pass.
    if (inputs.candidateTargetGroup === inputs.stableTargetGroup) throw new InputError('inputs candidate_target_group and stable_target_group must differ');
    if (inputs.candidateVersion === inputs.stableVersion) throw new InputError('inputs candidate_version and stable_version must differ');
    return inputs;
  },

  async run(inputs) {
    const cloudwatch = new CloudWatchClient(awsClientConfig(inputs.region));
    const ecs = new ECSClient(awsClientConfig(inputs.region));
    const metrics = new CloudWatchMetricSource(cloudwatch, {
      loadBalancer: inputs.loadBalancer,
      environment: inputs.environment,
      targets: {
        candidate: { targetGroup: inputs.candidateTargetGroup, version: inputs.candidateVersion },
        stable: { targetGroup: inputs.stableTargetGroup, version: inputs.stableVersion },
      },
    });
    try {
      return await run(inputs, { metrics, ecs, clock: realClock });
    } finally {
      cloudwatch.destroy();
      ecs.destroy();
    }
  },
};

if (require.main === module) runAsStep(entry);
