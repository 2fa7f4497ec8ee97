import type { ECSClient } from '@aws-sdk/client-ecs';
import type { ReportRow } from '../../scripts/lib/report';
import type { StepClock } from '../lib/clock';
import type { StepResult } from '../lib/step';
import { deploymentFollower, missedPollRows, transitionRows, waitFor, type WaitResult } from './follow';
import { NOT_STARTED, runbookFor, shortDeployment, shortTaskDefinition, type Observation } from './observe';

/**
 * wait-deployment: follows the ECS deployment `pulumi up` started until ECS says it succeeded,
 * rolled back or failed, or the time allowed runs out; ok only when it succeeded. The summary
 * tells on-call what to read or do next (the alarm's runbook, the rollback workflow, or to leave a
 * still-running deployment alone).
 */
export interface WaitDeploymentInputs {
  region: string;
  cluster: string;
  service: string;
  /** Epoch ms: only a deployment created at or after it counts; without it, the newest. */
  startedAfter?: number;
  timeoutSeconds: number;
  pollSeconds: number;
}

export interface WaitDeploymentDeps {
  ecs: ECSClient;
  clock: StepClock;
}

export async function run(inputs: WaitDeploymentInputs, deps: WaitDeploymentDeps): Promise<StepResult> {
  const follow = deploymentFollower(deps.ecs, inputs, inputs.startedAfter !== undefined ? { startedAfter: inputs.startedAfter } : {});
  const result = await waitFor(follow, { timeoutMs: inputs.timeoutSeconds * 1000, pollMs: inputs.pollSeconds * 1000 }, deps.clock);
  const last = result.last;
  const started = last && last.state !== NOT_STARTED;
  // Going forward is good; ECS taking the deployment back is not, even before it has finished.
  const good = (o: Observation) => (o.outcome === undefined ? !o.state.startsWith('ROLLBACK') && o.state !== 'STOP_REQUESTED' : o.outcome === 'successful');
  const timedOutRow: ReportRow = {
    name: 'timed out',
    ok: false,
    found: `no decision from ECS after ${inputs.timeoutSeconds} s${started ? ` (last seen ${last.state})` : ''}`,
    fix: started ? 'the deployment is still running: follow it in the ECS console, do not start another' : 'check that pulumi up changed the service',
  };
  return {
    ok: result.status === 'successful',
    summary: summarize(inputs, result),
    rows: [...transitionRows(result, good), ...missedPollRows(result), ...(result.status === 'timed_out' ? [timedOutRow] : [])],
    outputs: {
      status: result.status,
      deployment_arn: started ? last.deploymentArn : '',
      reason: reasonOf(inputs, result),
      task_definition: started ? last.taskDefinition : '',
      elapsed_seconds: Math.round((result.endedAt - result.startedAt) / 1000),
    },
  };
}

function reasonOf(inputs: WaitDeploymentInputs, result: WaitResult): string {
  const last = result.last;
  if (result.status !== 'timed_out') return last?.reason ?? '';
  if (!last || last.state === NOT_STARTED) return `no deployment appeared within ${inputs.timeoutSeconds} s${last ? ` (${last.reason})` : ''}${result.lastMissed ? `; last poll missed: ${result.lastMissed}` : ''}`;
  return `still ${last.state} after ${inputs.timeoutSeconds} s${last.reason ? ` (${last.reason})` : ''}`;
}

/** Alarms' runbooks, or the deployment-failed page when no alarm of ours is named. */
function runbooks(observation: Observation): string {
  const pages = [...new Set(observation.triggeredAlarms.map(runbookFor))];
  return pages.length > 0 ? pages.join(', ') : 'runbooks/ecs-deployment-failed.md';
}

function summarize(inputs: WaitDeploymentInputs, result: WaitResult): string {
  const elapsed = Math.round((result.endedAt - result.startedAt) / 1000);
  const last = result.last;
  const where = `the ECS console (${inputs.cluster}/${inputs.service} → Deployments)`;
  if (!last || last.state === NOT_STARTED)
    return `no deployment of ${inputs.service}${inputs.startedAfter !== undefined ? ` created at or after ${new Date(inputs.startedAfter).toISOString()}` : ''} appeared within ${inputs.timeoutSeconds} s: check in ${where} that pulumi up changed the service${result.lastMissed ? ` (last poll missed: ${result.lastMissed})` : ''}`;
  const id = shortDeployment(last.deploymentArn);
  const revision = last.taskDefinition ? shortTaskDefinition(last.taskDefinition) : 'its task definition';
  const because = last.reason ? ` (${last.reason})` : '';
  switch (result.status) {
    case 'successful':
      return `deployment ${id} of ${inputs.service} completed in ${elapsed} s: ${revision} serves all traffic`;
    case 'rolled_back': {
      const after = 'the previous revision serves traffic again, so fix forward or revert (do not re-run this release)';
      if (last.triggeredAlarms.length > 0)
        return `deployment ${id} of ${inputs.service} (${revision}) rolled back by ${last.triggeredAlarms.length === 1 ? 'alarm' : 'alarms'} ${last.triggeredAlarms.join(', ')}: read ${runbooks(last)}; ${after}`;
      const by = /circuit breaker/i.test(last.reason) ? 'by the circuit breaker' : 'by ECS';
      return `deployment ${id} of ${inputs.service} (${revision}) rolled back ${by}${because}: read runbooks/ecs-deployment-failed.md (stopped tasks and their reasons); ${after}`;
    }
    case 'failed':
      if (last.state === 'ROLLBACK_FAILED')
        return `deployment ${id} of ${inputs.service} (${revision}) failed and ECS could not roll it back${because}: run the rollback workflow now and page the payments owner; read ${runbooks(last)}`;
      return `deployment ${id} of ${inputs.service} (${revision}) failed and was not rolled back${because}: run the rollback workflow (runbooks/rollback.md) and read ${runbooks(last)}`;
    case 'timed_out':
      return `deployment ${id} of ${inputs.service} (${revision}) still ${last.state} after ${inputs.timeoutSeconds} s: the deployment is still running; follow it in ${where} and do not start another deployment until it ends`;
  }
}
