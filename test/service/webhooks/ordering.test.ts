import type Stripe from 'stripe';
import { toNumber } from '../../../service/shared/db';
import type { TestService } from '../../support/service';
import { postWebhook, settleDeliveries, sign, startWebhookService, subscribe } from './support';

/**
 * Out-of-order and repeated deliveries through the sandbox's hold fault (held events arrive newest
 * first, after later ones, across API calls and seconds): each case names the one-line bug it kills.
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
/** Every delivery of these cases must succeed: a failure (or a handler stuck on a lock) fails fast, named. */
const settle = () => settleDeliveries(svc);

async function subscriptionRow(id: string) {
  return db().selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** The events of one object, oldest first (the list is newest first, also within one second). */
async function eventsOf(type: string, objectId: string): Promise<Stripe.Event[]> {
  const page = await svc.stripe.events.list({ type, limit: 100 });
  return page.data.filter((e) => (e.data.object as { id: string }).id === objectId).reverse();
}

async function inboxStatus(eventId: string): Promise<string | undefined> {
  return (await db().selectFrom('webhook_events').select('status').where('event_id', '=', eventId).executeTakeFirst())?.status;
}

/** The order the service received deliveries of these events in. */
function deliveryOrder(eventIds: string[]): string[] {
  return svc.sandbox.control
    .deliveries()
    .filter((d) => eventIds.includes(d.event_id) && d.succeeded)
    .map((d) => d.event_id);
}

async function revenueTotals() {
  const rows = await db().selectFrom('daily_revenue').selectAll().execute();
  return {
    gross: rows.reduce((s, r) => s + toNumber(r.gross_amount), 0),
    succeeded: rows.reduce((s, r) => s + r.payments_succeeded, 0),
    failed: rows.reduce((s, r) => s + r.payments_failed, 0),
  };
}

describe('subscription snapshots: the ordering guard', () => {
  test('an older snapshot delivered after a newer one (seconds apart) does not overwrite it', async () => {
    const { subscriptionId } = await subscribe(svc, 'user_order_stale');
    await settle();
    svc.sandbox.control.setFaults({ hold: { types: ['customer.subscription.updated'] } });
    await svc.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
    await svc.sandbox.control.advanceClock(10);
    await svc.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: false });
    svc.sandbox.control.clearFaults();
    await settle();

    const [older, newer] = (await eventsOf('customer.subscription.updated', subscriptionId)).slice(-2);
    expect(newer!.created).toBeGreaterThan(older!.created);
    // The newer snapshot really arrived first: otherwise this case proves nothing.
    expect(deliveryOrder([older!.id, newer!.id])).toEqual([newer!.id, older!.id]);
    expect(await inboxStatus(older!.id)).toBe('processed');

    const row = await subscriptionRow(subscriptionId);
    const stripeSub = await svc.stripe.subscriptions.retrieve(subscriptionId);
    expect({ cap: row.cancel_at_period_end, time: Number(row.stripe_updated_at) }).toEqual({ cap: stripeSub.cancel_at_period_end, time: newer!.created });
    expect(row.cancel_at_period_end).toBe(false);
  });

  /** Two updates inside one Stripe second; retried when the pair happens to straddle a second boundary. */
  async function sameSecondPair(subscriptionId: string, hold: boolean): Promise<[Stripe.Event, Stripe.Event]> {
    for (let tries = 0; tries < 5; tries++) {
      if (hold) svc.sandbox.control.setFaults({ hold: { types: ['customer.subscription.updated'] } });
      await svc.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
      await svc.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: false });
      svc.sandbox.control.clearFaults();
      await settle();
      const [first, second] = (await eventsOf('customer.subscription.updated', subscriptionId)).slice(-2);
      expect([first, second].map((e) => (e!.data.object as Stripe.Subscription).cancel_at_period_end)).toEqual([true, false]);
      if (first!.created === second!.created) return [first!, second!];
    }
    throw new Error('could not emit two subscription updates within one second in 5 tries');
  }

  test('same-second snapshots delivered newest first: the tie is settled by Stripe, not by arrival order', async () => {
    const { subscriptionId } = await subscribe(svc, 'user_order_tie_reversed');
    await settle();
    const [first, second] = await sameSecondPair(subscriptionId, true);
    expect(deliveryOrder([first.id, second.id]).slice(-2)).toEqual([second.id, first.id]);
    const row = await subscriptionRow(subscriptionId);
    expect(row.cancel_at_period_end).toBe(false);
    expect(row.cancel_at_period_end).toBe((await svc.stripe.subscriptions.retrieve(subscriptionId)).cancel_at_period_end);
  });

  test('same-second snapshots delivered in order: the later one is applied, not dropped as stale', async () => {
    const { subscriptionId } = await subscribe(svc, 'user_order_tie_inorder');
    await settle();
    const [first, second] = await sameSecondPair(subscriptionId, false);
    expect(deliveryOrder([first.id, second.id]).slice(-2)).toEqual([first.id, second.id]);
    expect((await subscriptionRow(subscriptionId)).cancel_at_period_end).toBe(false);
  });
});

describe('payments', () => {
  /** A payment intent that declines, then succeeds `gap` seconds later (0: within one second, retried until it is). */
  async function declineThenPay(customerId: string, gap: number): Promise<{ pi: Stripe.PaymentIntent; failure: Stripe.Event; success: Stripe.Event; intents: number }> {
    for (let tries = 1; tries <= 5; tries++) {
      const pi = await svc.stripe.paymentIntents.create({ amount: 1500, currency: 'eur', customer: customerId });
      await expect(svc.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_chargeCustomerFail' })).rejects.toMatchObject({ type: 'StripeCardError' });
      if (gap > 0) await svc.sandbox.control.advanceClock(gap);
      await svc.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
      const [failure] = await eventsOf('payment_intent.payment_failed', pi.id);
      const [success] = await eventsOf('payment_intent.succeeded', pi.id);
      const apart = success!.created - failure!.created;
      if (gap === 0 ? apart === 0 : apart >= gap) return { pi, failure: failure!, success: success!, intents: tries };
    }
    throw new Error(`could not produce a decline and a success ${gap} s apart in 5 tries`);
  }

  test.each([
    ['seconds after it', 5],
    ['in the same second', 0],
  ])('a failure delivered after the success (%s) leaves the payment succeeded, counts the failed attempt once, and adds revenue once', async (_label, gap) => {
    const userId = `user_order_late_failure_${gap}`;
    const customer = await svc.stripe.customers.create({ email: `${userId}@example.com`, metadata: { userId } });
    const before = await revenueTotals();
    svc.sandbox.control.setFaults({ hold: { types: ['payment_intent.payment_failed'] } });
    // A retried pair (a second boundary crossed) leaves its intents paid too: each adds one success and one failure.
    const { pi, failure, success, intents } = await declineThenPay(customer.id, gap);
    await settle();
    const succeeded = await db().selectFrom('payments').selectAll().where('payment_key', '=', pi.id).executeTakeFirstOrThrow();
    expect(succeeded.status).toBe('succeeded');

    svc.sandbox.control.clearFaults();
    await settle();
    expect(deliveryOrder([failure.id, success.id])).toEqual([success.id, failure.id]);
    expect(await inboxStatus(failure.id)).toBe('processed');

    const row = await db().selectFrom('payments').selectAll().where('payment_key', '=', pi.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'succeeded', amount: 1500, currency: 'eur', failure_code: null, failure_message: null, failed_attempts: 1, user_id: userId });
    expect(row.occurred_at.getTime()).toBe(succeeded.occurred_at.getTime());
    expect(Number(row.stripe_updated_at)).toBe(success.created);
    const after = await revenueTotals();
    expect({ gross: after.gross - before.gross, succeeded: after.succeeded - before.succeeded, failed: after.failed - before.failed }).toEqual({ gross: 1500 * intents, succeeded: intents, failed: intents });
  });

  test('a zero-amount invoice is not a payment: no row, no revenue, no success count; the event is processed and the customer linked', async () => {
    const userId = 'user_order_zero';
    const product = await svc.stripe.products.create({ name: 'Free tier' });
    const free = await svc.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 0, recurring: { interval: 'month' } });
    const customer = await svc.stripe.customers.create({ email: `${userId}@example.com`, metadata: { userId } });
    const before = await revenueTotals();
    const sub = await svc.stripe.subscriptions.create({ customer: customer.id, items: [{ price: free.id }], metadata: { userId } });
    await settle();

    const paid = (await svc.stripe.events.list({ type: 'invoice.payment_succeeded', limit: 100 })).data.filter(
      (e) => (e.data.object as Stripe.Invoice).customer === customer.id,
    );
    expect(paid).toHaveLength(1);
    expect((paid[0]!.data.object as Stripe.Invoice).amount_paid).toBe(0);
    expect(await inboxStatus(paid[0]!.id)).toBe('processed');
    expect(await db().selectFrom('payments').selectAll().where('customer_id', '=', customer.id).execute()).toEqual([]);
    expect(await revenueTotals()).toEqual(before);
    expect((await db().selectFrom('stripe_customers').select('user_id').where('customer_id', '=', customer.id).executeTakeFirst())?.user_id).toBe(userId);
    expect((await subscriptionRow(sub.id)).status).toBe('active');
  });
});

describe('who an event belongs to', () => {
  test("the local customer mapping wins over a user id the object carries in its metadata", async () => {
    const { subscriptionId, customerId } = await subscribe(svc, 'user_order_owner');
    await settle();
    await svc.stripe.subscriptions.update(subscriptionId, { metadata: { userId: 'user_order_intruder' }, cancel_at_period_end: true });
    await settle();

    const row = await subscriptionRow(subscriptionId);
    expect(row).toMatchObject({ user_id: 'user_order_owner', cancel_at_period_end: true });
    expect(await db().selectFrom('users').select('id').where('id', '=', 'user_order_intruder').executeTakeFirst()).toBeUndefined();
    const links = await db().selectFrom('stripe_customers').selectAll().where('customer_id', '=', customerId).execute();
    expect(links.map((l) => l.user_id)).toEqual(['user_order_owner']);
  });
});

describe('who an event belongs to, from Stripe', () => {
  test("an unlinked customer's metadata.userId (read from Stripe) owns the payment and links the customer; without it the event is unmatched", async () => {
    const owned = await svc.stripe.customers.create({ email: 'meta-owner@example.com', metadata: { userId: 'user_order_from_stripe' } });
    const anonymous = await svc.stripe.customers.create({ email: 'nobody@example.com' });
    const pay = async (customer: string) => {
      const pi = await svc.stripe.paymentIntents.create({ amount: 2500, currency: 'eur', customer });
      await svc.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
      return pi.id;
    };
    const ownedPi = await pay(owned.id);
    const anonymousPi = await pay(anonymous.id);
    await settle();

    expect(await db().selectFrom('payments').select(['user_id', 'status', 'amount']).where('payment_key', '=', ownedPi).executeTakeFirst()).toEqual({
      user_id: 'user_order_from_stripe',
      status: 'succeeded',
      amount: 2500,
    });
    const link = await db().selectFrom('stripe_customers').select('user_id').where('customer_id', '=', owned.id).executeTakeFirst();
    expect(link?.user_id).toBe('user_order_from_stripe');

    expect(await db().selectFrom('payments').selectAll().where('payment_key', '=', anonymousPi).execute()).toEqual([]);
    const [event] = await eventsOf('payment_intent.succeeded', anonymousPi);
    expect(await inboxStatus(event!.id)).toBe('unmatched');
  });
});

describe('duplicates', () => {
  test('a redelivery of an applied event makes no Stripe call and changes nothing', async () => {
    const { subscriptionId } = await subscribe(svc, 'user_order_duplicate');
    await settle();
    const invoiceId = (await svc.stripe.subscriptions.retrieve(subscriptionId)).latest_invoice as string;
    const paid = (await svc.stripe.events.list({ type: 'payment_intent.succeeded', limit: 100 })).data;
    const payment = await db().selectFrom('payments').selectAll().where('invoice_id', '=', invoiceId).executeTakeFirstOrThrow();
    const own = paid.find((e) => (e.data.object as Stripe.PaymentIntent).id === payment.payment_intent_id)!;
    expect(await inboxStatus(own.id)).toBe('processed');

    const stripeCalls: string[] = [];
    const onRequest = (req: { method: string; path: string }) => stripeCalls.push(`${req.method} ${req.path}`);
    svc.stripe.on('request', onRequest);
    try {
      const body = JSON.stringify(own);
      const res = await postWebhook(svc, body, { 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) });
      expect(res).toEqual({ status: 200, json: { received: true, status: 'processed' }, outcome: 'duplicate' });
    } finally {
      svc.stripe.off('request', onRequest);
    }
    expect(stripeCalls).toEqual([]);
    const inbox = await db().selectFrom('webhook_events').selectAll().where('event_id', '=', own.id).executeTakeFirstOrThrow();
    expect({ status: inbox.status, attempts: inbox.attempts, duplicates: inbox.duplicate_deliveries }).toEqual({ status: 'processed', attempts: 1, duplicates: 1 });
    const again = await db().selectFrom('payments').selectAll().where('invoice_id', '=', invoiceId).executeTakeFirstOrThrow();
    expect(again).toEqual(payment);
  });
});
