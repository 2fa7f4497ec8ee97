import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { deploymentTimeoutMinutes } from '../../infra/components/service';
import { livenessCheck } from '../../infra/container';
import { type ProgramRun, type RecordedResource, runProgram, SECRET_CONFIG, type StackName, upstreamOf } from './harness';

/**
 * What must exist before the first task starts, read from the dependencies the engine receives:
 * the ECS service waits for its secrets' values, Redis, every IAM policy its roles need, the load
 * balancer, and the alarms it rolls back on (created first, passed as outputs, not names).
 */
const T = {
  service: 'aws:ecs/service:Service',
  taskDefinition: 'aws:ecs/taskDefinition:TaskDefinition',
  secretVersion: 'aws:secretsmanager/secretVersion:SecretVersion',
  replicationGroup: 'aws:elasticache/replicationGroup:ReplicationGroup',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  attachment: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  alarm: 'aws:cloudwatch/metricAlarm:MetricAlarm',
  listenerRule: 'aws:lb/listenerRule:ListenerRule',
  scalingPolicy: 'aws:appautoscaling/policy:Policy',
} as const;

const only = (run: ProgramRun, type: string): RecordedResource => {
  const found = run.resources.filter((r) => r.type === type);
  expect(found).toHaveLength(1);
  return found[0] as RecordedResource;
};
const containers = (td: RecordedResource) => JSON.parse(String(td.props.containerDefinitions)) as Record<string, unknown>[];
const minutes = (t: string | undefined) => Number(/^(\d+)m$/.exec(t ?? '')?.[1] ?? NaN);

describe.each<StackName>(['staging', 'production'])('the %s ECS service starts after what its tasks need', (stack) => {
  let run: ProgramRun;
  let service: RecordedResource;
  let upstream: Set<string>;
  beforeAll(async () => {
    run = await runProgram(stack);
    service = only(run, T.service);
    upstream = new Set(upstreamOf(run, service).map((r) => r.urn));
  });

  test('every secret version (the values, not only the secret containers)', () => {
    const versions = run.resources.filter((r) => r.type === T.secretVersion);
    expect(versions.length).toBeGreaterThanOrEqual(6);
    for (const v of versions) expect(upstream.has(v.urn)).toBe(true);
  });

  test('the Redis replication group', () => {
    expect(upstream.has(only(run, T.replicationGroup).urn)).toBe(true);
  });

  test('the execution role and task role policies, and the traffic-shift role policy', () => {
    const policies = run.resources.filter((r) => r.type === T.rolePolicy && /execution-secrets|task-publish-alerts/.test(r.name));
    expect(policies).toHaveLength(2);
    const attachments = run.resources.filter((r) =>
      r.type === T.attachment && /AmazonECSTaskExecutionRolePolicy|AmazonECSInfrastructureRolePolicyForLoadBalancers/.test(String(r.props.policyArn)));
    expect(attachments).toHaveLength(2);
    for (const r of [...policies, ...attachments]) expect([r.name, upstream.has(r.urn)]).toEqual([r.name, true]);
    // Directly: these are not inputs of the service, so only an explicit dependsOn orders them.
    for (const r of [...policies, ...attachments]) expect(service.dependencies).toContain(r.urn);
  });

  test('the production listener rule (ECS refuses a target group with no listener)', () => {
    expect(upstream.has(only(run, T.listenerRule).urn)).toBe(true);
  });

  test('the rollback alarms exist first and reach the service as outputs of the alarm resources', () => {
    const names = (service.props.alarms as { alarmNames: string[] }).alarmNames;
    expect(names.length).toBeGreaterThan(0);
    expect(run.outputs.deploymentAlarmNames).toEqual(names);
    const alarms = run.resources.filter((r) => r.type === T.alarm && names.includes(String(r.props.name)));
    expect(alarms).toHaveLength(names.length);
    for (const alarm of alarms) {
      expect(service.propertyDependencies.alarms).toContain(alarm.urn);
      // ...and no alarm waits for the service (no cycle, alarms first).
      expect(upstreamOf(run, alarm).map((r) => r.urn)).not.toContain(service.urn);
    }
  });

  test('the alarms watch the cluster and service by their explicit names', () => {
    const cluster = only(run, 'aws:ecs/cluster:Cluster');
    expect(cluster.props.name).toBe(`upiik-payments-${stack}`);
    expect(service.props.name).toBe('payments');
    const dims = JSON.stringify(run.resources.filter((r) => r.type === T.alarm).map((r) => r.props));
    expect(dims).toContain(`"ClusterName":"upiik-payments-${stack}"`);
    expect(dims).toContain('"ServiceName":"payments"');
  });

  test('the task definition carries every secret version id, so a new value rolls the tasks', () => {
    const td = only(run, T.taskDefinition);
    const versions = run.resources.filter((r) => r.type === T.secretVersion);
    const label = String((containers(td)[0]?.dockerLabels as Record<string, string>)['app.upiik.secret-versions']);
    for (const name of ['STRIPE_WEBHOOK_SECRET', 'STRIPE_SECRET_KEY', 'REDIS_URL', 'AUTH_JWT_SECRET', 'METRICS_AUTH_TOKEN']) expect(label).toMatch(new RegExp(`${name}=version-[0-9a-f]{12}`));
    // With RDS there is no DATABASE_URL secret: the service reads the rotating RDS secret itself.
    expect(label).not.toContain('DATABASE_URL');
    for (const v of versions.filter((x) => !x.name.includes('redis-auth-token'))) expect(td.propertyDependencies.containerDefinitions).toContain(v.urn);
  });

  test('a changed secret value (a rotated JWT secret) changes the task definition, without showing the value', async () => {
    const changed = await runProgram(stack, { authJwtSecret: 'rotated-jwt-secret-0123456789abcdef0123456789' });
    const before = String(only(run, T.taskDefinition).props.containerDefinitions);
    const after = String(only(changed, T.taskDefinition).props.containerDefinitions);
    expect(after).not.toBe(before);
    expect(after).not.toContain('rotated-jwt-secret');
    expect(before).not.toContain(SECRET_CONFIG[stack].authJwtSecret);
  });

  test('the RDS instance, its security group and the task role\'s credentials policy come first', () => {
    const db = only(run, 'aws:rds/instance:Instance');
    expect(upstream.has(db.urn)).toBe(true);
    const sg = run.resources.find((r) => r.type === 'aws:ec2/securityGroup:SecurityGroup' && r.name.endsWith('-db-sg'));
    expect(upstream.has(String(sg?.urn))).toBe(true);
    const credentials = run.resources.find((r) => r.type === T.rolePolicy && r.name.endsWith('-task-read-db-credentials'));
    expect(service.dependencies).toContain(credentials?.urn);
    // ...and nothing of the database waits for the service.
    expect(upstreamOf(run, db).map((r) => r.urn)).not.toContain(service.urn);
  });

  test('with an external database, a new database URL changes the task definition, without showing it', async () => {
    const external = (url: string) => runProgram(stack, { databaseMode: 'external', databaseUrl: url });
    const before = await external(SECRET_CONFIG[stack].databaseUrl);
    const after = await external('postgres://payments:rotated-password-0123@db.internal:5432/payments');
    const [b, a] = [before, after].map((r) => String(only(r, T.taskDefinition).props.containerDefinitions));
    expect(a).not.toBe(b);
    expect(b).toMatch(/DATABASE_URL=version-[0-9a-f]{12}/);
    expect(a).not.toContain('rotated-password');
    expect(b).not.toContain(SECRET_CONFIG[stack].databaseUrl);
  });

  test('waits for steady state through both bakes plus margin, create and update, and rolls back on SIGINT', () => {
    const d = service.props.deploymentConfiguration as { canaryConfiguration?: { canaryBakeTimeInMinutes: string }; bakeTimeInMinutes?: string };
    const bakes = Number(d.canaryConfiguration?.canaryBakeTimeInMinutes ?? 0) + Number(d.bakeTimeInMinutes ?? 0);
    expect(service.props.waitForSteadyState).toBe(true);
    expect(service.props.sigintRollback).toBe(true);
    for (const t of [service.customTimeouts?.create, service.customTimeouts?.update]) {
      expect(minutes(t)).toBeGreaterThanOrEqual(bakes + 20);
      expect(minutes(t)).toBe(deploymentTimeoutMinutes({ canaryBakeMinutes: Number(d.canaryConfiguration?.canaryBakeTimeInMinutes ?? 0), bakeMinutes: Number(d.bakeTimeInMinutes ?? 0) }));
    }
  });

  test('runs the same CANARY strategy as production, rolled back by alarms, without the rolling-only circuit breaker', () => {
    const d = service.props.deploymentConfiguration as { strategy: string; canaryConfiguration?: { canaryPercent: number } };
    expect(d.strategy).toBe('CANARY');
    expect(d.canaryConfiguration?.canaryPercent).toBeGreaterThan(0);
    expect(service.props.deploymentCircuitBreaker).toBeUndefined();
    expect(service.props.alarms).toMatchObject({ enable: true, rollback: true });
  });

  test('request-count autoscaling follows both target groups (a canary leaves the alternate serving)', () => {
    const labels = run.resources
      .filter((r) => r.type === T.scalingPolicy)
      .map((r) => (r.props.targetTrackingScalingPolicyConfiguration as { predefinedMetricSpecification: { predefinedMetricType: string; resourceLabel?: string } }).predefinedMetricSpecification)
      .filter((m) => m.predefinedMetricType === 'ALBRequestCountPerTarget')
      .map((m) => m.resourceLabel);
    const tgs = run.resources.filter((r) => r.type === 'aws:lb/targetGroup:TargetGroup').map((r) => String(r.props.arnSuffix));
    expect(tgs).toHaveLength(2);
    expect(labels).toHaveLength(2);
    for (const tg of tgs) expect(labels.some((l) => l?.endsWith(`/${tg}`) && l.startsWith('app/'))).toBe(true);
  });

  test('a container health check on /health/live with node (no curl in the image), within ECS ranges', () => {
    const hc = containers(only(run, T.taskDefinition))[0]?.healthCheck as { command: string[]; interval: number; timeout: number; retries: number; startPeriod: number };
    expect(hc.command.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    expect(hc.command[3]).toContain("require('http').get('http://127.0.0.1:3000/health/live'");
    expect(hc.interval).toBeGreaterThanOrEqual(5);
    expect(hc.interval).toBeLessThanOrEqual(300);
    expect(hc.timeout).toBeGreaterThanOrEqual(2);
    expect(hc.timeout).toBeLessThan(hc.interval);
    expect(hc.retries).toBeGreaterThanOrEqual(1);
    expect(hc.retries).toBeLessThanOrEqual(10);
    expect(hc.startPeriod).toBeGreaterThanOrEqual(0);
    expect(hc.startPeriod).toBeLessThanOrEqual(300);
  });
});

test('the health check command runs under node and exits 0 on 200, 1 otherwise', async () => {
  const server = createServer((req, res) => { res.statusCode = req.url === '/health/live' ? 200 : 404; res.end(); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const exit = (p: number) => new Promise<number>((resolve) => {
    const [, bin, flag, script] = livenessCheck(p).command;
    execFile(bin === 'node' ? process.execPath : String(bin), [String(flag), String(script)], (err) => resolve(err ? Number((err as { code?: number }).code ?? 1) : 0));
  });
  try {
    expect(await exit(port)).toBe(0);
    server.removeAllListeners('request');
    server.on('request', (_req, res) => { res.statusCode = 503; res.end(); });
    expect(await exit(port)).toBe(1);
  } finally {
    server.close();
  }
  // Nothing listening: the connection error exits 1, not a hang.
  expect(await exit(port)).toBe(1);
});

test('a ROLLING stack keeps the circuit breaker with rollback', async () => {
  const run = await runProgram('production', { deploymentStrategy: 'ROLLING' });
  const service = only(run, T.service);
  expect(service.props.deploymentCircuitBreaker).toEqual({ enable: true, rollback: true });
  expect((service.props.deploymentConfiguration as { strategy: string }).strategy).toBe('ROLLING');
});
