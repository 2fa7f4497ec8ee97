import type Stripe from 'stripe';
import type { RunningSandbox } from '../../../sandbox';
import { replayEvents, supersededSubscriptionEvents } from '../../../service/reconciliation/replay-events';
import { invoiceForPaymentIntent, readInvoicesOfIntents } from '../../../service/webhooks/payment-keys';
import type { WebhookDeps } from '../../../service/webhooks';
import type { TestService } from '../../support/service';
import { type HopRequest, type StripeHop, startServiceBehindHop } from '../../support/stripe-hop';
import { SETTLE_MS } from '../../support/wait';
import { subscribe } from '../webhooks/support';

/**
 * What a replay answers once for the whole pass instead of once per event (issue 15: at Stripe's
 * 25 calls a second per endpoint, two calls per checkout made a replay of 10,000 events last at
 * least 80 s): the invoices of payment intents, read 100 invoice payments a call, and the
 * subscription states superseded within their second, which it knows from Stripe's listing order.
 * The service's Stripe client goes through a hop that records every request it sends.
 */

jest.setTimeout(300_000);

const subEvent = (id: string, type: string, subscription: string, created: number): Stripe.Event =>
  ({ id, object: 'event', type, created, data: { object: { id: subscription, object: 'subscription' } } }) as unknown as Stripe.Event;

test('a subscription event is superseded by the last event of the same subscription in the same second, and only then', () => {
  const events = [
    subEvent('evt_1', 'customer.subscription.created', 'sub_a', 100),
    subEvent('evt_2', 'customer.subscription.updated', 'sub_a', 100),
    subEvent('evt_b', 'customer.subscription.created', 'sub_b', 100),
    { ...subEvent('evt_inv', 'invoice.payment_succeeded', 'sub_a', 100), data: { object: { id: 'in_1', object: 'invoice' } } } as unknown as Stripe.Event,
    subEvent('evt_3', 'customer.subscription.updated', 'sub_a', 100),
    subEvent('evt_4', 'customer.subscription.deleted', 'sub_a', 101),
  ];
  expect(supersededSubscriptionEvents(events)).toEqual(
    new Map([
      ['evt_1', 'evt_3'],
      ['evt_2', 'evt_3'],
    ]),
  );
  expect(supersededSubscriptionEvents([])).toEqual(new Map());
});

describe('on a service', () => {
  let sandbox: RunningSandbox;
  let hop: StripeHop;
  let svc: TestService;
  let close: () => Promise<void> = async () => undefined;
  beforeAll(async () => {
    ({ sandbox, hop, svc, close } = await startServiceBehindHop());
  });
  afterAll(async () => {
    await close();
  });

  const deps = (): WebhookDeps => ({ db: svc.database.db, stripe: svc.stripe, store: svc.store, config: svc.config, logger: svc.logs.logger, observer: svc.deps.observer });

  /** Checkouts the service never heard of (its endpoint disabled meanwhile); the time before them. */
  async function missedCheckouts(users: string[]): Promise<{ since: Date; subscribed: Array<{ customerId: string; subscriptionId: string }> }> {
    // A minute on, so that `since` leaves out the events of the tests before.
    await sandbox.control.advanceClock(60);
    const since = new Date(sandbox.control.now() * 1000);
    await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: true });
    const subscribed = [];
    for (const user of users) subscribed.push(await subscribe(svc, user));
    await sandbox.control.waitForDeliveries(SETTLE_MS);
    await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: false });
    return { since, subscribed };
  }

  /** The Stripe requests `run` made, as the hop saw them. */
  async function requestsOf<T>(run: () => Promise<T>): Promise<{ result: T; requests: HopRequest[] }> {
    const before = hop.requests.length;
    const result = await run();
    return { result, requests: hop.requests.slice(before) };
  }

  const byIntent = (r: HopRequest) => r.path === '/v1/invoice_payments' && r.query.has('payment[payment_intent]');

  test('a replay asks Stripe nothing per event: invoices of payment intents in bulk, superseded states skipped, the ledger as one at a time leaves it', async () => {
    const { since, subscribed } = await missedCheckouts(['user_pass_0', 'user_pass_1', 'user_pass_2']);
    const { result: summary, requests } = await requestsOf(() => replayEvents(deps(), { since }));

    expect(summary).toMatchObject({ failed: 0, alreadyApplied: 0 });
    expect(summary.applied).toBe(summary.seen);
    // Each checkout's subscription is created and activated in one second: one state per checkout superseded.
    expect(summary.superseded).toBe(subscribed.length);
    expect(requests.filter(byIntent)).toEqual([]);
    expect(requests.filter((r) => r.path.startsWith('/v1/subscriptions/'))).toEqual([]);
    // The superseded event still links its customer, so the payment intent after it (no metadata) needs no customer lookup.
    expect(requests.filter((r) => r.path.startsWith('/v1/customers/'))).toEqual([]);
    const bulk = requests.filter((r) => r.path === '/v1/invoice_payments');
    expect(bulk).toHaveLength(1);
    expect(Number(bulk[0]!.query.get('created[gte]'))).toBe(Math.floor(since.getTime() / 1000) - 86_400);

    // The subscriptions hold Stripe's state; every event is final, applied once.
    for (const { subscriptionId } of subscribed) {
      const stripeSub = await svc.stripe.subscriptions.retrieve(subscriptionId);
      const row = await svc.database.db.selectFrom('subscriptions').select(['status', 'current_period_end']).where('id', '=', subscriptionId).executeTakeFirstOrThrow();
      expect(row.status).toBe(stripeSub.status);
      expect(stripeSub.status).toBe('active');
    }
    const rows = await svc.database.db.selectFrom('webhook_events').select(['status', 'attempts']).where('stripe_created_at', '>=', since).execute();
    expect(rows).toHaveLength(summary.seen);
    expect(rows.every((r) => r.status === 'processed' && r.attempts === 1)).toBe(true);

    // Payments are keyed by their invoice, with the intent beside it: the bulk answers were used.
    const payments = await svc.database.db.selectFrom('payments').select(['payment_key', 'invoice_id', 'payment_intent_id', 'status']).where('customer_id', 'in', subscribed.map((s) => s.customerId)).execute();
    expect(payments).toHaveLength(subscribed.length);
    for (const payment of payments) {
      expect(payment.payment_key).toMatch(/^in_/);
      expect(payment.invoice_id).toBe(payment.payment_key);
      expect(payment.payment_intent_id).toMatch(/^pi_/);
      expect(payment.status).toBe('succeeded');
    }
  });

  test('the bulk read refused, each payment intent is looked up on its own and the replay still applies everything', async () => {
    const { since, subscribed } = await missedCheckouts(['user_pass_fallback_0', 'user_pass_fallback_1']);
    hop.decide = (req) => (req.path === '/v1/invoice_payments' && !req.query.has('payment[payment_intent]') ? { action: 'fail', status: 500 } : { action: 'forward' });
    try {
      const { result: summary, requests } = await requestsOf(() => replayEvents(deps(), { since }));
      expect(summary).toMatchObject({ failed: 0, alreadyApplied: 0 });
      expect(requests.filter(byIntent)).toHaveLength(subscribed.length);
    } finally {
      hop.decide = () => ({ action: 'forward' });
    }
    expect(svc.logs.lines().some((l) => l.message === 'invoice payments not read in bulk; looking each payment intent up on its own')).toBe(true);
    const payments = await svc.database.db.selectFrom('payments').select(['payment_key']).where('customer_id', 'in', subscribed.map((s) => s.customerId)).execute();
    expect(payments.map((p) => p.payment_key.slice(0, 3))).toEqual(['in_', 'in_']);
  });

  test('the bulk answers are the lookup by intent: the newest invoice of each intent, and an intent they lack is still asked about', async () => {
    const since = sandbox.control.now();
    const { subscriptionId } = await subscribe(svc, 'user_pass_lookup');
    const invoice = (await svc.stripe.subscriptions.retrieve(subscriptionId, { expand: ['latest_invoice.payments'] })).latest_invoice as Stripe.Invoice;
    const intent = invoice.payments!.data[0]!.payment.payment_intent as string;
    const known = await readInvoicesOfIntents(svc.stripe, since);
    expect(known.get(intent)).toBe(invoice.id);
    expect(await invoiceForPaymentIntent(svc.stripe, intent)).toBe(invoice.id);

    const { result, requests } = await requestsOf(async () => [await invoiceForPaymentIntent(svc.stripe, intent, known), await invoiceForPaymentIntent(svc.stripe, intent, new Map())]);
    expect(result).toEqual([invoice.id, invoice.id]);
    expect(requests.filter(byIntent)).toHaveLength(1);
  });
});
