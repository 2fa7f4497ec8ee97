import type Stripe from 'stripe';
import { upsertUser } from '../../../service/checkout/repository';
import { toNumber } from '../../../service/shared/db';
import type { TestService } from '../../support/service';
import { DAY, fakeEvent, postWebhook, sign, startWebhookService, subscribe } from './support';

/**
 * Refunds reach the ledger: real refunds created through the SDK against the sandbox and delivered
 * as signed webhooks, plus hand-signed events for orderings the sandbox never produces.
 */

jest.setTimeout(300_000);

let svc: TestService;

beforeAll(async () => {
  svc = await startWebhookService();
});
afterAll(async () => {
  await svc.close();
});

const db = () => svc.database.db;

async function settle(): Promise<void> {
  await svc.sandbox.control.waitForDeliveries(120_000);
  const failed = svc.sandbox.control.deliveries().filter((d) => !d.succeeded);
  expect(failed.map((d) => `${d.type} ${d.event_id}: ${d.status ?? d.error}`)).toEqual([]);
}

async function paymentOf(userId: string) {
  return db().selectFrom('payments').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();
}
async function paymentByKey(key: string) {
  return db().selectFrom('payments').selectAll().where('payment_key', '=', key).executeTakeFirstOrThrow();
}
async function rollup(day: string) {
  const row = await db().selectFrom('daily_revenue').selectAll().where('day', '=', day).where('currency', '=', 'eur').executeTakeFirst();
  return { gross: toNumber(row?.gross_amount), refunded: toNumber(row?.refunded_amount), refunds: row?.refunds ?? 0 };
}
const dayOfUnix = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);

async function post(event: Stripe.Event): Promise<number> {
  const body = JSON.stringify(event);
  const res = await postWebhook(svc, body, { 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) });
  return res.status;
}

describe('refunds through the sandbox', () => {
  test('a partial then a full refund make the invoice payment partially_refunded then refunded, each on its own day', async () => {
    await subscribe(svc, 'user_refund_e2e');
    await settle();
    const paid = await paymentOf('user_refund_e2e');
    expect(paid).toMatchObject({ status: 'succeeded', amount: 400, refunded_amount: 0 });
    const payDay = paid.occurred_at.toISOString().slice(0, 10);
    const before = await rollup(payDay);

    // Three days later (sandbox clock) the customer gets EUR 1.50 back.
    await svc.sandbox.control.advanceClock(3 * DAY);
    const first = await svc.stripe.refunds.create({ payment_intent: paid.payment_intent_id!, amount: 150 });
    await settle();
    expect(await paymentOf('user_refund_e2e')).toMatchObject({ status: 'partially_refunded', amount: 400, refunded_amount: 150 });
    const refundDay = dayOfUnix(first.created);
    expect(refundDay).not.toBe(payDay);
    expect(await rollup(refundDay)).toMatchObject({ refunded: 150, refunds: 1 });
    // The payment's own day keeps its revenue and is not where the refund lands.
    expect(await rollup(payDay)).toEqual(before);

    const second = await svc.stripe.refunds.create({ payment_intent: paid.payment_intent_id! });
    expect(second.amount).toBe(250);
    await settle();
    expect(await paymentOf('user_refund_e2e')).toMatchObject({ status: 'refunded', refunded_amount: 400 });
    expect(await rollup(refundDay)).toMatchObject({ refunded: 400, refunds: 2 });
    const rows = await db().selectFrom('refunds').selectAll().where('payment_key', '=', paid.payment_key).orderBy('refunded_at').execute();
    expect(rows.map((r) => [r.refund_id, r.amount, r.status, r.counted])).toEqual([
      [first.id, 150, 'succeeded', true],
      [second.id, 250, 'succeeded', true],
    ]);
    // Each refund arrived as refund.created and again through charge.refunded: counted once each.
    const types = svc.sandbox.control.deliveries().filter((d) => d.succeeded && (d.type === 'refund.created' || d.type === 'charge.refunded'));
    expect(types.length).toBeGreaterThanOrEqual(4);
  });

  test('a refund that fails after it succeeded gives the money back to the payment and to its day', async () => {
    await subscribe(svc, 'user_refund_fail');
    await settle();
    const paid = await paymentOf('user_refund_fail');
    const refund = await svc.stripe.refunds.create({ payment_intent: paid.payment_intent_id!, amount: 100 });
    await settle();
    const day = dayOfUnix(refund.created);
    const counted = await rollup(day);
    expect(await paymentOf('user_refund_fail')).toMatchObject({ status: 'partially_refunded', refunded_amount: 100 });

    await svc.sandbox.control.failRefund(refund.id);
    await settle();
    expect(await paymentOf('user_refund_fail')).toMatchObject({ status: 'succeeded', refunded_amount: 0 });
    expect(await rollup(day)).toMatchObject({ refunded: counted.refunded - 100, refunds: counted.refunds - 1 });
    expect(await db().selectFrom('refunds').select(['status', 'counted', 'failure_reason']).where('refund_id', '=', refund.id).executeTakeFirstOrThrow()).toEqual({
      status: 'failed',
      counted: false,
      failure_reason: 'expired_or_canceled_card',
    });
  });

  test('a late duplicate success of a refunded payment adds no revenue and keeps it refunded', async () => {
    await subscribe(svc, 'user_refund_late_success');
    await settle();
    const paid = await paymentOf('user_refund_late_success');
    await svc.stripe.refunds.create({ payment_intent: paid.payment_intent_id! });
    await settle();
    const totalsBefore = await db().selectFrom('daily_revenue').select((eb) => eb.fn.sum<string>('gross_amount').as('gross')).executeTakeFirstOrThrow();
    // Stripe redelivers the invoice's success under its other event (payment_intent.succeeded).
    const pi = await svc.stripe.paymentIntents.retrieve(paid.payment_intent_id!);
    expect(await post(fakeEvent('payment_intent.succeeded', pi as unknown as Record<string, unknown>))).toBe(200);
    const totalsAfter = await db().selectFrom('daily_revenue').select((eb) => eb.fn.sum<string>('gross_amount').as('gross')).executeTakeFirstOrThrow();
    expect(toNumber(totalsAfter.gross)).toBe(toNumber(totalsBefore.gross));
    expect(await paymentOf('user_refund_late_success')).toMatchObject({ status: 'refunded', refunded_amount: 400 });
  });
});

describe('refund orderings the sandbox cannot produce (hand-signed events)', () => {
  const now = () => Math.floor(Date.now() / 1000);
  function refundObject(id: string, pi: string, amount: number, status: string, created: number): Record<string, unknown> {
    return { id, object: 'refund', amount, currency: 'eur', created, status, charge: `ch_${pi.slice(3)}`, payment_intent: pi, customer: null, metadata: {}, reason: null };
  }
  function intentObject(pi: string, amount: number): Record<string, unknown> {
    return { id: pi, object: 'payment_intent', amount, amount_received: amount, currency: 'eur', customer: null, metadata: {}, latest_charge: `ch_${pi.slice(3)}`, last_payment_error: null, status: 'succeeded' };
  }

  test('a refund that arrives before its payment is applied when the payment row appears', async () => {
    const pi = `pi_early_${Date.now()}`;
    const t = now();
    expect(await post(fakeEvent('refund.created', refundObject(`re_early_${t}`, pi, 120, 'succeeded', t), { created: t }))).toBe(200);
    // Nothing to refund yet: the refund waits, counted on its day, for the payment row.
    expect(await db().selectFrom('payments').select('id').where('payment_key', '=', pi).executeTakeFirst()).toBeUndefined();
    expect(await db().selectFrom('refunds').select(['payment_key', 'counted']).where('refund_id', '=', `re_early_${t}`).executeTakeFirstOrThrow()).toEqual({ payment_key: pi, counted: true });

    expect(await post(fakeEvent('payment_intent.succeeded', intentObject(pi, 500), { created: t - 60 }))).toBe(200);
    expect(await paymentByKey(pi)).toMatchObject({ status: 'partially_refunded', amount: 500, refunded_amount: 120 });
  });

  test("a refund that arrives before its payment is counted at once for its customer's user, in that user's city", async () => {
    const { customerId } = await subscribe(svc, 'user_early_city');
    await settle();
    await upsertUser(db(), { id: 'user_early_city', city: 'Rouen' });
    const pi = `pi_early_city_${Date.now()}`;
    const t = now();
    expect(await post(fakeEvent('refund.created', { ...refundObject(`re_early_city_${t}`, pi, 90, 'succeeded', t), customer: customerId }, { created: t }))).toBe(200);
    expect(await db().selectFrom('refunds').select(['user_id', 'counted']).where('refund_id', '=', `re_early_city_${t}`).executeTakeFirstOrThrow()).toEqual({ user_id: 'user_early_city', counted: true });
    const rollup = await db()
      .selectFrom('dashboard_rollups')
      .select(['city', 'refunded_amount', 'refunds'])
      .where('zone', '=', 'UTC')
      .where('day', '=', dayOfUnix(t))
      .where('city', '=', 'Rouen')
      .executeTakeFirstOrThrow();
    expect({ city: rollup.city, refunded: toNumber(rollup.refunded_amount), refunds: toNumber(rollup.refunds) }).toEqual({ city: 'Rouen', refunded: 90, refunds: 1 });
  });

  test('a failure delivered before the refund\'s creation keeps it failed and never counted', async () => {
    const pi = `pi_failfirst_${Date.now()}`;
    const t = now();
    const id = `re_failfirst_${t}`;
    expect(await post(fakeEvent('payment_intent.succeeded', intentObject(pi, 900), { created: t - 120 }))).toBe(200);
    const day = dayOfUnix(t);
    const before = await rollup(day);
    expect(await post(fakeEvent('refund.failed', refundObject(id, pi, 300, 'failed', t), { created: t + 5 }))).toBe(200);
    expect(await post(fakeEvent('refund.created', refundObject(id, pi, 300, 'succeeded', t), { created: t }))).toBe(200);
    // Same second as the failure, still showing it succeeded: the failure is final.
    expect(await post(fakeEvent('refund.updated', refundObject(id, pi, 300, 'succeeded', t), { created: t + 5 }))).toBe(200);
    expect(await paymentByKey(pi)).toMatchObject({ status: 'succeeded', refunded_amount: 0 });
    expect(await rollup(day)).toMatchObject({ refunded: before.refunded, refunds: before.refunds });
  });

  test('several refunds of one payment, each redelivered under new event ids, count once each', async () => {
    const pi = `pi_many_${Date.now()}`;
    const t = now();
    expect(await post(fakeEvent('payment_intent.succeeded', intentObject(pi, 1000), { created: t - 10 }))).toBe(200);
    const day = dayOfUnix(t);
    const before = await rollup(day);
    for (const [i, amount] of [300, 200, 500].entries()) {
      const refund = refundObject(`re_many_${i}_${t}`, pi, amount, i === 1 ? 'pending' : 'succeeded', t);
      const event = fakeEvent('refund.created', refund, { created: t });
      expect(await post(event)).toBe(200);
      expect(await post(event)).toBe(200); // the same event again
      expect(await post(fakeEvent('refund.updated', { ...refund, status: 'succeeded' }, { created: t + 1 }))).toBe(200);
    }
    expect(await paymentByKey(pi)).toMatchObject({ status: 'refunded', refunded_amount: 1000 });
    expect(await rollup(day)).toMatchObject({ refunded: before.refunded + 1000, refunds: before.refunds + 3 });
  });

  test('a canceled refund reverses what it counted', async () => {
    const pi = `pi_cancel_${Date.now()}`;
    const t = now();
    const id = `re_cancel_${t}`;
    expect(await post(fakeEvent('payment_intent.succeeded', intentObject(pi, 700), { created: t - 10 }))).toBe(200);
    expect(await post(fakeEvent('refund.created', refundObject(id, pi, 700, 'requires_action', t), { created: t }))).toBe(200);
    expect(await paymentByKey(pi)).toMatchObject({ status: 'refunded', refunded_amount: 700 });
    expect(await post(fakeEvent('refund.updated', refundObject(id, pi, 700, 'canceled', t), { created: t + 30 }))).toBe(200);
    expect(await paymentByKey(pi)).toMatchObject({ status: 'succeeded', refunded_amount: 0 });
  });

  test('money columns hold amounts past 32 bits', async () => {
    const pi = `pi_big_${Date.now()}`;
    const t = now();
    const amount = 999_999_999_999; // Stripe's largest amounts (12 digits) are far past 2^31
    expect(await post(fakeEvent('payment_intent.succeeded', intentObject(pi, amount), { created: t - 10 }))).toBe(200);
    expect(await post(fakeEvent('refund.created', refundObject(`re_big_${t}`, pi, amount - 1, 'succeeded', t), { created: t }))).toBe(200);
    expect(await paymentByKey(pi)).toMatchObject({ status: 'partially_refunded', amount, refunded_amount: amount - 1 });
  });
});
