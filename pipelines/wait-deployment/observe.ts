import {
  DescribeServiceDeploymentsCommand,
  DescribeServiceRevisionsCommand,
  DescribeServicesCommand,
  ListServiceDeploymentsCommand,
  type Deployment,
  type ECSClient,
  type Service,
  type ServiceDeployment,
  type ServiceDeploymentBrief,
} from '@aws-sdk/client-ecs';
import { ALARMS } from '../../infra/alarm-catalog';

/**
 * Reading an ECS deployment: which one to follow, and what ECS says about it at one look. Two
 * sources: service deployments (ListServiceDeployments / DescribeServiceDeployments: status,
 * triggered alarms, circuit breaker, rollback) and, for a service that lists none, the
 * deployments in DescribeServices (rolloutState and its reason).
 */
export interface ServiceRef {
  cluster: string;
  service: string;
}

/** What ECS decided about a deployment; undefined while it has not decided yet. */
export type Outcome = 'successful' | 'rolled_back' | 'failed';

export interface Observation {
  /** A service deployment ARN or, from DescribeServices, the deployment id (`ecs-svc/...`); empty before one exists. */
  deploymentArn: string;
  /** ECS's own word: a service deployment status, a rolloutState, or NOT_STARTED / SETTLING / STABLE. */
  state: string;
  outcome?: Outcome;
  /** Why, in ECS's words and ours: triggered alarms, circuit breaker counts, rollback and status reasons. */
  reason: string;
  triggeredAlarms: string[];
  /** The task definition being deployed (the target revision's). */
  taskDefinition: string;
}

export const NOT_STARTED = 'NOT_STARTED';

const OUTCOME_OF_STATUS: Record<string, Outcome> = {
  SUCCESSFUL: 'successful',
  ROLLBACK_SUCCESSFUL: 'rolled_back',
  ROLLBACK_FAILED: 'failed',
  // Stopped without a rollback: a failure with rollback off, or someone stopped it.
  STOPPED: 'failed',
};

/** Statuses of a service deployment that ECS is still working on, forward. */
export const ACTIVE_STATUSES: readonly string[] = ['PENDING', 'IN_PROGRESS'];
/** Statuses of a service deployment that ECS is taking back (stop or rollback requested). */
export const ROLLING_BACK_STATUSES: readonly string[] = ['STOP_REQUESTED', 'ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS'];

const time = (date: Date | undefined): number => date?.getTime() ?? 0;

/** The service's deployments, newest first (the API documents no order, so it is sorted here). */
export async function listServiceDeployments(ecs: ECSClient, ref: ServiceRef, createdAfter?: number): Promise<ServiceDeploymentBrief[]> {
  const all: ServiceDeploymentBrief[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecs.send(
      new ListServiceDeploymentsCommand({
        cluster: ref.cluster,
        service: ref.service,
        maxResults: 100,
        // A second of margin: the API does not say whether `after` includes its own instant; the caller filters exactly.
        ...(createdAfter !== undefined ? { createdAt: { after: new Date(createdAfter - 1000) } } : {}),
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    all.push(...(page.serviceDeployments ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return all.sort((a, b) => time(b.createdAt) - time(a.createdAt));
}

export async function describeServiceDeployments(ecs: ECSClient, arns: string[]): Promise<ServiceDeployment[]> {
  if (arns.length === 0) return [];
  const out = await ecs.send(new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: arns }));
  const found = out.serviceDeployments ?? [];
  if (found.length === 0) throw new Error(`ECS did not describe service deployment ${arns.join(', ')}: ${failures(out.failures)}`);
  return found;
}

export async function describeService(ecs: ECSClient, ref: ServiceRef): Promise<Service> {
  const out = await ecs.send(new DescribeServicesCommand({ cluster: ref.cluster, services: [ref.service] }));
  const service = out.services?.[0];
  if (!service) throw new Error(`ECS did not describe service ${ref.service} in cluster ${ref.cluster}: ${failures(out.failures)}`);
  return service;
}

const failures = (list: { arn?: string; reason?: string; detail?: string }[] | undefined): string =>
  list?.map((f) => `${f.reason ?? 'unknown'}${f.detail ? ` (${f.detail})` : ''}`).join('; ') || 'no failure given';

/**
 * Task definitions of service revisions (a service deployment names revisions, not task
 * definitions), remembered: a revision never changes its task definition.
 */
export function revisionResolver(ecs: ECSClient) {
  const known = new Map<string, string>();
  return async (revisionArns: (string | undefined)[]): Promise<Map<string, string>> => {
    const missing = [...new Set(revisionArns.filter((arn): arn is string => !!arn && !known.has(arn)))];
    // DescribeServiceRevisions takes at most 20 ARNs a call.
    for (let i = 0; i < missing.length; i += 20) {
      const out = await ecs.send(new DescribeServiceRevisionsCommand({ serviceRevisionArns: missing.slice(i, i + 20) }));
      for (const revision of out.serviceRevisions ?? []) if (revision.serviceRevisionArn && revision.taskDefinition) known.set(revision.serviceRevisionArn, revision.taskDefinition);
    }
    return known;
  };
}
export type RevisionResolver = ReturnType<typeof revisionResolver>;

/** A service deployment at one look. */
export async function observeServiceDeployment(deployment: ServiceDeployment, revisions: RevisionResolver): Promise<Observation> {
  const targetRevision = deployment.targetServiceRevision?.arn;
  const taskDefinitions = await revisions([targetRevision]);
  const state = deployment.status ?? 'UNKNOWN';
  const outcome = OUTCOME_OF_STATUS[state];
  const triggeredAlarms = deployment.alarms?.triggeredAlarmNames ?? [];
  const breaker = deployment.deploymentCircuitBreaker;
  const reasons: string[] = [];
  if (triggeredAlarms.length > 0) reasons.push(`${triggeredAlarms.length === 1 ? 'alarm' : 'alarms'} ${triggeredAlarms.join(', ')} triggered`);
  // A task that failed once and was replaced is normal; the count matters when the breaker tripped or the deployment did not succeed.
  if (breaker && (breaker.status === 'TRIGGERED' || ((breaker.failureCount ?? 0) > 0 && outcome !== undefined && outcome !== 'successful')))
    reasons.push(`circuit breaker: ${breaker.failureCount ?? 0} failed task${breaker.failureCount === 1 ? '' : 's'}${breaker.threshold !== undefined ? ` (threshold ${breaker.threshold})` : ''}`);
  for (const text of [deployment.rollback?.reason, deployment.statusReason]) if (text && !reasons.includes(text)) reasons.push(text);
  return {
    deploymentArn: deployment.serviceDeploymentArn ?? '',
    state,
    ...(outcome ? { outcome } : {}),
    reason: reasons.join('; '),
    triggeredAlarms,
    taskDefinition: (targetRevision && taskDefinitions.get(targetRevision)) || '',
  };
}

/**
 * A deployment listed by DescribeServices (services with no service deployment) at one look.
 * rolloutState FAILED beside a newer PRIMARY deployment is ECS putting the previous one back.
 */
export function observeServiceFallback(service: Service, deploymentId: string): Observation {
  const deployments = service.deployments ?? [];
  const mine = deployments.find((d) => d.id === deploymentId);
  const primary = deployments.find((d) => d.status === 'PRIMARY');
  if (!mine) {
    return {
      deploymentArn: deploymentId,
      state: 'GONE',
      outcome: 'failed',
      reason: `deployment ${deploymentId} is no longer listed; the primary deployment is ${primary?.id ?? 'none'} (${primary?.taskDefinition ?? 'no task definition'})`,
      triggeredAlarms: [],
      taskDefinition: '',
    };
  }
  const state = mine.rolloutState ?? 'IN_PROGRESS';
  const reason = mine.rolloutStateReason ?? '';
  const replaced = primary !== undefined && primary.id !== mine.id;
  const outcome: Outcome | undefined = state === 'COMPLETED' ? 'successful' : state === 'FAILED' ? (replaced ? 'rolled_back' : 'failed') : undefined;
  return { deploymentArn: deploymentId, state, ...(outcome ? { outcome } : {}), reason, triggeredAlarms: alarmsNamedIn(reason), taskDefinition: mine.taskDefinition ?? '' };
}

export const primaryDeployment = (service: Service): Deployment | undefined => service.deployments?.find((d) => d.status === 'PRIMARY');

// Longest first, so `...-payment-failure-rate` is never read as a shorter slug that it ends with.
const SLUGS = Object.values(ALARMS)
  .map((alarm) => alarm.slug as string)
  .sort((a, b) => b.length - a.length);

/** The catalog slug of an alarm name (`<prefix>-<slug>`, infra/alarm-catalog.ts), if it is one of ours. */
export const alarmSlug = (alarmName: string): string | undefined => SLUGS.find((slug) => alarmName === slug || alarmName.endsWith(`-${slug}`));

/** The page on-call reads for an alarm: its own runbook, or the deployment-failed page for an alarm not in the catalog. */
export const runbookFor = (alarmName: string): string => `runbooks/${alarmSlug(alarmName) ?? 'ecs-deployment-failed'}.md`;

/** Our alarms named in free text (a rolloutStateReason has no structured alarm list). */
export function alarmsNamedIn(text: string): string[] {
  return [...new Set((text.match(/[A-Za-z0-9_.-]+/g) ?? []).filter((word) => word.includes('-') && alarmSlug(word) !== undefined))];
}

/** `arn:...:service-deployment/cluster/service/abc` -> `abc`; `ecs-svc/123` -> `ecs-svc/123`. */
export const shortDeployment = (arn: string): string => (arn.startsWith('arn:') ? arn.split('/').pop()! : arn);
/** `arn:...:task-definition/upiik-payments-production:42` -> `upiik-payments-production:42`. */
export const shortTaskDefinition = (arn: string): string => arn.split('task-definition/').pop() ?? arn;
