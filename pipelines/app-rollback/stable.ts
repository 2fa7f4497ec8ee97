import type { ECSClient } from '@aws-sdk/client-ecs';
import { alarmsNamedIn, describeService, primaryDeployment, shortTaskDefinition, type Observation, type ServiceRef } from '../wait-deployment/observe';

/**
 * The service at one look, judged for "stable on the target" (a look for waitFor): one deployment
 * left, the PRIMARY one on the target task definition, its rollout COMPLETED and as many tasks
 * running as desired. A deployment of the target whose rollout FAILED ends the wait; a PRIMARY
 * on another revision is read as not settled yet (DescribeServices can lag an update by a poll).
 */
export function stabilityObserver(ecs: ECSClient, ref: ServiceRef, target: string): () => Promise<Observation> {
  return async () => {
    const service = await describeService(ecs, ref);
    const deployments = service.deployments ?? [];
    const primary = primaryDeployment(service);
    const mine = deployments.find((d) => d.taskDefinition === target);
    const look = (state: string, reason: string, outcome?: Observation['outcome']): Observation => ({
      deploymentArn: primary?.id ?? '',
      state,
      ...(outcome ? { outcome } : {}),
      reason,
      triggeredAlarms: alarmsNamedIn(reason),
      taskDefinition: primary?.taskDefinition ?? '',
    });
    if (mine?.rolloutState === 'FAILED') return look('FAILED', mine.rolloutStateReason ?? `the rollout of ${shortTaskDefinition(target)} failed`, 'failed');
    if (!primary) return look('SETTLING', 'no PRIMARY deployment listed yet');
    if (primary.taskDefinition !== target) return look('SETTLING', `the PRIMARY deployment runs ${shortTaskDefinition(primary.taskDefinition ?? 'nothing')}, not ${shortTaskDefinition(target)}`);
    const counts = `${primary.runningCount ?? 0} of ${primary.desiredCount ?? 0} tasks running, ${deployments.length} deployment${deployments.length === 1 ? '' : 's'}`;
    // rolloutState is absent for services outside rolling updates; then the counts alone decide.
    const completed = (primary.rolloutState ?? 'COMPLETED') === 'COMPLETED';
    if (deployments.length === 1 && completed && primary.runningCount === primary.desiredCount) return look('STABLE', counts, 'successful');
    return look('SETTLING', counts);
  };
}
