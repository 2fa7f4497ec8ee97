/**
 * The canary analysis started alongside production's `pulumi up`: it waits for the release's ECS
 * deployment and for the production listener rule to split traffic, finds the candidate's target
 * group from the weights, and bakes. ECS, ELBv2 and CloudWatch are mocked with aws-sdk-client-mock
 * because there is no AWS here (no account, no network). Each scenario is a timeline: what
 * ListServiceDeployments / DescribeServiceDeployments and DescribeRules answer at each second since
 * the step started, read off the fakeClock, so an hour of polling takes no real time.
 */
import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import {
  DescribeServiceDeploymentsCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  StopServiceDeploymentCommand,
  type ServiceDeployment,
} from '@aws-sdk/client-ecs';
import { DescribeRulesCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchMetricSource } from '../../pipelines/canary-analysis/cloudwatch-metric-source';
import { entry } from '../../pipelines/canary-analysis/main';
import { run, type Discovery, type Inputs } from '../../pipelines/canary-analysis/run';
import { fakeClock } from '../../pipelines/lib/clock';
import { inputReader, runStepEntry } from '../../pipelines/lib/step';
import { fakeActionsCore as fakeCore } from '../support/actions-core';

const cw = mockClient(CloudWatchClient);
const ecs = mockClient(ECSClient);
const elb = mockClient(ElasticLoadBalancingV2Client);

const T0 = Date.parse('2026-11-29T10:00:00Z');
const ACCOUNT = 'arn:aws:elasticloadbalancing:eu-central-1:123456789012';
const LB = 'app/upiik-pay-production-alb/50dc6c495c0c9188';
const RULE = `${ACCOUNT}:listener-rule/${LB}/f2f7dc8efc522ab2/9683b2d02a6cabee`;
const DIM = { primary: 'targetgroup/upiik-pay-production-primary/1a2b3c4d5e6f7081', alternate: 'targetgroup/upiik-pay-production-alternate/73e2d6bc24d8a067' };
const ARN = { primary: `${ACCOUNT}:${DIM.primary}`, alternate: `${ACCOUNT}:${DIM.alternate}` };
const VERSION = { candidate: 'sha256:c0ffee01', stable: 'sha256:5ab1e002' };
const DEPLOYMENT = 'arn:aws:ecs:eu-central-1:123456789012:service-deployment/upiik-payments-production/payments/Release42';
const ROLLBACK_ALARM = 'upiik-payments-production-alb-5xx-rate';

type Group = keyof typeof ARN;
type Split = Record<Group, number>;

const inputs = (over: Partial<Discovery> = {}, common: Partial<Inputs> = {}): Inputs => ({
  region: 'eu-central-1',
  cluster: 'upiik-payments-production',
  service: 'payments',
  environment: 'production',
  candidateVersion: VERSION.candidate,
  stableVersion: VERSION.stable,
  bakeSeconds: 600,
  pollSeconds: 60,
  thresholds: { max5xxRate: 0.02, maxP99Ms: 2000, maxPaymentFailureRate: 0.2, maxWebhookFailureRate: 0.05, minRequests: 50, minPayments: 5 },
  stopOnFail: true,
  ...(common as object),
  discover: { listenerRuleArn: RULE, targetGroupArns: [ARN.primary, ARN.alternate], startTimeoutSeconds: 1800, ...over },
}) as Inputs;

/** The release's deployment as ECS describes it, created 100 s after the step started. */
const release = (status: ServiceDeployment['status'], more: Partial<ServiceDeployment> = {}): ServiceDeployment =>
  ({ serviceDeploymentArn: DEPLOYMENT, status, createdAt: new Date(T0 + 100_000), ...more });

interface Timeline {
  /** The release's deployment at second `s` of the step, or none yet. */
  deployment(s: number): ServiceDeployment | undefined;
  /** The production listener rule's forward weights at second `s`. */
  weights(s: number): Split;
}

/**
 * ECS and the ALB along a timeline; CloudWatch as a per-minute world where each target group's
 * requests differ (primary 100 a minute, alternate 60), so the figures show which group the
 * analysis read as the candidate. Payments and webhooks are by version.
 */
function world(clock: { now(): number }, timeline: Timeline) {
  const second = () => (clock.now() - T0) / 1000;
  ecs.on(ListServiceDeploymentsCommand).callsFake(() => {
    const d = timeline.deployment(second());
    return { serviceDeployments: d ? [{ serviceDeploymentArn: d.serviceDeploymentArn, status: d.status, createdAt: d.createdAt }] : [] };
  });
  ecs.on(DescribeServiceDeploymentsCommand).callsFake(() => ({ serviceDeployments: [timeline.deployment(second())!] }));
  ecs.on(StopServiceDeploymentCommand).resolves({ serviceDeploymentArn: DEPLOYMENT });
  elb.on(DescribeRulesCommand).callsFake(() => {
    const w = timeline.weights(second());
    return {
      Rules: [{
        RuleArn: RULE, Priority: '100',
        Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: ARN.primary, Weight: w.primary }, { TargetGroupArn: ARN.alternate, Weight: w.alternate }] } }],
      }],
    };
  });
  cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => {
    const minutes = (input.EndTime!.getTime() - input.StartTime!.getTime()) / 60_000;
    return {
      MetricDataResults: input.MetricDataQueries!.map((q) => {
        const metric = q.MetricStat!.Metric!;
        const dims = Object.fromEntries((metric.Dimensions ?? []).map((d) => [d.Name, d.Value]));
        const perMinute = (): number | null => {
          if (metric.Namespace === 'AWS/ApplicationELB' && dims.LoadBalancer === LB) {
            const group = dims.TargetGroup === DIM.primary ? 'primary' : dims.TargetGroup === DIM.alternate ? 'alternate' : undefined;
            if (!group) return null;
            const requests = { primary: 100, alternate: 60 }[group];
            return { RequestCount: requests, HTTPCode_Target_5XX_Count: 0, TargetResponseTime: 0.25 }[metric.MetricName as string] ?? null;
          }
          if (metric.Namespace === 'Upiik/Payments' && (dims.ServiceVersion === VERSION.candidate || dims.ServiceVersion === VERSION.stable))
            return { PaymentSucceeded: 3, PaymentFailed: 0, WebhookProcessed: 6, WebhookFailed: 0 }[metric.MetricName as string] ?? null;
          return null;
        };
        const value = perMinute();
        const total = value === null ? null : metric.MetricName === 'TargetResponseTime' ? value : value * minutes;
        return { Id: q.Id, StatusCode: 'Complete', Values: total === null ? [] : [total], Timestamps: total === null ? [] : [input.StartTime!] };
      }),
    };
  });
}

async function analyse(timeline: Timeline, over: Parameters<typeof inputs>[0] = {}, common: Partial<Inputs> = {}) {
  const clock = fakeClock(T0);
  world(clock, timeline);
  const cloudwatch = new CloudWatchClient({ region: 'eu-central-1' });
  const seen: Array<{ candidateTargetGroup: string; stableTargetGroup: string; loadBalancer: string }> = [];
  const result = await run(inputs(over, common), {
    metrics: (targets) => {
      seen.push(targets);
      return new CloudWatchMetricSource(cloudwatch, {
        loadBalancer: targets.loadBalancer, environment: 'production',
        targets: { candidate: { targetGroup: targets.candidateTargetGroup, version: VERSION.candidate }, stable: { targetGroup: targets.stableTargetGroup, version: VERSION.stable } },
      });
    },
    ecs: new ECSClient({ region: 'eu-central-1' }),
    elb: new ElasticLoadBalancingV2Client({ region: 'eu-central-1' }),
    clock,
  });
  const figures = JSON.parse(String(result.outputs.figures));
  return { result, clock, figures, seen, waited: clock.slept.reduce((a, b) => a + b, 0) / 1000 };
}

const inProgressFrom = (s0: number) => (s: number) => (s >= s0 ? release('IN_PROGRESS', { lifecycleStage: 'SCALE_UP' }) : undefined);
const all = (group: Group): Split => (group === 'primary' ? { primary: 100, alternate: 0 } : { primary: 0, alternate: 100 });
const canary = (candidate: Group, percent = 10): Split => (candidate === 'primary' ? { primary: percent, alternate: 100 - percent } : { primary: 100 - percent, alternate: percent });
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

beforeEach(() => {
  cw.reset();
  ecs.reset();
  elb.reset();
});

describe('canary analysis that finds the canary during the deployment', () => {
  test('waits for the deployment, then for the split, and bakes the group that gained traffic against the one that served it all', async () => {
    // No deployment for 2 minutes; tasks start; ECS shifts 10% to the alternate group at 5 minutes.
    const { result, figures, seen } = await analyse({
      deployment: inProgressFrom(120),
      weights: (s) => (s < 300 ? all('primary') : canary('alternate')),
    });
    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({ verdict: 'pass', candidate_target_group: ARN.alternate, stable_target_group: ARN.primary, rollback_requested: false });
    // CloudWatch dimensions derived from the ARNs: the ALB from the listener rule, each group from its own.
    expect(seen).toEqual([{ loadBalancer: LB, candidateTargetGroup: DIM.alternate, stableTargetGroup: DIM.primary }]);
    expect(figures.candidate).toMatchObject({ targetGroup: DIM.alternate, version: VERSION.candidate });
    // The window opens at the last unsplit reading (4 min) and the bake runs bake_seconds from the split (5 min).
    expect(figures.window).toEqual({ start: '2026-11-29T10:04:00.000Z', end: '2026-11-29T10:15:00.000Z' });
    expect(figures.candidate.requests).toBe(60 * 11);
    expect(result.rows.slice(0, 3).map((r) => [r.name, r.ok, r.found])).toEqual([
      ['wait for canary', true, `deployment ${DEPLOYMENT} IN_PROGRESS; traffic split seen after 300 s: upiik-pay-production-primary 90 % / upiik-pay-production-alternate 10 %`],
      ['candidate', true, 'upiik-pay-production-alternate holds the new revision: it had 0 % before the shift, when upiik-pay-production-primary served all traffic; upiik-pay-production-primary holds the stable one'],
      ['bake', true, '10 polls; figures 2026-11-29T10:04:00.000Z to 2026-11-29T10:15:00.000Z'],
    ]);
    // Deployments created before the step are another release's; the rule is read only once the deployment runs.
    expect(ecs.commandCalls(ListServiceDeploymentsCommand)[0]!.args[0].input).toMatchObject({
      cluster: 'upiik-payments-production', service: 'payments', createdAt: { after: new Date(T0 - 1000) },
    });
    expect(elb.commandCalls(DescribeRulesCommand)).toHaveLength(4 + 10);
    expect(elb.commandCalls(DescribeRulesCommand)[0]!.args[0].input).toEqual({ RuleArns: [RULE] });
    expect(ecs.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0);
  });

  test('ECS alternates the groups: the alternate holds the canary on one deployment, the primary on the next', async () => {
    const first = await analyse({ deployment: inProgressFrom(0), weights: (s) => (s < 60 ? all('primary') : canary('alternate')) });
    expect(first.result.outputs).toMatchObject({ candidate_target_group: ARN.alternate, stable_target_group: ARN.primary });
    // After that promotion the alternate group serves production, so the next canary goes to the primary.
    ecs.reset();
    elb.reset();
    cw.reset();
    const next = await analyse({ deployment: inProgressFrom(0), weights: (s) => (s < 60 ? all('alternate') : canary('primary')) });
    expect(next.result.outputs).toMatchObject({ verdict: 'pass', candidate_target_group: ARN.primary, stable_target_group: ARN.alternate });
    expect(next.figures.candidate).toMatchObject({ targetGroup: DIM.primary, requests: 100 * 11 });
    expect(next.figures.stable).toMatchObject({ targetGroup: DIM.alternate, requests: 60 * 11 });
  });

  test('a first reading that is already split takes the smaller share as the candidate, and bakes from the split', async () => {
    const { result, figures } = await analyse(
      { deployment: () => release('IN_PROGRESS', { createdAt: new Date(T0 - 300_000), lifecycleStage: 'BAKE_TIME' }), weights: () => canary('primary', 5) },
      { startedAfter: new Date(T0 - 600_000) },
    );
    expect(result.outputs).toMatchObject({ candidate_target_group: ARN.primary, stable_target_group: ARN.alternate });
    expect(result.rows.find((r) => r.name === 'candidate')!.found).toContain('it has the smaller share');
    expect(figures.window.start).toBe('2026-11-29T10:00:00.000Z');
    // started_after reached back before the step: the deployment created 5 minutes earlier counts.
    expect(ecs.commandCalls(ListServiceDeploymentsCommand)[0]!.args[0].input.createdAt).toEqual({ after: new Date(T0 - 601_000) });
  });

  test('gives up at start_timeout_seconds when the listener rule never splits, saying what it last saw, judging nothing', async () => {
    const { result, waited } = await analyse({ deployment: inProgressFrom(0), weights: () => all('primary') }, { startTimeoutSeconds: 600 });
    expect(result.ok).toBe(false);
    expect(waited).toBe(600);
    expect(result.outputs).toMatchObject({ verdict: 'inconclusive', reason: 'no canary traffic split within 600 s', rollback_requested: false, candidate_target_group: '', stable_target_group: '' });
    expect(result.summary).toBe(
      `no canary traffic split within start_timeout_seconds (600 s): deployment ${DEPLOYMENT} is IN_PROGRESS (SCALE_UP); listener rule not split yet: upiik-pay-production-primary 100 % / upiik-pay-production-alternate 0 %. ` +
      'The canary sha256:c0ffee01 was not judged and nothing was stopped; check the deployment in the ECS console (or aws ecs list-service-deployments), then re-run the analysis or decide by hand from the dashboards',
    );
    expect(cw.calls()).toHaveLength(0);
  });

  test('gives up at start_timeout_seconds when no deployment of this release appears, pointing at started_after', async () => {
    const { result } = await analyse({ deployment: () => undefined, weights: () => all('primary') }, { startTimeoutSeconds: 300 });
    expect(result.ok).toBe(false);
    expect(result.summary).toContain('no service deployment of payments created at or after 2026-11-29T10:00:00.000Z yet (if pulumi up created it earlier, pass started_after)');
    expect(elb.calls()).toHaveLength(0);
  });

  test('a deployment ECS rolls back before any split fails the step: its own alarms rolled it back, nothing judged or stopped here', async () => {
    const { result } = await analyse({
      deployment: (s) => (s < 180 ? release('IN_PROGRESS') : release('ROLLBACK_IN_PROGRESS', {
        alarms: { status: 'TRIGGERED', alarmNames: [ROLLBACK_ALARM], triggeredAlarmNames: [ROLLBACK_ALARM] },
        rollback: { reason: 'Service deployment rolled back because CloudWatch alarm was triggered', startedAt: new Date(T0 + 170_000) },
      })),
      weights: () => all('primary'),
    });
    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ verdict: 'inconclusive', rollback_requested: false, candidate_target_group: '' });
    expect(result.outputs.reason).toBe(`deployment ROLLBACK_IN_PROGRESS before any canary split: ECS's own deployment alarms rolled it back (triggered: ${ROLLBACK_ALARM})`);
    expect(result.summary).toBe(
      `ECS ended deployment ${DEPLOYMENT} ROLLBACK_IN_PROGRESS before the canary traffic split was seen: ECS's own deployment alarms rolled it back (triggered: ${ROLLBACK_ALARM}). ` +
      'The canary sha256:c0ffee01 was not judged and this step stopped nothing; the rollback job runs; read runbooks/ecs-deployment-failed.md',
    );
    expect(result.rows.at(-1)).toMatchObject({ name: 'wait for canary', ok: false });
    expect(ecs.commandCalls(StopServiceDeploymentCommand)).toHaveLength(0);
    expect(cw.calls()).toHaveLength(0);
  });

  test('a deployment that completes between two polls, before any split was seen, is inconclusive (not a failure) and says why', async () => {
    // The 40 s canary bake falls between the polls at 120 s and 180 s.
    const { result, figures } = await analyse({
      deployment: (s) => (s < 180 ? inProgressFrom(0)(s) : release('SUCCESSFUL')),
      weights: (s) => (s < 130 ? all('primary') : s < 170 ? canary('alternate') : all('alternate')),
    });
    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({ verdict: 'inconclusive', rollback_requested: false, candidate_target_group: '', stable_target_group: '' });
    expect(result.summary).toMatch(/^inconclusive \(not a failure\): ECS completed deployment .*Release42 \(SUCCESSFUL\) but no poll in 180 s saw the listener rule split traffic: the canary bake \(canaryBakeTimeInMinutes\) was shorter than poll_seconds \(60 s\)/);
    expect(figures).toMatchObject({ status: 'SUCCESSFUL', lastWeights: 'upiik-pay-production-primary 100 % / upiik-pay-production-alternate 0 %' });
    expect(result.rows.at(-1)!.found).toMatch(/^WARNING inconclusive: /);
    expect(cw.calls()).toHaveLength(0);
  });

  test('all traffic moving to the other group between two polls ends the wait at once: inconclusive, the candidate named, no bake', async () => {
    // ECS is still IN_PROGRESS (its bake after the full shift), but the canary split fell between polls.
    const { result, waited } = await analyse({
      deployment: inProgressFrom(0),
      weights: (s) => (s < 130 ? all('primary') : s < 170 ? canary('alternate') : all('alternate')),
    });
    expect(result.ok).toBe(true);
    expect(waited).toBe(180);
    expect(result.outputs).toMatchObject({ verdict: 'inconclusive', candidate_target_group: ARN.alternate, stable_target_group: ARN.primary, rollback_requested: false });
    expect(result.summary).toBe(
      'inconclusive (not a failure): ECS moved all traffic from upiik-pay-production-primary to upiik-pay-production-alternate between two polls 60 s apart, so the canary split was never seen: ' +
      `the canary bake (canaryBakeTimeInMinutes) was shorter than poll_seconds (deployment ${DEPLOYMENT} is still in its final bake). The canary sha256:c0ffee01 was not judged and nothing was stopped: the workflow decides`,
    );
    expect(cw.calls()).toHaveLength(0);
  });

  test('when ECS shifts all traffic to the candidate mid-bake, polling stops and the canary window collected so far is judged', async () => {
    const { result, figures, clock } = await analyse(
      { deployment: inProgressFrom(0), weights: (s) => (s < 60 ? all('primary') : s < 300 ? canary('alternate') : all('alternate')) },
      {}, { bakeSeconds: 900 },
    );
    expect(result.ok).toBe(true);
    expect(result.outputs.verdict).toBe('pass');
    // One wait poll, then four bake polls: the fourth sees the promotion.
    expect(clock.slept).toEqual(Array(5).fill(60_000));
    expect(figures.window).toEqual({ start: '2026-11-29T10:00:00.000Z', end: '2026-11-29T10:05:00.000Z' });
    expect(result.rows.find((r) => r.name === 'bake')!.found).toBe('4 polls; figures 2026-11-29T10:00:00.000Z to 2026-11-29T10:05:00.000Z (ended early: the canary window is over)');
    expect(result.rows.find((r) => r.name === 'canary window')).toEqual({
      name: 'canary window', ok: true,
      found: 'over after 240 s of the bake: ECS shifted all traffic to the candidate (upiik-pay-production-alternate 100 % / upiik-pay-production-primary 0 %) after its own canary bake; the figures collected until then are judged',
    });
    expect(result.summary).toBe(`pass: candidate ${VERSION.candidate} vs stable ${VERSION.stable}, every metric within its limit over 240 s (ECS promoted the canary after 240 s, before bake_seconds 900: the canary window was judged)`);
  });

  test('when ECS moves traffic back to stable mid-bake (its alarms rolled back), the step fails even though the metrics passed', async () => {
    const { result } = await analyse(
      { deployment: inProgressFrom(0), weights: (s) => (s < 60 ? all('primary') : s < 240 ? canary('alternate') : all('primary')) },
    );
    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ verdict: 'pass', rollback_requested: false, candidate_target_group: ARN.alternate });
    expect(result.summary).toMatch(/^pass over the canary window \(every metric within its limit\), but ECS moved all traffic back to upiik-pay-production-primary after 180 s of the bake .* the rollback job runs/);
    expect(result.rows.find((r) => r.name === 'canary window')).toMatchObject({ ok: false, fix: expect.stringContaining('runbooks/ecs-deployment-failed.md') });
  });

  test('throttled and 5xx calls while waiting are missed polls, not failures', async () => {
    const timeline: Timeline = { deployment: inProgressFrom(0), weights: (s) => (s < 120 ? all('primary') : canary('alternate')) };
    const clock = fakeClock(T0);
    world(clock, timeline);
    // The first ECS list and the first rule read fail transiently; the timeline answers after that.
    ecs.on(ListServiceDeploymentsCommand).rejectsOnce(throttled()).callsFake(() => ({ serviceDeployments: [{ serviceDeploymentArn: DEPLOYMENT, status: 'IN_PROGRESS', createdAt: new Date(T0 + 100_000) }] }));
    elb.on(DescribeRulesCommand)
      .rejectsOnce(Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } }))
      .callsFake(() => ({ Rules: [{ RuleArn: RULE, Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: ARN.primary, Weight: timeline.weights((clock.now() - T0) / 1000).primary }, { TargetGroupArn: ARN.alternate, Weight: timeline.weights((clock.now() - T0) / 1000).alternate }] } }] }] }));
    const result = await run(inputs({}, { bakeSeconds: 120 }), {
      metrics: (t) => new CloudWatchMetricSource(new CloudWatchClient({ region: 'eu-central-1' }), {
        loadBalancer: t.loadBalancer, environment: 'production',
        targets: { candidate: { targetGroup: t.candidateTargetGroup, version: VERSION.candidate }, stable: { targetGroup: t.stableTargetGroup, version: VERSION.stable } },
      }),
      ecs: new ECSClient({ region: 'eu-central-1' }), elb: new ElasticLoadBalancingV2Client({ region: 'eu-central-1' }), clock,
    });
    expect(result.rows.filter((r) => r.name.startsWith('wait poll')).map((r) => [r.name, r.ok, r.found])).toEqual([
      ['wait poll 1', true, 'missed (ThrottlingException: Rate exceeded); the next poll asks again'],
      ['wait poll 2', true, 'missed (ServiceUnavailable: Service Unavailable); the next poll asks again'],
    ]);
    expect(result.ok).toBe(true);
    expect(result.outputs).toMatchObject({ verdict: 'pass', candidate_target_group: ARN.alternate });
    expect(result.rows.find((r) => r.name === 'wait for canary')!.found).toContain('traffic split seen after 120 s');
  });

  test('a rule that forwards to a group outside target_groups ends the step naming it (wrong groups given)', async () => {
    const clock = fakeClock(T0);
    world(clock, { deployment: inProgressFrom(0), weights: () => all('primary') });
    const stranger = `${ACCOUNT}:targetgroup/upiik-pay-staging-primary/0badc0de00000001`;
    elb.on(DescribeRulesCommand).resolves({ Rules: [{ RuleArn: RULE, Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: stranger, Weight: 100 }] } }] }] });
    await expect(run(inputs(), { metrics: () => { throw new Error('not reached'); }, ecs: new ECSClient({}), elb: new ElasticLoadBalancingV2Client({}), clock }))
      .rejects.toThrow(`listener rule ${RULE} forwards traffic to ${stranger}, which is not in target_groups`);
  });
});

describe('canary-analysis entry: the listener rule form', () => {
  const base = {
    region: 'eu-central-1', cluster: 'upiik-payments-production', service: 'payments', environment: 'production',
    candidate_version: VERSION.candidate, stable_version: VERSION.stable,
  };
  const ruleForm = { ...base, listener_rule_arn: RULE, target_groups: `${ARN.primary}, ${ARN.alternate}` };

  test('reads the rule and both groups (comma or space separated), defaults the start timeout and takes the load balancer from the rule', () => {
    const { core } = fakeCore({ ...ruleForm, target_groups: `${ARN.primary}\n${ARN.alternate}`, started_after: '2026-11-29T09:58:00Z' });
    const read = entry.inputs(inputReader(core), core);
    expect(read.discover).toEqual({ listenerRuleArn: RULE, targetGroupArns: [ARN.primary, ARN.alternate], startTimeoutSeconds: 1800, startedAfter: new Date('2026-11-29T09:58:00Z') });
    expect(read.loadBalancer).toBeUndefined();
    expect(read.candidateTargetGroup).toBeUndefined();
    const withLb = fakeCore({ ...ruleForm, load_balancer: LB }).core;
    expect(entry.inputs(inputReader(withLb), withLb).loadBalancer).toBe(LB);
  });

  const named = { candidate_target_group: DIM.alternate, stable_target_group: DIM.primary, load_balancer: LB };
  test.each([
    [{ ...ruleForm, ...named }, 'wrong inputs: give either candidate_target_group and stable_target_group (known target groups), or listener_rule_arn and target_groups (found during the deployment), not both'],
    [{ ...ruleForm, candidate_target_group: DIM.alternate }, ', not both'],
    [base, 'wrong inputs: give either candidate_target_group and stable_target_group (known target groups), or listener_rule_arn and target_groups (found during the deployment)'],
    [{ ...base, listener_rule_arn: RULE }, 'wrong inputs: input target_groups is required with listener_rule_arn'],
    [{ ...base, target_groups: ARN.primary }, 'wrong inputs: input listener_rule_arn is required with target_groups'],
    [{ ...base, candidate_target_group: DIM.alternate, load_balancer: LB }, 'wrong inputs: input stable_target_group is required with candidate_target_group'],
    [{ ...base, ...named, start_timeout_seconds: '600' }, 'wrong inputs: input start_timeout_seconds applies only with listener_rule_arn and target_groups'],
    [{ ...ruleForm, target_groups: ARN.primary }, 'wrong inputs: input target_groups must name exactly the two target group ARNs, primary and alternate (got 1)'],
    [{ ...ruleForm, target_groups: `${ARN.primary} ${ARN.primary}` }, 'wrong inputs: input target_groups must name two different target groups'],
    [{ ...ruleForm, target_groups: `${DIM.primary} ${DIM.alternate}` }, 'wrong inputs: input target_groups must hold target group ARNs'],
    [{ ...ruleForm, listener_rule_arn: `${ACCOUNT}:listener/${LB}/f2f7dc8efc522ab2` }, 'wrong inputs: input listener_rule_arn must be an ALB listener rule ARN'],
    [{ ...ruleForm, region: 'eu-west-1' }, 'is not in the listener rule\'s account and region eu-west-1'],
    [{ ...ruleForm, load_balancer: 'app/upiik-pay-staging-alb/0123456789abcdef' }, 'wrong inputs: input load_balancer (app/upiik-pay-staging-alb/0123456789abcdef) is not the listener rule\'s load balancer'],
    [{ ...ruleForm, started_after: '29/11/2026 10:00' }, 'wrong inputs: input started_after must be an ISO 8601 time with a zone'],
    [{ ...ruleForm, started_after: '2026-11-29T10:00:00' }, 'wrong inputs: input started_after must be an ISO 8601 time with a zone'],
    [{ ...ruleForm, start_timeout_seconds: '7000' }, "wrong inputs: inputs start_timeout_seconds (7000) and bake_seconds (600) add up to more than 7200 s, the deploy role's session"],
  ])('wrong combination %# exits 2 before any AWS call', async (values, message) => {
    const { core, calls } = fakeCore(values as Record<string, string>);
    expect(await runStepEntry(entry, { core, env: {}, out: () => undefined })).toBe(2);
    expect(calls.failed).toHaveLength(1);
    expect(calls.failed[0]).toContain(message);
    expect(ecs.calls()).toHaveLength(0);
    expect(elb.calls()).toHaveLength(0);
    expect(cw.calls()).toHaveLength(0);
  });
});
