import type Stripe from 'stripe';
import { startSandbox, type RunningSandbox } from '../../sandbox';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';
import { SdkShapes, ShapeError } from './sdk-shapes';
import { SETTLE_MS } from '../support/wait';
import { Receiver, seedCatalog, startReceiver } from './support';
import { STRIPE_EVENT_TYPES } from '../../sandbox/events/event-types';
import { WEBHOOK_EVENTS } from '../../service/shared/catalog';

/**
 * Every object the sandbox serves, checked at runtime against the SDK's declarations: after a
 * scenario that touches every resource (checkout in both modes, renewals that succeed and fail,
 * cancellations, declines, 3DS, refunds, disputes, deleted customers), every list, every event
 * (`data.object`, `data.previous_attributes`), expanded responses and card-error bodies.
 * Sandbox-only: it reads the sandbox's own objects, not a contract Stripe is held to.
 */
const DAY = 86_400;
const KEY = 'sk_test_sdk_shapes';
let sandbox: RunningSandbox;
let stripe: Stripe;
let receiver: Receiver;
let shapes: SdkShapes;

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, retrySchedule: [40, 80], deliveryTimeoutMs: 5000 });
  stripe = createStripeClient({ secretKey: KEY, apiVersion: SDK_API_VERSION, apiBase: sandbox.url });
  receiver = await startReceiver();
  shapes = new SdkShapes();
});
afterAll(async () => {
  await sandbox?.close();
  await receiver?.close();
});

async function get(path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${sandbox.url}${path}`, { headers: { Authorization: `Bearer ${KEY}` } });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Every page of a list, newest first. */
async function all(path: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let after: string | undefined;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=100${after ? `&starting_after=${after}` : ''}`);
    const data = page.data as Record<string, unknown>[];
    items.push(...data);
    if (!page.has_more || data.length === 0) return items;
    after = data[data.length - 1]?.id as string;
  }
}

async function cardError(call: () => Promise<unknown>): Promise<Record<string, unknown>> {
  const err = (await call().then(() => undefined, (e: unknown) => e)) as Stripe.errors.StripeError | undefined;
  if (!err?.raw) throw new Error('expected a Stripe error');
  return { error: err.raw as unknown };
}

async function scenario(): Promise<{ extra: [string, unknown][] }> {
  const extra: [string, unknown][] = [];
  await stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
  const { price } = await seedCatalog(stripe, 'month');
  const { price: yearly } = await seedCatalog(stripe, 'year', 3000);
  const product = await stripe.products.create({ name: 'One-off', metadata: { kind: 'one_time' } });
  const oneTime = await stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 999, lookup_key: 'one_off' });
  await stripe.products.update(product.id, { default_price: oneTime.id, description: 'A one-off' });
  await stripe.prices.update(oneTime.id, { nickname: 'once', metadata: { a: 'b' } });

  // Subscription checkout, hosted and embedded; a payment-mode checkout; an expired one.
  const hosted = await stripe.checkout.sessions.create({
    mode: 'subscription', customer_email: 'buyer@example.com', client_reference_id: 'u_1',
    line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://app.example/ok', cancel_url: 'https://app.example/cancel',
    metadata: { userId: 'u_1' }, subscription_data: { metadata: { userId: 'u_1' } },
  });
  await sandbox.control.completeCheckoutSession(hosted.id, 'pm_card_visa');
  await stripe.checkout.sessions.create({ mode: 'subscription', ui_mode: 'embedded_page', line_items: [{ price: yearly.id, quantity: 1 }], return_url: 'https://app.example/back' });
  const pay = await stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: oneTime.id, quantity: 2 }], success_url: 'https://app.example/ok', payment_intent_data: { metadata: { order: 'o1' } } });
  await sandbox.control.completeCheckoutSession(pay.id, 'pm_card_mastercard');
  const expired = await stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: oneTime.id, quantity: 1 }], success_url: 'https://app.example/ok' });
  await stripe.checkout.sessions.expire(expired.id);
  extra.push(['checkout with line_items', await get(`/v1/checkout/sessions/${hosted.id}?expand[]=line_items&expand[]=subscription.latest_invoice.payments&expand[]=customer`)]);

  // A direct subscription whose card declines at renewal, one cancelled at period end, one now.
  const customer = await stripe.customers.create({ email: 'direct@example.com', name: 'Direct', phone: '+33100000000', metadata: { userId: 'u_2' }, preferred_locales: ['fr'] });
  const failing = await stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
  const visa = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
  await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: visa.id }, description: 'direct' });
  const renewFails = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], default_payment_method: visa.id, metadata: { userId: 'u_2' } });
  await stripe.subscriptions.update(renewFails.id, { default_payment_method: failing.id });
  const ending = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: yearly.id }], default_payment_method: visa.id });
  await stripe.subscriptions.update(ending.id, { cancel_at_period_end: true, cancellation_details: { comment: 'too dear' } });
  const now = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id, quantity: 2 }] });
  await stripe.subscriptions.update(now.id, { items: [{ id: now.items.data[0]?.id, price: yearly.id }] }).catch(() => undefined);
  await stripe.subscriptions.cancel(now.id);
  await sandbox.control.advanceClock(32 * DAY);
  await sandbox.control.advanceClock(365 * DAY);

  // Payment intents: success, decline (the 402 body carries the intent), 3DS, cancel.
  const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'eur', customer: customer.id, payment_method: visa.id, confirm: true, off_session: true, metadata: { order: 'o2' } });
  extra.push(['decline body', await cardError(() => stripe.paymentIntents.create({ amount: 1000, currency: 'eur', payment_method: 'pm_card_chargeDeclined', confirm: true, automatic_payment_methods: { enabled: true, allow_redirects: 'never' } }))]);
  await stripe.paymentIntents.create({ amount: 1500, currency: 'eur', payment_method: 'pm_card_authenticationRequired', confirm: true });
  const toCancel = await stripe.paymentIntents.create({ amount: 700, currency: 'eur', allowed_payment_method_types: ['card'] });
  await stripe.paymentIntents.cancel(toCancel.id, { cancellation_reason: 'abandoned' });
  extra.push(['expanded intent', await get(`/v1/payment_intents/${pi.id}?expand[]=latest_charge.balance_transaction&expand[]=customer&expand[]=payment_method`)]);

  // Setup intents: success, 3DS, decline.
  await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_visa', confirm: true, usage: 'off_session' });
  const si3ds = await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_authenticationRequired', confirm: true });
  extra.push(['setup intent 3ds', await get(`/v1/setup_intents/${si3ds.id}`)]);
  extra.push(['setup decline body', await cardError(() => stripe.setupIntents.create({ payment_method: 'pm_card_chargeDeclined', confirm: true }))]);

  // Refunds (full and partial) and a dispute won, one lost.
  const charge = pi.latest_charge as string;
  await stripe.refunds.create({ charge, amount: 500 });
  await stripe.refunds.create({ payment_intent: pi.id });
  const disputed = await stripe.paymentIntents.create({ amount: 3000, currency: 'eur', payment_method: 'pm_card_visa', confirm: true });
  const won = await sandbox.control.openDispute(disputed.latest_charge as string);
  await sandbox.control.closeDispute(won.id, 'won');
  const lost = await stripe.paymentIntents.create({ amount: 3100, currency: 'eur', payment_method: 'pm_card_visa', confirm: true });
  const lostDispute = await sandbox.control.openDispute(lost.latest_charge as string, { reason: 'product_not_received' });
  await sandbox.control.closeDispute(lostDispute.id, 'lost');
  extra.push(['charge', await get(`/v1/charges/${charge}?expand[]=balance_transaction`)]);

  // Portal, detach, a deleted customer (retrieve and expand both show the stub).
  extra.push(['portal session', JSON.parse(JSON.stringify(await stripe.billingPortal.sessions.create({ customer: customer.id, return_url: 'https://app.example' })))]);
  await stripe.paymentMethods.detach(failing.id);
  const doomed = await stripe.customers.create({ email: 'gone@example.com' });
  await stripe.customers.del(doomed.id);
  extra.push(['deleted customer', await get(`/v1/customers/${doomed.id}`)]);
  extra.push(['account', await get('/v1/account')]);
  extra.push(['customer search', await get(`/v1/customers/search?query=${encodeURIComponent("metadata['userId']:'u_2'")}`)]);
  extra.push(['subscription search', await get(`/v1/subscriptions/search?query=${encodeURIComponent("status:'canceled'")}`)]);
  await sandbox.control.waitForDeliveries(SETTLE_MS);
  return { extra };
}

test('the checker refuses what the SDK types refuse: a missing field, an undeclared field, an enum value the SDK does not list', async () => {
  const { price } = await seedCatalog(stripe);
  const good = await get(`/v1/prices/${price.id}`);
  expect(shapes.check(good)).toEqual([]);
  const missing: Record<string, unknown> = { ...good };
  delete missing.lookup_key;
  expect(shapes.check(missing)).toEqual([{ path: '$.lookup_key', message: expect.stringMatching(/missing/) }]);
  expect(shapes.check({ ...good, favourite_colour: 'blue' })).toEqual([{ path: '$.favourite_colour', message: expect.stringMatching(/not declared/) }]);
  expect(shapes.check({ ...good, tax_behavior: 'sometimes' })).not.toEqual([]);
  expect(shapes.check({ ...good, unit_amount: '400' })).not.toEqual([]);
  expect(shapes.check({ ...good, recurring: { ...(good.recurring as object), interval: 'fortnight' } })).not.toEqual([]);
  const session = await stripe.checkout.sessions.create({ mode: 'subscription', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://example.com' });
  expect(shapes.check({ ...JSON.parse(JSON.stringify(session)), ui_mode: 'hosted' })).not.toEqual([]);
  const events = await get('/v1/events?type=price.created');
  const event = (events.data as Record<string, unknown>[])[0] as Record<string, unknown>;
  expect(shapes.check(event)).toEqual([]);
  const data = event.data as Record<string, unknown>;
  expect(shapes.check({ ...event, data: { ...data, object: { ...(data.object as object), active: 'yes' } } })).not.toEqual([]);
  expect(shapes.check({ ...event, type: 'price.exploded' })).not.toEqual([]);
});

test('every object the sandbox serves, in lists, events, expansions and error bodies, matches the SDK types', async () => {
  sandbox.control.reset();
  const { extra } = await scenario();
  const checked = new Map<string, number>();
  const errors: (ShapeError & { source: string })[] = [];
  const count = (obj: unknown): void => {
    const kind = String((obj as { object?: unknown }).object);
    checked.set(kind, (checked.get(kind) ?? 0) + 1);
  };
  const verify = (source: string, value: unknown): void => {
    for (const e of shapes.check(value)) errors.push({ source, ...e });
  };

  const customers = await all('/v1/customers');
  const lists: Record<string, Record<string, unknown>[]> = {
    customers,
    products: await all('/v1/products'),
    prices: await all('/v1/prices'),
    checkout: await all('/v1/checkout/sessions'),
    subscriptions: await all('/v1/subscriptions?status=all'),
    invoices: await all('/v1/invoices'),
    invoice_payments: await all('/v1/invoice_payments'),
    payment_intents: await all('/v1/payment_intents'),
    refunds: await all('/v1/refunds'),
    disputes: await all('/v1/disputes'),
    balance_transactions: await all('/v1/balance_transactions'),
    webhook_endpoints: await all('/v1/webhook_endpoints'),
    events: await all('/v1/events'),
  };
  for (const c of customers) lists[`payment methods of ${c.id as string}`] = await all(`/v1/customers/${c.id as string}/payment_methods`);
  for (const s of lists.checkout ?? []) lists[`line items of ${s.id as string}`] = await all(`/v1/checkout/sessions/${s.id as string}/line_items`);
  for (const pi of lists.payment_intents ?? []) if (pi.latest_charge) extra.push([`charge of ${pi.id as string}`, await get(`/v1/charges/${pi.latest_charge as string}`)]);

  for (const [name, items] of Object.entries(lists)) {
    items.forEach((item, i) => {
      count(item);
      verify(`${name}[${i}]`, item);
      if (item.object === 'event') {
        const data = item.data as { object: unknown };
        count(data.object);
      }
    });
  }
  // Every event ever emitted, as delivered (the list only keeps the last 30 days of a run that
  // moves the clock a year).
  const delivered = receiver.received.map((w) => JSON.parse(w.rawBody) as Record<string, unknown>);
  for (const [i, event] of delivered.entries()) verify(`delivered[${i}]`, event);
  for (const [name, value] of extra) {
    const body = value as Record<string, unknown>;
    // A card error's body carries the intent it left behind.
    const error = body.error as Record<string, unknown> | undefined;
    if (error) {
      for (const field of ['payment_intent', 'setup_intent', 'payment_method']) if (error[field]) verify(`${name}.error.${field}`, error[field]);
      continue;
    }
    count(body);
    verify(name, body);
  }

  expect(errors).toEqual([]);
  // The scenario must have produced every kind the checker knows, or a kind went unchecked.
  const unseen = shapes.objectNames.filter((kind) => !checked.has(kind));
  expect(unseen).toEqual([]);
  expect(delivered.length).toBeGreaterThan(100);
  expect(new Set(delivered.map((e) => e.type)).size).toBeGreaterThan(30);
  expect(delivered.some((e) => (e.data as { previous_attributes?: unknown }).previous_attributes)).toBe(true);
});

test('the sandbox knows exactly the event types the SDK lists, and every type the service subscribes to is one of them', () => {
  const sdk = shapes.enabledEventTypes();
  expect(sdk.length).toBeGreaterThan(200);
  expect([...STRIPE_EVENT_TYPES].sort()).toEqual(sdk);
  expect(WEBHOOK_EVENTS.filter((type) => !sdk.includes(type))).toEqual([]);
});
