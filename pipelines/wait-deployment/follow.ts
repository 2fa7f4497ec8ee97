import type { ECSClient } from '@aws-sdk/client-ecs';
import type { ReportRow } from '../../scripts/lib/report';
import { isTransientAwsError } from '../lib/aws';
import type { StepClock } from '../lib/clock';
import {
  NOT_STARTED,
  describeService,
  describeServiceDeployments,
  listServiceDeployments,
  observeServiceDeployment,
  observeServiceFallback,
  primaryDeployment,
  revisionResolver,
  shortDeployment,
  shortTaskDefinition,
  type Observation,
  type ServiceRef,
} from './observe';

/**
 * The one wait loop of the release steps (wait-deployment follows a deployment with it,
 * app-rollback its rollback and the service settling): look, record a row when the state changes,
 * stop when ECS has decided or the deadline passes. A throttled or 5xx look is a missed poll; any
 * other error ends the wait with AWS's message.
 */
export type WaitStatus = 'successful' | 'rolled_back' | 'failed' | 'timed_out';

export interface WaitOptions {
  timeoutMs: number;
  pollMs: number;
}

export interface Transition {
  at: number;
  observation: Observation;
}

export interface WaitResult {
  status: WaitStatus;
  /** The last look (the deciding one unless timed out); undefined when every poll was missed. */
  last?: Observation;
  transitions: Transition[];
  missedPolls: number;
  lastMissed?: string;
  startedAt: number;
  endedAt: number;
}

export async function waitFor(observe: () => Promise<Observation>, options: WaitOptions, clock: StepClock): Promise<WaitResult> {
  const startedAt = clock.now();
  const deadline = startedAt + options.timeoutMs;
  const transitions: Transition[] = [];
  let last: Observation | undefined;
  let missedPolls = 0;
  let lastMissed: string | undefined;
  const result = (status: WaitStatus): WaitResult => ({ status, ...(last ? { last } : {}), transitions, missedPolls, ...(lastMissed ? { lastMissed } : {}), startedAt, endedAt: clock.now() });
  for (;;) {
    try {
      const seen = await observe();
      const previous = transitions.at(-1)?.observation;
      if (!previous || previous.state !== seen.state || previous.deploymentArn !== seen.deploymentArn) transitions.push({ at: clock.now(), observation: seen });
      last = seen;
      if (seen.outcome) return result(seen.outcome);
    } catch (error) {
      if (!isTransientAwsError(error)) throw awsFailure(error);
      missedPolls++;
      lastMissed = describeError(error);
    }
    const now = clock.now();
    if (now >= deadline) return result('timed_out');
    // The last poll lands on the deadline, not a poll interval past it.
    await clock.sleep(Math.min(options.pollMs, deadline - now));
  }
}

const describeError = (error: unknown): string => {
  const e = error as { name?: string; message?: string };
  return e?.name && e.name !== 'Error' ? `${e.name}: ${e.message ?? ''}` : (e?.message ?? String(error));
};

/** A non-transient error while waiting: the step fails with AWS's own words. */
const awsFailure = (error: unknown): Error => new Error(`ECS call failed while waiting: ${describeError(error)}`, { cause: error });

/**
 * Follows one deployment of a service: a given service deployment, or the newest one created at or
 * after `startedAfter` (the newest at all without it). A service that lists no service deployment
 * is followed through its DescribeServices deployments (the PRIMARY one at first sight).
 */
export function deploymentFollower(ecs: ECSClient, ref: ServiceRef, choose: { deploymentArn?: string; startedAfter?: number }): () => Promise<Observation> {
  const revisions = revisionResolver(ecs);
  let followed: { kind: 'service-deployment' | 'service'; id: string } | undefined = choose.deploymentArn ? { kind: 'service-deployment', id: choose.deploymentArn } : undefined;
  const since = choose.startedAfter !== undefined ? ` created at or after ${new Date(choose.startedAfter).toISOString()}` : '';
  return async () => {
    if (!followed) {
      const listed = await listServiceDeployments(ecs, ref, choose.startedAfter);
      const counted = listed.find((d) => choose.startedAfter === undefined || (d.createdAt?.getTime() ?? 0) >= choose.startedAfter);
      if (counted?.serviceDeploymentArn) followed = { kind: 'service-deployment', id: counted.serviceDeploymentArn };
      else if (listed.length > 0) return notStarted(`no service deployment${since} listed yet`);
      else {
        const service = await describeService(ecs, ref);
        const primary = primaryDeployment(service);
        if (!primary?.id || (choose.startedAfter !== undefined && (primary.createdAt?.getTime() ?? 0) < choose.startedAfter)) return notStarted(`no deployment${since} listed yet (DescribeServices)`);
        followed = { kind: 'service', id: primary.id };
        return observeServiceFallback(service, primary.id);
      }
    }
    if (followed.kind === 'service') return observeServiceFallback(await describeService(ecs, ref), followed.id);
    const [deployment] = await describeServiceDeployments(ecs, [followed.id]);
    return observeServiceDeployment(deployment!, revisions);
  };
}

const notStarted = (reason: string): Observation => ({ deploymentArn: '', state: NOT_STARTED, reason, triggeredAlarms: [], taskDefinition: '' });

/** One row per state change, with when it was seen and how long it lasted (until the next change or the end). */
export function transitionRows(result: WaitResult, isGood: (observation: Observation) => boolean): ReportRow[] {
  return result.transitions.map(({ at, observation }, i) => {
    const next = result.transitions[i + 1];
    const ended = next ? next.at : result.endedAt;
    const what = observation.deploymentArn
      ? `deployment ${shortDeployment(observation.deploymentArn)}${observation.taskDefinition ? ` (${shortTaskDefinition(observation.taskDefinition)})` : ''}`
      : 'no deployment';
    return {
      name: observation.state,
      ok: isGood(observation),
      found: `${new Date(at).toISOString()}: ${what}${observation.reason ? `: ${observation.reason}` : ''}`,
      ...(ended > at ? { durationMs: ended - at } : {}),
    };
  });
}

/** A row for missed polls, when there were any: they are not failures, but on-call should know AWS was throttling. */
export const missedPollRows = (result: WaitResult): ReportRow[] =>
  result.missedPolls > 0 ? [{ name: 'missed polls', ok: true, found: `${result.missedPolls} poll${result.missedPolls === 1 ? '' : 's'} missed (throttled or 5xx), last: ${result.lastMissed}` }] : [];
