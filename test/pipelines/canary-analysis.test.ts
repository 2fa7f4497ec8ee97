/**
 * The canary-analysis step end to end below its entry: run() over the real CloudWatchMetricSource,
 * with CloudWatch GetMetricData and ECS mocked by aws-sdk-client-mock because there is no AWS here
 * (no account, no network). The GetMetricData fake answers like CloudWatch does: only a query whose
 * namespace, metric name and exact dimensions match a published series gets datapoints, so a query
 * with the wrong dimension set reads nothing. fakeClock() makes every poll's wait instant.
 */
import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { ECSClient, ListServiceDeploymentsCommand, StopServiceDeploymentCommand } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchMetricSource } from '../../pipelines/canary-analysis/cloudwatch-metric-source';
import { entry } from '../../pipelines/canary-analysis/main';
import type { Side } from '../../pipelines/canary-analysis/metric-source';
import { run, type Inputs } from '../../pipelines/canary-analysis/run';
import { fakeClock } from '../../pipelines/lib/clock';
import { inputReader, runStepEntry } from '../../pipelines/lib/step';
import { fakeActionsCore as fakeCore } from '../support/actions-core';
import { CLOUDWATCH_METRICS } from '../../service/shared/metric-names';

const cw = mockClient(CloudWatchClient);
const ecs = mockClient(ECSClient);

const LB = 'app/upiik-payments-production/50dc6c495c0c9188';
const TG = { candidate: 'targetgroup/upiik-pay-prod-alt/73e2d6bc24d8a067', stable: 'targetgroup/upiik-pay-prod-primary/1a2b3c4d5e6f7081' };
const VERSION = { candidate: 'sha256:c0ffee01', stable: 'sha256:5ab1e002' };
const DEPLOYMENT_ARN = 'arn:aws:ecs:eu-central-1:123456789012:service-deployment/upiik-payments-production/payments/AbCdEf123';

/** The named-target-groups form of the inputs. */
type NamedInputs = Extract<Inputs, { candidateTargetGroup: string }>;
const inputs = (over: Partial<NamedInputs> = {}): NamedInputs => ({
  region: 'eu-central-1',
  cluster: 'upiik-payments-production',
  service: 'payments',
  environment: 'production',
  loadBalancer: LB,
  candidateTargetGroup: TG.candidate,
  stableTargetGroup: TG.stable,
  candidateVersion: VERSION.candidate,
  stableVersion: VERSION.stable,
  bakeSeconds: 600,
  pollSeconds: 60,
  thresholds: { max5xxRate: 0.02, maxP99Ms: 2000, maxPaymentFailureRate: 0.2, maxWebhookFailureRate: 0.05, minRequests: 50, minPayments: 5 },
  stopOnFail: true,
  ...over,
});

/** What one side publishes per minute (TargetResponseTime: its p99, in seconds, as the ALB reports it). */
interface PerMinute {
  RequestCount: number;
  HTTPCode_Target_5XX_Count: number;
  TargetResponseTime: number | null;
  PaymentSucceeded: number;
  PaymentFailed: number;
  WebhookProcessed: number;
  WebhookFailed: number;
}
const HEALTHY: PerMinute = { RequestCount: 100, HTTPCode_Target_5XX_Count: 0, TargetResponseTime: 0.25, PaymentSucceeded: 3, PaymentFailed: 0, WebhookProcessed: 6, WebhookFailed: 0 };

/**
 * CloudWatch as the fake sees it: per side and minute of the bake, what that side publishes.
 * A series exists for (ALB, LoadBalancer + TargetGroup) and (Upiik/Payments, Environment +
 * ServiceVersion); counts over a window are the per-minute figures times its minutes.
 */
function publish(world: (side: Side, minutes: number) => PerMinute) {
  cw.on(GetMetricDataCommand).callsFake(answer(world));
}

function answer(world: (side: Side, minutes: number) => PerMinute) {
  return (input: GetMetricDataCommandInput) => {
    const minutes = (input.EndTime!.getTime() - input.StartTime!.getTime()) / 60_000;
    return {
      MetricDataResults: input.MetricDataQueries!.map((q) => {
        const side = seriesSide(q);
        const name = q.MetricStat!.Metric!.MetricName as keyof PerMinute;
        const perMinute = side ? world(side, minutes)[name] : null;
        const value = perMinute === null || perMinute === undefined ? null : name === 'TargetResponseTime' ? perMinute : perMinute * minutes;
        return { Id: q.Id, StatusCode: 'Complete', Timestamps: value === null ? [] : [input.StartTime!], Values: value === null ? [] : [value] };
      }),
    };
  };
}

/** Which side's series a query reads, or undefined when no such series exists (wrong dimensions). */
function seriesSide(q: MetricDataQuery): Side | undefined {
  const metric = q.MetricStat!.Metric!;
  const dims = Object.fromEntries((metric.Dimensions ?? []).map((d) => [d.Name, d.Value]));
  const sides: Side[] = ['candidate', 'stable'];
  if (metric.Namespace === 'AWS/ApplicationELB' && Object.keys(dims).length === 2 && dims.LoadBalancer === LB) return sides.find((s) => dims.TargetGroup === TG[s]);
  if (metric.Namespace === 'Upiik/Payments' && Object.keys(dims).length === 2 && dims.Environment === 'production') return sides.find((s) => dims.ServiceVersion === VERSION[s]);
  return undefined;
}

const steady = (candidate: Partial<PerMinute>, stable: Partial<PerMinute> = {}) => (side: Side) => ({ ...HEALTHY, ...(side === 'candidate' ? candidate : stable) });
const deployments = (...arns: string[]) => ecs.on(ListServiceDeploymentsCommand).resolves({ serviceDeployments: arns.map((serviceDeploymentArn) => ({ serviceDeploymentArn, status: 'IN_PROGRESS' })) });

async function analyse(over: Partial<NamedInputs> = {}) {
  const clock = fakeClock();
  const metrics = new CloudWatchMetricSource(new CloudWatchClient({ region: 'eu-central-1' }), {
    loadBalancer: LB,
    environment: 'production',
    targets: { candidate: { targetGroup: TG.candidate, version: VERSION.candidate }, stable: { targetGroup: TG.stable, version: VERSION.stable } },
  });
  const result = await run(inputs(over), { metrics: () => metrics, ecs: new ECSClient({ region: 'eu-central-1' }), elb: new ElasticLoadBalancingV2Client({ region: 'eu-central-1' }), clock });
  return { result, clock, figures: JSON.parse(String(result.outputs.figures)) };
}

const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

beforeEach(() => {
  cw.reset();
  ecs.reset();
  ecs.on(StopServiceDeploymentCommand).resolves({ serviceDeploymentArn: DEPLOYMENT_ARN });
});

describe('canary analysis over CloudWatch', () => {
  test('passes a healthy canary after polling every poll_seconds for the whole bake, touching no deployment', async () => {
    publish(steady({ HTTPCode_Target_5XX_Count: 1, TargetResponseTime: 0.3 }));
    const { result, clock, figures } = await analyse();
    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({ verdict: 'pass', reason: 'every metric within its limit', rollback_requested: false, candidate_target_group: TG.candidate, stable_target_group: TG.stable });
    expect(clock.slept).toEqual(Array(10).fill(60_000));
    expect(cw.commandCalls(GetMetricDataCommand)).toHaveLength(20);
    expect(ecs.calls()).toHaveLength(0);
    expect(result.summary).toBe(`pass: candidate ${VERSION.candidate} vs stable ${VERSION.stable}, every metric within its limit over 600 s`);
    // The last reading covers the whole bake: 10 minutes of both sides.
    expect(figures.window).toEqual({ start: '2026-11-29T10:00:00.000Z', end: '2026-11-29T10:10:00.000Z' });
    expect(figures.candidate).toEqual({
      version: VERSION.candidate, targetGroup: TG.candidate,
      requests: 1000, errors5xx: 10, p99Ms: 300, paymentAttempts: 30, paymentFailures: 0, webhookDeliveries: 60, webhookFailures: 0,
    });
    expect(figures.stable).toMatchObject({ version: VERSION.stable, requests: 1000, errors5xx: 0, p99Ms: 250 });
    expect(figures.metrics.map((m: { metric: string; outcome: string }) => `${m.metric}:${m.outcome}`)).toEqual([
      '5xx_rate:pass', 'p99_latency:pass', 'payment_failure_rate:pass', 'webhook_failure_rate:pass',
    ]);
  });

  test('asks GetMetricData for each side by its own target group and version: ALB Sum and p99, EMF Sum by [Environment, ServiceVersion]', async () => {
    publish(steady({}));
    await analyse({ bakeSeconds: 120 });
    const [first] = cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input);
    expect(first!.StartTime).toEqual(new Date('2026-11-29T10:00:00Z'));
    expect(first!.EndTime).toEqual(new Date('2026-11-29T10:01:00Z'));
    const shape = first!.MetricDataQueries!.map((q) => ({
      namespace: q.MetricStat!.Metric!.Namespace, name: q.MetricStat!.Metric!.MetricName, stat: q.MetricStat!.Stat, period: q.MetricStat!.Period,
      dimensions: q.MetricStat!.Metric!.Dimensions, returnData: q.ReturnData,
    }));
    const alb = [{ Name: 'LoadBalancer', Value: LB }, { Name: 'TargetGroup', Value: TG.candidate }];
    const emf = [{ Name: 'Environment', Value: 'production' }, { Name: 'ServiceVersion', Value: VERSION.candidate }];
    const n = CLOUDWATCH_METRICS.names;
    expect(shape).toEqual([
      { namespace: 'AWS/ApplicationELB', name: 'RequestCount', stat: 'Sum', period: 60, dimensions: alb, returnData: true },
      { namespace: 'AWS/ApplicationELB', name: 'HTTPCode_Target_5XX_Count', stat: 'Sum', period: 60, dimensions: alb, returnData: true },
      { namespace: 'AWS/ApplicationELB', name: 'TargetResponseTime', stat: 'p99', period: 60, dimensions: alb, returnData: true },
      { namespace: 'Upiik/Payments', name: n.paymentSucceeded, stat: 'Sum', period: 60, dimensions: emf, returnData: true },
      { namespace: 'Upiik/Payments', name: n.paymentFailed, stat: 'Sum', period: 60, dimensions: emf, returnData: true },
      { namespace: 'Upiik/Payments', name: n.webhookProcessed, stat: 'Sum', period: 60, dimensions: emf, returnData: true },
      { namespace: 'Upiik/Payments', name: n.webhookFailed, stat: 'Sum', period: 60, dimensions: emf, returnData: true },
    ]);
    const stableQueries = cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input).find((i) => i.MetricDataQueries![0]!.MetricStat!.Metric!.Dimensions![1]!.Value === TG.stable);
    expect(stableQueries!.MetricDataQueries!.slice(3).every((q) => q.MetricStat!.Metric!.Dimensions![1]!.Value === VERSION.stable)).toBe(true);
    // The second poll reads the whole window since the start again, as one period.
    const periods = cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input.MetricDataQueries![0]!.MetricStat!.Period);
    expect(periods).toEqual([60, 60, 120, 120]);
  });

  test('fails on the candidate 5xx rate, naming the metric and both sides, and stops the deployment with ROLLBACK', async () => {
    publish(steady({ HTTPCode_Target_5XX_Count: 8 }, { HTTPCode_Target_5XX_Count: 1 }));
    deployments(DEPLOYMENT_ARN);
    const { result } = await analyse();
    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ verdict: 'fail', rollback_requested: true });
    expect(result.outputs.reason).toBe('5xx rate fails: candidate 8.00% (8 of 100 requests) above the limit 2.50% (2 × stable + 0.50%, above the threshold 2.00%); stable 1.00% (1 of 100 requests)');
    expect(result.summary).toContain('fail on 5xx_rate after 60 s of the 600 s bake');
    expect(result.summary).toContain('read runbooks/alb-5xx-rate.md');
    expect(result.rows.find((r) => r.name === '5xx_rate')).toMatchObject({ ok: false, fix: 'see runbooks/alb-5xx-rate.md' });
  });

  test('fails on p99 latency (ALB seconds read as milliseconds)', async () => {
    publish(steady({ TargetResponseTime: 2.5 }, { TargetResponseTime: 0.4 }));
    deployments(DEPLOYMENT_ARN);
    const { result, figures } = await analyse();
    expect(result.outputs.verdict).toBe('fail');
    expect(result.outputs.reason).toBe('p99 latency fails: candidate 2500 ms (p99 of 100 requests) above the limit 2000 ms (threshold 2000 ms); stable 400 ms (p99 of 100 requests)');
    expect(figures.candidate.p99Ms).toBe(2500);
  });

  test('fails on the payment failure rate of the candidate\'s own version, while its HTTP side looks fine', async () => {
    // Declines only where ServiceVersion = candidate: the ALB sees 200s (the failure is in the payment path).
    publish(steady({ PaymentSucceeded: 2, PaymentFailed: 3 }, { PaymentSucceeded: 9, PaymentFailed: 1 }));
    deployments(DEPLOYMENT_ARN);
    const { result, figures } = await analyse();
    expect(result.outputs.verdict).toBe('fail');
    expect(result.outputs.reason).toBe('payment failure rate fails: candidate 60.00% (3 of 5 payments) above the limit 20.50% (2 × stable + 0.50%, above the threshold 20.00%); stable 10.00% (1 of 10 payments)');
    expect(figures.metrics.map((m: { outcome: string }) => m.outcome)).toEqual(['pass', 'pass', 'fail', 'pass']);
    expect(result.summary).toContain('read runbooks/payment-failure-rate.md');
  });

  test('fails on the webhook failure rate', async () => {
    publish(steady({ WebhookProcessed: 4, WebhookFailed: 1 }));
    deployments(DEPLOYMENT_ARN);
    const { result } = await analyse();
    expect(result.outputs.verdict).toBe('fail');
    expect(result.outputs.reason).toBe('webhook failure rate fails: candidate 20.00% (1 of 5 webhook deliveries) above the limit 5.00% (threshold 5.00%); stable 0.00% (0 of 6 webhook deliveries)');
  });

  test('too little traffic is inconclusive: ok, a warning row, the whole bake waited, nothing stopped, and the summary leaves it to the workflow', async () => {
    publish(steady({ RequestCount: 4, PaymentSucceeded: 0, WebhookProcessed: 0 }));
    const { result, clock } = await analyse();
    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({ verdict: 'inconclusive', rollback_requested: false });
    expect(result.outputs.reason).toContain('5xx rate inconclusive: candidate 0.00% (0 of 40 requests), 40 is below min_requests 50');
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBe(600_000);
    expect(result.rows.at(-1)).toEqual({ name: 'verdict', ok: true, found: 'WARNING inconclusive: too little traffic to judge 5xx_rate, p99_latency, payment_failure_rate, webhook_failure_rate; not a failure, the workflow decides' });
    expect(result.summary).toMatch(/^inconclusive \(not a failure\): .* the workflow decides whether to promote, bake longer or roll back$/);
    expect(ecs.calls()).toHaveLength(0);
  });

  test('judges relative to stable: when the old tasks fail as much, the candidate is not blamed', async () => {
    // Both sides answer 10% 5xx and 1.5 s p99 more than usual (a shared dependency), the candidate a bit worse.
    publish(steady({ HTTPCode_Target_5XX_Count: 12, PaymentSucceeded: 2, PaymentFailed: 2 }, { HTTPCode_Target_5XX_Count: 10, PaymentSucceeded: 3, PaymentFailed: 2 }));
    const { result, figures } = await analyse();
    expect(result.outputs.verdict).toBe('pass');
    expect(figures.metrics[0]).toMatchObject({ metric: '5xx_rate', outcome: 'pass', candidate: 0.12, stable: 0.1 });
    expect(figures.metrics[0].limit).toBeCloseTo(0.205);
    expect(figures.metrics[2]).toMatchObject({ metric: 'payment_failure_rate', outcome: 'pass', candidate: 0.5, stable: 0.4 });
    expect(ecs.calls()).toHaveLength(0);
  });

  test('fails early: the first conclusive failure ends the bake and stops the in-progress deployment with ROLLBACK', async () => {
    // Healthy for three minutes, then the candidate starts failing payments.
    publish((side, minutes) => ({ ...HEALTHY, ...(side === 'candidate' && minutes > 3 ? { PaymentSucceeded: 1, PaymentFailed: 2 } : {}) }));
    ecs.on(ListServiceDeploymentsCommand).resolvesOnce({ serviceDeployments: [{ serviceDeploymentArn: DEPLOYMENT_ARN, status: 'IN_PROGRESS' }], nextToken: 'page-2' }).resolves({ serviceDeployments: [] });
    const { result, clock } = await analyse();
    expect(clock.slept).toEqual([60_000, 60_000, 60_000, 60_000]);
    expect(result.outputs).toMatchObject({ verdict: 'fail', rollback_requested: true });
    expect(ecs.commandCalls(ListServiceDeploymentsCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: 'upiik-payments-production', service: 'payments', status: ['IN_PROGRESS'], nextToken: undefined },
      { cluster: 'upiik-payments-production', service: 'payments', status: ['IN_PROGRESS'], nextToken: 'page-2' },
    ]);
    expect(ecs.commandCalls(StopServiceDeploymentCommand).map((c) => c.args[0].input)).toEqual([{ serviceDeploymentArn: DEPLOYMENT_ARN, stopType: 'ROLLBACK' }]);
    expect(result.rows.find((r) => r.name === 'rollback')).toMatchObject({ ok: true, found: `StopServiceDeployment ROLLBACK requested for ${DEPLOYMENT_ARN}` });
    expect(result.rows[0]).toMatchObject({ name: 'bake', ok: true, found: expect.stringContaining('(ended early: a metric failed)'), durationMs: 240_000 });
    expect(result.summary).toContain(`ECS is rolling payments back to the previous revision (StopServiceDeployment ROLLBACK of ${DEPLOYMENT_ARN})`);
  });

  test('without an in-progress service deployment, nothing is stopped and the rollback workflow must run', async () => {
    publish(steady({ HTTPCode_Target_5XX_Count: 50 }));
    deployments();
    const { result } = await analyse();
    expect(result.outputs).toMatchObject({ verdict: 'fail', rollback_requested: false });
    expect(ecs.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0);
    expect(result.summary).toContain('no deployment was stopped (no IN_PROGRESS service deployment of payments in upiik-payments-production): the rollback workflow must run');
    expect(result.rows.find((r) => r.name === 'rollback')).toMatchObject({ ok: false, fix: 'run the rollback workflow' });
  });

  test('a refused StopServiceDeployment is reported with the verdict, not thrown', async () => {
    publish(steady({ HTTPCode_Target_5XX_Count: 50 }));
    deployments(DEPLOYMENT_ARN);
    ecs.on(StopServiceDeploymentCommand).rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }));
    const { result } = await analyse();
    expect(result.outputs).toMatchObject({ verdict: 'fail', rollback_requested: false });
    expect(result.summary).toContain(`StopServiceDeployment ROLLBACK of ${DEPLOYMENT_ARN} failed (AccessDeniedException: User is not authorized)`);
  });

  test('stop_on_fail false: the verdict fails but the deployment is left to the workflow', async () => {
    publish(steady({ HTTPCode_Target_5XX_Count: 50 }));
    const { result } = await analyse({ stopOnFail: false });
    expect(result.outputs).toMatchObject({ verdict: 'fail', rollback_requested: false });
    expect(ecs.calls()).toHaveLength(0);
    expect(result.summary).toContain('stop_on_fail is false, so the deployment was left running: the rollback workflow must run');
  });

  test('a throttled GetMetricData is a missed poll: the next poll reads the whole window again', async () => {
    cw.on(GetMetricDataCommand).rejectsOnce(throttled()).callsFake(answer(steady({})));
    const { result, clock, figures } = await analyse({ bakeSeconds: 180 });
    expect(result.outputs.verdict).toBe('pass');
    expect(clock.slept).toEqual([60_000, 60_000, 60_000]);
    expect(result.rows.find((r) => r.name === 'poll 1')).toEqual({ name: 'poll 1', ok: true, found: 'missed (ThrottlingException: Rate exceeded); the next poll reads the whole window again' });
    expect(result.rows[0]!.found).toMatch(/^3 polls, 1 missed; /);
    expect(figures.candidate.requests).toBe(300);
  });

  test('every poll missed: not judged, not stopped, the step fails saying so', async () => {
    cw.on(GetMetricDataCommand).rejects(throttled());
    const { result } = await analyse({ bakeSeconds: 120 });
    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ verdict: 'inconclusive', reason: 'no poll read the metrics', rollback_requested: false });
    expect(result.summary).toMatch(/^no figures: every one of 2 polls over 120 s failed to read the metrics/);
    expect(ecs.calls()).toHaveLength(0);
  });

  test('a refused GetMetricData (not transient) ends the step with the call named', async () => {
    cw.on(GetMetricDataCommand).rejects(Object.assign(new Error('not authorized to perform: cloudwatch:GetMetricData'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
    await expect(analyse()).rejects.toThrow('not authorized to perform: cloudwatch:GetMetricData');
  });
});

describe('canary-analysis entry', () => {
  const required = {
    region: 'eu-central-1', cluster: 'upiik-payments-production', service: 'payments', environment: 'production', load_balancer: LB,
    candidate_target_group: TG.candidate, stable_target_group: TG.stable, candidate_version: VERSION.candidate, stable_version: VERSION.stable,
  };

  test('reads the required inputs and fills the documented defaults', () => {
    const { core } = fakeCore(required);
    expect(entry.inputs(inputReader(core), core)).toEqual(inputs());
    expect(entry.title(inputs())).toBe(`canary-analysis (production: ${VERSION.candidate} vs ${VERSION.stable})`);
  });

  test.each([
    [{ load_balancer: '' }, 'wrong inputs: input load_balancer is required'],
    [{ load_balancer: `arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/${LB}` }, 'wrong inputs: input load_balancer must be the dimension value app/<name>/<id>'],
    [{ stable_target_group: TG.candidate }, 'wrong inputs: inputs candidate_target_group and stable_target_group must differ'],
    [{ stable_version: VERSION.candidate }, 'wrong inputs: inputs candidate_version and stable_version must differ'],
    [{ candidate_version: 'v1 beta' }, "wrong inputs: input candidate_version must be the candidate tasks' SERVICE_VERSION"],
    [{ poll_seconds: '900' }, 'wrong inputs: input poll_seconds (900) must not exceed bake_seconds (600)'],
    [{ bake_seconds: '90.5' }, 'wrong inputs: input bake_seconds must be a whole number (got 90.5)'],
    [{ max_5xx_rate: '2' }, 'wrong inputs: input max_5xx_rate must be a number >= 0 <= 1 (got "2")'],
    [{ min_payments: '0' }, 'wrong inputs: input min_payments must be a number >= 1 (got "0")'],
    [{ stop_on_fail: 'maybe' }, 'wrong inputs: input stop_on_fail must be true or false (got "maybe")'],
  ])('wrong inputs %j exit 2 before any AWS call', async (over, message) => {
    const { core, calls } = fakeCore({ ...required, ...over });
    expect(await runStepEntry(entry, { core, env: {}, out: () => undefined })).toBe(2);
    expect(calls.failed).toHaveLength(1);
    expect(calls.failed[0]).toContain(message);
    expect(cw.calls()).toHaveLength(0);
    expect(ecs.calls()).toHaveLength(0);
  });
});
