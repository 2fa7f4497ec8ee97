import { computePaymentHealth } from '../../../service/monitoring/health';
import { createTestDatabase, type TestDatabase } from '../../support/database';

/**
 * Details of the health report that on-call reads and the alerts quote: the reasons (only for a
 * rate that is not healthy, with the threshold it crossed), failures the inbox could not record
 * (merged into both sides of the webhook rate), refunds that no longer count (failed or canceled)
 * left out, and timestamps to the millisecond.
 */
const NOW = new Date('2031-05-01T12:00:00.000Z');
const WINDOW = { now: NOW, windowMs: 15 * 60_000, minSample: 20 };
let db: TestDatabase;
let seq = 0;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  for (const table of ['refunds', 'payment_attempts', 'payments', 'webhook_events'] as const) await db.db.deleteFrom(table).execute();
});

const ago = (ms: number) => new Date(NOW.getTime() - ms);

async function webhookEvents(count: number, status: 'processed' | 'failed') {
  const rows = Array.from({ length: count }, () => ({
    event_id: `evt_details_${++seq}`,
    type: 'invoice.paid',
    api_version: null,
    livemode: false,
    stripe_created_at: ago(60_000),
    payload: '{}',
    status,
    received_at: ago(60_000),
    processed_at: ago(60_000),
    duration_ms: 12,
  }));
  await db.db.insertInto('webhook_events').values(rows).execute();
}

async function succeededPayments(count: number, occurredAt = ago(60_000)) {
  const rows = Array.from({ length: count }, () => {
    const key = `in_details_${++seq}`;
    return { payment_key: key, invoice_id: key, amount: 400, currency: 'eur', status: 'succeeded', occurred_at: occurredAt, stripe_updated_at: Math.floor(occurredAt.getTime() / 1000) };
  });
  await db.db.insertInto('payments').values(rows).execute();
  return rows.map((r) => r.payment_key);
}

describe('payment health report details', () => {
  it('gives no reason while every rate is healthy', async () => {
    await webhookEvents(30, 'processed');
    await succeededPayments(30);
    const health = await computePaymentHealth(db.db, WINDOW);
    expect(health.status).toBe('healthy');
    expect(health.reasons).toEqual([]);
  });

  it('names the threshold a degraded rate crossed (not the critical one)', async () => {
    await webhookEvents(18, 'processed');
    await webhookEvents(2, 'failed');
    const health = await computePaymentHealth(db.db, WINDOW);
    expect(health.window.webhookFailure.status).toBe('degraded');
    expect(health.reasons).toEqual(['webhook failure rate 10.0% is above 5.0% (2 of 20 in the last 15 min)']);
  });

  it('names the critical threshold once a rate is critical', async () => {
    await webhookEvents(14, 'processed');
    await webhookEvents(6, 'failed');
    const health = await computePaymentHealth(db.db, WINDOW);
    expect(health.reasons).toEqual(['webhook failure rate 30.0% is above 15.0% (6 of 20 in the last 15 min)']);
  });

  it('adds failures the inbox could not record to both the failures and the total of the webhook rate', async () => {
    await webhookEvents(16, 'processed');
    const health = await computePaymentHealth(db.db, { ...WINDOW, unrecordedWebhookFailures: 4 });
    expect(health.window.webhookFailure).toMatchObject({ total: 20, failed: 4, rate: 0.2, status: 'critical' });
  });

  it('counts only refunds that still count against their payment', async () => {
    const [paid] = await succeededPayments(1);
    const refund = (id: string, status: string, counted: boolean) => ({
      refund_id: id, payment_key: paid!, charge_id: 'ch_details', payment_intent_id: 'pi_details', amount: 100, currency: 'eur',
      status, reason: null, failure_reason: null, counted, refunded_at: ago(60_000), stripe_updated_at: Math.floor(ago(60_000).getTime() / 1000),
    });
    await db.db.insertInto('refunds').values([refund('re_kept', 'succeeded', true), refund('re_failed', 'failed', false), refund('re_canceled', 'canceled', false)]).execute();
    const health = await computePaymentHealth(db.db, WINDOW);
    expect(health.metrics.refunds).toBe(1);
    expect(health.window.refunds).toBe(1);
  });

  it('reports the last payment to the millisecond', async () => {
    await succeededPayments(1, new Date('2031-05-01T11:59:58.123Z'));
    const health = await computePaymentHealth(db.db, WINDOW);
    expect(health.metrics.lastPaymentAt).toBe('2031-05-01T11:59:58.123Z');
  });
});
