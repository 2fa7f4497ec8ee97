/**
 * CloudWatchMetricSource on its own: window alignment, NextToken pages, and what each per-query
 * StatusCode means for a poll. GetMetricData is mocked with aws-sdk-client-mock: no AWS here.
 */
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchMetricSource, alignWindow } from '../../pipelines/canary-analysis/cloudwatch-metric-source';
import { MetricsNotReadyError } from '../../pipelines/canary-analysis/metric-source';

const cw = mockClient(CloudWatchClient);
const LB = 'app/upiik-payments-production/50dc6c495c0c9188';
const TG = { candidate: 'targetgroup/upiik-pay-prod-alt/73e2d6bc24d8a067', stable: 'targetgroup/upiik-pay-prod-primary/1a2b3c4d5e6f7081' };
const VERSION = { candidate: 'sha256:c0ffee01', stable: 'sha256:5ab1e002' };

beforeEach(() => cw.reset());

describe('CloudWatchMetricSource', () => {
  const source = () => new CloudWatchMetricSource(new CloudWatchClient({ region: 'eu-central-1' }), {
    loadBalancer: LB, environment: 'production', targets: { candidate: { targetGroup: TG.candidate, version: VERSION.candidate }, stable: { targetGroup: TG.stable, version: VERSION.stable } },
  });
  const window = { start: new Date('2026-11-29T10:00:30Z'), end: new Date('2026-11-29T10:05:10Z') };

  test('aligns the window to whole minutes with one period spanning it', () => {
    expect(alignWindow(window)).toEqual({ start: new Date('2026-11-29T10:00:00Z'), end: new Date('2026-11-29T10:06:00Z'), periodSeconds: 360 });
    expect(alignWindow({ start: new Date('2026-11-29T10:00:00Z'), end: new Date('2026-11-29T10:00:00Z') }).periodSeconds).toBe(60);
  });

  test('follows NextToken and adds up the datapoints of every page', async () => {
    cw.on(GetMetricDataCommand)
      .resolvesOnce({ MetricDataResults: [{ Id: 'requests', StatusCode: 'PartialData', Values: [100] }, { Id: 'p99', StatusCode: 'Complete', Values: [0.2] }], NextToken: 'next' })
      .resolvesOnce({ MetricDataResults: [{ Id: 'requests', StatusCode: 'Complete', Values: [20] }, { Id: 'paymentfailed', StatusCode: 'Complete', Values: [2] }, { Id: 'paymentsucceeded', StatusCode: 'Complete', Values: [8] }] });
    expect(await source().read('candidate', window)).toEqual({
      requests: 120, errors5xx: 0, p99Ms: 200, paymentAttempts: 10, paymentFailures: 2, webhookDeliveries: 0, webhookFailures: 0,
    });
    const calls = cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input.NextToken);
    expect(calls).toEqual([undefined, 'next']);
  });

  test('no datapoint at all is zero counts and no p99', async () => {
    cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    expect(await source().read('stable', window)).toEqual({ requests: 0, errors5xx: 0, p99Ms: null, paymentAttempts: 0, paymentFailures: 0, webhookDeliveries: 0, webhookFailures: 0 });
  });

  test('an incomplete answer is a missed poll; a Forbidden query is an error naming the permission', async () => {
    cw.on(GetMetricDataCommand)
      .resolvesOnce({ MetricDataResults: [{ Id: 'requests', StatusCode: 'InternalError', Values: [] }] })
      .resolvesOnce({ MetricDataResults: [{ Id: 'paymentfailed', StatusCode: 'Forbidden', Messages: [{ Code: 'Forbidden', Value: 'no access' }] }] });
    await expect(source().read('candidate', window)).rejects.toBeInstanceOf(MetricsNotReadyError);
    await expect(source().read('candidate', window)).rejects.toThrow('GetMetricData refused candidate query paymentfailed (Forbidden: Forbidden no access): the role needs cloudwatch:GetMetricData');
  });
});
