import { DescribeServiceDeploymentsCommand, DescribeTaskDefinitionCommand, type ECSClient, type Service } from '@aws-sdk/client-ecs';
import { listServiceDeployments, primaryDeployment, revisionResolver, shortDeployment, type ServiceRef } from '../wait-deployment/observe';

/**
 * Which task definition "previous" is. The service's recent deployments are read with the task
 * definitions of their revisions, and the previous one is the revision the newest *release*
 * replaced. A deployment to an older revision of the same family (this step's own UpdateService)
 * is a rollback, not a release: skipping it is what makes a second run find the same target and
 * change nothing, instead of "rolling back" to the bad release.
 */
export interface DeploymentEntry {
  arn: string;
  status: string;
  createdAt: number;
  /** The task definition being deployed. */
  target: string;
  /** The task definitions it replaces, most running tasks first. */
  sources: string[];
}

export interface Previous {
  taskDefinition: string;
  /** How it was found, for the report. */
  how: string;
}

/** The service's newest service deployments (up to 20, one describe call), newest first; empty when it lists none. */
export async function readHistory(ecs: ECSClient, ref: ServiceRef): Promise<DeploymentEntry[]> {
  const listed = (await listServiceDeployments(ecs, ref)).slice(0, 20);
  const arns = listed.map((d) => d.serviceDeploymentArn).filter((arn): arn is string => !!arn);
  // Deployments ECS cannot describe (revisions older than the API) are left out, not an error: the DescribeServices fallback remains.
  const details = arns.length > 0 ? ((await ecs.send(new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: arns }))).serviceDeployments ?? []) : [];
  const taskDefinitions = await revisionResolver(ecs)(details.flatMap((d) => [d.targetServiceRevision?.arn, ...(d.sourceServiceRevisions ?? []).map((s) => s.arn)]));
  const of = (revisionArn: string | undefined) => (revisionArn && taskDefinitions.get(revisionArn)) || '';
  return details
    .map((d) => ({
      arn: d.serviceDeploymentArn ?? '',
      status: d.status ?? 'UNKNOWN',
      createdAt: d.createdAt?.getTime() ?? 0,
      target: of(d.targetServiceRevision?.arn),
      sources: [...(d.sourceServiceRevisions ?? [])]
        .sort((a, b) => (b.runningTaskCount ?? 0) - (a.runningTaskCount ?? 0))
        .map((s) => of(s.arn))
        .filter(Boolean),
    }))
    .sort((a, b) => b.createdAt - a.createdAt);
}

/** `arn:...:task-definition/family:42` -> family and revision number. */
export function familyRevision(taskDefinition: string): { family: string; revision: number } | undefined {
  const match = /(?:task-definition\/)?([^/:]+):(\d+)$/.exec(taskDefinition);
  return match ? { family: match[1]!, revision: Number(match[2]) } : undefined;
}

/** A deployment to an older revision of the same family than every one it replaced: a rollback. */
export function isRollback(entry: DeploymentEntry): boolean {
  const target = familyRevision(entry.target);
  return (
    target !== undefined &&
    entry.sources.length > 0 &&
    entry.sources.every((source) => {
      const from = familyRevision(source);
      return from !== undefined && from.family === target.family && from.revision > target.revision;
    })
  );
}

/**
 * The task definition the service ran before the current release: the newest release's source
 * revision; else the target of the successful deployment before it; else, for a service with no
 * service deployments, the ACTIVE deployment DescribeServices lists beside the PRIMARY one.
 * Undefined when none of these can tell.
 */
export function previousTaskDefinition(history: DeploymentEntry[], service: Service): Previous | undefined {
  const releaseIndex = history.findIndex((entry) => !isRollback(entry));
  const release = history[releaseIndex];
  if (release) {
    const source = release.sources.find((taskDefinition) => taskDefinition !== release.target);
    if (source) return { taskDefinition: source, how: `what deployment ${shortDeployment(release.arn)} replaced (its source revision)` };
    const earlier = history.slice(releaseIndex + 1).find((entry) => entry.status === 'SUCCESSFUL' && entry.target && entry.target !== release.target);
    if (earlier) return { taskDefinition: earlier.target, how: `the target of the previous successful deployment ${shortDeployment(earlier.arn)}` };
  }
  const primary = primaryDeployment(service);
  const active = service.deployments?.find((d) => d.status === 'ACTIVE' && d.taskDefinition && d.taskDefinition !== primary?.taskDefinition);
  if (primary && active?.taskDefinition) return { taskDefinition: active.taskDefinition, how: `the ACTIVE deployment ${active.id} beside the PRIMARY one` };
  return undefined;
}

export interface TargetDefinition {
  /** The full ARN (to_task_definition may be given as family:revision). */
  arn: string;
  status: string;
  /** The essential containers' images: with deploy-by-digest, the digest the stack ran. */
  image: string;
}

export async function describeTarget(ecs: ECSClient, taskDefinition: string): Promise<TargetDefinition> {
  const out = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition }));
  const definition = out.taskDefinition;
  const images = (definition?.containerDefinitions ?? []).filter((c) => c.essential !== false && c.image).map((c) => c.image!);
  return { arn: definition?.taskDefinitionArn ?? taskDefinition, status: definition?.status ?? 'UNKNOWN', image: images.join(', ') };
}
