import {
  DescribeServiceDeploymentsCommand,
  ListServiceDeploymentsCommand,
  type ECSClient,
  type ServiceDeployment,
  type ServiceDeploymentBrief,
} from '@aws-sdk/client-ecs';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ReportRow } from '../../scripts/lib/report';
import { isTransientAwsError } from '../lib/aws';
import type { StepClock } from '../lib/clock';
import { chooseCandidate, describeWeights, groupName, isSplit, readWeights, servingAlone, type Weights } from './listener-weights';

/**
 * The analysis starts with `pulumi up`, before ECS has a deployment, so it first waits for the canary
 * phase to begin: (a) a service deployment created at or after `startedAfter` is IN_PROGRESS, and
 * (b) the production listener rule forwards to both target groups. Only then is the candidate's group
 * known (listener-weights.ts) and its traffic worth judging. Every poll_seconds, bounded by the start
 * timeout; a throttled or 5xx call is a missed poll.
 */

export interface WaitForCanaryOptions {
  cluster: string;
  service: string;
  listenerRuleArn: string;
  targetGroupArns: readonly [string, string];
  /** Epoch ms: deployments created before are another release's. */
  startedAfter: number;
  /** Epoch ms: give up here. */
  deadline: number;
  pollSeconds: number;
}

export type CanaryStart =
  /** The canary phase is on: bake. `since` is the last moment the rule was seen unsplit (or `seenAt`). */
  | { kind: 'split'; deploymentArn: string; candidate: string; stable: string; weights: Weights; seenAt: number; since: number; rows: ReportRow[] }
  /** All traffic moved from one group to the other between two polls: ECS promoted the canary unseen. */
  | { kind: 'promoted'; deploymentArn: string; candidate: string; stable: string; rows: ReportRow[] }
  /** The deployment ended before any split was seen; `failed` unless it completed successfully. */
  | { kind: 'ended'; deployment: ServiceDeployment; failed: boolean; lastWeights?: Weights; rows: ReportRow[] }
  | { kind: 'timeout'; state: string; rows: ReportRow[] };

const FAILED = new Set(['ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS', 'ROLLBACK_SUCCESSFUL', 'ROLLBACK_FAILED', 'STOP_REQUESTED', 'STOPPED']);

export async function waitForCanary(options: WaitForCanaryOptions, deps: { ecs: ECSClient; elb: ElasticLoadBalancingV2Client; clock: StepClock }): Promise<CanaryStart> {
  const { clock } = deps;
  const started = clock.now();
  const rows: ReportRow[] = [];
  const waited = () => Math.round((clock.now() - started) / 1000);
  const since = new Date(options.startedAfter).toISOString();
  let deploymentArn: string | undefined;
  let state = `no service deployment of ${options.service} created at or after ${since} yet (if pulumi up created it earlier, pass started_after)`;
  let servingBefore: { arn: string; at: number } | undefined;
  let lastWeights: Weights | undefined;
  let polls = 0;
  let ambiguousNoted = false;

  for (;;) {
    polls += 1;
    try {
      deploymentArn ??= (await newestDeployment(deps.ecs, options))?.serviceDeploymentArn;
      if (deploymentArn) {
        const deployment = await describeDeployment(deps.ecs, deploymentArn);
        const status = deployment.status ?? 'unknown';
        if (status === 'SUCCESSFUL' || FAILED.has(status)) {
          rows.push({ name: 'wait for canary', ok: status === 'SUCCESSFUL', found: `deployment ${deploymentArn} ended ${status} after ${waited()} s, before any poll saw the listener rule split traffic${lastWeights ? ` (last weights ${describeWeights(lastWeights)})` : ''}` });
          return { kind: 'ended', deployment, failed: status !== 'SUCCESSFUL', lastWeights, rows };
        }
        state = `deployment ${deploymentArn} is ${status}${deployment.lifecycleStage ? ` (${deployment.lifecycleStage})` : ''}`;
        if (status === 'IN_PROGRESS') {
          const weights = await readWeights(deps.elb, options.listenerRuleArn, options.targetGroupArns);
          lastWeights = weights;
          const alone = servingAlone(weights);
          if (alone && servingBefore && alone !== servingBefore.arn) {
            // No need to wait out ECS's bake after the full shift: the canary phase is over.
            rows.push({ name: 'wait for canary', ok: true, found: `deployment ${deploymentArn} IN_PROGRESS; all traffic moved from ${groupName(servingBefore.arn)} to ${groupName(alone)} after ${waited()} s, between two polls: the canary split was not seen` });
            return { kind: 'promoted', deploymentArn, candidate: alone, stable: servingBefore.arn, rows };
          }
          if (alone) servingBefore = { arn: alone, at: clock.now() };
          state += `; listener rule not split yet: ${describeWeights(weights)}`;
          if (isSplit(weights)) {
            const choice = chooseCandidate(weights, servingBefore?.arn);
            if (choice) {
              const seenAt = clock.now();
              rows.push({ name: 'wait for canary', ok: true, found: `deployment ${deploymentArn} IN_PROGRESS; traffic split seen after ${waited()} s: ${describeWeights(weights)}` });
              rows.push({ name: 'candidate', ok: true, found: `${groupName(choice.candidate)} holds the new revision: ${choice.why}; ${groupName(choice.stable)} holds the stable one` });
              return { kind: 'split', deploymentArn, candidate: choice.candidate, stable: choice.stable, weights, seenAt, since: servingBefore?.at ?? seenAt, rows };
            }
            state = `deployment ${deploymentArn} is IN_PROGRESS; the listener rule splits traffic evenly (${describeWeights(weights)}) and this step never saw it unsplit, so the candidate's group cannot be told`;
            if (!ambiguousNoted) rows.push({ name: 'candidate', ok: false, found: state });
            ambiguousNoted = true;
          }
        }
      }
    } catch (error) {
      if (!isTransientAwsError(error)) throw error;
      rows.push({ name: `wait poll ${polls}`, ok: true, found: `missed (${errorText(error)}); the next poll asks again` });
    }
    if (clock.now() >= options.deadline) {
      rows.push({ name: 'wait for canary', ok: false, found: `no canary traffic split after ${waited()} s: ${state}` });
      return { kind: 'timeout', state, rows };
    }
    await clock.sleep(Math.min(options.pollSeconds * 1000, options.deadline - clock.now()));
  }
}

/** The newest deployment of the service created at or after `startedAfter` (ECS runs one at a time). */
async function newestDeployment(ecs: ECSClient, options: WaitForCanaryOptions): Promise<ServiceDeploymentBrief | undefined> {
  const all: ServiceDeploymentBrief[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecs.send(new ListServiceDeploymentsCommand({
      cluster: options.cluster,
      service: options.service,
      // A second of margin: the API does not say whether `after` includes its own instant; filtered exactly below.
      createdAt: { after: new Date(options.startedAfter - 1000) },
      nextToken,
    }));
    all.push(...(page.serviceDeployments ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return all
    .filter((d) => d.serviceDeploymentArn && (d.createdAt?.getTime() ?? 0) >= options.startedAfter)
    .sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0))[0];
}

async function describeDeployment(ecs: ECSClient, arn: string): Promise<ServiceDeployment> {
  const answer = await ecs.send(new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] }));
  const deployment = answer.serviceDeployments?.find((d) => d.serviceDeploymentArn === arn);
  if (!deployment) {
    const why = (answer.failures ?? []).map((f) => [f.reason, f.detail].filter(Boolean).join(': ')).join('; ');
    throw new Error(`DescribeServiceDeployments did not describe ${arn}${why ? ` (${why})` : ''}`);
  }
  return deployment;
}

/** Why ECS ended a deployment that failed, in one phrase: its alarms, its rollback reason or its status. */
export function whyEnded(deployment: ServiceDeployment): string {
  const alarms = (deployment.alarms?.triggeredAlarmNames ?? []).filter(Boolean);
  if (alarms.length > 0) return `ECS's own deployment alarms rolled it back (triggered: ${alarms.join(', ')})`;
  if (deployment.rollback?.reason) return `ECS rolled it back: ${deployment.rollback.reason}`;
  return deployment.statusReason ?? `status ${deployment.status ?? 'unknown'}`;
}

export const errorText = (error: unknown): string => {
  const e = error as { name?: string; message?: string };
  return [e?.name, e?.message].filter(Boolean).join(': ') || String(error);
};
