import { HEALTH_THRESHOLDS, rateReport } from '../../../service/monitoring/health';

/**
 * The boundaries of the health arithmetic, exactly on each edge: a rate equal to a threshold does
 * not cross it (the thresholds are "above"), the smallest step past it does; a sample equal to the
 * minimum counts. An off-by-one here pages on-call (or fails to) at the edge.
 */
describe('rateReport at its boundaries', () => {
  const payments = HEALTH_THRESHOLDS.paymentFailure;
  const webhooks = HEALTH_THRESHOLDS.webhookFailure;

  it('keeps the seed thresholds: payments 10 % / 25 %, webhooks 5 % / 15 %', () => {
    expect(HEALTH_THRESHOLDS).toEqual({ paymentFailure: { degraded: 0.1, critical: 0.25 }, webhookFailure: { degraded: 0.05, critical: 0.15 } });
  });

  it.each([
    ['exactly 25 % of payments', 5, 20, payments, 'degraded'],
    ['just above 25 % of payments', 251, 1000, payments, 'critical'],
    ['exactly 10 % of payments', 2, 20, payments, 'healthy'],
    ['just above 10 % of payments', 101, 1000, payments, 'degraded'],
    ['exactly 15 % of webhooks', 3, 20, webhooks, 'degraded'],
    ['just above 15 % of webhooks', 151, 1000, webhooks, 'critical'],
    ['exactly 5 % of webhooks', 1, 20, webhooks, 'healthy'],
    ['just above 5 % of webhooks', 51, 1000, webhooks, 'degraded'],
  ] as const)('%s (%i of %i) is %s', (_what, failed, total, thresholds, status) => {
    const report = rateReport(total, failed, thresholds, 20);
    expect(report).toMatchObject({ status, total, failed, sampleTooSmall: false, thresholds });
  });

  it('counts a sample exactly at the minimum, not one below it', () => {
    expect(rateReport(20, 20, payments, 20)).toMatchObject({ status: 'critical', sampleTooSmall: false, rate: 1 });
    expect(rateReport(19, 19, payments, 20)).toMatchObject({ status: 'healthy', sampleTooSmall: true, rate: 1 });
  });

  it('reports the rate rounded to four decimals and 0 for an empty window', () => {
    expect(rateReport(3, 1, payments, 1).rate).toBe(0.3333);
    expect(rateReport(0, 0, payments, 0)).toMatchObject({ rate: 0, status: 'healthy', sampleTooSmall: false });
  });

  it('returns a copy of the thresholds, not the shared constant', () => {
    const report = rateReport(20, 0, payments, 20);
    report.thresholds.critical = 0.99;
    expect(HEALTH_THRESHOLDS.paymentFailure.critical).toBe(0.25);
  });
});
