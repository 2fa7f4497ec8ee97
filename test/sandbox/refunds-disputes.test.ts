import type Stripe from 'stripe';
import { startSandbox, type RunningSandbox } from '../../sandbox';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';
import { SETTLE_MS } from '../support/wait';
import { SdkShapes } from './sdk-shapes';
import { type Receiver, startReceiver, verifiedEvents } from './support';

/**
 * Refunds and disputes in the sandbox: the events the service subscribes to, in Stripe's shapes,
 * the money on balance transactions, and the control actions that do what only a card network can
 * (open a dispute, decide it, bounce a refund). Sandbox-only: the control actions have no Stripe
 * counterpart reachable from a test.
 */

jest.setTimeout(300_000);

const KEY = 'sk_test_refunds_disputes';
const EVENT_TYPES = [
  'charge.refunded', 'charge.refund.updated', 'charge.updated', 'refund.created', 'refund.updated', 'refund.failed',
  'charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed', 'charge.dispute.funds_withdrawn', 'charge.dispute.funds_reinstated',
] as const;
let sandbox: RunningSandbox;
let stripe: Stripe;
let receiver: Receiver;
let secret: string;
let shapes: SdkShapes;

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, retrySchedule: [40, 80], deliveryTimeoutMs: 10_000 });
  stripe = createStripeClient({ secretKey: KEY, apiVersion: SDK_API_VERSION, apiBase: sandbox.url });
  receiver = await startReceiver();
  const endpoint = (await stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: [...EVENT_TYPES] })) as Stripe.WebhookEndpoint & { secret: string };
  secret = endpoint.secret;
  shapes = new SdkShapes();
});
afterAll(async () => {
  await sandbox?.close();
  await receiver?.close();
});

/** Events received since `from`, verified like a service would, each checked against the SDK types. */
async function eventsSince(from: number): Promise<Stripe.Event[]> {
  await sandbox.control.waitForDeliveries(SETTLE_MS);
  const events = verifiedEvents(stripe, receiver, secret).slice(from);
  for (const event of events) expect({ type: event.type, errors: shapes.check(event) }).toEqual({ type: event.type, errors: [] });
  return events;
}

async function paidIntent(amount = 2000): Promise<Stripe.PaymentIntent> {
  return stripe.paymentIntents.create({ amount, currency: 'eur', payment_method: 'pm_card_visa', confirm: true });
}

async function control(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${sandbox.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('refunds', () => {
  test('a partial refund emits charge.refunded and refund.created and takes the money from the balance', async () => {
    const pi = await paidIntent();
    const from = receiver.received.length;
    const refund = await stripe.refunds.create({ payment_intent: pi.id, amount: 700, reason: 'requested_by_customer' });
    expect(refund).toMatchObject({ object: 'refund', amount: 700, status: 'succeeded', payment_intent: pi.id, charge: pi.latest_charge, reason: 'requested_by_customer' });
    expect(await stripe.balanceTransactions.retrieve(refund.balance_transaction as string)).toMatchObject({ amount: -700, type: 'refund', source: refund.id });

    const events = await eventsSince(from);
    expect(events.map((e) => e.type)).toEqual(['charge.refunded', 'refund.created']);
    const charge = events[0]!.data.object as Stripe.Charge;
    expect(charge).toMatchObject({ id: pi.latest_charge, amount_refunded: 700, refunded: false });
    expect(events[0]!.data.previous_attributes).toEqual({ amount_refunded: 0 });
    expect((events[1]!.data.object as Stripe.Refund).id).toBe(refund.id);

    // What is left can be refunded, not more.
    await expect(stripe.refunds.create({ payment_intent: pi.id, amount: 1301 })).rejects.toMatchObject({ statusCode: 400, param: 'amount' });
    expect((await stripe.refunds.create({ payment_intent: pi.id })).amount).toBe(1300);
    expect((await stripe.charges.retrieve(pi.latest_charge as string)).refunded).toBe(true);
  });

  test('a refund that fails afterwards: refund.updated, refund.failed and charge.refund.updated, the money back on the balance', async () => {
    const pi = await paidIntent();
    const refund = await stripe.refunds.create({ payment_intent: pi.id });
    await sandbox.control.waitForDeliveries(SETTLE_MS);
    const from = receiver.received.length;

    const failed = await sandbox.control.failRefund(refund.id, 'lost_or_stolen_card');
    expect(failed).toMatchObject({ id: refund.id, status: 'failed', failure_reason: 'lost_or_stolen_card' });
    expect(await stripe.balanceTransactions.retrieve(failed.failure_balance_transaction as string)).toMatchObject({ amount: 2000, type: 'refund_failure', source: refund.id });
    expect(await stripe.charges.retrieve(pi.latest_charge as string)).toMatchObject({ amount_refunded: 0, refunded: false });
    expect(await stripe.refunds.retrieve(refund.id)).toMatchObject({ status: 'failed' });

    const events = await eventsSince(from);
    expect(events.map((e) => e.type)).toEqual(['refund.updated', 'refund.failed', 'charge.refund.updated']);
    expect(events[0]!.data.previous_attributes).toMatchObject({ status: 'succeeded' });

    // Only once, and only known refunds.
    await expect(sandbox.control.failRefund(refund.id)).rejects.toMatchObject({ status: 400 });
    expect((await control('/_sandbox/refunds/re_missing/fail', {})).status).toBe(404);
    expect((await control(`/_sandbox/refunds/${refund.id}/fail`, { failure_reason: 'whatever' })).status).toBe(400);
  });
});

describe('disputes', () => {
  test('opening a chargeback withdraws the amount plus the dispute fee; winning reinstates the amount', async () => {
    const pi = await paidIntent(3000);
    const from = receiver.received.length;
    const opened = await control(`/_sandbox/charges/${pi.latest_charge as string}/dispute`, { reason: 'fraudulent' });
    expect(opened.status).toBe(200);
    const dispute = opened.json as unknown as Stripe.Dispute;
    expect(dispute).toMatchObject({ object: 'dispute', amount: 3000, currency: 'eur', status: 'needs_response', reason: 'fraudulent', charge: pi.latest_charge, payment_intent: pi.id });
    expect(dispute.evidence_details.due_by).toBe(dispute.created + 7 * 86_400);
    expect(dispute.balance_transactions).toEqual([expect.objectContaining({ amount: -3000, fee: 1500, net: -4500, reporting_category: 'dispute', source: dispute.id })]);
    expect((await stripe.charges.retrieve(pi.latest_charge as string)).disputed).toBe(true);

    const won = await sandbox.control.closeDispute(dispute.id, 'won');
    expect(won).toMatchObject({ status: 'won', evidence_details: { due_by: null } });
    expect(won.balance_transactions.map((t) => t.amount)).toEqual([-3000, 3000]);
    expect(await stripe.balanceTransactions.retrieve(won.balance_transactions[1]!.id)).toMatchObject({ amount: 3000, reporting_category: 'dispute_reversal' });

    const events = await eventsSince(from);
    expect(events.map((e) => e.type)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn', 'charge.updated', 'charge.dispute.funds_reinstated', 'charge.dispute.closed']);
    expect((events[0]!.data.object as Stripe.Dispute).balance_transactions).toEqual([]);
    expect((events[4]!.data.object as Stripe.Dispute).status).toBe('won');

    // Decided once.
    expect((await control(`/_sandbox/disputes/${dispute.id}/close`, { outcome: 'lost' })).status).toBe(400);
  });

  test('the API reads, updates (evidence, submit) and closes (accepts) disputes like Stripe', async () => {
    const pi = await paidIntent(1200);
    const dispute = await sandbox.control.openDispute(pi.latest_charge as string, { reason: 'product_not_received', amount: 1000 });
    expect(await stripe.disputes.retrieve(dispute.id)).toMatchObject({ id: dispute.id, amount: 1000 });
    expect((await stripe.disputes.list({ payment_intent: pi.id })).data.map((d) => d.id)).toEqual([dispute.id]);
    expect((await stripe.disputes.list({ charge: pi.latest_charge as string })).data.map((d) => d.id)).toEqual([dispute.id]);

    await sandbox.control.waitForDeliveries(SETTLE_MS);
    const from = receiver.received.length;
    const updated = await stripe.disputes.update(dispute.id, { evidence: { uncategorized_text: 'Delivered on time', customer_name: 'A. Customer' }, submit: true });
    expect(updated).toMatchObject({ status: 'under_review', evidence: { uncategorized_text: 'Delivered on time' }, evidence_details: { has_evidence: true, submission_count: 1 } });
    const closed = await stripe.disputes.close(dispute.id);
    expect(closed.status).toBe('lost');
    expect(closed.balance_transactions.map((t) => t.amount)).toEqual([-1000]);
    const events = await eventsSince(from);
    expect(events.map((e) => e.type)).toEqual(['charge.dispute.updated', 'charge.dispute.closed']);
    expect(events[0]!.data.previous_attributes).toMatchObject({ status: 'needs_response' });

    await expect(stripe.disputes.update(dispute.id, { metadata: { late: 'yes' } })).rejects.toMatchObject({ statusCode: 400 });
    await expect(stripe.disputes.retrieve('dp_missing')).rejects.toMatchObject({ statusCode: 404 });
    await expect(stripe.disputes.update(dispute.id, { evidence: { not_a_field: 'x' } as never })).rejects.toMatchObject({ statusCode: 400 });
  });

  test('the control action refuses what a network would never open: an unpaid or already disputed charge, a bad reason or amount', async () => {
    const declined = await stripe.paymentIntents
      .create({ amount: 500, currency: 'eur', payment_method: 'pm_card_chargeDeclined', confirm: true })
      .catch((err: { raw?: { payment_intent?: Stripe.PaymentIntent } }) => err.raw?.payment_intent);
    expect(declined?.latest_charge).toBeTruthy();
    expect((await control(`/_sandbox/charges/${declined!.latest_charge as string}/dispute`, {})).status).toBe(400);

    const pi = await paidIntent(800);
    const charge = pi.latest_charge as string;
    expect((await control(`/_sandbox/charges/${charge}/dispute`, { reason: 'because' })).status).toBe(400);
    expect((await control(`/_sandbox/charges/${charge}/dispute`, { amount: 801 })).status).toBe(400);
    expect((await control(`/_sandbox/charges/${charge}/dispute`, { amount: 'all' })).status).toBe(400);
    expect((await control(`/_sandbox/charges/${charge}/dispute`, {})).status).toBe(200);
    expect((await control(`/_sandbox/charges/${charge}/dispute`, {})).status).toBe(400);
    expect((await control('/_sandbox/charges/ch_missing/dispute', {})).status).toBe(400);
    expect((await control('/_sandbox/disputes/dp_missing/close', { outcome: 'won' })).status).toBe(404);
    const [dispute] = (await stripe.disputes.list({ charge })).data;
    expect((await control(`/_sandbox/disputes/${dispute!.id}/close`, { outcome: 'maybe' })).status).toBe(400);
  });
});
