import type { SideFigures } from '../../pipelines/canary-analysis/metric-source';
import { EPSILON, RELATIVE_FACTOR, judge, type Thresholds } from '../../pipelines/canary-analysis/verdict';

/** The step's default inputs (max_5xx_rate 0.02, max_p99_ms 2000, 0.2, 0.05, min_requests 50, min_payments 5). */
const T: Thresholds = { max5xxRate: 0.02, maxP99Ms: 2000, maxPaymentFailureRate: 0.2, maxWebhookFailureRate: 0.05, minRequests: 50, minPayments: 5 };

/** A healthy side with plenty of traffic; each test overrides what it is about. */
const side = (over: Partial<SideFigures> = {}): SideFigures => ({
  requests: 1000, errors5xx: 2, p99Ms: 300, paymentAttempts: 40, paymentFailures: 4, webhookDeliveries: 80, webhookFailures: 0, ...over,
});
const of = (v: ReturnType<typeof judge>, metric: string) => v.judgements.find((j) => j.metric === metric)!;

describe('canary verdict', () => {
  test('passes when every metric of the candidate is within its limit, and says so for each', () => {
    const v = judge(side({ errors5xx: 3, p99Ms: 350 }), side(), T);
    expect(v.verdict).toBe('pass');
    expect(v.judgements.map((j) => [j.metric, j.outcome])).toEqual([
      ['5xx_rate', 'pass'], ['p99_latency', 'pass'], ['payment_failure_rate', 'pass'], ['webhook_failure_rate', 'pass'],
    ]);
    expect(of(v, '5xx_rate')).toMatchObject({ candidate: 0.003, stable: 0.002, limit: 0.02 });
  });

  test('fails on the 5xx rate, naming the metric and both sides\' numbers', () => {
    const v = judge(side({ requests: 200, errors5xx: 12 }), side({ requests: 800, errors5xx: 4 }), T);
    expect(v.verdict).toBe('fail');
    expect(of(v, '5xx_rate').message).toBe(
      '5xx rate fails: candidate 6.00% (12 of 200 requests) above the limit 2.00% (threshold 2.00%); stable 0.50% (4 of 800 requests)',
    );
    expect(v.reason).toBe(of(v, '5xx_rate').message);
  });

  test('fails on p99 latency in milliseconds', () => {
    const v = judge(side({ p99Ms: 2600 }), side({ p99Ms: 400 }), T);
    expect(v.verdict).toBe('fail');
    expect(of(v, 'p99_latency').message).toBe(
      'p99 latency fails: candidate 2600 ms (p99 of 1000 requests) above the limit 2000 ms (threshold 2000 ms); stable 400 ms (p99 of 1000 requests)',
    );
  });

  test('fails on the payment failure rate', () => {
    const v = judge(side({ paymentAttempts: 10, paymentFailures: 6 }), side({ paymentAttempts: 50, paymentFailures: 5 }), T);
    expect(v.verdict).toBe('fail');
    expect(of(v, 'payment_failure_rate').message).toBe(
      // Declines are normal traffic: stable's 10% lifts the limit just over the threshold.
      'payment failure rate fails: candidate 60.00% (6 of 10 payments) above the limit 20.50% (2 × stable + 0.50%, above the threshold 20.00%); stable 10.00% (5 of 50 payments)',
    );
  });

  test('fails on the webhook failure rate', () => {
    const v = judge(side({ webhookDeliveries: 20, webhookFailures: 3 }), side({ webhookDeliveries: 60, webhookFailures: 0 }), T);
    expect(v.verdict).toBe('fail');
    expect(of(v, 'webhook_failure_rate').message).toBe(
      'webhook failure rate fails: candidate 15.00% (3 of 20 webhook deliveries) above the limit 5.00% (threshold 5.00%); stable 0.00% (0 of 60 webhook deliveries)',
    );
  });

  test('a candidate sample below the minimum is inconclusive, not pass, even with zero failures', () => {
    const v = judge(side({ requests: 49, errors5xx: 0, paymentAttempts: 4, paymentFailures: 0, webhookDeliveries: 4, webhookFailures: 0 }), side(), T);
    expect(v.verdict).toBe('inconclusive');
    expect(v.judgements.map((j) => j.outcome)).toEqual(['inconclusive', 'inconclusive', 'inconclusive', 'inconclusive']);
    expect(of(v, '5xx_rate')).toMatchObject({ limit: null, sample: { candidate: 49, stable: 1000, min: 50 } });
    expect(of(v, '5xx_rate').message).toBe('5xx rate inconclusive: candidate 0.00% (0 of 49 requests), 49 is below min_requests 50; stable 0.20% (2 of 1000 requests)');
    expect(of(v, 'payment_failure_rate').message).toContain('4 is below min_payments 5');
    expect(v.reason).toContain('webhook failure rate inconclusive');
  });

  test('a thin sample whose failures exceed the limit even over the minimum sample fails: no more traffic could bring it back', () => {
    // 6 of 32: even as 6 of 50 (12 %) it is above 2 %. The leak that gets a candidate pulled from
    // traffic by its health check leaves exactly this: few requests, many failed.
    const v = judge(side({ requests: 32, errors5xx: 6 }), side(), T);
    expect(of(v, '5xx_rate')).toMatchObject({ outcome: 'fail', limit: 0.02, candidate: 0.1875 });
    expect(of(v, '5xx_rate').message).toBe(
      '5xx rate fails on a thin sample: candidate 18.75% (6 of 32 requests), 6 failures are above the limit 2.00% even over min_requests 50 (as if the 18 missing had all succeeded); stable 0.20% (2 of 1000 requests)',
    );
    expect(v.verdict).toBe('fail');
    // 1 of 32 is 2 % of 50: not above the limit, so still inconclusive; so is one failed payment of 4 (20 % of 5).
    expect(of(judge(side({ requests: 32, errors5xx: 1 }), side(), T), '5xx_rate').outcome).toBe('inconclusive');
    expect(of(judge(side({ paymentAttempts: 4, paymentFailures: 1 }), side({ paymentFailures: 0 }), T), 'payment_failure_rate').outcome).toBe('inconclusive');
    expect(of(judge(side({ paymentAttempts: 4, paymentFailures: 2 }), side({ paymentFailures: 0 }), T), 'payment_failure_rate').outcome).toBe('fail');
    // The relative limit applies as well: stable failing at 10 % lifts it to 20.5 %, and 10 of 40 is 20 % of 50.
    expect(of(judge(side({ requests: 40, errors5xx: 10 }), side({ requests: 1000, errors5xx: 100 }), T), '5xx_rate')).toMatchObject({ outcome: 'inconclusive', limit: null });
    expect(of(judge(side({ requests: 40, errors5xx: 11 }), side({ requests: 1000, errors5xx: 100 }), T), '5xx_rate').outcome).toBe('fail');
    // Latency never judges a thin sample: one slow request among a few is not a verdict.
    expect(of(judge(side({ requests: 32, errors5xx: 0, p99Ms: 9000 }), side(), T), 'p99_latency').outcome).toBe('inconclusive');
  });

  test('no traffic at all is inconclusive with "n/a" for the rate', () => {
    const none = { requests: 0, errors5xx: 0, p99Ms: null, paymentAttempts: 0, paymentFailures: 0, webhookDeliveries: 0, webhookFailures: 0 };
    const v = judge(none, side(), T);
    expect(v.verdict).toBe('inconclusive');
    expect(of(v, '5xx_rate').message).toMatch(/^5xx rate inconclusive: candidate n\/a \(0 of 0 requests\)/);
  });

  test('p99 with enough requests but no published value is inconclusive', () => {
    const v = judge(side({ p99Ms: null }), side(), T);
    expect(of(v, 'p99_latency')).toMatchObject({ outcome: 'inconclusive', limit: null });
    expect(of(v, 'p99_latency').message).toContain('no value was published');
  });

  test('a failing metric decides over inconclusive ones', () => {
    const v = judge(side({ requests: 10, errors5xx: 0, paymentAttempts: 8, paymentFailures: 5 }), side(), T);
    expect(v.verdict).toBe('fail');
    expect(v.reason).toMatch(/^payment failure rate fails/);
  });

  describe('relative to stable', () => {
    test('stable failing too: the candidate is held to 2 × stable + epsilon, not blamed for the shared part', () => {
      // Stable 10% 5xx (a shared dependency is failing): limit max(2%, 2 × 10% + 0.5%) = 20.5%.
      const v = judge(side({ requests: 500, errors5xx: 60 }), side({ requests: 1000, errors5xx: 100 }), T);
      expect(of(v, '5xx_rate')).toMatchObject({ outcome: 'pass', candidate: 0.12, stable: 0.1 });
      expect(of(v, '5xx_rate').limit).toBeCloseTo(RELATIVE_FACTOR * 0.1 + EPSILON.rate);
      expect(of(v, '5xx_rate').message).toBe(
        '5xx rate passes: candidate 12.00% (60 of 500 requests) within the limit 20.50% (2 × stable + 0.50%, above the threshold 2.00%); stable 10.00% (100 of 1000 requests)',
      );
    });

    test('...but a candidate clearly worse than a bad stable still fails', () => {
      const v = judge(side({ requests: 500, errors5xx: 110 }), side({ requests: 1000, errors5xx: 100 }), T);
      expect(of(v, '5xx_rate')).toMatchObject({ outcome: 'fail', candidate: 0.22 });
    });

    test('payments: Stripe declining for everyone is not the candidate\'s failure', () => {
      const v = judge(side({ paymentAttempts: 20, paymentFailures: 9 }), side({ paymentAttempts: 60, paymentFailures: 24 }), T);
      expect(of(v, 'payment_failure_rate')).toMatchObject({ outcome: 'pass', candidate: 0.45, stable: 0.4 });
      expect(of(v, 'payment_failure_rate').limit).toBeCloseTo(0.805);
    });

    test('latency: the epsilon is 100 ms over twice the stable p99', () => {
      const v = judge(side({ p99Ms: 3000 }), side({ p99Ms: 1500 }), T);
      expect(of(v, 'p99_latency')).toMatchObject({ outcome: 'pass', limit: 3100 });
      expect(judge(side({ p99Ms: 3101 }), side({ p99Ms: 1500 }), T).verdict).toBe('fail');
    });

    test('the threshold is the floor: a healthy stable does not make the limit stricter than it', () => {
      const v = judge(side({ requests: 1000, errors5xx: 19 }), side({ requests: 1000, errors5xx: 0 }), T);
      expect(of(v, '5xx_rate')).toMatchObject({ outcome: 'pass', limit: 0.02 });
      // Exactly at the limit is not above it.
      expect(of(judge(side({ requests: 1000, errors5xx: 20 }), side({ errors5xx: 0 }), T), '5xx_rate').outcome).toBe('pass');
      expect(of(judge(side({ requests: 1000, errors5xx: 21 }), side({ errors5xx: 0 }), T), '5xx_rate').outcome).toBe('fail');
    });

    test('a stable side below the minimum sample is no baseline: the threshold alone applies', () => {
      const v = judge(side({ requests: 1000, errors5xx: 50 }), side({ requests: 20, errors5xx: 10 }), T);
      expect(of(v, '5xx_rate')).toMatchObject({ outcome: 'fail', limit: 0.02, stable: 0.5 });
      expect(of(v, '5xx_rate').message).toContain('(threshold 2.00% only, stable below min_requests 50)');
    });
  });
});
