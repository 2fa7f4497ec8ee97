import type Stripe from 'stripe';
import type { PaymentHealth } from '../../../service/monitoring';
import { toNumber } from '../../../service/shared/db';
import type { TestService } from '../../support/service';
import { SETTLE_MS } from '../../support/wait';
import { DAY, fakeEvent, postWebhook, sign, startWebhookService, subscribe } from './support';

/**
 * Disputes (chargebacks) reach the ledger, the rollups, payment health and on-call: opened through
 * the sandbox's control action and decided won or lost there, delivered as signed webhooks; plus
 * hand-signed orderings the sandbox does not produce.
 */

jest.setTimeout(300_000);

let svc: TestService;

beforeAll(async () => {
  svc = await startWebhookService();
});
afterAll(async () => {
  await svc.close();
});
afterEach(() => {
  svc.sandbox.control.clearFaults();
});

const db = () => svc.database.db;

async function settle(): Promise<void> {
  await svc.sandbox.control.waitForDeliveries(120_000);
  const failed = svc.sandbox.control.deliveries().filter((d) => !d.succeeded);
  expect(failed.map((d) => `${d.type} ${d.event_id}: ${d.status ?? d.error}`)).toEqual([]);
}

async function paidCharge(userId: string): Promise<{ payment: { payment_key: string; payment_intent_id: string | null }; chargeId: string }> {
  await subscribe(svc, userId);
  await settle();
  const payment = await db().selectFrom('payments').select(['payment_key', 'payment_intent_id']).where('user_id', '=', userId).executeTakeFirstOrThrow();
  const pi = await svc.stripe.paymentIntents.retrieve(payment.payment_intent_id!);
  return { payment, chargeId: pi.latest_charge as string };
}

async function paymentRow(key: string) {
  return db().selectFrom('payments').selectAll().where('payment_key', '=', key).executeTakeFirstOrThrow();
}
async function rollup(day: string) {
  const row = await db().selectFrom('daily_revenue').selectAll().where('day', '=', day).where('currency', '=', 'eur').executeTakeFirst();
  return {
    disputesOpened: row?.disputes_opened ?? 0,
    disputed: toNumber(row?.disputed_amount),
    withdrawn: toNumber(row?.dispute_withdrawn_amount),
    reinstated: toNumber(row?.dispute_reinstated_amount),
  };
}
const dayOfUnix = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);
const alertsFor = (disputeId: string) => svc.alerts.ofType('dispute_opened').filter((a) => a.details?.disputeId === disputeId);

async function post(event: Stripe.Event): Promise<number> {
  const body = JSON.stringify(event);
  return (await postWebhook(svc, body, { 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) })).status;
}

describe('disputes through the sandbox', () => {
  test('a chargeback withdraws the money on its day, alerts once with its deadline, and winning reinstates it on the day it was won', async () => {
    const { payment, chargeId } = await paidCharge('user_dispute_won');
    const openedDayBefore = await rollup(dayOfUnix(svc.sandbox.control.now()));
    const dispute = await svc.sandbox.control.openDispute(chargeId, { reason: 'fraudulent' });
    await settle();

    expect(await paymentRow(payment.payment_key)).toMatchObject({ status: 'succeeded', dispute_status: 'needs_response', disputed_amount: 400, dispute_withdrawn_amount: 400 });
    const openedDay = dayOfUnix(dispute.created);
    expect(await rollup(openedDay)).toEqual({
      disputesOpened: openedDayBefore.disputesOpened + 1,
      disputed: openedDayBefore.disputed + 400,
      withdrawn: openedDayBefore.withdrawn + 400,
      reinstated: openedDayBefore.reinstated,
    });

    await svc.alerts.waitFor(() => alertsFor(dispute.id).length > 0, SETTLE_MS);
    const [alert] = alertsFor(dispute.id);
    expect(alert).toMatchObject({ type: 'dispute_opened', severity: 'high', count: 1 });
    expect(alert!.details).toEqual({
      disputeId: dispute.id,
      paymentKey: payment.payment_key,
      userId: 'user_dispute_won',
      amount: 400,
      currency: 'eur',
      reason: 'fraudulent',
      status: 'needs_response',
      evidenceDueBy: new Date(dispute.evidence_details.due_by! * 1000).toISOString(),
    });
    expect(alert!.message).toContain('4.00 EUR');
    expect(alert!.message).toContain(new Date(dispute.evidence_details.due_by! * 1000).toISOString());
    // No card data: the charge was paid with the 4242 test card.
    expect(JSON.stringify(alert)).not.toMatch(/4242|last4|brand/);

    // Decided two days later: the reinstatement lands on that day, not the opening day.
    await svc.sandbox.control.advanceClock(2 * DAY);
    const wonDay = dayOfUnix(svc.sandbox.control.now());
    await svc.sandbox.control.closeDispute(dispute.id, 'won');
    await settle();
    expect(await paymentRow(payment.payment_key)).toMatchObject({ dispute_status: 'won', disputed_amount: 400, dispute_withdrawn_amount: 0 });
    expect((await rollup(wonDay)).reinstated).toBeGreaterThanOrEqual(400);
    expect((await rollup(openedDay)).reinstated).toBe(openedDayBefore.reinstated);
    // created, funds_withdrawn, closed, funds_reinstated: one dispute, one alert.
    await svc.monitoring.alerts.idle();
    expect(alertsFor(dispute.id)).toHaveLength(1);
    expect(await db().selectFrom('dispute_funds').select('amount').where('dispute_id', '=', dispute.id).orderBy('occurred_at').execute()).toEqual([{ amount: -400 }, { amount: 400 }]);
  });

  test('a lost dispute keeps the money withdrawn; evidence submitted through the API puts it under review first', async () => {
    const { payment, chargeId } = await paidCharge('user_dispute_lost');
    const dispute = await svc.sandbox.control.openDispute(chargeId, { reason: 'product_not_received' });
    await svc.stripe.disputes.update(dispute.id, { evidence: { uncategorized_text: 'Subscription used daily' }, submit: true });
    await settle();
    expect((await paymentRow(payment.payment_key)).dispute_status).toBe('under_review');

    await svc.sandbox.control.closeDispute(dispute.id, 'lost');
    await settle();
    expect(await paymentRow(payment.payment_key)).toMatchObject({ dispute_status: 'lost', dispute_withdrawn_amount: 400 });
  });

  test('accepting a dispute through the API (close) loses it', async () => {
    const { payment, chargeId } = await paidCharge('user_dispute_accept');
    const dispute = await svc.sandbox.control.openDispute(chargeId);
    const closed = await svc.stripe.disputes.close(dispute.id);
    expect(closed.status).toBe('lost');
    await settle();
    expect(await paymentRow(payment.payment_key)).toMatchObject({ dispute_status: 'lost', dispute_withdrawn_amount: 400 });
  });

  test('a dispute delivered before its payment\'s own events shows on the payment row when it appears', async () => {
    // The payment's events are held back (delivered later), the subscription's are not.
    svc.sandbox.control.setFaults({ hold: { types: ['invoice.payment_succeeded', 'payment_intent.succeeded'] } });
    await subscribe(svc, 'user_dispute_early');
    await svc.sandbox.control.waitForDeliveries(120_000);
    expect(await db().selectFrom('payments').select('id').where('user_id', '=', 'user_dispute_early').executeTakeFirst()).toBeUndefined();
    const invoice = (await svc.stripe.invoices.list({ customer: (await db().selectFrom('stripe_customers').select('customer_id').where('user_id', '=', 'user_dispute_early').executeTakeFirstOrThrow()).customer_id })).data[0]!;
    const [invoicePayment] = (await svc.stripe.invoicePayments.list({ invoice: invoice.id })).data;
    const pi = await svc.stripe.paymentIntents.retrieve(invoicePayment!.payment.payment_intent as string);
    const dispute = await svc.sandbox.control.openDispute(pi.latest_charge as string);
    await svc.sandbox.control.waitForDeliveries(120_000);
    // Recorded under the invoice's key before the payment row exists.
    expect(await db().selectFrom('disputes').select(['payment_key', 'status']).where('dispute_id', '=', dispute.id).executeTakeFirstOrThrow()).toEqual({ payment_key: invoice.id, status: 'needs_response' });
    expect(await db().selectFrom('payments').select('id').where('payment_key', '=', invoice.id).executeTakeFirst()).toBeUndefined();

    svc.sandbox.control.clearFaults();
    await settle();
    expect(await paymentRow(invoice.id)).toMatchObject({ status: 'succeeded', user_id: 'user_dispute_early', dispute_status: 'needs_response', disputed_amount: 400, dispute_withdrawn_amount: 400 });
  });

  test('payment health counts disputes by what they need', async () => {
    const res = await fetch(`${svc.url}/api/payments/health`);
    const health = (await res.json()) as PaymentHealth;
    const rows = await db().selectFrom('disputes').select(['status', 'evidence_due_by']).execute();
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(health.metrics.disputes).toMatchObject({
      total: rows.length,
      won: rows.filter((r) => r.status === 'won').length,
      lost: rows.filter((r) => r.status === 'lost').length,
      open: rows.filter((r) => ['needs_response', 'under_review'].includes(r.status)).length,
    });
    expect(health.metrics.disputes.won).toBeGreaterThanOrEqual(1);
    expect(health.metrics.disputes.lost).toBeGreaterThanOrEqual(2);
    expect(health.window.disputesOpened).toBeGreaterThanOrEqual(1);
  });
});

describe('dispute orderings the sandbox cannot produce (hand-signed events)', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const bt = (id: string, amount: number, created: number) => ({ id, object: 'balance_transaction', amount, fee: amount < 0 ? 1500 : 0, currency: 'eur', created });
  function disputeObject(id: string, pi: string, status: string, created: number, funds: ReturnType<typeof bt>[]): Record<string, unknown> {
    return {
      id,
      object: 'dispute',
      amount: 600,
      currency: 'eur',
      created,
      status,
      reason: 'duplicate',
      charge: `ch_${pi.slice(3)}`,
      payment_intent: pi,
      evidence_details: { due_by: status === 'won' ? null : created + 7 * 86_400 },
      balance_transactions: funds,
      metadata: {},
    };
  }
  function intentObject(pi: string): Record<string, unknown> {
    return { id: pi, object: 'payment_intent', amount: 600, amount_received: 600, currency: 'eur', customer: null, metadata: {}, latest_charge: `ch_${pi.slice(3)}`, last_payment_error: null };
  }

  test('a dispute of a charge this Stripe account does not have is unmatched (2xx, final), not a 5xx retried for days', async () => {
    const t = now();
    const event = fakeEvent('charge.dispute.created', disputeObject(`dp_foreign_${t}`, `pi_foreign_${t}`, 'needs_response', t, []), { created: t });
    expect(await post(event)).toBe(200);
    const row = await db().selectFrom('webhook_events').select(['status', 'last_error']).where('event_id', '=', event.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('unmatched');
    expect(row.last_error).toContain(`charge ch_foreign_${t} does not exist`);
    expect(await db().selectFrom('disputes').select('dispute_id').where('dispute_id', '=', `dp_foreign_${t}`).executeTakeFirst()).toBeUndefined();
  });

  test('the closing event first, then the opening ones and duplicates: won once, withdrawn and reinstated once each, one alert', async () => {
    const pi = `pi_dp_${Date.now()}`;
    const t = now() - 3600;
    const id = `dp_reordered_${t}`;
    expect(await post(fakeEvent('payment_intent.succeeded', intentObject(pi), { created: t - 600 }))).toBe(200);
    const withdrawal = bt(`txn_w_${t}`, -600, t);
    const reinstatement = bt(`txn_r_${t}`, 600, t + 1800);
    const before = await rollup(dayOfUnix(t));
    const reinstatedBefore = (await rollup(dayOfUnix(t + 1800))).reinstated;

    expect(await post(fakeEvent('charge.dispute.closed', disputeObject(id, pi, 'won', t, [withdrawal, reinstatement]), { created: t + 1800 }))).toBe(200);
    expect(await post(fakeEvent('charge.dispute.funds_reinstated', disputeObject(id, pi, 'won', t, [withdrawal, reinstatement]), { created: t + 1800 }))).toBe(200);
    expect(await post(fakeEvent('charge.dispute.created', disputeObject(id, pi, 'needs_response', t, []), { created: t }))).toBe(200);
    const withdrawn = fakeEvent('charge.dispute.funds_withdrawn', disputeObject(id, pi, 'needs_response', t, [withdrawal]), { created: t });
    expect(await post(withdrawn)).toBe(200);
    expect(await post(withdrawn)).toBe(200);
    expect(await post(fakeEvent('charge.dispute.updated', disputeObject(id, pi, 'under_review', t, [withdrawal]), { created: t + 600 }))).toBe(200);

    expect(await paymentRow(pi)).toMatchObject({ dispute_status: 'won', disputed_amount: 600, dispute_withdrawn_amount: 0 });
    const after = await rollup(dayOfUnix(t));
    expect(after.disputesOpened - before.disputesOpened).toBe(1);
    expect(after.disputed - before.disputed).toBe(600);
    expect(after.withdrawn - before.withdrawn).toBe(600);
    // Each movement on its balance transaction's own day (the same day unless t is just before midnight).
    expect((await rollup(dayOfUnix(t + 1800))).reinstated - reinstatedBefore).toBe(600);
    await svc.alerts.waitFor(() => alertsFor(id).length > 0, SETTLE_MS);
    await svc.monitoring.alerts.idle();
    expect(alertsFor(id)).toHaveLength(1);
  });
});
