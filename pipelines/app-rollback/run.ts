import { StopServiceDeploymentCommand, UpdateServiceCommand, type ECSClient } from '@aws-sdk/client-ecs';
import type { ReportRow } from '../../scripts/lib/report';
import type { StepClock } from '../lib/clock';
import type { StepResult } from '../lib/step';
import { deploymentFollower, missedPollRows, transitionRows, waitFor, type WaitResult } from '../wait-deployment/follow';
import { ACTIVE_STATUSES, ROLLING_BACK_STATUSES, describeService, shortDeployment, shortTaskDefinition as short, type ServiceRef } from '../wait-deployment/observe';
import { describeTarget, previousTaskDefinition, readHistory, type Previous, type TargetDefinition } from './previous';
import { stabilityObserver } from './stable';

/**
 * app-rollback: puts the service back on the previous task definition and waits until it is
 * stable there. A deployment still in progress is stopped with ECS's own rollback
 * (StopServiceDeployment ROLLBACK); otherwise the service is updated to the previous revision.
 * Idempotent: a service already stable on the target is left alone (changed=false), a rollback
 * already under way is waited for, not started again.
 *
 * Outputs: changed, from_task_definition, to_task_definition, image (the target's container
 * image, so the report names the digest the stack ran before), status: stable | refused |
 * failed | timed_out, elapsed_seconds.
 */
export interface AppRollbackInputs {
  region: string;
  cluster: string;
  service: string;
  /** Why the rollback runs (recorded in the report). */
  reason: string;
  toTaskDefinition?: string;
  timeoutSeconds: number;
  pollSeconds: number;
}

export interface AppRollbackDeps {
  ecs: ECSClient;
  clock: StepClock;
}

type RollbackStatus = 'stable' | 'refused' | 'failed' | 'timed_out';

export async function run(inputs: AppRollbackInputs, deps: AppRollbackDeps): Promise<StepResult> {
  const { ecs, clock } = deps;
  const ref: ServiceRef = { cluster: inputs.cluster, service: inputs.service };
  const startedAt = clock.now();
  // One deadline for every wait of the step, however many there are.
  const deadline = startedAt + inputs.timeoutSeconds * 1000;
  const remaining = () => ({ timeoutMs: Math.max(0, deadline - clock.now()), pollMs: inputs.pollSeconds * 1000 });
  const rows: ReportRow[] = [{ name: 'reason', ok: true, found: inputs.reason }];
  let changed = false;

  let service = await describeService(ecs, ref);
  const from = service.taskDefinition ?? '';
  const finish = (target: TargetDefinition | undefined, status: RollbackStatus, summary: string, fix?: string): StepResult => {
    if (status !== 'stable') rows.push({ name: status, ok: false, found: summary, ...(fix ? { fix } : {}) });
    return {
      ok: status === 'stable',
      summary: fix ? `${summary}: ${fix}` : summary,
      rows,
      outputs: {
        changed,
        from_task_definition: from,
        to_task_definition: target?.arn ?? '',
        image: target?.image ?? '',
        status,
        elapsed_seconds: Math.round((clock.now() - startedAt) / 1000),
      },
    };
  };

  const history = await readHistory(ecs, ref);
  const previous: Previous | undefined = inputs.toTaskDefinition ? { taskDefinition: inputs.toTaskDefinition, how: 'given as to_task_definition' } : previousTaskDefinition(history, service);
  if (!previous) {
    const family = from.split('task-definition/').pop()?.split(':')[0] ?? inputs.service;
    return finish(
      undefined,
      'refused',
      `cannot tell which task definition ${inputs.service} ran before ${short(from)}: no service deployment names the revision it replaced and DescribeServices lists no ACTIVE deployment beside the PRIMARY one; nothing was changed`,
      `run again with to_task_definition set to the revision to return to (aws ecs list-task-definitions --family-prefix ${family} --sort DESC)`,
    );
  }
  const target = await describeTarget(ecs, previous.taskDefinition);
  rows.push({ name: 'target', ok: true, found: `${short(target.arn)}, image ${target.image || 'unknown'} (${previous.how})` });

  /** Rows for a wait, and the step's end when the wait did not end as wanted. */
  const waited = (result: WaitResult, what: string, wanted: readonly string[]): StepResult | undefined => {
    rows.push(...transitionRows(result, (o) => o.outcome === undefined || wanted.includes(o.outcome)), ...missedPollRows(result));
    if (result.status === 'timed_out')
      return finish(target, 'timed_out', `${what} still ${result.last?.state ?? 'unknown'} after ${inputs.timeoutSeconds} s`, 'it is still running: follow it in the ECS console and do not start another deployment; running this step again resumes the wait');
    if (!wanted.includes(result.status))
      return finish(target, 'failed', `${what} ended ${result.last?.state ?? result.status}${result.last?.reason ? ` (${result.last.reason})` : ''}`, 'read runbooks/ecs-deployment-failed.md and runbooks/rollback.md; page the payments owner');
    return undefined;
  };

  // A deployment in flight: ECS's own rollback when it is going elsewhere; wait for one already being taken back.
  const newest = history[0];
  const inFlight = newest && ACTIVE_STATUSES.includes(newest.status) && newest.target !== target.arn;
  if (newest && (inFlight || ROLLING_BACK_STATUSES.includes(newest.status))) {
    if (inFlight) {
      await ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: newest.arn, stopType: 'ROLLBACK' }));
      changed = true;
      rows.push({ name: 'stop deployment', ok: true, found: `StopServiceDeployment (ROLLBACK) on ${shortDeployment(newest.arn)}, which was ${newest.status} to ${short(newest.target)}` });
    } else rows.push({ name: 'rollback under way', ok: true, found: `deployment ${shortDeployment(newest.arn)} is ${newest.status}: waiting for it, not stopping it again` });
    const failed = waited(await waitFor(deploymentFollower(ecs, ref, { deploymentArn: newest.arn }), remaining(), clock), `the rollback of deployment ${shortDeployment(newest.arn)}`, ['rolled_back', 'successful']);
    if (failed) return failed;
    // Rolled back, or it completed before the stop took hold: either way, carry on from where the service is now.
    service = await describeService(ecs, ref);
  }

  if (service.taskDefinition !== target.arn) {
    if (target.status === 'INACTIVE')
      return finish(
        target,
        'refused',
        `${short(target.arn)} is deregistered (INACTIVE) and ECS does not update a service to a deregistered revision; nothing was changed`,
        'redeploy the previous release through the pipeline (revert the commit), or register a new revision from it and run again with to_task_definition',
      );
    const updated = await ecs.send(new UpdateServiceCommand({ cluster: inputs.cluster, service: inputs.service, taskDefinition: target.arn, forceNewDeployment: false }));
    changed = true;
    const deploymentArn = updated.service?.currentServiceDeployment;
    rows.push({ name: 'update service', ok: true, found: `UpdateService from ${short(service.taskDefinition ?? '')} to ${short(target.arn)}${deploymentArn ? `: deployment ${shortDeployment(deploymentArn)}` : ''}` });
    if (deploymentArn) {
      const failed = waited(await waitFor(deploymentFollower(ecs, ref, { deploymentArn }), remaining(), clock), `the rollback deployment ${shortDeployment(deploymentArn)}`, ['successful']);
      if (failed) return failed;
    }
  }

  const settled = await waitFor(stabilityObserver(ecs, ref, target.arn), remaining(), clock);
  const notSettled = waited(settled, `${inputs.service} settling on ${short(target.arn)}`, ['successful']);
  if (notSettled) return notSettled;
  const elapsed = Math.round((clock.now() - startedAt) / 1000);
  if (!changed) return finish(target, 'stable', `${inputs.service} already runs ${short(target.arn)} (image ${target.image || 'unknown'}) and is stable: nothing changed`);
  return finish(
    target,
    'stable',
    `rolled ${inputs.service} back from ${short(from)} to ${short(target.arn)} (image ${target.image || 'unknown'}) in ${elapsed} s, stable (reason: ${inputs.reason}); the stack still declares ${short(from)}, so revert the release before the next pulumi up`,
  );
}
