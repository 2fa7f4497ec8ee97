import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  DescribeServiceDeploymentsCommand,
  DescribeServiceRevisionsCommand,
  DescribeServicesCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  type Deployment,
  type ServiceDeployment,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { fakeClock } from '../../pipelines/lib/clock';
import { runStepEntry } from '../../pipelines/lib/step';
import { ECS_SERVICE, fakeActionsCore as fakeCore } from '../support/actions-core';
import { entry } from '../../pipelines/wait-deployment/main';
import { run, type WaitDeploymentInputs } from '../../pipelines/wait-deployment/run';

/**
 * wait-deployment follows the ECS deployment `pulumi up` started. ECS is mocked with
 * aws-sdk-client-mock because there is no AWS here (no account, no network): each scenario scripts
 * what DescribeServiceDeployments (or DescribeServices) answers poll after poll, in the shapes of
 * @aws-sdk/client-ecs. fakeClock makes an hour's wait take no real time and reach deadlines on purpose.
 */
const ecs = mockClient(ECSClient);
afterEach(() => ecs.reset());

const T0 = Date.parse('2026-11-29T10:00:00Z');
const { cluster: CLUSTER, service: SERVICE, deploymentArn, revisionArn, taskDefinition } = ECS_SERVICE;
const INPUTS: WaitDeploymentInputs = { region: 'eu-central-1', cluster: CLUSTER, service: SERVICE, timeoutSeconds: 3600, pollSeconds: 15 };

/** The release's deployment (revision 41 -> 42) in a given status. */
const release = (status: ServiceDeployment['status'], more: Partial<ServiceDeployment> = {}): ServiceDeployment => ({
  serviceDeploymentArn: deploymentArn('release'),
  status,
  createdAt: new Date(T0 + 5_000),
  targetServiceRevision: { arn: revisionArn(42) },
  sourceServiceRevisions: [{ arn: revisionArn(41), runningTaskCount: 2 }],
  ...more,
});

/** ECS lists the release; each poll answers the next of `polls`, the last one again after that. */
function script(...polls: (ServiceDeployment | Error)[]) {
  ecs.on(ListServiceDeploymentsCommand).resolves({ serviceDeployments: [{ serviceDeploymentArn: deploymentArn('release'), createdAt: new Date(T0 + 5_000), status: 'PENDING' }] });
  ecs.on(DescribeServiceRevisionsCommand).callsFake((input: { serviceRevisionArns: string[] }) => ({
    serviceRevisions: input.serviceRevisionArns.map((arn) => ({ serviceRevisionArn: arn, taskDefinition: taskDefinition(Number(arn.split('rev-')[1])) })),
  }));
  let poll = 0;
  ecs.on(DescribeServiceDeploymentsCommand).callsFake(() => {
    const answer = polls[Math.min(poll++, polls.length - 1)]!;
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve({ serviceDeployments: [answer] });
  });
}

const awsError = (name: string, message: string, status: number) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

test('follows the release from PENDING to SUCCESSFUL: ok, one row per state with how long it lasted, the target task definition', async () => {
  script(release('PENDING'), release('IN_PROGRESS'), release('IN_PROGRESS'), release('SUCCESSFUL'));
  const clock = fakeClock(T0);
  const result = await run(INPUTS, { ecs: new ECSClient({ region: 'eu-central-1' }), clock });
  expect(result.ok).toBe(true);
  expect(result.outputs).toEqual({ status: 'successful', deployment_arn: deploymentArn('release'), reason: '', task_definition: taskDefinition(42), elapsed_seconds: 45 });
  expect(result.rows.map((r) => [r.name, r.ok, r.durationMs])).toEqual([
    ['PENDING', true, 15_000],
    ['IN_PROGRESS', true, 30_000],
    ['SUCCESSFUL', true, undefined],
  ]);
  expect(result.rows[1]!.found).toBe(`2026-11-29T10:00:15.000Z: deployment release (${CLUSTER}:42)`);
  expect(result.summary).toBe(`deployment release of ${SERVICE} completed in 45 s: ${CLUSTER}:42 serves all traffic`);
  expect(clock.slept).toEqual([15_000, 15_000, 15_000]);
  // The revision's task definition is looked up once, not on every poll.
  expect(ecs.commandCalls(DescribeServiceRevisionsCommand)).toHaveLength(1);
});

test('rolled back by ECS because an alarm triggered: not ok, the reason names the alarm and the summary its runbook', async () => {
  const alarm = `${CLUSTER}-payment-failure-rate`;
  const alarms = { status: 'TRIGGERED' as const, alarmNames: [`${CLUSTER}-alb-5xx-rate`, alarm], triggeredAlarmNames: [alarm] };
  const rollback = { reason: 'Service deployment rolled back because of a triggered alarm.', startedAt: new Date(T0 + 30_000), serviceRevisionArn: revisionArn(41) };
  script(release('IN_PROGRESS'), release('ROLLBACK_IN_PROGRESS', { alarms, rollback }), release('ROLLBACK_SUCCESSFUL', { alarms, rollback, statusReason: 'Service deployment rolled back because of a triggered alarm.' }));
  const result = await run(INPUTS, { ecs: new ECSClient({ region: 'eu-central-1' }), clock: fakeClock(T0) });
  expect(result.ok).toBe(false);
  expect(result.outputs.status).toBe('rolled_back');
  expect(result.outputs.reason).toBe(`alarm ${alarm} triggered; Service deployment rolled back because of a triggered alarm.`);
  expect(result.summary).toContain(`rolled back by alarm ${alarm}: read runbooks/payment-failure-rate.md`);
  expect(existsSync(join(__dirname, '../../runbooks/payment-failure-rate.md'))).toBe(true);
  expect(result.rows.map((r) => [r.name, r.ok])).toEqual([
    ['IN_PROGRESS', true],
    ['ROLLBACK_IN_PROGRESS', false],
    ['ROLLBACK_SUCCESSFUL', false],
  ]);
});

test('circuit breaker: rolled back names the failed task count; without rollback (STOPPED) it failed and on-call runs the rollback workflow', async () => {
  const deploymentCircuitBreaker = { status: 'TRIGGERED' as const, failureCount: 3, threshold: 3 };
  const statusReason = 'ECS deployment circuit breaker: tasks failed to start.';
  script(release('IN_PROGRESS'), release('ROLLBACK_SUCCESSFUL', { deploymentCircuitBreaker, statusReason }));
  const rolledBack = await run(INPUTS, { ecs: new ECSClient({ region: 'eu-central-1' }), clock: fakeClock(T0) });
  expect(rolledBack.outputs).toMatchObject({ status: 'rolled_back', reason: `circuit breaker: 3 failed tasks (threshold 3); ${statusReason}` });
  expect(rolledBack.summary).toContain('rolled back by the circuit breaker');
  expect(rolledBack.summary).toContain('read runbooks/ecs-deployment-failed.md');

  ecs.reset();
  script(release('IN_PROGRESS'), release('STOPPED', { deploymentCircuitBreaker, statusReason }));
  const stopped = await run(INPUTS, { ecs: new ECSClient({ region: 'eu-central-1' }), clock: fakeClock(T0) });
  expect(stopped.ok).toBe(false);
  expect(stopped.outputs.status).toBe('failed');
  expect(stopped.summary).toContain('failed and was not rolled back (circuit breaker: 3 failed tasks (threshold 3)');
  expect(stopped.summary).toContain('run the rollback workflow');
});

test('timeout: the fake clock passes the deadline while ECS still deploys; the summary says it is still running and not to start another', async () => {
  script(release('IN_PROGRESS'));
  const clock = fakeClock(T0);
  const result = await run({ ...INPUTS, timeoutSeconds: 60 }, { ecs: new ECSClient({ region: 'eu-central-1' }), clock });
  expect(result.ok).toBe(false);
  expect(result.outputs).toMatchObject({ status: 'timed_out', deployment_arn: deploymentArn('release'), elapsed_seconds: 60, reason: 'still IN_PROGRESS after 60 s' });
  expect(result.summary).toContain('still IN_PROGRESS after 60 s: the deployment is still running');
  expect(result.summary).toContain('do not start another deployment');
  // Polls at 0, 15, 30, 45 and on the deadline itself.
  expect(ecs.commandCalls(DescribeServiceDeploymentsCommand)).toHaveLength(5);
  expect(clock.slept.reduce((a, b) => a + b, 0)).toBe(60_000);
  expect(result.rows.at(-1)).toMatchObject({ name: 'timed out', ok: false });
});

test('throttled and 5xx polls mid-wait are missed polls: the wait goes on and ends successful, with a row counting them', async () => {
  script(
    release('IN_PROGRESS'),
    awsError('ThrottlingException', 'Rate exceeded', 400),
    awsError('ServerException', 'Service unavailable', 503),
    release('SUCCESSFUL'),
  );
  const result = await run(INPUTS, { ecs: new ECSClient({ region: 'eu-central-1' }), clock: fakeClock(T0) });
  expect(result.ok).toBe(true);
  expect(result.outputs.status).toBe('successful');
  expect(ecs.commandCalls(DescribeServiceDeploymentsCommand)).toHaveLength(4);
  expect(result.rows.find((r) => r.name === 'missed polls')).toEqual({ name: 'missed polls', ok: true, found: '2 polls missed (throttled or 5xx), last: ServerException: Service unavailable' });
});

test('a non-transient error fails the step at once with the AWS message', async () => {
  const denied = awsError('AccessDeniedException', 'User: arn:aws:sts::123456789012:assumed-role/deploy/gh is not authorized to perform: ecs:DescribeServiceDeployments', 400);
  script(release('IN_PROGRESS'), denied);
  await expect(run(INPUTS, { ecs: new ECSClient({ region: 'eu-central-1' }), clock: fakeClock(T0) })).rejects.toThrow(
    'ECS call failed while waiting: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/deploy/gh is not authorized to perform: ecs:DescribeServiceDeployments',
  );
  expect(ecs.commandCalls(DescribeServiceDeploymentsCommand)).toHaveLength(2);
});

test('started_after: an older deployment is ignored; the wait follows the one created after it once ECS lists it', async () => {
  const older = { serviceDeploymentArn: deploymentArn('older'), createdAt: new Date(T0 - 3_600_000), status: 'SUCCESSFUL' as const };
  ecs
    .on(ListServiceDeploymentsCommand)
    .resolvesOnce({ serviceDeployments: [older] })
    .resolves({ serviceDeployments: [older, { serviceDeploymentArn: deploymentArn('release'), createdAt: new Date(T0 + 5_000), status: 'IN_PROGRESS' }] });
  ecs.on(DescribeServiceRevisionsCommand).resolves({ serviceRevisions: [{ serviceRevisionArn: revisionArn(42), taskDefinition: taskDefinition(42) }] });
  ecs.on(DescribeServiceDeploymentsCommand).resolves({ serviceDeployments: [release('SUCCESSFUL')] });
  const result = await run({ ...INPUTS, startedAfter: T0 }, { ecs: new ECSClient({ region: 'eu-central-1' }), clock: fakeClock(T0) });
  expect(result.outputs).toMatchObject({ status: 'successful', deployment_arn: deploymentArn('release') });
  expect(result.rows.map((r) => r.name)).toEqual(['NOT_STARTED', 'SUCCESSFUL']);
  expect(result.rows[0]!.found).toContain('no service deployment created at or after 2026-11-29T10:00:00.000Z listed yet');
  const described = ecs.commandCalls(DescribeServiceDeploymentsCommand).flatMap((c) => c.args[0].input.serviceDeploymentArns);
  expect(described).not.toContain(deploymentArn('older'));
  // The list asks ECS for recent deployments only (with a second of margin) and is filtered exactly here.
  expect(ecs.commandCalls(ListServiceDeploymentsCommand)[0]!.args[0].input.createdAt).toEqual({ after: new Date(T0 - 1000) });
});

test('a service that lists no service deployment is followed through DescribeServices: COMPLETED is successful, FAILED beside a new PRIMARY is rolled back', async () => {
  const primary = (rolloutState: Deployment['rolloutState'], rolloutStateReason: string): Deployment => ({
    id: 'ecs-svc/222',
    status: 'PRIMARY',
    taskDefinition: taskDefinition(42),
    rolloutState,
    rolloutStateReason,
    createdAt: new Date(T0 + 5_000),
    runningCount: 2,
    desiredCount: 2,
  });
  ecs.on(ListServiceDeploymentsCommand).resolves({ serviceDeployments: [] });
  ecs
    .on(DescribeServicesCommand)
    .resolvesOnce({ services: [{ serviceName: SERVICE, deployments: [primary('IN_PROGRESS', 'ECS deployment ecs-svc/222 in progress.'), { id: 'ecs-svc/111', status: 'ACTIVE', taskDefinition: taskDefinition(41) }] }] })
    .resolves({ services: [{ serviceName: SERVICE, deployments: [primary('COMPLETED', 'ECS deployment ecs-svc/222 completed.')] }] });
  const done = await run(INPUTS, { ecs: new ECSClient({ region: 'eu-central-1' }), clock: fakeClock(T0) });
  expect(done.outputs).toMatchObject({ status: 'successful', deployment_arn: 'ecs-svc/222', task_definition: taskDefinition(42), reason: 'ECS deployment ecs-svc/222 completed.' });
  expect(done.rows.map((r) => r.name)).toEqual(['IN_PROGRESS', 'COMPLETED']);
  expect(ecs.commandCalls(DescribeServiceDeploymentsCommand)).toHaveLength(0);

  ecs.reset();
  const reason = `ECS deployment ecs-svc/222 failed: alarm ${CLUSTER}-unhealthy-hosts in ALARM state, rolling back to ecs-svc/333.`;
  ecs.on(ListServiceDeploymentsCommand).resolves({ serviceDeployments: [] });
  ecs
    .on(DescribeServicesCommand)
    .resolvesOnce({ services: [{ serviceName: SERVICE, deployments: [primary('IN_PROGRESS', '')] }] })
    .resolves({ services: [{ serviceName: SERVICE, deployments: [{ id: 'ecs-svc/333', status: 'PRIMARY', taskDefinition: taskDefinition(41), rolloutState: 'IN_PROGRESS' }, { ...primary('FAILED', reason), status: 'ACTIVE' }] }] });
  const rolledBack = await run(INPUTS, { ecs: new ECSClient({ region: 'eu-central-1' }), clock: fakeClock(T0) });
  expect(rolledBack.outputs).toMatchObject({ status: 'rolled_back', reason });
  expect(rolledBack.summary).toContain(`rolled back by alarm ${CLUSTER}-unhealthy-hosts: read runbooks/unhealthy-hosts.md`);
});

/** @actions/core as the entry uses it: inputs from a map (as INPUT_* would give them), the rest recorded. */

describe('the entry (main.ts)', () => {
  const good = { region: 'eu-central-1', cluster: CLUSTER, service: SERVICE };

  test.each([
    [{ region: 'eu-central-1', service: SERVICE }, 'wrong inputs: input cluster is required'],
    [{ ...good, started_after: 'after lunch' }, 'wrong inputs: input started_after must be an ISO time such as 2026-11-29T10:00:00Z (got "after lunch")'],
    [{ ...good, timeout_seconds: '0' }, 'wrong inputs: input timeout_seconds must be a number >= 1 (got "0")'],
  ])('wrong inputs exit 2 before ECS is asked anything (%j)', async (inputs, message) => {
    const { core, calls } = fakeCore(inputs);
    expect(await runStepEntry(entry, { core, env: {}, out: () => undefined })).toBe(2);
    expect(calls.failed).toEqual([message]);
    expect(ecs.calls()).toHaveLength(0);
  });

  test('reads the inputs, builds its own ECS client and sets every output through core.setOutput', async () => {
    script(release('SUCCESSFUL'));
    const { core, calls } = fakeCore({ ...good, started_after: '2026-11-29T10:00:00Z', poll_seconds: '5' });
    let printed = '';
    expect(await runStepEntry(entry, { core, env: {}, out: (s) => (printed += s) })).toBe(0);
    expect(calls.outputs).toEqual({ status: 'successful', deployment_arn: deploymentArn('release'), reason: '', task_definition: taskDefinition(42), elapsed_seconds: expect.any(Number) });
    expect(calls.failed).toEqual([]);
    expect(printed).toContain(`wait-deployment (${CLUSTER}/${SERVICE})`);
    expect(ecs.commandCalls(ListServiceDeploymentsCommand)[0]!.args[0].input).toMatchObject({ cluster: CLUSTER, service: SERVICE });
  });
});
