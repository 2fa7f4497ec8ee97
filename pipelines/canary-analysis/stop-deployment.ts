import { ListServiceDeploymentsCommand, StopServiceDeploymentCommand, type ECSClient } from '@aws-sdk/client-ecs';

export type StopOutcome =
  | { stopped: true; serviceDeploymentArn: string }
  | { stopped: false; why: string };

/**
 * Rolls the canary back now instead of at the end of its bake: finds the service's IN_PROGRESS
 * service deployment and stops it with ROLLBACK (ECS shifts traffic back to the old revision; the
 * API allows ROLLBACK even where the deployment was not configured to roll back). Without one (the
 * deployment already ended, or ECS's own alarms are already rolling it back) nothing is stopped and
 * the caller says the rollback workflow must run. A refused stop is reported, not thrown: the
 * verdict still reaches the workflow.
 */
export async function stopInProgressDeployment(ecs: ECSClient, where: { cluster: string; service: string }): Promise<StopOutcome> {
  const inProgress: string[] = [];
  try {
    let nextToken: string | undefined;
    do {
      const page = await ecs.send(new ListServiceDeploymentsCommand({ cluster: where.cluster, service: where.service, status: ['IN_PROGRESS'], nextToken }));
      for (const d of page.serviceDeployments ?? []) if (d.status === 'IN_PROGRESS' && d.serviceDeploymentArn) inProgress.push(d.serviceDeploymentArn);
      nextToken = page.nextToken;
    } while (nextToken);
  } catch (error) {
    return { stopped: false, why: `ListServiceDeployments failed (${describe(error)})` };
  }
  // ECS runs one service deployment at a time; the first is the canary.
  const [arn] = inProgress;
  if (!arn) return { stopped: false, why: `no IN_PROGRESS service deployment of ${where.service} in ${where.cluster}` };
  try {
    await ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' }));
    return { stopped: true, serviceDeploymentArn: arn };
  } catch (error) {
    return { stopped: false, why: `StopServiceDeployment ROLLBACK of ${arn} failed (${describe(error)})` };
  }
}

const describe = (error: unknown): string => {
  const e = error as { name?: string; message?: string };
  return [e?.name, e?.message].filter(Boolean).join(': ') || String(error);
};
