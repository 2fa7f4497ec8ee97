import { sql } from 'kysely';
import type Stripe from 'stripe';
import { upsertUser } from '../../../../service/checkout/repository';
import type { Database } from '../../../../service/shared/db';
import { disputeStatusWins, recordDispute, type DisputeObservation } from '../../../../service/webhooks/effects/disputes';
import { addToRollups } from '../../../../service/webhooks/effects/ledger';
import { recordPayment, type PaymentObservation } from '../../../../service/webhooks/effects/payments';
import { recordRefund, refundStatusWins, type RefundObservation } from '../../../../service/webhooks/effects/refunds';
import { subscriptionValues, writeSubscription } from '../../../../service/webhooks/effects/subscriptions';
import { createTestDatabase, type TestDatabase } from '../../../support/database';

/**
 * The ledger writers' own contract, each rule observed on the rows it writes: which of two
 * observations of one refund, dispute, payment or subscription wins (newer Stripe time, and within
 * one second the status further along), what an authoritative read overrides, what the rollups
 * move by when a counted amount changes or stops counting, and what a later observation only fills
 * in. The end-to-end webhook suites reach these through Stripe-shaped events, where two observations
 * of the same second or an amount that changes are rare; here each is one call.
 */

let database: TestDatabase;
let db: Database;
beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
  for (const id of ['u_ledger_a', 'u_ledger_b']) await upsertUser(db, { id, city: 'Paris' });
}, 120_000);
afterAll(async () => database?.close());

const T = 1_790_000_000;
let sequence = 0;
const unique = (prefix: string) => `${prefix}_${++sequence}`;
const day = new Date('2026-09-15T10:00:00Z');

/** bigint columns come back as strings from some drivers: compare Stripe times as numbers. */
const withTime = <R extends { stripe_updated_at: unknown }>(row: R) => ({ ...row, stripe_updated_at: Number(row.stripe_updated_at) });

const inTransaction = <T>(work: (trx: Database) => Promise<T>): Promise<T> => db.transaction().execute(work);

/** What the UTC rollups of one currency hold on `day` (the dashboard's and daily_revenue). */
async function rollupsOf(currency: string) {
  const daily = await db.selectFrom('daily_revenue').selectAll().where('currency', '=', currency).execute();
  const dashboard = await db
    .selectFrom('dashboard_rollups')
    .select([
      sql<number>`sum(refunded_amount)::int`.as('refunded_amount'),
      sql<number>`sum(refunds)::int`.as('refunds'),
      sql<number>`sum(disputed_amount)::int`.as('disputed_amount'),
      sql<number>`sum(disputes_opened)::int`.as('disputes_opened'),
    ])
    .where('zone', '=', 'UTC')
    .where('currency', '=', currency)
    .executeTakeFirstOrThrow();
  return { daily, dashboard };
}

describe('refunds', () => {
  const refund = (over: Partial<RefundObservation> = {}): RefundObservation => ({
    refundId: 're_x',
    paymentKey: 'in_x',
    chargeId: null,
    paymentIntentId: null,
    amount: 400,
    currency: 'eur',
    status: 'succeeded',
    reason: null,
    failureReason: null,
    userId: 'u_ledger_a',
    refundedAt: day,
    stripeTime: T,
    ...over,
  });
  const stored = async (refundId: string) => withTime(await db.selectFrom('refunds').selectAll().where('refund_id', '=', refundId).executeTakeFirstOrThrow());

  test('refundStatusWins: final stays final, a final status wins, otherwise the newer time, then the further status', () => {
    expect(refundStatusWins('succeeded', T + 10, 'failed', T)).toBe(false);
    expect(refundStatusWins('failed', T - 10, 'succeeded', T)).toBe(true);
    expect(refundStatusWins('pending', T - 1, 'succeeded', T)).toBe(false);
    expect(refundStatusWins('pending', T + 1, 'succeeded', T)).toBe(true);
    expect(refundStatusWins('succeeded', T, 'pending', T)).toBe(true);
    expect(refundStatusWins('requires_action', T, 'pending', T)).toBe(true);
    expect(refundStatusWins('pending', T, 'succeeded', T)).toBe(false);
    expect(refundStatusWins('pending', T, 'pending', T)).toBe(false);
    expect(refundStatusWins('succeeded', T, 'succeeded', T)).toBe(false);
  });

  test('a refund without a status is stored pending, with its currency in lower case, and counts at once', async () => {
    const refundId = unique('re_nostatus');
    const result = await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey: unique('in'), status: null, currency: 'CHF', amount: 250 })));
    expect(result).toEqual({ countedNow: true, reversedNow: false });
    const row = await stored(refundId);
    expect(row).toMatchObject({ status: 'pending', currency: 'chf', counted: true });
    const { daily, dashboard } = await rollupsOf('chf');
    expect(daily).toEqual([expect.objectContaining({ refunded_amount: 250 })]);
    expect(dashboard).toMatchObject({ refunded_amount: 250, refunds: 1 });
  });

  test('a refund first seen failed counts nothing and says neither counted nor reversed', async () => {
    const refundId = unique('re_failed_first');
    const result = await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey: unique('in'), status: 'failed', currency: 'nok' })));
    expect(result).toEqual({ countedNow: false, reversedNow: false });
    expect((await rollupsOf('nok')).daily).toEqual([]);
  });

  test('a counted refund that fails is taken back from its own day, once', async () => {
    const refundId = unique('re_then_failed');
    const paymentKey = unique('in');
    await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey, currency: 'sek', amount: 300 })));
    const failed = await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey, currency: 'sek', amount: 300, status: 'failed', stripeTime: T + 5, refundedAt: new Date('2026-10-01T00:00:00Z') })));
    expect(failed).toEqual({ countedNow: false, reversedNow: true });
    const again = await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey, currency: 'sek', amount: 300, status: 'failed', stripeTime: T + 6 })));
    expect(again).toEqual({ countedNow: false, reversedNow: false });
    const { daily, dashboard } = await rollupsOf('sek');
    expect(daily).toEqual([expect.objectContaining({ day: expect.anything(), refunded_amount: 0 })]);
    expect(dashboard).toMatchObject({ refunded_amount: 0, refunds: 0 });
    // A final status is never replaced, not even by itself later: the stored time stays the failure's.
    expect(await stored(refundId)).toMatchObject({ status: 'failed', counted: false, stripe_updated_at: T + 5 });
  });

  test('a counted refund whose amount changes moves the rollup by the difference, not a second refund', async () => {
    const refundId = unique('re_amount');
    const paymentKey = unique('in');
    await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey, currency: 'dkk', amount: 300, status: 'pending' })));
    await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey, currency: 'dkk', amount: 350, stripeTime: T + 1 })));
    expect((await rollupsOf('dkk')).dashboard).toMatchObject({ refunded_amount: 350, refunds: 1 });
    expect(await stored(refundId)).toMatchObject({ amount: 350, status: 'succeeded', stripe_updated_at: T + 1 });
  });

  test('an older observation keeps the stored status and time; an authoritative read replaces the status but never moves the time back', async () => {
    const refundId = unique('re_auth');
    const paymentKey = unique('in');
    await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey, currency: 'pln', status: 'failed', stripeTime: T + 10 })));
    await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey, currency: 'pln', status: 'succeeded', stripeTime: T + 20 })));
    expect(await stored(refundId)).toMatchObject({ status: 'failed', stripe_updated_at: T + 10, counted: false });

    const repaired = await inTransaction((trx) => recordRefund(trx, refund({ refundId, paymentKey, currency: 'pln', status: 'succeeded', stripeTime: T + 1, authoritative: true })));
    expect(repaired).toEqual({ countedNow: true, reversedNow: false });
    expect(await stored(refundId)).toMatchObject({ status: 'succeeded', stripe_updated_at: T + 10, counted: true });
    expect((await rollupsOf('pln')).dashboard).toMatchObject({ refunded_amount: 400, refunds: 1 });
  });
});

describe('disputes', () => {
  const dispute = (over: Partial<DisputeObservation> = {}): DisputeObservation => ({
    disputeId: 'dp_x',
    paymentKey: 'in_x',
    chargeId: null,
    paymentIntentId: null,
    amount: 400,
    currency: 'eur',
    status: 'needs_response',
    reason: 'fraudulent',
    userId: 'u_ledger_a',
    evidenceDueBy: null,
    openedAt: day,
    stripeTime: T,
    funds: [],
    ...over,
  });
  const stored = async (disputeId: string) => withTime(await db.selectFrom('disputes').selectAll().where('dispute_id', '=', disputeId).executeTakeFirstOrThrow());

  test('disputeStatusWins: the newer time, then the status further along its life', () => {
    expect(disputeStatusWins('needs_response', T + 1, 'under_review', T)).toBe(true);
    expect(disputeStatusWins('lost', T - 1, 'needs_response', T)).toBe(false);
    expect(disputeStatusWins('under_review', T, 'needs_response', T)).toBe(true);
    expect(disputeStatusWins('needs_response', T, 'under_review', T)).toBe(false);
    expect(disputeStatusWins('won', T, 'lost', T)).toBe(false);
    expect(disputeStatusWins('under_review', T, 'under_review', T)).toBe(false);
  });

  test('a new dispute is opened and changed even with no money moved, stored in lower-case currency', async () => {
    const disputeId = unique('dp_new');
    const result = await inTransaction((trx) => recordDispute(trx, dispute({ disputeId, paymentKey: unique('in'), currency: 'CZK', amount: 700 })));
    expect(result).toEqual({ opened: true, changed: true });
    expect(await stored(disputeId)).toMatchObject({ currency: 'czk', amount: 700 });
    expect((await rollupsOf('czk')).dashboard).toMatchObject({ disputes_opened: 1, disputed_amount: 700 });
  });

  test('changed: true for a new status or a new amount, false for the same dispute seen again later', async () => {
    const disputeId = unique('dp_changes');
    const paymentKey = unique('in');
    const base = { disputeId, paymentKey, currency: 'huf' };
    await inTransaction((trx) => recordDispute(trx, dispute(base)));
    expect(await inTransaction((trx) => recordDispute(trx, dispute({ ...base, stripeTime: T + 1 })))).toEqual({ opened: false, changed: false });
    expect(await inTransaction((trx) => recordDispute(trx, dispute({ ...base, stripeTime: T + 2, status: 'under_review' })))).toEqual({ opened: false, changed: true });
    expect(await inTransaction((trx) => recordDispute(trx, dispute({ ...base, stripeTime: T + 3, status: 'under_review', amount: 300 })))).toEqual({ opened: false, changed: true });
    // The amount change moves the opened day's disputed amount by the difference; still one dispute.
    expect((await rollupsOf('huf')).dashboard).toMatchObject({ disputes_opened: 1, disputed_amount: 300 });
    expect(await stored(disputeId)).toMatchObject({ status: 'under_review', amount: 300, stripe_updated_at: T + 3 });
  });

  test('an older observation changes nothing; an authoritative one replaces the status but not the newer time', async () => {
    const disputeId = unique('dp_auth');
    const base = { disputeId, paymentKey: unique('in'), currency: 'ron' };
    await inTransaction((trx) => recordDispute(trx, dispute({ ...base, status: 'under_review', stripeTime: T + 10 })));
    expect(await inTransaction((trx) => recordDispute(trx, dispute({ ...base, status: 'needs_response', amount: 100, stripeTime: T + 5 })))).toEqual({ opened: false, changed: false });
    expect(await stored(disputeId)).toMatchObject({ status: 'under_review', amount: 400 });
    expect((await rollupsOf('ron')).dashboard).toMatchObject({ disputed_amount: 400 });

    expect(await inTransaction((trx) => recordDispute(trx, dispute({ ...base, status: 'lost', stripeTime: T + 1, authoritative: true })))).toEqual({ opened: false, changed: true });
    expect(await stored(disputeId)).toMatchObject({ status: 'lost', stripe_updated_at: T + 10 });
  });
});

describe('payments', () => {
  const payment = (over: Partial<PaymentObservation> = {}): PaymentObservation => ({
    paymentKey: 'in_x',
    userId: 'u_ledger_b',
    amount: 400,
    currency: 'eur',
    outcome: 'failed',
    occurredAt: day,
    stripeTime: T,
    ...over,
  });
  const stored = async (paymentKey: string) => withTime(await db.selectFrom('payments').selectAll().where('payment_key', '=', paymentKey).executeTakeFirstOrThrow());

  test('a failed payment keeps its code and message; its attempt is recorded as failed', async () => {
    const paymentKey = unique('pi_fail');
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, failureCode: 'card_declined', failureMessage: 'Your card was declined.', attemptKey: `${paymentKey}_1` })));
    expect(await stored(paymentKey)).toMatchObject({ status: 'failed', failure_code: 'card_declined', failure_message: 'Your card was declined.', failed_attempts: 1 });
    expect(await db.selectFrom('payment_attempts').select(['outcome', 'failure_code']).where('payment_key', '=', paymentKey).execute()).toEqual([
      { outcome: 'failed', failure_code: 'card_declined' },
    ]);
  });

  test('the newest failure describes the row, also within the same second; an older one only fills what is missing', async () => {
    const paymentKey = unique('pi_failures');
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, stripeTime: T + 10, failureCode: null, failureMessage: null })));
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, stripeTime: T + 1, failureCode: 'expired_card', failureMessage: 'Your card has expired.' })));
    expect(await stored(paymentKey)).toMatchObject({ failure_code: 'expired_card', failure_message: 'Your card has expired.', stripe_updated_at: T + 10 });
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, stripeTime: T + 10, failureCode: 'insufficient_funds', failureMessage: 'Your card has insufficient funds.' })));
    expect(await stored(paymentKey)).toMatchObject({ failure_code: 'insufficient_funds', failure_message: 'Your card has insufficient funds.' });
  });

  test('a late failure after the payment succeeded leaves the paid row as it is', async () => {
    const paymentKey = unique('in_paid');
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, outcome: 'succeeded', stripeTime: T + 5 })));
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, stripeTime: T + 9, failureCode: 'card_declined', failureMessage: 'declined', amount: 1 })));
    expect(await stored(paymentKey)).toMatchObject({ status: 'succeeded', failure_code: null, failure_message: null, amount: 400, stripe_updated_at: T + 5 });
  });

  test('what one event lacks, a later one fills in: invoice, payment intent, customer, subscription', async () => {
    const paymentKey = unique('in_fill');
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, outcome: 'succeeded' })));
    await inTransaction((trx) =>
      recordPayment(trx, payment({ paymentKey, outcome: 'succeeded', stripeTime: T + 1, invoiceId: paymentKey, paymentIntentId: 'pi_fill', customerId: 'cus_fill', subscriptionId: 'sub_fill' })),
    );
    expect(await stored(paymentKey)).toMatchObject({ invoice_id: paymentKey, payment_intent_id: 'pi_fill', customer_id: 'cus_fill', subscription_id: 'sub_fill' });
    // and a fill never overwrites what is known
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, outcome: 'succeeded', stripeTime: T + 2, invoiceId: 'in_other', paymentIntentId: 'pi_other' })));
    expect(await stored(paymentKey)).toMatchObject({ invoice_id: paymentKey, payment_intent_id: 'pi_fill' });
  });

  test('a new payment stores every id it carries, and a success stores no failure even when the observation names one', async () => {
    const paymentKey = unique('in_new_ids');
    await inTransaction((trx) =>
      recordPayment(trx, payment({ paymentKey, outcome: 'succeeded', invoiceId: paymentKey, paymentIntentId: 'pi_new_ids', customerId: 'cus_new_ids', subscriptionId: 'sub_new_ids', failureCode: 'card_declined', failureMessage: 'declined' })),
    );
    expect(await stored(paymentKey)).toMatchObject({
      status: 'succeeded',
      user_id: 'u_ledger_b',
      invoice_id: paymentKey,
      payment_intent_id: 'pi_new_ids',
      customer_id: 'cus_new_ids',
      subscription_id: 'sub_new_ids',
      failure_code: null,
      failure_message: null,
    });
  });

  test("a payment's user, once known, is neither cleared nor replaced by a later event, and its money stays where it was counted", async () => {
    const paymentKey = unique('in_kept_user');
    await upsertUser(db, { id: 'u_ledger_elsewhere', city: 'Nice' });
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, userId: 'u_ledger_a', outcome: 'succeeded', currency: 'ron' })));
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, userId: null, outcome: 'succeeded', currency: 'ron', stripeTime: T + 1 })));
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, userId: 'u_ledger_elsewhere', outcome: 'succeeded', currency: 'ron', stripeTime: T + 2 })));
    expect(await stored(paymentKey)).toMatchObject({ user_id: 'u_ledger_a' });
    const cities = await db.selectFrom('dashboard_rollups').select(['city', 'gross_amount']).where('currency', '=', 'ron').where('zone', '=', 'UTC').where('gross_amount', '!=', 0).execute();
    expect(cities).toEqual([{ city: 'Paris', gross_amount: 400 }]);
  });

  test('a payment that learns its user late is attributed to them from then on', async () => {
    const paymentKey = unique('in_late_user');
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, userId: null, outcome: 'succeeded', currency: 'bgn' })));
    await inTransaction((trx) => recordPayment(trx, payment({ paymentKey, userId: 'u_ledger_b', outcome: 'succeeded', currency: 'bgn', stripeTime: T + 1 })));
    expect(await stored(paymentKey)).toMatchObject({ user_id: 'u_ledger_b' });
    const cities = await db.selectFrom('dashboard_rollups').select(['city', 'gross_amount']).where('currency', '=', 'bgn').where('zone', '=', 'UTC').where('gross_amount', '!=', 0).execute();
    expect(cities).toEqual([{ city: 'Paris', gross_amount: 400 }]);
  });
});

describe('rollups', () => {
  test('a movement that adds nothing writes no rollup row', async () => {
    await inTransaction((trx) => addToRollups(trx, { at: day, currency: 'isk', userId: 'u_ledger_a', delta: { gross_amount: 0, refunds: 0 } }));
    expect(await db.selectFrom('daily_revenue').select('day').where('currency', '=', 'isk').execute()).toEqual([]);
    expect(await db.selectFrom('dashboard_rollups').select('day').where('currency', '=', 'isk').execute()).toEqual([]);
  });
});

describe('subscriptions', () => {
  const PRICES = { monthly: 'price_monthly', yearly: 'price_yearly' };
  const subscription = (id: string, status: Stripe.Subscription.Status): Stripe.Subscription =>
    ({
      id,
      object: 'subscription',
      customer: 'cus_sub',
      status,
      currency: 'eur',
      cancel_at_period_end: false,
      canceled_at: null,
      ended_at: null,
      start_date: T,
      created: T,
      items: { object: 'list', data: [{ price: { id: 'price_monthly', unit_amount: 400, currency: 'eur', recurring: { interval: 'month' } }, quantity: 1, current_period_end: T + 2_592_000 }] },
    }) as unknown as Stripe.Subscription;

  test('a snapshot of the same second as the stored one asks for a re-fetch; an older one is stale; an authoritative one applies', async () => {
    const id = unique('sub_same_second');
    const write = (status: Stripe.Subscription.Status, stripeTime: number, authoritative = false) =>
      inTransaction((trx) => writeSubscription(trx, { sub: subscription(id, status), userId: 'u_ledger_a', stripeTime, authoritative, prices: PRICES }));
    expect(await write('active', T + 10)).toBe('applied');
    expect(await write('canceled', T + 10)).toBe('refetch');
    expect(await write('canceled', T + 9)).toBe('stale');
    expect(await db.selectFrom('subscriptions').select('status').where('id', '=', id).executeTakeFirstOrThrow()).toEqual({ status: 'active' });
    expect(await write('canceled', T + 10, true)).toBe('applied');
    expect(await db.selectFrom('subscriptions').select('status').where('id', '=', id).executeTakeFirstOrThrow()).toEqual({ status: 'canceled' });
  });

  test('a subscription without a customer is stored with an empty customer id, not null', () => {
    const sub = { ...subscription('sub_nocus', 'active'), customer: null } as unknown as Stripe.Subscription;
    expect(subscriptionValues(sub, PRICES).customer_id).toBe('');
  });
});
