import {
  DescribeServiceDeploymentsCommand,
  DescribeServiceRevisionsCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  StopServiceDeploymentCommand,
  UpdateServiceCommand,
  type Deployment,
  type ServiceDeploymentStatus,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { run, type AppRollbackInputs } from '../../pipelines/app-rollback/run';
import { entry } from '../../pipelines/app-rollback/main';
import { fakeClock } from '../../pipelines/lib/clock';
import { runStepEntry } from '../../pipelines/lib/step';
import { ECS_SERVICE, fakeActionsCore as fakeCore } from '../support/actions-core';

/**
 * app-rollback puts the service back on the previous task definition. ECS is mocked with
 * aws-sdk-client-mock because there is no AWS here (no account, no network); the mock is a small
 * stateful ECS (its deployments, the service's task definition, the task definitions) so that
 * what one run changes is what the next run sees, which is how idempotency is proven.
 * fakeClock keeps every wait instant.
 */
const ecs = mockClient(ECSClient);
afterEach(() => ecs.reset());

const T0 = Date.parse('2026-11-29T10:00:00Z');
const { cluster: CLUSTER, service: SERVICE, deploymentArn, revisionArn, taskDefinition } = ECS_SERVICE;
const image = (n: number) => `123456789012.dkr.ecr.eu-central-1.amazonaws.com/upiik-payments@sha256:${n.toString(16).padStart(64, '0')}`;
const revisionOf = (arn: string) => Number(arn.split(':').pop());
const INPUTS: AppRollbackInputs = { region: 'eu-central-1', cluster: CLUSTER, service: SERVICE, reason: 'canary payment failure rate 31%', timeoutSeconds: 1800, pollSeconds: 15 };

interface FakeDeployment {
  id: string;
  target: number;
  sources: number[];
  /** What DescribeServiceDeployments answers, one per call; the last one stays. */
  statuses: ServiceDeploymentStatus[];
}

/**
 * A service on revision `current` with these service deployments (oldest first). UpdateService
 * starts a deployment that is IN_PROGRESS for one look, then SUCCESSFUL, and the service settles
 * after one look; StopServiceDeployment (ROLLBACK) makes the deployment ROLLBACK_IN_PROGRESS for
 * one look, then ROLLBACK_SUCCESSFUL with the service back on the revision it replaced.
 */
function fakeEcs(start: { current: number; deployments: FakeDeployment[]; inactive?: number[]; legacy?: Deployment[] }) {
  const world = { ...start, settling: 0 };
  const created = (d: FakeDeployment) => new Date(T0 + world.deployments.indexOf(d) * 60_000);
  ecs.on(DescribeServicesCommand).callsFake(() => {
    const stable: Deployment = { id: 'ecs-svc/now', status: 'PRIMARY', taskDefinition: taskDefinition(world.current), rolloutState: 'COMPLETED', runningCount: 2, desiredCount: 2 };
    const settling: Deployment[] = [{ ...stable, rolloutState: 'IN_PROGRESS', runningCount: 1 }, { id: 'ecs-svc/before', status: 'ACTIVE', taskDefinition: taskDefinition(world.current + 1), runningCount: 1 }];
    const deployments = world.legacy ?? (world.settling-- > 0 ? settling : [stable]);
    return { services: [{ serviceName: SERVICE, taskDefinition: deployments.find((d) => d.status === 'PRIMARY')!.taskDefinition, deployments }] };
  });
  ecs.on(ListServiceDeploymentsCommand).callsFake(() => ({
    serviceDeployments: world.deployments.map((d) => ({ serviceDeploymentArn: deploymentArn(d.id), createdAt: created(d), status: d.statuses[0] })),
  }));
  ecs.on(DescribeServiceDeploymentsCommand).callsFake((input: { serviceDeploymentArns: string[] }) => ({
    serviceDeployments: world.deployments
      .filter((d) => input.serviceDeploymentArns.includes(deploymentArn(d.id)))
      .map((d) => {
        const status = d.statuses.length > 1 ? d.statuses.shift()! : d.statuses[0]!;
        // ECS reports a rollback successful once the service is back on the revision the deployment replaced.
        if (status === 'ROLLBACK_SUCCESSFUL') world.current = d.sources[0]!;
        return { serviceDeploymentArn: deploymentArn(d.id),
        createdAt: created(d),
        status,
        targetServiceRevision: { arn: revisionArn(d.target) },
        sourceServiceRevisions: d.sources.map((n) => ({ arn: revisionArn(n), runningTaskCount: 2 })) };
      }),
  }));
  ecs.on(DescribeServiceRevisionsCommand).callsFake((input: { serviceRevisionArns: string[] }) => ({
    serviceRevisions: input.serviceRevisionArns.map((arn) => ({ serviceRevisionArn: arn, taskDefinition: taskDefinition(Number(arn.split('rev-')[1])) })),
  }));
  ecs.on(DescribeTaskDefinitionCommand).callsFake((input: { taskDefinition: string }) => {
    const n = revisionOf(input.taskDefinition);
    return { taskDefinition: { taskDefinitionArn: taskDefinition(n), status: world.inactive?.includes(n) ? 'INACTIVE' : 'ACTIVE', containerDefinitions: [{ name: 'payments', image: image(n), essential: true }] } };
  });
  ecs.on(UpdateServiceCommand).callsFake((input: { taskDefinition: string }) => {
    const deployment = { id: `d${world.deployments.length + 1}`, target: revisionOf(input.taskDefinition), sources: [world.current], statuses: ['IN_PROGRESS', 'SUCCESSFUL'] as ServiceDeploymentStatus[] };
    world.deployments.push(deployment);
    world.current = deployment.target;
    world.settling = 1;
    return { service: { serviceName: SERVICE, taskDefinition: input.taskDefinition, currentServiceDeployment: deploymentArn(deployment.id) } };
  });
  ecs.on(StopServiceDeploymentCommand).callsFake((input: { serviceDeploymentArn: string }) => {
    const deployment = world.deployments.find((d) => deploymentArn(d.id) === input.serviceDeploymentArn)!;
    deployment.statuses = ['ROLLBACK_IN_PROGRESS', 'ROLLBACK_SUCCESSFUL'];
    return { serviceDeploymentArn: input.serviceDeploymentArn };
  });
  return world;
}

const deps = () => ({ ecs: new ECSClient({ region: 'eu-central-1' }), clock: fakeClock(T0) });
/** Release 41 went out (40 -> 41), then release 42 (41 -> 42). */
const released = (last: ServiceDeploymentStatus): FakeDeployment[] => [
  { id: 'd1', target: 41, sources: [40], statuses: ['SUCCESSFUL'] },
  { id: 'd2', target: 42, sources: [41], statuses: [last] },
];

test('rolls a completed release back with UpdateService to the revision it replaced, waits until stable, and names the image', async () => {
  fakeEcs({ current: 42, deployments: released('SUCCESSFUL') });
  const result = await run(INPUTS, deps());
  expect(ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input)).toEqual([{ cluster: CLUSTER, service: SERVICE, taskDefinition: taskDefinition(41), forceNewDeployment: false }]);
  expect(ecs.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0);
  expect(result.ok).toBe(true);
  expect(result.outputs).toEqual({ changed: true, from_task_definition: taskDefinition(42), to_task_definition: taskDefinition(41), image: image(41), status: 'stable', elapsed_seconds: 30 });
  expect(result.summary).toContain(`rolled ${SERVICE} back from ${CLUSTER}:42 to ${CLUSTER}:41 (image ${image(41)})`);
  expect(result.summary).toContain('reason: canary payment failure rate 31%');
  expect(result.rows.map((r) => r.name)).toEqual(['reason', 'target', 'update service', 'IN_PROGRESS', 'SUCCESSFUL', 'SETTLING', 'STABLE']);
  expect(result.rows[1]!.found).toContain('what deployment d2 replaced (its source revision)');
});

test('a second run finds the service already stable on the previous revision: changed=false and no UpdateService', async () => {
  fakeEcs({ current: 42, deployments: released('SUCCESSFUL') });
  expect((await run(INPUTS, deps())).outputs.changed).toBe(true);
  const again = await run(INPUTS, deps());
  expect(ecs.commandCalls(UpdateServiceCommand)).toHaveLength(1);
  expect(again.ok).toBe(true);
  expect(again.outputs).toMatchObject({ changed: false, from_task_definition: taskDefinition(41), to_task_definition: taskDefinition(41), status: 'stable' });
  expect(again.summary).toBe(`${SERVICE} already runs ${CLUSTER}:41 (image ${image(41)}) and is stable: nothing changed`);
});

test('a release still in progress is stopped with StopServiceDeployment ROLLBACK and waited for; a second run then changes nothing', async () => {
  fakeEcs({ current: 42, deployments: released('IN_PROGRESS') });
  const result = await run(INPUTS, deps());
  expect(ecs.commandCalls(StopServiceDeploymentCommand).map((c) => c.args[0].input)).toEqual([{ serviceDeploymentArn: deploymentArn('d2'), stopType: 'ROLLBACK' }]);
  expect(ecs.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  expect(result.ok).toBe(true);
  expect(result.outputs).toMatchObject({ changed: true, from_task_definition: taskDefinition(42), to_task_definition: taskDefinition(41), image: image(41), status: 'stable' });
  expect(result.rows.map((r) => r.name)).toEqual(['reason', 'target', 'stop deployment', 'ROLLBACK_IN_PROGRESS', 'ROLLBACK_SUCCESSFUL', 'STABLE']);

  const again = await run(INPUTS, deps());
  expect(again.outputs).toMatchObject({ changed: false, to_task_definition: taskDefinition(41), status: 'stable' });
  expect(ecs.commandCalls(StopServiceDeploymentCommand)).toHaveLength(1);
  expect(ecs.commandCalls(UpdateServiceCommand)).toHaveLength(0);
});

test('ECS already rolling the release back (alarm): waits for it without stopping or updating anything', async () => {
  const world = fakeEcs({ current: 42, deployments: released('ROLLBACK_IN_PROGRESS') });
  // Read once for the history, then twice while waiting.
  world.deployments[1]!.statuses = ['ROLLBACK_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS', 'ROLLBACK_SUCCESSFUL'];
  const result = await run(INPUTS, deps());
  expect(ecs.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0);
  expect(ecs.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  expect(result.outputs).toMatchObject({ changed: false, status: 'stable', to_task_definition: taskDefinition(41) });
  expect(result.rows.find((r) => r.name === 'rollback under way')).toBeDefined();
});

test('a service with no service deployments: the previous revision is the ACTIVE deployment beside the PRIMARY one', async () => {
  const world = fakeEcs({
    current: 42,
    deployments: [],
    legacy: [
      { id: 'ecs-svc/222', status: 'PRIMARY', taskDefinition: taskDefinition(42), rolloutState: 'IN_PROGRESS', runningCount: 1, desiredCount: 2 },
      { id: 'ecs-svc/111', status: 'ACTIVE', taskDefinition: taskDefinition(41), runningCount: 2, desiredCount: 2 },
    ],
  });
  ecs.on(UpdateServiceCommand).callsFake(() => {
    world.legacy = [{ id: 'ecs-svc/333', status: 'PRIMARY', taskDefinition: taskDefinition(41), rolloutState: 'COMPLETED', runningCount: 2, desiredCount: 2 }];
    return { service: { serviceName: SERVICE } };
  });
  const result = await run(INPUTS, deps());
  expect(ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input.taskDefinition).toBe(taskDefinition(41));
  expect(result.outputs).toMatchObject({ changed: true, to_task_definition: taskDefinition(41), status: 'stable' });
  expect(result.rows[1]!.found).toContain('the ACTIVE deployment ecs-svc/111 beside the PRIMARY one');
});

test('refuses, changing nothing, when it cannot tell the previous revision; with to_task_definition (family:revision) it proceeds', async () => {
  fakeEcs({ current: 42, deployments: [{ id: 'd1', target: 42, sources: [], statuses: ['SUCCESSFUL'] }] });
  const refused = await run(INPUTS, deps());
  expect(refused.ok).toBe(false);
  expect(refused.outputs).toMatchObject({ changed: false, status: 'refused', to_task_definition: '' });
  expect(refused.summary).toContain(`cannot tell which task definition ${SERVICE} ran before ${CLUSTER}:42`);
  expect(refused.summary).toContain(`run again with to_task_definition set to the revision to return to (aws ecs list-task-definitions --family-prefix ${CLUSTER} --sort DESC)`);
  expect(ecs.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  expect(ecs.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0);

  const given = await run({ ...INPUTS, toTaskDefinition: `${CLUSTER}:40` }, deps());
  expect(ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input.taskDefinition).toBe(taskDefinition(40));
  expect(given.outputs).toMatchObject({ changed: true, to_task_definition: taskDefinition(40), image: image(40), status: 'stable' });
});

test('refuses a deregistered (INACTIVE) target before touching the service', async () => {
  fakeEcs({ current: 42, deployments: released('SUCCESSFUL'), inactive: [41] });
  const result = await run(INPUTS, deps());
  expect(result.outputs).toMatchObject({ changed: false, status: 'refused', to_task_definition: taskDefinition(41) });
  expect(result.summary).toContain(`${CLUSTER}:41 is deregistered (INACTIVE)`);
  expect(ecs.commandCalls(UpdateServiceCommand)).toHaveLength(0);
});

test('a rollback deployment that ECS itself rolls back fails the step with its reason', async () => {
  const world = fakeEcs({ current: 42, deployments: released('SUCCESSFUL') });
  ecs.on(UpdateServiceCommand).callsFake(() => {
    world.deployments.push({ id: 'd3', target: 41, sources: [42], statuses: ['IN_PROGRESS', 'ROLLBACK_SUCCESSFUL'] });
    return { service: { serviceName: SERVICE, currentServiceDeployment: deploymentArn('d3') } };
  });
  const result = await run(INPUTS, deps());
  expect(result.ok).toBe(false);
  expect(result.outputs).toMatchObject({ changed: true, status: 'failed' });
  expect(result.summary).toContain('the rollback deployment d3 ended ROLLBACK_SUCCESSFUL');
  expect(result.summary).toContain('runbooks/rollback.md');
});


describe('the entry (main.ts)', () => {
  test('wrong inputs exit 2 before ECS is asked anything', async () => {
    const { core, calls } = fakeCore({ region: 'eu-central-1', cluster: CLUSTER, service: SERVICE });
    expect(await runStepEntry(entry, { core, env: {}, out: () => undefined })).toBe(2);
    expect(calls.failed).toEqual(['wrong inputs: input reason is required']);
    const slow = fakeCore({ region: 'eu-central-1', cluster: CLUSTER, service: SERVICE, reason: 'x', poll_seconds: 'often' });
    expect(await runStepEntry(entry, { core: slow.core, env: {}, out: () => undefined })).toBe(2);
    expect(slow.calls.failed).toEqual(['wrong inputs: input poll_seconds must be a number >= 1 <= 600 (got "often")']);
    expect(ecs.calls()).toHaveLength(0);
  });

  test('sets every output through core.setOutput (a service already on the target: nothing to wait for)', async () => {
    fakeEcs({ current: 41, deployments: released('SUCCESSFUL') });
    const { core, calls } = fakeCore({ region: 'eu-central-1', cluster: CLUSTER, service: SERVICE, reason: 'manual', to_task_definition: taskDefinition(41) });
    expect(await runStepEntry(entry, { core, env: {}, out: () => undefined })).toBe(0);
    expect(calls.outputs).toEqual({ changed: false, from_task_definition: taskDefinition(41), to_task_definition: taskDefinition(41), image: image(41), status: 'stable', elapsed_seconds: expect.any(Number) });
    expect(calls.failed).toEqual([]);
  });
});
