import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { awsClientConfig } from '../lib/aws';
import { realClock } from '../lib/clock';
import { InputError, runAsStep, type InputReader, type StepEntry } from '../lib/step';
import { CloudWatchMetricSource } from './cloudwatch-metric-source';
import { parseListenerRuleArn, parseTargetGroupArn } from './listener-weights';
import { run, type Discovery, type Inputs } from './run';

/**
 * `node --import tsx pipelines/canary-analysis/main.ts` with INPUT_* set: compares the canary's
 * version with the stable one over CloudWatch during the bake and rolls it back on a failure.
 *
 * Where the canary is, one of two forms (exactly one; a mix exits 2):
 * - `candidate_target_group` + `stable_target_group` (+ `load_balancer`): CloudWatch dimension values
 *   `targetgroup/<name>/<id>`, `app/<name>/<id>`; the bake starts at once.
 * - `listener_rule_arn` + `target_groups` (the service's two target group ARNs, comma or space
 *   separated; stack outputs productionListenerRuleArn and targetGroupArns): for a step started with
 *   production's `pulumi up`, which cannot know which group ECS will put the new revision in (it
 *   alternates them) nor when. The step waits, at most `start_timeout_seconds` (default 1800),
 *   polling every `poll_seconds`, for an ECS service deployment created at or after `started_after`
 *   (ISO 8601; default: when the step started; pass the time production's `pulumi up` started if
 *   the job may start later than the deployment) to be IN_PROGRESS and for the listener rule to
 *   forward to both groups; the candidate is the group that had no traffic before the split (else
 *   the smaller share: canaryPercent is at most 50). It then bakes from the split, with
 *   `load_balancer` defaulting to the rule's, and stops early when ECS moves all traffic to the
 *   candidate (its canary bake ended) or back to stable (it rolled back). A deployment ECS rolls
 *   back or stops before any split fails the step (ECS undid it; the rollback job runs); one that
 *   completes before any split is seen is inconclusive, not a failure.
 *
 * Outputs: verdict (pass | fail | inconclusive), reason, figures (JSON), rollback_requested,
 * candidate_target_group and stable_target_group (the ARNs found, or the dimension values given;
 * empty when no canary was found). Exit 0 on pass and on inconclusive (the workflow decides), 1 on
 * fail or when the canary could not be judged, 2 on wrong inputs. The whole step (wait and bake)
 * fits the deploy role's 2-hour session.
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

/** At most 2 hours in all: the deploy role's session (maxSessionDuration, docs/infra.md) ends there. */
const SESSION_SECONDS = 7200;
const ALB = /^app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/;
const TARGET_GROUP = /^targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const albHint = 'the dimension value app/<name>/<id> (the ARN after ":loadbalancer/"), not the whole ARN';
const tgHint = 'the dimension value targetgroup/<name>/<id> (the ARN from "targetgroup/" on), not the whole ARN';
const FORMS = 'give either candidate_target_group and stable_target_group (known target groups), or listener_rule_arn and target_groups (found during the deployment)';

/** Which form of the target group inputs was given; anything else is a wrong combination. */
function targetInputs(read: InputReader, region: string) {
  const named = { candidate: read.optional('candidate_target_group'), stable: read.optional('stable_target_group') };
  const rule = read.optional('listener_rule_arn');
  const groups = read.list('target_groups');
  const waitOnly = ['start_timeout_seconds', 'started_after'].filter((name) => read.optional(name) !== undefined);
  const anyNamed = named.candidate !== undefined || named.stable !== undefined;
  const anyRule = rule !== undefined || groups.length > 0;
  if (anyNamed && anyRule) throw new InputError(`${FORMS}, not both`);
  if (!anyNamed && !anyRule) throw new InputError(FORMS);

  if (anyNamed) {
    if (named.stable === undefined) throw new InputError('input stable_target_group is required with candidate_target_group');
    if (named.candidate === undefined) throw new InputError('input candidate_target_group is required with stable_target_group');
    if (waitOnly.length > 0) throw new InputError(`input ${waitOnly.join(' and ')} applies only with listener_rule_arn and target_groups`);
    const loadBalancer = matching(read, 'load_balancer', ALB, albHint);
    if (!TARGET_GROUP.test(named.candidate)) throw new InputError(`input candidate_target_group must be ${tgHint} (got ${JSON.stringify(named.candidate)})`);
    if (!TARGET_GROUP.test(named.stable)) throw new InputError(`input stable_target_group must be ${tgHint} (got ${JSON.stringify(named.stable)})`);
    // The same group on both sides would compare the canary with itself and always pass.
    if (named.candidate === named.stable) throw new InputError('inputs candidate_target_group and stable_target_group must differ');
    return { loadBalancer, candidateTargetGroup: named.candidate, stableTargetGroup: named.stable };
  }

  if (rule === undefined) throw new InputError('input listener_rule_arn is required with target_groups');
  if (groups.length === 0) throw new InputError('input target_groups is required with listener_rule_arn (the primary and alternate target group ARNs)');
  const parsedRule = parseListenerRuleArn(rule);
  if (!parsedRule) throw new InputError(`input listener_rule_arn must be an ALB listener rule ARN, arn:aws:elasticloadbalancing:<region>:<account>:listener-rule/app/<alb>/<id>/<listener>/<rule> (got ${JSON.stringify(rule)})`);
  if (groups.length !== 2) throw new InputError(`input target_groups must name exactly the two target group ARNs, primary and alternate (got ${groups.length})`);
  for (const arn of groups) {
    const parsed = parseTargetGroupArn(arn);
    if (!parsed) throw new InputError(`input target_groups must hold target group ARNs, arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id> (got ${JSON.stringify(arn)})`);
    if (parsed.region !== region || parsed.account !== parsedRule.account)
      throw new InputError(`input target_groups: ${arn} is not in the listener rule's account and region ${region} (${parsedRule.account})`);
  }
  if (parsedRule.region !== region) throw new InputError(`input listener_rule_arn is in ${parsedRule.region}, not in region ${region}`);
  if (groups[0] === groups[1]) throw new InputError('input target_groups must name two different target groups');
  const loadBalancer = read.optional('load_balancer');
  if (loadBalancer !== undefined) {
    if (!ALB.test(loadBalancer)) throw new InputError(`input load_balancer must be ${albHint} (got ${JSON.stringify(loadBalancer)})`);
    if (loadBalancer !== parsedRule.dimension) throw new InputError(`input load_balancer (${loadBalancer}) is not the listener rule's load balancer (${parsedRule.dimension}); leave it empty to use the rule's`);
  }
  const startedAfterText = read.optional('started_after');
  if (startedAfterText !== undefined && (!ISO_TIME.test(startedAfterText) || Number.isNaN(Date.parse(startedAfterText))))
    throw new InputError(`input started_after must be an ISO 8601 time with a zone, such as 2026-11-29T10:00:00Z (got ${JSON.stringify(startedAfterText)})`);
  const discover: Discovery = {
    listenerRuleArn: rule,
    targetGroupArns: [groups[0]!, groups[1]!],
    startTimeoutSeconds: whole(read, 'start_timeout_seconds', 1800, { min: 1, max: SESSION_SECONDS }),
    ...(startedAfterText !== undefined ? { startedAfter: new Date(startedAfterText) } : {}),
  };
  return { ...(loadBalancer !== undefined ? { loadBalancer } : {}), discover };
}

export const entry: StepEntry<Inputs> = {
  title: (i) => `canary-analysis (${i.environment}: ${i.candidateVersion} vs ${i.stableVersion})`,

  inputs(read) {
    const region = matching(read, 'region', /^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-central-1');
    const common = {
      region,
      cluster: matching(read, 'cluster', NAME, '1-255 letters, digits, - or _'),
      service: matching(read, 'service', NAME, '1-255 letters, digits, - or _'),
      environment: matching(read, 'environment', NAME, 'the stack name the service writes as its Environment dimension (staging, production)'),
    };
    const targets = targetInputs(read, region);
    const inputs: Inputs = {
      ...common,
      ...targets,
      candidateVersion: matching(read, 'candidate_version', VERSION, "the candidate tasks' SERVICE_VERSION"),
      stableVersion: matching(read, 'stable_version', VERSION, "the stable tasks' SERVICE_VERSION"),
      bakeSeconds: whole(read, 'bake_seconds', 600, { min: 1, max: SESSION_SECONDS }),
      pollSeconds: whole(read, 'poll_seconds', 60, { min: 1, max: SESSION_SECONDS }),
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
    if (inputs.discover && inputs.discover.startTimeoutSeconds + inputs.bakeSeconds > SESSION_SECONDS)
      throw new InputError(`inputs start_timeout_seconds (${inputs.discover.startTimeoutSeconds}) and bake_seconds (${inputs.bakeSeconds}) add up to more than ${SESSION_SECONDS} s, the deploy role's session`);
    // The same version on both sides would compare the canary with itself and always pass.
    if (inputs.candidateVersion === inputs.stableVersion) throw new InputError('inputs candidate_version and stable_version must differ');
    return inputs;
  },

  async run(inputs) {
    const cloudwatch = new CloudWatchClient(awsClientConfig(inputs.region));
    const ecs = new ECSClient(awsClientConfig(inputs.region));
    const elb = new ElasticLoadBalancingV2Client(awsClientConfig(inputs.region));
    const metrics = (targets: { loadBalancer: string; candidateTargetGroup: string; stableTargetGroup: string }) =>
      new CloudWatchMetricSource(cloudwatch, {
        loadBalancer: targets.loadBalancer,
        environment: inputs.environment,
        targets: {
          candidate: { targetGroup: targets.candidateTargetGroup, version: inputs.candidateVersion },
          stable: { targetGroup: targets.stableTargetGroup, version: inputs.stableVersion },
        },
      });
    try {
      return await run(inputs, { metrics, ecs, elb, clock: realClock });
    } finally {
      cloudwatch.destroy();
      ecs.destroy();
      elb.destroy();
    }
  },
};

if (require.main === module) runAsStep(entry);
