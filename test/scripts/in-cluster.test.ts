import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTasksCommand, ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { runTask } from '../../service/ops/task';
import { captureLogger } from '../support/logger';
import { main as replayEvents } from '../../scripts/replay-events';
import { main as rollups } from '../../scripts/rollups';
import { runInCluster } from '../../scripts/lib/in-cluster';
import type { OpsStackOutputs } from '../../scripts/lib/ops-env';
import { BASE_TEST_ENV } from '../support/config';
import type { TestService } from '../support/service';
import { settleDeliveries, startWebhookService, subscribe } from '../service/webhooks/support';

/**
 * Database work in the cluster: a one-off task of the service's own task definition, started with
 * RunTask in the stack's private subnets and security group, its CloudWatch lines streamed back and
 * its exit code the command's. ECS and CloudWatch Logs are mocked with aws-sdk-client-mock (no AWS
 * here); what the task runs (service/ops/task.ts) runs for real against PostgreSQL and the sandbox.
 */
jest.setTimeout(300_000);

const ecs = mockClient(ECSClient);
const logs = mockClient(CloudWatchLogsClient);
afterEach(() => {
  ecs.reset();
  logs.reset();
});

const OUTPUTS = {
  clusterName: 'upiik-payments-staging',
  taskDefinitionFamily: 'upiik-payments-staging-service',
  privateSubnetIds: ['subnet-a', 'subnet-b'],
  taskSecurityGroupId: 'sg-tasks',
  logGroupName: '/ecs/upiik-payments-staging',
  region: 'eu-central-1',
} as OpsStackOutputs;
const TASK_ARN = 'arn:aws:ecs:eu-central-1:123456789012:task/upiik-payments-staging/0123abcd';
const clients = () => ({ ecs: new ECSClient({ region: 'eu-central-1' }), logs: new CloudWatchLogsClient({ region: 'eu-central-1' }), pollMs: 1, sleep: async () => undefined });

function scriptTask(exitCode: number, lines: string[][]) {
  ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }], failures: [] });
  ecs
    .on(DescribeTasksCommand)
    .resolvesOnce({ tasks: [{ lastStatus: 'PROVISIONING' }] })
    .resolvesOnce({ tasks: [{ lastStatus: 'RUNNING' }] })
    .resolves({ tasks: [{ lastStatus: 'STOPPED', stoppedReason: 'Essential container in task exited', containers: [{ name: 'payments', exitCode }] }] });
  const pages = lines.map((page, i) => ({ events: page.map((message) => ({ message })), nextForwardToken: `f/${i + 1}` }));
  logs
    .on(GetLogEventsCommand)
    .rejectsOnce(Object.assign(new Error('The specified log stream does not exist.'), { name: 'ResourceNotFoundException' }))
    .callsFake((input: { nextToken?: string }) => {
      const index = input.nextToken ? Number(input.nextToken.split('/')[1]) : 0;
      return pages[index] ?? { events: [], nextForwardToken: input.nextToken ?? 'f/0' };
    });
}

test('starts the task where the database is, streams every log line once in order, and returns its exit code', async () => {
  scriptTask(0, [['{"message":"ops task started"}', 'line 2'], ['{"message":"ops task finished","ok":true}']]);
  const lines: string[] = [];
  const result = await runInCluster(OUTPUTS, { task: 'replay', args: ['--since', '2026-11-28T00:00:00.000Z'] }, clients(), (l) => lines.push(l));
  expect(result).toEqual({ taskArn: TASK_ARN, exitCode: 0, stoppedReason: 'Essential container in task exited', logLines: 3 });
  expect(lines).toEqual(['{"message":"ops task started"}', 'line 2', '{"message":"ops task finished","ok":true}']);
  expect(ecs.commandCalls(RunTaskCommand)[0]!.args[0].input).toEqual({
    cluster: 'upiik-payments-staging',
    taskDefinition: 'upiik-payments-staging-service',
    launchType: 'FARGATE',
    count: 1,
    startedBy: 'ops-replay',
    networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-tasks'], assignPublicIp: 'DISABLED' } },
    overrides: { containerOverrides: [{ name: 'payments', command: ['node', 'dist/service/ops/task.js', 'replay', '--since', '2026-11-28T00:00:00.000Z'] }] },
  });
  expect(logs.commandCalls(GetLogEventsCommand).every((c) => c.args[0].input.logStreamName === 'payments/payments/0123abcd' && c.args[0].input.logGroupName === '/ecs/upiik-payments-staging')).toBe(true);
});

test('a task ECS cannot start is an error naming why; one still running past the bound names where to follow it', async () => {
  ecs.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason: 'RESOURCE:MEMORY', detail: 'no capacity' }] });
  await expect(runInCluster(OUTPUTS, { task: 'migrate', args: [] }, clients(), () => undefined)).rejects.toThrow('ECS did not start the task: RESOURCE:MEMORY (no capacity)');
  ecs.reset();
  ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });
  ecs.on(DescribeTasksCommand).resolves({ tasks: [{ lastStatus: 'RUNNING' }] });
  logs.on(GetLogEventsCommand).resolves({ events: [], nextForwardToken: 'f/0' });
  await expect(runInCluster(OUTPUTS, { task: 'migrate', args: [] }, { ...clients(), timeoutMs: -1 }, () => undefined)).rejects.toThrow(
    'task 0123abcd still RUNNING after the time allowed: it keeps running; follow it in CloudWatch (/ecs/upiik-payments-staging, payments/payments/0123abcd)',
  );
});

test('npm run replay-events -- --env staging --in-cluster: the task\'s lines and exit code are the command\'s', async () => {
  scriptTask(1, [['{"level":"info","message":"ops task finished","ok":false,"failed":2}']]);
  let stdout = '';
  const code = await replayEvents(['--env', 'staging', '--in-cluster', '--since', new Date(Date.now() - 3_600_000).toISOString(), '--types', 'invoice.payment_failed'], {}, {
    inCluster: { stdout: (s) => (stdout += s), stderr: () => undefined, connect: async () => ({ outputs: OUTPUTS, clients: clients(), close: async () => undefined }) },
  });
  expect(code).toBe(1);
  expect(stdout).toContain('replay-events: starting a task in upiik-payments-staging (upiik-payments-staging-service)');
  expect(stdout).toContain('  {"level":"info","message":"ops task finished","ok":false,"failed":2}');
  expect(stdout).toContain('replay-events: task 0123abcd exited 1');
  const command = ecs.commandCalls(RunTaskCommand)[0]!.args[0].input.overrides!.containerOverrides![0]!.command!;
  expect(command.slice(2)).toEqual(['replay', '--since', expect.any(String), '--types', 'invoice.payment_failed']);
  // Production writes need --yes, before anything starts.
  const refused = await replayEvents(['--env', 'production', '--in-cluster', '--since', new Date().toISOString()], {}, { inCluster: { stderr: () => undefined } });
  expect(refused).toBe(2);
  expect(await replayEvents(['--in-cluster', '--since', new Date().toISOString()], {}, { stderr: () => undefined })).toBe(2);
});

test('npm run rollups -- --env production --in-cluster: --check runs as a task; --rebuild needs --yes first', async () => {
  scriptTask(0, [['{"message":"ops task finished","task":"rollups","ok":true,"differences":0}']]);
  let stdout = '';
  const io = { inCluster: { stdout: (s: string) => (stdout += s), stderr: () => undefined, connect: async () => ({ outputs: OUTPUTS, clients: clients(), close: async () => undefined }) } };
  expect(await rollups(['--env', 'production', '--in-cluster', '--check'], {}, io)).toBe(0);
  expect(ecs.commandCalls(RunTaskCommand)[0]!.args[0].input.overrides!.containerOverrides![0]!.command).toEqual(['node', 'dist/service/ops/task.js', 'rollups', '--check']);
  expect(stdout).toContain('rollups: task 0123abcd exited 0');
  expect(await rollups(['--env', 'production', '--in-cluster', '--rebuild'], {}, io)).toBe(2);
  expect(await rollups(['--env', 'production', '--in-cluster', '--add-zone', 'UTC'], {}, io)).toBe(2);
  expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
});

describe('the task itself (what the container runs), against the real database and the sandbox', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startWebhookService();
    await subscribe(svc, 'u_task');
    await settleDeliveries(svc);
  });
  afterAll(async () => svc?.close());

  const env = () => ({
    ...BASE_TEST_ENV,
    ...(svc.database.url ? { DATABASE_URL: svc.database.url } : {}),
    STRIPE_API_BASE: svc.sandbox.url,
    STRIPE_PRICE_MONTHLY: svc.config.stripe.prices.monthly,
    STRIPE_PRICE_YEARLY: svc.config.stripe.prices.yearly,
  });
  // The task opens its own connection: on PGlite the suite's in-memory database is not reachable.
  const onPostgres = process.env.DATABASE_URL ? test : test.skip;

  onPostgres('replay: every event already applied is counted and skipped; rollups --check and migrate succeed; a bad task is exit 2', async () => {
    const logs = captureLogger();
    expect(await runTask(['replay', '--since', new Date(Date.now() - 3_600_000).toISOString()], env(), logs.logger)).toBe(0);
    const finished = logs.lines().find((l) => l.message === 'ops task finished') as { task: string; ok: boolean; seen: number; alreadyApplied: number; applied: number };
    expect(finished).toMatchObject({ task: 'replay', ok: true, applied: 0 });
    expect(finished.seen).toBeGreaterThan(3);
    expect(finished.alreadyApplied).toBe(finished.seen);
    expect(await runTask(['rollups', '--check'], env(), logs.logger)).toBe(0);
    expect(await runTask(['migrate'], env(), logs.logger)).toBe(0);
    expect(await runTask(['vacuum'], env(), logs.logger)).toBe(2);
    expect(logs.lines().find((l) => l.message === 'ops task refused')).toMatchObject({ error: expect.stringContaining('unknown task "vacuum"') });
  });
});
