import type Stripe from 'stripe';
import { SDK_API_VERSION } from '../../service/shared/stripe-client';
import { againstRealStripe, Harness, Receiver, sandboxOnly, seedCatalog, unique, verifiedEvents, useHarnessAndReceiver } from './support';
import { SETTLE_MS } from '../support/wait';

const DAY = 86_400;
let h: Harness;
let receiver: Receiver;
let secret: string;

useHarnessAndReceiver((harness, received) => {
  h = harness;
  receiver = received;
});

beforeEach(async () => {
  if (againstRealStripe) return; // Stripe cannot reach a local receiver
  const endpoint = await h.stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
  secret = endpoint.secret as string;
});

/** Creates a subscription checkout and completes it with a card, the way the hosted page does. */
async function subscribe(price: Stripe.Price, card = 'pm_card_visa'): Promise<{ session: Stripe.Checkout.Session; sub: Stripe.Subscription }> {
  const session = await h.stripe.checkout.sessions.create({
    mode: 'subscription',
    customer_email: `${unique('buyer')}@example.com`,
    client_reference_id: 'user_42',
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: 'https://app.example/success?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://app.example/cancel',
    metadata: { user_id: 'user_42' },
    subscription_data: { metadata: { user_id: 'user_42' } },
  });
  await h.control.completeCheckoutSession(session.id, card);
  const done = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ['subscription'] });
  return { session: done, sub: done.subscription as Stripe.Subscription };
}

function typesFor(events: Stripe.Event[], objectId: string): string[] {
  return events.filter((e) => (e.data.object as { id?: string }).id === objectId).map((e) => e.type);
}

describe('subscription checkout', () => {
  sandboxOnly('completing a subscription checkout activates a subscription with a paid first invoice and signed events in Stripe order', async () => {
    const { price } = await seedCatalog(h.stripe);
    const { session, sub } = await subscribe(price);

    expect(session).toMatchObject({ status: 'complete', payment_status: 'paid', client_reference_id: 'user_42', metadata: { user_id: 'user_42' } });
    expect(sub).toMatchObject({ object: 'subscription', status: 'active', metadata: { user_id: 'user_42' }, cancel_at_period_end: false });
    expect(sub.id).toMatch(/^sub_/);
    const item = sub.items.data[0] as Stripe.SubscriptionItem;
    expect(item.price.id).toBe(price.id);
    expect(item.current_period_end).toBeGreaterThan(item.current_period_start);

    const full = await h.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice.payments', 'customer'] });
    const invoice = full.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({ status: 'paid', amount_paid: 400, billing_reason: 'subscription_create' });
    expect(invoice.parent?.subscription_details?.subscription).toBe(sub.id);
    const payment = invoice.payments?.data[0] as Stripe.InvoicePayment;
    expect(payment.payment.payment_intent).toMatch(/^pi_/);
    const pi = await h.stripe.paymentIntents.retrieve(payment.payment.payment_intent as string);
    expect(pi.status).toBe('succeeded');
    // Checkout makes the card the subscription's default; the customer's invoice settings stay empty.
    expect(full.default_payment_method).toMatch(/^pm_/);
    expect((full.customer as Stripe.Customer).invoice_settings.default_payment_method).toBeNull();

    await h.control.waitForDeliveries(SETTLE_MS);
    const events = verifiedEvents(h.stripe, receiver, secret);
    const types = events.map((e) => e.type).filter((t) => !t.startsWith('product.') && !t.startsWith('price.'));
    expect(types).toEqual([
      'customer.created',
      'payment_method.attached',
      'invoice.created',
      'invoice.finalized',
      'customer.subscription.created',
      'payment_intent.created',
      'payment_intent.succeeded',
      'charge.succeeded',
      'invoice.paid',
      'invoice.payment_succeeded',
      'invoice_payment.paid',
      'customer.subscription.updated',
      'checkout.session.completed',
    ]);
    const activated = events.find((e) => e.type === 'customer.subscription.updated') as Stripe.Event;
    expect((activated.data.object as Stripe.Subscription).status).toBe('active');
    expect(activated.data.previous_attributes).toEqual({ status: 'incomplete' });
    expect(events.every((e) => e.api_version === SDK_API_VERSION && e.livemode === false)).toBe(true);
    const listed = await h.stripe.events.list({ type: 'invoice.*', limit: 100 });
    expect(listed.data.map((e) => e.type)).toEqual(['invoice.payment_succeeded', 'invoice.paid', 'invoice.finalized', 'invoice.created']);
  });

  sandboxOnly('a declining card leaves the session open and creates no subscription', async () => {
    const { price } = await seedCatalog(h.stripe);
    const session = await h.stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: price.id, quantity: 1 }],
      success_url: 'https://app.example/success',
      cancel_url: 'https://app.example/cancel',
    });
    await expect(h.control.completeCheckoutSession(session.id, 'pm_card_chargeDeclined')).rejects.toMatchObject({
      status: 402,
      type: 'card_error',
      code: 'card_declined',
      declineCode: 'generic_decline',
    });
    expect((await h.stripe.checkout.sessions.retrieve(session.id)).status).toBe('open');
    expect((await h.stripe.subscriptions.list({ status: 'all' })).data).toHaveLength(0);
  });

  sandboxOnly('completes a payment-mode checkout and refunds it with charge.refunded and refund.created', async () => {
    const product = await h.stripe.products.create({ name: 'One-off' });
    const price = await h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 1500 });
    const session = await h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: price.id, quantity: 2 }], success_url: 'https://app.example/ok' });
    await h.control.completeCheckoutSession(session.id, 'pm_card_mastercard');
    const done = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ['payment_intent', 'line_items'] });
    const pi = done.payment_intent as Stripe.PaymentIntent;
    expect(pi).toMatchObject({ status: 'succeeded', amount: 3000 });
    expect(done.line_items?.data[0]?.quantity).toBe(2);
    const refund = await h.stripe.refunds.create({ payment_intent: pi.id });
    expect(refund).toMatchObject({ status: 'succeeded', amount: 3000 });
    expect(refund.id).toMatch(/^re_/);
    await h.control.waitForDeliveries(SETTLE_MS);
    const types = verifiedEvents(h.stripe, receiver, secret).map((e) => e.type);
    expect(types.slice(-2)).toEqual(['charge.refunded', 'refund.created']);
  });
});

describe('renewals through the sandbox clock', () => {
  sandboxOnly('renews at period end: new paid invoice and the next period on the items', async () => {
    const { price } = await seedCatalog(h.stripe);
    const { sub } = await subscribe(price);
    const firstEnd = (sub.items.data[0] as Stripe.SubscriptionItem).current_period_end;
    await h.control.waitForDeliveries(SETTLE_MS);
    receiver.received.length = 0;

    await h.control.advanceClock(32 * DAY);
    const renewed = await h.stripe.subscriptions.retrieve(sub.id);
    const item = renewed.items.data[0] as Stripe.SubscriptionItem;
    expect(renewed.status).toBe('active');
    expect(item.current_period_start).toBe(firstEnd);
    const invoices = await h.stripe.invoices.list({ subscription: sub.id });
    expect(invoices.data.map((i) => [i.billing_reason, i.status])).toEqual([
      ['subscription_cycle', 'paid'],
      ['subscription_create', 'paid'],
    ]);
    await h.control.waitForDeliveries(SETTLE_MS);
    const events = verifiedEvents(h.stripe, receiver, secret);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['customer.subscription.updated', 'invoice.created', 'invoice.paid', 'invoice.payment_succeeded']));
    const update = events.find((e) => e.type === 'customer.subscription.updated') as Stripe.Event;
    expect(update.created).toBe(firstEnd);
  });

  sandboxOnly('processes several periods of a daily price in order', async () => {
    const { price } = await seedCatalog(h.stripe, 'day', 100);
    const { sub } = await subscribe(price);
    const result = await h.control.advanceClock(3 * DAY + 60);
    expect(result.processed).toBe(3);
    const invoices = await h.stripe.invoices.list({ subscription: sub.id });
    expect(invoices.data).toHaveLength(4);
    const created = invoices.data.map((i) => i.created);
    expect([...created].sort((a, b) => b - a)).toEqual(created);
  });

  sandboxOnly('a declined renewal makes the subscription past_due with invoice.payment_failed', async () => {
    const { price } = await seedCatalog(h.stripe);
    const { sub } = await subscribe(price);
    const failing = await h.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: sub.customer as string });
    await h.stripe.subscriptions.update(sub.id, { default_payment_method: failing.id });
    await h.control.waitForDeliveries(SETTLE_MS);
    receiver.received.length = 0;

    await h.control.advanceClock(32 * DAY);
    const after = await h.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] });
    expect(after.status).toBe('past_due');
    expect((after.latest_invoice as Stripe.Invoice).status).toBe('open');
    await h.control.waitForDeliveries(SETTLE_MS);
    const events = verifiedEvents(h.stripe, receiver, secret);
    const types = events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['payment_intent.payment_failed', 'invoice.payment_failed']));
    const pastDue = events.filter((e) => e.type === 'customer.subscription.updated').pop() as Stripe.Event;
    expect((pastDue.data.object as Stripe.Subscription).status).toBe('past_due');
    expect(pastDue.data.previous_attributes).toEqual({ status: 'active' });
  });

  sandboxOnly('a cancel_at_period_end subscription ends at period end with customer.subscription.deleted', async () => {
    const { price } = await seedCatalog(h.stripe);
    const { sub } = await subscribe(price);
    const periodEnd = (sub.items.data[0] as Stripe.SubscriptionItem).current_period_end;
    const updated = await h.stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
    expect(updated).toMatchObject({ status: 'active', cancel_at_period_end: true, cancel_at: periodEnd });

    await h.control.advanceClock(10 * DAY);
    expect((await h.stripe.subscriptions.retrieve(sub.id)).status).toBe('active');
    await h.control.advanceClock(25 * DAY);
    const ended = await h.stripe.subscriptions.retrieve(sub.id);
    expect(ended).toMatchObject({ status: 'canceled', ended_at: periodEnd });
    expect((await h.stripe.invoices.list({ subscription: sub.id })).data).toHaveLength(1);
    await h.control.waitForDeliveries(SETTLE_MS);
    expect(verifiedEvents(h.stripe, receiver, secret).map((e) => e.type)).toContain('customer.subscription.deleted');
    expect((await h.stripe.subscriptions.list({ customer: sub.customer as string })).data).toHaveLength(0);
  });

  sandboxOnly('changing the price applies to the next renewal', async () => {
    const { product, price } = await seedCatalog(h.stripe);
    const yearly = await h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 3000, recurring: { interval: 'month' } });
    const { sub } = await subscribe(price);
    const item = sub.items.data[0] as Stripe.SubscriptionItem;
    const changed = await h.stripe.subscriptions.update(sub.id, { items: [{ id: item.id, price: yearly.id }], proration_behavior: 'none' });
    expect(changed.items.data[0]?.price.id).toBe(yearly.id);
    await h.control.advanceClock(32 * DAY);
    const invoices = await h.stripe.invoices.list({ subscription: sub.id, limit: 1 });
    expect(invoices.data[0]?.amount_paid).toBe(3000);
    expect(typesFor(await h.stripe.events.list({ type: 'customer.subscription.updated', limit: 100 }).then((l) => l.data), sub.id).length).toBeGreaterThan(0);
  });

  sandboxOnly('cancelling immediately emits customer.subscription.deleted', async () => {
    const { price } = await seedCatalog(h.stripe);
    const { sub } = await subscribe(price);
    const canceled = await h.stripe.subscriptions.cancel(sub.id);
    expect(canceled.status).toBe('canceled');
    const events = await h.stripe.events.list({ types: ['customer.subscription.deleted'] });
    expect(events.data.map((e) => (e.data.object as Stripe.Subscription).id)).toEqual([sub.id]);
  });
});

describe('intents', () => {
  test('pm_card_authenticationRequired leaves a payment intent requires_action', async () => {
    const pi = await h.stripe.paymentIntents.create({
      amount: 2000,
      currency: 'eur',
      payment_method: 'pm_card_authenticationRequired',
      confirm: true,
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
    });
    expect(pi.status).toBe('requires_action');
    const canceled = await h.stripe.paymentIntents.cancel(pi.id);
    expect(canceled.status).toBe('canceled');
  });

  test('a confirmed setup intent attaches the card to the customer', async () => {
    const customer = await h.stripe.customers.create({ email: `${unique('setup')}@example.com` });
    const si = await h.stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_visa', confirm: true, automatic_payment_methods: { enabled: true, allow_redirects: 'never' } });
    expect(si.status).toBe('succeeded');
    const pm = await h.stripe.paymentMethods.retrieve(si.payment_method as string);
    expect(pm.customer).toBe(customer.id);
  });
});
