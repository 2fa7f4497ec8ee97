import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { policyView } from './policy-view';
import { ProgramRun, runProgram, SECRET_CONFIG, MOCK_REDIS_TOKEN, MOCK_WEBHOOK_SECRET, StackName } from './harness';
import { STACK_POLICIES, outputsHoldNoSecrets } from '../../infra/policies';
import { TYPES, ofType } from '../../infra/policies/types';
import { alarmsFor } from '../../infra/alarm-catalog';
import { CLOUDWATCH_METRICS } from '../../service/shared/metric-names';

const runbookExists = (file: string) => existsSync(join(__dirname, '../../runbooks', file));
const policy = (name: string) => {
  const p = STACK_POLICIES.find((x) => x.name === name);
  if (!p) throw new Error(`no policy ${name}`);
  return (run: ProgramRun) => p.check(policyView(run), { runbookExists }).violations;
};

// Both stacks with their own RDS database (the default) and with an external one (databaseUrl).
const EXTERNAL = { databaseMode: 'external', databaseUrl: 'postgres://payments:ext-db-password@db.example.net:5432/payments' };
describe.each<[StackName, 'rds' | 'external']>([['staging', 'rds'], ['production', 'rds'], ['staging', 'external'], ['production', 'external']])('the %s stack (%s database)', (stack, mode) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(stack, mode === 'external' ? EXTERNAL : {});
  });

  test('passes every policy, with nothing left undecided once every value is known', () => {
    for (const p of STACK_POLICIES) expect({ policy: p.name, ...p.check(policyView(run), { runbookExists }) }).toEqual({ policy: p.name, violations: [], undecided: [] });
  });

  test('opens nothing to the world except the ALB on 80 and 443', () => {
    expect(policy('no-world-open-ingress')(run)).toEqual([]);
    const worldOpen = ofType(run.resources, TYPES.securityGroup).filter((sg) =>
      ((sg.props.ingress as { cidrBlocks?: string[] }[]) ?? []).some((r) => r.cidrBlocks?.includes('0.0.0.0/0')));
    expect(worldOpen.map((sg) => sg.name)).toEqual([`upiik-payments-${stack}-alb-sg`]);
  });

  test('puts no secret in task environment and passes every secret by valueFrom', () => {
    expect(policy('secrets-only-by-value-from')(run)).toEqual([]);
    const [td] = ofType(run.resources, TYPES.taskDefinition);
    const text = String(td?.props.containerDefinitions);
    for (const value of [...Object.values(SECRET_CONFIG[stack]), EXTERNAL.databaseUrl, MOCK_REDIS_TOKEN, MOCK_WEBHOOK_SECRET]) expect(text).not.toContain(value);
  });

  test('lets the execution role read exactly our secrets, the task role at most the RDS credentials, the deploy role the JWT secret', () => {
    expect(policy('execution-role-reads-only-our-secrets')(run)).toEqual([]);
    expect(policy('databases-encrypted-private-backed-up')(run)).toEqual([]);
    expect(ofType(run.resources, TYPES.dbInstance)).toHaveLength(mode === 'rds' ? 1 : 0);
  });

  test('encrypts Redis in transit and at rest, multi-AZ with failover in production', () => {
    expect(policy('redis-encrypted-and-resilient')(run)).toEqual([]);
    const [rg] = ofType(run.resources, TYPES.replicationGroup);
    expect(rg?.props.automaticFailoverEnabled).toBe(stack === 'production');
  });

  test('rolls deployments back on circuit breaker and on alarms', () => {
    expect(policy('deployments-roll-back')(run)).toEqual([]);
    const [svc] = ofType(run.resources, TYPES.ecsService);
    // Staging rehearses the production rollout path (canary) on every merge, with short bakes.
    expect((svc?.props.deploymentConfiguration as { strategy: string }).strategy).toBe('CANARY');
  });

  test('gives every alarm an SNS action and an existing runbook', () => {
    expect(policy('alarms-are-actionable')(run)).toEqual([]);
    expect(ofType(run.resources, TYPES.metricAlarm)).toHaveLength(alarmsFor(stack).length);
  });

  test('alarms on payment and webhook rates use the service metric names', () => {
    const alarm = ofType(run.resources, TYPES.metricAlarm).find((a) => a.props.name === `upiik-payments-${stack}-payment-failure-rate`);
    const metrics = (alarm?.props.metricQueries as { metric?: { namespace: string; metricName: string; dimensions: Record<string, string> } }[])
      .flatMap((q) => (q.metric ? [q.metric] : []));
    expect(metrics.map((m) => m.metricName).sort()).toEqual([CLOUDWATCH_METRICS.names.paymentFailed, CLOUDWATCH_METRICS.names.paymentSucceeded].sort());
    expect(metrics.every((m) => m.namespace === CLOUDWATCH_METRICS.namespace && m.dimensions[CLOUDWATCH_METRICS.dimension] === stack)).toBe(true);
  });

  test('sets log retention', () => {
    expect(policy('log-retention-set')(run)).toEqual([]);
  });

  test('runs at least two tasks in production', () => {
    expect(policy('production-redundant-tasks')(run)).toEqual([]);
  });

  test('exports no secret value', () => {
    const known = [...Object.values(SECRET_CONFIG[stack]), EXTERNAL.databaseUrl, MOCK_REDIS_TOKEN, MOCK_WEBHOOK_SECRET];
    expect(outputsHoldNoSecrets(run.outputs, known)).toEqual([]);
    expect(run.secretOutputs).toEqual([]);
    expect(run.outputs).toMatchObject({ serviceUrl: expect.stringMatching(/^https:\/\//), webhookEndpointId: expect.stringMatching(/^we_/) });
  });

  test('serializes the Stripe providers without a key or a client in them', () => {
    const dynamic = run.resources.filter((r) => r.type.startsWith('pulumi-nodejs:dynamic'));
    expect(dynamic.map((r) => r.type).sort()).toEqual(
      ['pulumi-nodejs:dynamic/stripe:Price', 'pulumi-nodejs:dynamic/stripe:Price', 'pulumi-nodejs:dynamic/stripe:Product', 'pulumi-nodejs:dynamic/stripe:WebhookEndpoint'],
    );
    for (const r of dynamic) {
      const serialized = String(r.props.__provider);
      expect(serialized).toContain('require');
      expect(serialized).not.toContain(SECRET_CONFIG[stack].stripeSecretKey);
      expect(Object.keys(r.props)).not.toContain('secretKey');
    }
  });
});

// Each policy against violating resources: policy-violations.test.ts.
test('flags a secret-looking stack output', () => {
  expect(outputsHoldNoSecrets({ url: 'rediss://:token@host:6379', nested: { key: 'sk_live_abc' } })).toHaveLength(2);
  expect(outputsHoldNoSecrets({ url: 'https://payments.example.com' }, ['s3cr3t-value'])).toEqual([]);
  expect(outputsHoldNoSecrets({ note: 'token s3cr3t-value inside' }, ['s3cr3t-value'])).toEqual(['output note contains a secret value']);
});
