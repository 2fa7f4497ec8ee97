import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../../sandbox';
import { AppError } from '../../../service/shared/errors';
import { createStripeClient } from '../../../service/shared/stripe-client';
import { parseStripeEvent } from '../../../service/webhooks';
import { MAX_EVENT_DEPTH } from '../../../service/webhooks/event-schema';
import { invoiceObservation, prepareEvent, type PreparedEvent } from '../../../service/webhooks/handlers';
import { disputeObservation, refundObservation } from '../../../service/webhooks/refund-dispute-events';
import { testConfig } from '../../support/config';
import { refusalOf } from './support';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { captureLogger } from '../../support/logger';
import { createTestStore } from '../../support/store';
import type { Store } from '../../../service/shared/store';
import type { WebhookDeps } from '../../../service/webhooks';
import { noopObserver } from '../../../service/shared/observer';

/**
 * What each event type decides before its transaction, called directly per test: the exact
 * unmatched reasons on-call reads in the inbox (which object, which customer), which Stripe-side
 * hints name a user, the Stripe lookups that fail as "missing" (final) or "unavailable" (retried),
 * and the exact refusals of the event shape check. Found by mutation testing: the end-to-end suites
 * assert outcomes and row counts, and none of these texts or branches.
 *
 * Real parts: the Stripe sandbox, the suite's own database (nothing is applied: prepare only).
 */

let sandbox: RunningSandbox;
let database: TestDatabase;
let store: Store;
/** A customer no Upiik user owns, its paid intent and charge. */
const real = { customer: '', paymentIntent: '', charge: '' };
const NOW = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0 });
  database = await createTestDatabase();
  store = await createTestStore();
  const stripe = stripeClient();
  const customer = await stripe.customers.create({ email: 'events@example.com' });
  const pi = await stripe.paymentIntents.create({ amount: 400, currency: 'eur', customer: customer.id, payment_method: 'pm_card_visa', confirm: true });
  Object.assign(real, { customer: customer.id, paymentIntent: pi.id, charge: pi.latest_charge as string });
});
afterAll(async () => {
  await store?.close();
  await database?.close();
  await sandbox?.close();
});

function stripeClient(apiBase = sandbox.url): Stripe {
  return createStripeClient({ secretKey: 'sk_test_events_contract', apiVersion: testConfig().stripe.apiVersion, apiBase, maxNetworkRetries: 0 });
}

function deps(stripe = stripeClient()): WebhookDeps {
  return { db: database.db, stripe, store, config: testConfig({ STRIPE_API_BASE: sandbox.url }), logger: captureLogger().logger, observer: noopObserver };
}

let sequence = 0;
function event(type: string, object: Record<string, unknown>): Stripe.Event {
  sequence += 1;
  return { id: `evt_events_${sequence}`, object: 'event', type, created: NOW, livemode: false, api_version: '2025-09-30.clover', data: { object } } as unknown as Stripe.Event;
}

const prepare = (type: string, object: Record<string, unknown>, stripe?: Stripe) => prepareEvent(deps(stripe), event(type, object));
const reasonOf = (prepared: PreparedEvent) => (prepared.kind === 'unmatched' ? prepared.reason : prepared.kind);
const noLink = (customer: string) => ` (customer ${customer} has no local link and no metadata.userId)`;

describe('who an event belongs to, and the reason when nobody', () => {
  const session = (extra: Record<string, unknown>) => ({
    id: 'cs_events_1',
    object: 'checkout.session',
    customer: real.customer,
    customer_email: null,
    customer_details: { email: 'events@example.com' },
    client_reference_id: null,
    metadata: {},
    ...extra,
  });

  test('checkout session: client_reference_id or metadata.userId names the user; neither is unmatched naming session and customer', async () => {
    expect((await prepare('checkout.session.completed', session({ client_reference_id: 'user_events_ref' }))).kind).toBe('apply');
    expect((await prepare('checkout.session.completed', session({ metadata: { userId: 'user_events_meta' } }))).kind).toBe('apply');
    expect(reasonOf(await prepare('checkout.session.completed', session({})))).toBe(`no Upiik user for checkout session cs_events_1${noLink(real.customer)}`);
  });

  test('subscription: metadata.userId names the user; without it, unmatched naming subscription and customer', async () => {
    const sub = (metadata: Record<string, string> | undefined) => ({
      id: 'sub_events_1',
      object: 'subscription',
      customer: real.customer,
      status: 'canceled',
      currency: 'eur',
      cancel_at_period_end: false,
      canceled_at: NOW,
      ended_at: NOW,
      metadata,
      items: { object: 'list', data: [] },
    });
    expect((await prepare('customer.subscription.deleted', sub({ userId: 'user_events_sub' }))).kind).toBe('apply');
    expect(reasonOf(await prepare('customer.subscription.deleted', sub({})))).toBe(`no Upiik user for subscription sub_events_1${noLink(real.customer)}`);
    expect(reasonOf(await prepare('customer.subscription.deleted', sub(undefined)))).toBe(`no Upiik user for subscription sub_events_1${noLink(real.customer)}`);
  });

  test('invoice and payment intent of a customer nobody owns: unmatched naming the object and the customer', async () => {
    const invoice = { id: 'in_events_1', object: 'invoice', customer: real.customer, amount_due: 400, amount_paid: 400, currency: 'eur', attempt_count: 1, status_transitions: { paid_at: NOW }, parent: null };
    expect(reasonOf(await prepare('invoice.payment_succeeded', invoice))).toBe(`no Upiik user for invoice in_events_1${noLink(real.customer)}`);
    const pi = await stripeClient().paymentIntents.retrieve(real.paymentIntent);
    expect(reasonOf(await prepare('payment_intent.succeeded', pi as unknown as Record<string, unknown>))).toBe(`no Upiik user for payment intent ${real.paymentIntent}${noLink(real.customer)}`);
  });

  test('setup intent: without a customer nothing to do; metadata.userId names the user; else unmatched', async () => {
    const si = (customer: string | null, metadata: Record<string, string>) => ({ id: 'seti_events_1', object: 'setup_intent', customer, status: 'succeeded', metadata });
    const bare = await prepare('setup_intent.succeeded', si(null, {}));
    expect(bare.kind).toBe('apply');
    expect(bare.kind === 'apply' && (await bare.apply(database.db))).toEqual([]);
    expect((await prepare('setup_intent.succeeded', si(real.customer, { userId: 'user_events_si' }))).kind).toBe('apply');
    expect(reasonOf(await prepare('setup_intent.succeeded', si(real.customer, {})))).toBe(`no Upiik user for setup intent seti_events_1${noLink(real.customer)}`);
  });

  test('refunds, refunded charges and disputes of a customer nobody owns: unmatched naming the object', async () => {
    const tail = ' (its customer has no local link and no metadata.userId)';
    const refund = { id: 're_events_1', object: 'refund', amount: 100, currency: 'eur', created: NOW, status: 'succeeded', charge: real.charge, payment_intent: real.paymentIntent, customer: real.customer, metadata: {} };
    expect(reasonOf(await prepare('refund.created', refund))).toBe(`no Upiik user for refund re_events_1${tail}`);
    const charge = await stripeClient().charges.retrieve(real.charge);
    expect(reasonOf(await prepare('charge.refunded', charge as unknown as Record<string, unknown>))).toBe(`no Upiik user for charge ${real.charge}${tail}`);
    const dispute = { id: 'dp_events_1', object: 'dispute', amount: 400, currency: 'eur', charge: real.charge, payment_intent: real.paymentIntent, status: 'needs_response', reason: 'fraudulent', created: NOW, balance_transactions: [], evidence_details: { due_by: NOW + 86_400 }, metadata: {} };
    expect(reasonOf(await prepare('charge.dispute.created', dispute))).toBe(`no Upiik user for dispute dp_events_1${tail}`);
  });

  test("a dispute of a charge Stripe does not have is final, naming both; Stripe down is a retried 503 naming the lookup", async () => {
    const dispute = { id: 'dp_events_2', object: 'dispute', amount: 400, currency: 'eur', charge: 'ch_events_never', payment_intent: null, status: 'needs_response', reason: 'fraudulent', created: NOW, balance_transactions: [], metadata: {} };
    expect(reasonOf(await prepare('charge.dispute.created', dispute))).toBe('dispute dp_events_2: charge ch_events_never does not exist in this Stripe account');
    const down = await prepare('charge.dispute.created', dispute, stripeClient('http://127.0.0.1:1')).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(AppError);
    expect(down).toMatchObject({ code: 'stripe_unavailable', status: 503, message: expect.stringMatching(/charge lookup/) });
  });
});

describe('the event shape check names what is wrong', () => {
  const refusal = (value: unknown) => refusalOf(() => parseStripeEvent(value));
  const valid = () => ({ id: 'evt_shape_1', object: 'event', type: 'customer.updated', created: NOW, livemode: false, api_version: '2025-09-30.clover', pending_webhooks: 1, request: { id: null, idempotency_key: null }, data: { object: { id: 'cus_1', object: 'customer' } } });

  test('not an event at all: the whole value is named', () => {
    expect(refusal(null)).toEqual({ code: 'invalid_event', status: 400, message: expect.stringMatching(/^Not a Stripe event: \(event\): \S/) });
  });

  test('envelope problems name their fields, at most three, joined by "; "', () => {
    const { created: _created, ...noCreated } = valid();
    expect(refusal(noCreated)).toEqual({ code: 'invalid_event', status: 400, message: expect.stringMatching(/^Not a Stripe event: created: \S/) });
    const many = refusal({ object: 'event' });
    expect(many).toMatchObject({ code: 'invalid_event' });
    const message = (many as { message: string }).message;
    expect(message.startsWith('Not a Stripe event: ')).toBe(true);
    expect(message.split('; ')).toHaveLength(3);
    for (const part of message.slice('Not a Stripe event: '.length).split('; ')) expect(part).toMatch(/^[a-z_.]+: \S/);
  });

  test('object problems are named under data.object with the event type', () => {
    const invoice = { ...valid(), type: 'invoice.payment_succeeded', data: { object: { id: 'in_1', object: 'invoice', customer: 'cus_1', amount_due: 400, amount_paid: -1, currency: 'eur', attempt_count: 1, status_transitions: { paid_at: NOW }, parent: null } } };
    expect(refusal(invoice)).toEqual({
      code: 'invalid_event_object',
      status: 400,
      message: expect.stringMatching(/^Event invoice\.payment_succeeded carries a malformed object: data\.object\.amount_paid: \S/),
    });
  });

  test('a subscription item whose amount times quantity passes 2^53 is refused even beside a sane one', () => {
    const item = (unit: number, quantity: number) => ({ id: `si_${unit}`, object: 'subscription_item', current_period_end: NOW + 86_400, quantity, price: { id: 'price_1', object: 'price', unit_amount: unit, currency: 'eur', recurring: { interval: 'month' } } });
    const sub = (items: unknown[]) => ({
      ...valid(),
      type: 'customer.subscription.updated',
      data: { object: { id: 'sub_1', object: 'subscription', customer: 'cus_1', status: 'active', currency: 'eur', cancel_at_period_end: false, canceled_at: null, ended_at: null, metadata: {}, items: { object: 'list', data: items } } },
    });
    expect(refusal(sub([item(400, 1)]))).toBe('accepted');
    expect(refusal(sub([item(400, 1), item(2 ** 40, 2 ** 20)]))).toMatchObject({ code: 'invalid_event_object' });
  });

  test('too deep to be a Stripe object', () => {
    let nested: Record<string, unknown> = {};
    const deep = nested;
    for (let i = 0; i < MAX_EVENT_DEPTH + 2; i += 1) {
      const next: Record<string, unknown> = {};
      nested.a = next;
      nested = next;
    }
    expect(refusal({ ...valid(), data: { object: { id: 'cus_1', object: 'customer', metadata: deep } } })).toEqual({
      code: 'event_too_deep',
      status: 400,
      message: `Event nests deeper than ${MAX_EVENT_DEPTH} levels; no Stripe object does`,
    });
  });

  test('what comes back is plain, writable data (a "__proto__" key stays a key)', () => {
    const parsed = parseStripeEvent(JSON.parse(JSON.stringify(valid()).replace('"object":"customer"', '"object":"customer","__proto__":{"polluted":true}'))) as unknown as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(parsed, 'id')).toEqual({ value: 'evt_shape_1', enumerable: true, writable: true, configurable: true });
    const object = (parsed.data as { object: Record<string, unknown> }).object;
    expect(Object.getOwnPropertyDescriptor(object, '__proto__')).toMatchObject({ value: { polluted: true }, writable: true, configurable: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('observations: what a money event records', () => {
  const T = 1_790_000_000;

  test("a dispute's funds: each balance transaction by its sign and own time; zero, id-less or amount-less ones skipped; the event's time when it has none", () => {
    const dispute = {
      id: 'dp_obs',
      charge: 'ch_obs',
      payment_intent: { id: 'pi_obs' },
      amount: 400,
      currency: 'eur',
      status: 'lost',
      reason: 'fraudulent',
      created: T - 100,
      evidence_details: { due_by: T + 86_400 },
      balance_transactions: [
        { id: 'txn_out', amount: -400, created: T - 50 },
        { id: 'txn_back', amount: 400, created: T - 10 },
        { id: 'txn_zero', amount: 0, created: T },
        { amount: -400, created: T },
        { id: 'txn_noamount', created: T },
        null,
        { id: 'txn_untimed', amount: -1 },
        { id: 'txn_badtime', amount: 1, created: 1.5 },
      ],
    } as unknown as Stripe.Dispute;
    const observation = disputeObservation(dispute, 'in_obs', T, 'user_obs');
    expect(observation.funds).toEqual([
      { balanceTransactionId: 'txn_out', direction: 'withdrawn', occurredAt: new Date((T - 50) * 1000) },
      { balanceTransactionId: 'txn_back', direction: 'reinstated', occurredAt: new Date((T - 10) * 1000) },
      { balanceTransactionId: 'txn_untimed', direction: 'withdrawn', occurredAt: new Date(T * 1000) },
      { balanceTransactionId: 'txn_badtime', direction: 'reinstated', occurredAt: new Date(T * 1000) },
    ]);
    expect(observation).toMatchObject({ disputeId: 'dp_obs', paymentKey: 'in_obs', userId: 'user_obs', chargeId: 'ch_obs', paymentIntentId: 'pi_obs', evidenceDueBy: new Date((T + 86_400) * 1000), openedAt: new Date((T - 100) * 1000) });
    expect(disputeObservation({ ...dispute, balance_transactions: undefined, evidence_details: undefined } as unknown as Stripe.Dispute, 'in_obs', T, null)).toMatchObject({ funds: [], evidenceDueBy: null, userId: null });
  });

  test("a refund's reason and failure reason: text when Stripe gives text, else null", () => {
    const refund = (reason: unknown, failure: unknown) => ({ id: 're_obs', charge: 'ch_obs', payment_intent: 'pi_obs', amount: 100, currency: 'eur', status: 'failed', reason, failure_reason: failure, created: T }) as unknown as Stripe.Refund;
    expect(refundObservation(refund('requested_by_customer', 'expired_or_canceled_card'), 'pi_obs', T, 'user_obs')).toMatchObject({ userId: 'user_obs', reason: 'requested_by_customer', failureReason: 'expired_or_canceled_card', refundedAt: new Date(T * 1000) });
    expect(refundObservation(refund('', null), 'pi_obs', T, null)).toMatchObject({ reason: null, failureReason: null });
    expect(refundObservation(refund(7, undefined), 'pi_obs', T, null)).toMatchObject({ reason: null, failureReason: null });
  });

  test('an invoice payment: a success on its paid_at day with no attempt key; a failure at the event time, keyed by attempt', () => {
    const invoice = { id: 'in_obs', customer: 'cus_obs', amount_due: 400, amount_paid: 300, currency: 'eur', attempt_count: 2, status_transitions: { paid_at: T - 3_600 }, parent: null } as unknown as Stripe.Invoice;
    expect(invoiceObservation(invoice, 'succeeded', T, undefined)).toMatchObject({ amount: 300, occurredAt: new Date((T - 3_600) * 1000), attemptKey: null, userId: null });
    expect(invoiceObservation(invoice, 'failed', T, { userId: 'user_obs', customerId: 'cus_obs' })).toMatchObject({ amount: 400, occurredAt: new Date(T * 1000), attemptKey: 'in_obs#2', userId: 'user_obs' });
    const unpaid = { ...invoice, status_transitions: undefined } as unknown as Stripe.Invoice;
    expect(invoiceObservation(unpaid, 'succeeded', T, undefined).occurredAt).toEqual(new Date(T * 1000));
  });
});

describe('what a transaction tells the observer', () => {
  const applyIn = async (prepared: PreparedEvent) => {
    if (prepared.kind !== 'apply') throw new Error(`expected apply, got ${prepared.kind}`);
    return database.db.transaction().execute((trx) => prepared.apply(trx));
  };

  test("a payment names its user and amount once; a refund of it names the user from the payment's row", async () => {
    const stripe = stripeClient();
    const pi = await stripe.paymentIntents.create({ amount: 400, currency: 'eur', payment_method: 'pm_card_visa', confirm: true, metadata: { userId: 'user_events_notice' } });
    const succeeded = await prepare('payment_intent.succeeded', pi as unknown as Record<string, unknown>);
    expect(await applyIn(succeeded)).toEqual([{ outcome: 'succeeded', amount: 400, currency: 'eur', userId: 'user_events_notice' }]);
    // The same payment again: nothing new to tell.
    expect(await applyIn(await prepare('payment_intent.succeeded', pi as unknown as Record<string, unknown>))).toEqual([]);
    const refund = await stripe.refunds.create({ payment_intent: pi.id, amount: 150 });
    expect(await applyIn(await prepare('refund.created', refund as unknown as Record<string, unknown>))).toEqual([{ outcome: 'refunded', amount: 150, currency: 'eur', userId: 'user_events_notice' }]);
    expect(await applyIn(await prepare('refund.created', refund as unknown as Record<string, unknown>))).toEqual([]);
  });

  test("charge.refunded records every refund Stripe lists for the charge, once; Stripe down while listing is a retried 503 naming the listing", async () => {
    const stripe = stripeClient();
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur', payment_method: 'pm_card_visa', confirm: true, metadata: { userId: 'user_events_listing' } });
    await applyIn(await prepare('payment_intent.succeeded', pi as unknown as Record<string, unknown>));
    const first = await stripe.refunds.create({ payment_intent: pi.id, amount: 100 });
    const second = await stripe.refunds.create({ payment_intent: pi.id, amount: 250 });
    const charge = await stripe.charges.retrieve(typeof pi.latest_charge === 'string' ? pi.latest_charge : pi.latest_charge!.id);
    // Only the charge event arrives (its refund.* events were missed): the listing records both.
    expect(await applyIn(await prepare('charge.refunded', charge as unknown as Record<string, unknown>))).toEqual([
      expect.objectContaining({ outcome: 'refunded', amount: expect.any(Number) }),
      expect.objectContaining({ outcome: 'refunded', amount: expect.any(Number) }),
    ]);
    const rows = await database.db.selectFrom('refunds').select(['refund_id', 'amount', 'user_id']).where('payment_key', '=', pi.id).orderBy('amount').execute();
    expect(rows.map((r) => ({ ...r, amount: Number(r.amount) }))).toEqual([
      { refund_id: first.id, amount: 100, user_id: 'user_events_listing' },
      { refund_id: second.id, amount: 250, user_id: 'user_events_listing' },
    ]);
    expect(await applyIn(await prepare('charge.refunded', charge as unknown as Record<string, unknown>))).toEqual([]);
    const down = await prepare('charge.refunded', charge as unknown as Record<string, unknown>, stripeClient('http://127.0.0.1:1')).catch((e: unknown) => e);
    expect(down).toMatchObject({ code: 'stripe_unavailable', status: 503, message: expect.stringMatching(/refund listing/) });
  });

  test('a declined standalone payment is one failed notice with its code', async () => {
    const stripe = stripeClient();
    const failed = await stripe.paymentIntents
      .create({ amount: 400, currency: 'eur', payment_method: 'pm_card_chargeDeclined', confirm: true, metadata: { userId: 'user_events_declined' } })
      .catch((err: { raw?: { payment_intent?: Stripe.PaymentIntent } }) => err.raw?.payment_intent);
    expect(failed?.id).toMatch(/^pi_/);
    const pi = await stripe.paymentIntents.retrieve(failed!.id);
    const notices = await applyIn(await prepare('payment_intent.payment_failed', pi as unknown as Record<string, unknown>));
    expect(notices).toEqual([{ outcome: 'failed', amount: 400, currency: 'eur', userId: 'user_events_declined', failureCode: pi.last_payment_error?.code ?? pi.last_payment_error?.decline_code }]);
    expect(notices[0]).toMatchObject({ failureCode: expect.any(String) });
    // Outside an invoice, an attempt is keyed by the intent and the charge that failed (a retry is another charge).
    const charge = typeof pi.latest_charge === 'string' ? pi.latest_charge : pi.latest_charge?.id;
    expect(charge).toMatch(/^ch_/);
    const attempts = await database.db.selectFrom('payment_attempts').select('attempt_key').where('payment_key', '=', pi.id).execute();
    expect(attempts).toEqual([{ attempt_key: `${pi.id}#${charge}` }]);
  });
});
