import { sql } from 'kysely';
import { ManualClock } from '../../../service/shared/clock';
import type { PaymentHealth } from '../../../service/monitoring';
import { startTestService, type TestService } from '../../support/service';

/**
 * The health arithmetic on rows written the way the webhook code writes them (payments by Stripe
 * time, webhook_events by receipt time): exact thresholds, the webhook rate, the minimum sample,
 * 24 h activity and a failing check. The sandbox-driven suite covers the same route end to end.
 */
const START = new Date('2031-03-01T12:00:00Z');
const clock = new ManualClock(START);
let svc: TestService;
let seq = 0;

beforeAll(async () => {
  svc = await startTestService({ clock, env: { HEALTH_MIN_SAMPLE: '20' } });
});
afterAll(async () => {
  await svc.close();
});
beforeEach(async () => {
  clock.set(START);
  await svc.database.db.deleteFrom('payments').execute();
  await svc.database.db.deleteFrom('payment_attempts').execute();
  await svc.database.db.deleteFrom('webhook_events').execute();
});

const at = (minutesAgo: number) => new Date(clock.now().getTime() - minutesAgo * 60_000);

async function payments(count: number, status: 'succeeded' | 'failed' | 'refunded', minutesAgo = 1) {
  const rows = Array.from({ length: count }, () => {
    seq += 1;
    return {
      payment_key: `in_health_${seq}`,
      invoice_id: `in_health_${seq}`,
      amount: 400,
      currency: 'eur',
      status,
      failure_code: status === 'failed' ? 'card_declined' : null,
      occurred_at: at(minutesAgo),
      stripe_updated_at: Math.floor(at(minutesAgo).getTime() / 1000),
    };
  });
  if (rows.length > 0) await svc.database.db.insertInto('payments').values(rows).execute();
  // As the webhook code does: every declined attempt is also recorded once in payment_attempts.
  const attempts = rows
    .filter((r) => r.status === 'failed')
    .map((r) => ({ attempt_key: `${r.payment_key}#1`, payment_key: r.payment_key, outcome: 'failed', failure_code: 'card_declined', occurred_at: r.occurred_at }));
  if (attempts.length > 0) await svc.database.db.insertInto('payment_attempts').values(attempts).execute();
}

async function webhooks(count: number, status: 'processed' | 'failed' | 'ignored' | 'unmatched' | 'pending', minutesAgo = 1) {
  const rows = Array.from({ length: count }, () => {
    seq += 1;
    return {
      event_id: `evt_health_${seq}`,
      type: 'invoice.payment_succeeded',
      api_version: null,
      livemode: false,
      stripe_created_at: at(minutesAgo),
      payload: '{}',
      status,
      received_at: at(minutesAgo),
      processed_at: status === 'pending' ? null : at(minutesAgo),
      duration_ms: 12,
    };
  });
  if (rows.length > 0) await svc.database.db.insertInto('webhook_events').values(rows).execute();
}

async function health(): Promise<{ status: number; body: PaymentHealth }> {
  const res = await fetch(`${svc.url}/api/payments/health`);
  return { status: res.status, body: (await res.json()) as PaymentHealth };
}

describe('GET /api/payments/health', () => {
  it('reports zeros, no activity and healthy on an empty ledger', async () => {
    const res = await health();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'healthy',
      hasRecentActivity: false,
      metrics: { totalPayments: 0, successfulPayments: 0, failedPayments: 0, webhookEvents: 0, failedWebhooks: 0, lastPaymentAt: null, lastWebhookAt: null },
      window: { durationMs: 3_600_000, minSample: 20, paymentFailure: { total: 0, rate: 0, sampleTooSmall: true } },
    });
  });

  it('applies the payment thresholds strictly: 10 % is healthy, just above it degraded, above 25 % critical (503)', async () => {
    await payments(18, 'succeeded');
    await payments(2, 'failed');
    expect((await health()).body.status).toBe('healthy'); // 2/20 = 10 %

    await payments(1, 'failed');
    let res = await health(); // 3/21 = 14.3 %
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');

    await payments(2, 'failed');
    await payments(7, 'refunded'); // a refunded payment's charge went through: 5/30 = 16.7 %
    res = await health();
    // ...but it is not counted as a successful payment any more: 18 kept, 7 refunded.
    expect(res.body.metrics).toMatchObject({ totalPayments: 30, successfulPayments: 18, refundedPayments: 7, partiallyRefundedPayments: 0, failedPayments: 5 });
    expect(res.body.status).toBe('degraded');

    await payments(2, 'failed'); // 7/32 = 21.9 %
    expect((await health()).body.status).toBe('degraded');
    await payments(2, 'failed'); // 9/34 = 26.5 %
    res = await health();
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('critical');
    expect(res.body.window.paymentFailure).toMatchObject({ total: 34, failed: 9, rate: 0.2647, thresholds: { degraded: 0.1, critical: 0.25 } });
    expect(res.body.reasons[0]).toMatch(/^payment failure rate 26\.5% is above 25\.0% \(9 of 34 in the last 60 min\)$/);
  });

  it('stays 200 degraded exactly at the critical threshold (25 %) and turns 503 critical one failure past it', async () => {
    await payments(15, 'succeeded');
    await payments(5, 'failed');
    let res = await health(); // 5/20 = 25 %: not above
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.window.paymentFailure).toMatchObject({ total: 20, failed: 5, rate: 0.25, status: 'degraded' });

    await payments(1, 'failed');
    res = await health(); // 6/21 = 28.6 %
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('critical');
  });

  it('counts declined attempts that a later retry paid: the rate sees the decline storm, the ledger one success', async () => {
    await payments(18, 'succeeded');
    // Two payments declined twice each, then paid: their rows say succeeded, their attempts do not.
    const retried = ['in_retried_a', 'in_retried_b'];
    await svc.database.db
      .insertInto('payments')
      .values(retried.map((key) => ({ payment_key: key, invoice_id: key, amount: 400, currency: 'eur', status: 'succeeded', failure_code: null, occurred_at: at(1), stripe_updated_at: Math.floor(at(1).getTime() / 1000), failed_attempts: 2 })))
      .execute();
    await svc.database.db
      .insertInto('payment_attempts')
      .values(retried.flatMap((key) => [1, 2].map((n) => ({ attempt_key: `${key}#${n}`, payment_key: key, outcome: 'failed', failure_code: 'card_declined', occurred_at: at(2) }))))
      .execute();
    const res = await health(); // 4 failed attempts of 24 attempts = 16.7 %
    expect(res.body.status).toBe('degraded');
    expect(res.body.window.paymentFailure).toMatchObject({ total: 24, failed: 4 });
    expect(res.body.metrics).toMatchObject({ totalPayments: 20, successfulPayments: 20, failedPayments: 0, failedPaymentAttempts: 4 });
  });

  it('does not let a small sample degrade the status, and says so', async () => {
    await payments(19, 'failed');
    const res = await health();
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('healthy');
    expect(res.body.window.paymentFailure).toMatchObject({ total: 19, failed: 19, rate: 1, sampleTooSmall: true, status: 'healthy' });
  });

  it('rates webhooks over finished events: above 5 % degraded, above 15 % critical; pending events do not count', async () => {
    await webhooks(38, 'processed');
    await webhooks(1, 'ignored');
    await webhooks(1, 'failed');
    await webhooks(30, 'pending');
    let res = await health(); // 1/40 = 2.5 %
    expect(res.body.window.webhookFailure).toMatchObject({ total: 40, failed: 1 });
    expect(res.body.status).toBe('healthy');

    await webhooks(2, 'failed'); // 3/42 = 7.1 %
    expect((await health()).body.status).toBe('degraded');

    await webhooks(5, 'failed'); // 8/47 = 17 %
    res = await health();
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('critical');
    expect(res.body.metrics).toMatchObject({ webhookEvents: 77, failedWebhooks: 8 });
  });

  it('slides: failures older than the window stop counting, lifetime totals keep them', async () => {
    await payments(20, 'failed', 30);
    expect((await health()).status).toBe(503);
    clock.advance(31 * 60_000);
    const res = await health();
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('healthy');
    expect(res.body.window.paymentFailure.total).toBe(0);
    expect(res.body.metrics.failedPayments).toBe(20);
  });

  it('has recent activity only while a webhook arrived within 24 hours', async () => {
    await webhooks(1, 'processed', 60);
    let res = await health();
    expect(res.body.hasRecentActivity).toBe(true);
    expect(res.body.metrics.lastWebhookAt).toBe(at(60).toISOString());
    clock.advance(23 * 3600_000);
    expect((await health()).body.hasRecentActivity).toBe(true);
    clock.advance(3600_000 + 1000);
    res = await health();
    expect(res.body.hasRecentActivity).toBe(false);
    // The background evaluation (here: the route) raises the no-activity alert once.
    await svc.monitoring.alerts.idle();
    expect(svc.alerts.ofType('no_recent_activity')).toHaveLength(1);
  });
});

describe('GET /api/payments/health when the check cannot run', () => {
  it('answers 500 with a JSON error naming the failed check', async () => {
    const broken = await startTestService();
    await sql`alter table payments rename to payments_gone`.execute(broken.database.db);
    try {
      const res = await fetch(`${broken.url}/api/payments/health`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: { code: 'health_check_failed', message: 'The payment health check could not run' } });
    } finally {
      await broken.close().catch(() => undefined);
    }
  });
});
