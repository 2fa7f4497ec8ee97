import type { ECSClient } from '@aws-sdk/client-ecs';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { StepClock } from '../lib/clock';
import type { StepResult } from '../lib/step';
import { bake, type BakeSettings } from './bake';
import { describeWeights, groupName, parseListenerRuleArn, parseTargetGroupArn } from './listener-weights';
import type { MetricSource } from './metric-source';
import { waitForCanary, whyEnded, type CanaryStart } from './wait-for-canary';

/** Finding the canary during the deployment: the production listener rule and the service's two target groups. */
export interface Discovery {
  /** The production listener rule ECS shifts (`...:listener-rule/app/<alb>/<id>/<listener>/<rule>`). */
  listenerRuleArn: string;
  /** The primary and alternate target group ARNs, in any order: which is the candidate is found out. */
  targetGroupArns: [string, string];
  /** How long to wait for the deployment and its canary split before giving up. */
  startTimeoutSeconds: number;
  /** Deployments created before are not this release's; unset = when the step started. */
  startedAfter?: Date;
}

/** The bake's settings (cluster, service, versions, bake and poll seconds, thresholds, stopOnFail) and where. */
interface CommonInputs extends BakeSettings {
  region: string;
  environment: string;
}

/**
 * The step's inputs, checked by the entry (main.ts); the workflow passes them snake_case. Either the
 * target groups are named up front (`candidateTargetGroup`/`stableTargetGroup`, dimension values
 * `targetgroup/<name>/<id>`, with `loadBalancer` `app/<name>/<id>`), or `discover` says where to find
 * them once ECS starts the canary (`loadBalancer` then defaults to the rule's load balancer).
 */
export type Inputs = CommonInputs & (
  | { loadBalancer: string; candidateTargetGroup: string; stableTargetGroup: string; discover?: undefined }
  | { loadBalancer?: string; candidateTargetGroup?: undefined; stableTargetGroup?: undefined; discover: Discovery }
);

/** The CloudWatch dimension values one bake compares. */
export interface BakeTargets {
  loadBalancer: string;
  candidateTargetGroup: string;
  stableTargetGroup: string;
}

export interface Deps {
  /** The metric source for the target groups being compared (known only once the canary is found). */
  metrics: (targets: BakeTargets) => MetricSource;
  ecs: ECSClient;
  elb: ElasticLoadBalancingV2Client;
  clock: StepClock;
}

/**
 * Compares the canary's version with the stable one over the bake (bake.ts). With named target
 * groups the bake starts at once. With `discover`, the step first waits (wait-for-canary.ts) for
 * the release's ECS deployment and for the listener rule to split traffic, takes the candidate's
 * group from the weights, bakes from the split, and ends early when ECS ends the canary phase. A
 * deployment that ends before any split is reported: rolled back or stopped = not ok (ECS already
 * undid it; the rollback job runs), completed (or all traffic already on the new group) =
 * inconclusive (nothing to judge, the workflow decides).
 */
export async function run(inputs: Inputs, deps: Deps): Promise<StepResult> {
  const { clock } = deps;
  const started = clock.now();
  if (!inputs.discover) {
    const targets = { loadBalancer: inputs.loadBalancer, candidateTargetGroup: inputs.candidateTargetGroup, stableTargetGroup: inputs.stableTargetGroup };
    return bake(inputs, {
      metrics: deps.metrics(targets), ...targets, windowStart: started, bakeStart: started, before: [],
      outputs: { candidate_target_group: inputs.candidateTargetGroup, stable_target_group: inputs.stableTargetGroup },
    }, deps);
  }

  const { discover } = inputs;
  const found = await waitForCanary({
    cluster: inputs.cluster, service: inputs.service, listenerRuleArn: discover.listenerRuleArn, targetGroupArns: discover.targetGroupArns,
    startedAfter: discover.startedAfter?.getTime() ?? started, deadline: started + discover.startTimeoutSeconds * 1000, pollSeconds: inputs.pollSeconds,
  }, deps);
  if (found.kind !== 'split') return notBaked(inputs, discover, found, Math.round((clock.now() - started) / 1000));

  const targets = {
    loadBalancer: inputs.loadBalancer ?? dimension(parseListenerRuleArn(discover.listenerRuleArn)?.dimension, 'listener_rule_arn'),
    candidateTargetGroup: dimension(parseTargetGroupArn(found.candidate)?.dimension, 'target_groups'),
    stableTargetGroup: dimension(parseTargetGroupArn(found.stable)?.dimension, 'target_groups'),
  };
  return bake(inputs, {
    metrics: deps.metrics(targets), ...targets, windowStart: found.since, bakeStart: found.seenAt, before: found.rows,
    outputs: { candidate_target_group: found.candidate, stable_target_group: found.stable },
    watch: { ruleArn: discover.listenerRuleArn, candidateArn: found.candidate, stableArn: found.stable },
  }, deps);
}

/** The entry checked the ARNs; this only keeps the types honest. */
const dimension = (value: string | undefined, input: string): string => {
  if (!value) throw new Error(`input ${input} is not an ELBv2 ARN`);
  return value;
};

/** The canary phase never showed: the deployment ended first, or the start timeout passed. */
function notBaked(inputs: Inputs, discover: Discovery, found: Exclude<CanaryStart, { kind: 'split' }>, waitedSeconds: number): StepResult {
  const base = { candidate_target_group: '', stable_target_group: '', rollback_requested: false, verdict: 'inconclusive' };
  const canary = `The canary ${inputs.candidateVersion}`;
  if (found.kind === 'timeout') {
    return {
      ok: false,
      summary: `no canary traffic split within start_timeout_seconds (${discover.startTimeoutSeconds} s): ${found.state}. ${canary} was not judged and nothing was stopped; check the deployment in the ECS console (or aws ecs list-service-deployments), then re-run the analysis or decide by hand from the dashboards`,
      rows: found.rows,
      outputs: { ...base, reason: `no canary traffic split within ${discover.startTimeoutSeconds} s`, figures: JSON.stringify({ waitedSeconds, state: found.state }) },
    };
  }
  if (found.kind === 'promoted') {
    const why = `ECS moved all traffic from ${groupName(found.stable)} to ${groupName(found.candidate)} between two polls ${inputs.pollSeconds} s apart, so the canary split was never seen: the canary bake (canaryBakeTimeInMinutes) was shorter than poll_seconds`;
    return {
      ok: true,
      summary: `inconclusive (not a failure): ${why} (deployment ${found.deploymentArn} is still in its final bake). ${canary} was not judged and nothing was stopped: the workflow decides`,
      rows: [...found.rows, { name: 'verdict', ok: true, found: `WARNING inconclusive: ${why}` }],
      outputs: {
        ...base, candidate_target_group: found.candidate, stable_target_group: found.stable,
        reason: 'the canary phase ended between two polls, before any split was seen', figures: JSON.stringify({ waitedSeconds, deployment: found.deploymentArn }),
      },
    };
  }
  const { deployment } = found;
  const figures = JSON.stringify({
    waitedSeconds, deployment: deployment.serviceDeploymentArn, status: deployment.status,
    ...(found.lastWeights ? { lastWeights: describeWeights(found.lastWeights) } : {}),
  });
  if (found.failed) {
    const why = whyEnded(deployment);
    return {
      ok: false,
      summary: `ECS ended deployment ${deployment.serviceDeploymentArn} ${deployment.status} before the canary traffic split was seen: ${why}. ${canary} was not judged and this step stopped nothing; the rollback job runs; read runbooks/ecs-deployment-failed.md`,
      rows: found.rows,
      outputs: { ...base, reason: `deployment ${deployment.status} before any canary split: ${why}`, figures },
    };
  }
  const why = `no poll in ${waitedSeconds} s saw the listener rule split traffic: the canary bake (canaryBakeTimeInMinutes) was shorter than poll_seconds (${inputs.pollSeconds} s), or the canary phase was over before the step started`;
  return {
    ok: true,
    summary: `inconclusive (not a failure): ECS completed deployment ${deployment.serviceDeploymentArn} (SUCCESSFUL) but ${why}. ${canary} was not judged and nothing was stopped: the workflow decides`,
    rows: [...found.rows, { name: 'verdict', ok: true, found: `WARNING inconclusive: ${why}` }],
    outputs: { ...base, reason: `deployment completed before any canary split was seen (${why})`, figures },
  };
}
