import type Stripe from 'stripe';
import { Harness, Receiver, sandboxOnly, seedCatalog, unique, verifiedEvents, useHarnessAndReceiver } from './support';
import { SETTLE_MS, waitUntil } from '../support/wait';

/**
 * Places where code could pass against the sandbox and fail on Stripe: each case states what
 * Stripe does. Cases that need the control API are sandbox-only; the rest run against Stripe test
 * mode too (STRIPE_CONTRACT_SECRET_KEY).
 */
const DAY = 86_400;
let h: Harness;
let receiver: Receiver;

useHarnessAndReceiver((harness, received) => {
  h = harness;
  receiver = received;
});

async function raw(method: string, path: string, body?: string): Promise<{ status: number; body: { error?: Record<string, unknown> } & Record<string, unknown> }> {
  const res = await fetch(`${h.apiBase}${path}`, {
    method,
    headers: { Authorization: `Bearer ${h.secretKey}`, ...(body === undefined ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' }) },
    body,
  });
  return { status: res.status, body: (await res.json()) as { error?: Record<string, unknown> } };
}

describe('unknown ids: 404 only in the URL path, 400 resource_missing naming the parameter otherwise', () => {
  test('an id in the path is a 404 on param id', async () => {
    await expect(h.stripe.subscriptions.retrieve('sub_missing')).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'id' });
    await expect(h.stripe.paymentMethods.attach('pm_missing', { customer: 'cus_missing' })).rejects.toMatchObject({ statusCode: 400 });
  });

  test('every parameter that names another object answers 400 resource_missing with that param', async () => {
    const { product, price } = await seedCatalog(h.stripe);
    const customer = await h.stripe.customers.create({ email: `${unique('ids')}@example.com` });
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], payment_behavior: 'default_incomplete' }).catch(() => undefined);
    const cases: [string, () => Promise<unknown>, string][] = [
      ['customers.create payment_method', () => h.stripe.customers.create({ payment_method: 'pm_missing' }), 'payment_method'],
      ['customers.update default pm', () => h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: 'pm_missing' } }), 'invoice_settings[default_payment_method]'],
      ['prices.create product', () => h.stripe.prices.create({ product: 'prod_missing', currency: 'eur', unit_amount: 100 }), 'product'],
      ['products.update default_price', () => h.stripe.products.update(product.id, { default_price: 'price_missing' }), 'default_price'],
      ['checkout customer', () => h.stripe.checkout.sessions.create({ mode: 'subscription', customer: 'cus_missing', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://example.com/ok' }), 'customer'],
      ['checkout line item price', () => h.stripe.checkout.sessions.create({ mode: 'subscription', line_items: [{ price: 'price_missing', quantity: 1 }], success_url: 'https://example.com/ok' }), 'line_items[0][price]'],
      ['subscriptions.create customer', () => h.stripe.subscriptions.create({ customer: 'cus_missing', items: [{ price: price.id }] }), 'customer'],
      ['subscriptions.create price', () => h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_missing' }] }), 'items[0][price]'],
      ['subscriptions.create default pm', () => h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], default_payment_method: 'pm_missing' }), 'default_payment_method'],
      ['paymentIntents.create customer', () => h.stripe.paymentIntents.create({ amount: 500, currency: 'eur', customer: 'cus_missing' }), 'customer'],
      ['paymentIntents.create payment_method', () => h.stripe.paymentIntents.create({ amount: 500, currency: 'eur', payment_method: 'pm_missing' }), 'payment_method'],
      ['setupIntents.create customer', () => h.stripe.setupIntents.create({ customer: 'cus_missing' }), 'customer'],
      ['setupIntents.create payment_method', () => h.stripe.setupIntents.create({ payment_method: 'pm_missing' }), 'payment_method'],
      ['billing portal customer', () => h.stripe.billingPortal.sessions.create({ customer: 'cus_missing', return_url: 'https://example.com' }), 'customer'],
      ['paymentMethods.attach customer', () => h.stripe.paymentMethods.attach('pm_card_visa', { customer: 'cus_missing' }), 'customer'],
      ['list starting_after', () => h.stripe.customers.list({ starting_after: 'cus_missing' }), 'starting_after'],
      ['list ending_before', () => h.stripe.customers.list({ ending_before: 'cus_missing' }), 'ending_before'],
    ];
    if (sub) cases.push(['subscriptions.update default pm', () => h.stripe.subscriptions.update(sub.id, { default_payment_method: 'pm_missing' }), 'default_payment_method']);
    for (const [name, call, param] of cases) {
      const err = (await call().then(() => undefined, (e: unknown) => e)) as Stripe.errors.StripeError | undefined;
      expect({ name, status: err?.statusCode, code: err?.code, param: err?.param }).toEqual({ name, status: 400, code: 'resource_missing', param });
    }
  });
});

describe('form decoding (qs with limits that refuse instead of reinterpreting)', () => {
  test('a parameter named like an Object.prototype member is an unknown parameter, not silently accepted', async () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty']) {
      const res = await raw('POST', '/v1/customers', `${name}=x`);
      expect({ name, status: res.status, param: res.body.error?.param }).toEqual({ name, status: 400, param: name });
    }
  });

  test('nesting past the depth limit, an index past the array limit and too many parameters are 400s, never 5xx', async () => {
    const deep = await raw('POST', '/v1/customers', `metadata${'[a]'.repeat(12)}=x`);
    expect(deep.status).toBe(400);
    const wide = await raw('POST', '/v1/customers', 'preferred_locales[5000]=en');
    expect(wide.status).toBe(400);
    const many = await raw('POST', '/v1/customers', Array.from({ length: 10_001 }, (_, i) => `metadata[k${i}]=v`).join('&'));
    expect(many.status).toBe(400);
  });

  test('integers past 2^53 are refused rather than rounded', async () => {
    const res = await raw('POST', '/v1/payment_intents', 'amount=9007199254740993&currency=eur');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: 'amount', code: 'parameter_invalid_integer' });
  });

  test('amounts above Stripe\'s eight-digit cap are amount_too_large', async () => {
    await expect(h.stripe.paymentIntents.create({ amount: 100_000_000, currency: 'eur' })).rejects.toMatchObject({ statusCode: 400, code: 'amount_too_large', param: 'amount' });
    await expect(h.stripe.paymentIntents.create({ amount: 99_999_999, currency: 'eur' })).resolves.toMatchObject({ amount: 99_999_999 });
  });

  test('metadata keys over 40 characters and values over 500 are refused as on Stripe', async () => {
    await expect(h.stripe.customers.create({ metadata: { ['k'.repeat(41)]: 'v' } })).rejects.toMatchObject({ statusCode: 400 });
    await expect(h.stripe.customers.create({ metadata: { k: 'v'.repeat(501) } })).rejects.toMatchObject({ statusCode: 400 });
    await expect(h.stripe.customers.create({ metadata: { ['k'.repeat(40)]: 'v'.repeat(500) } })).resolves.toMatchObject({ object: 'customer' });
  });
});

describe('checkout completion', () => {
  sandboxOnly('sets the subscription\'s default payment method, not the customer\'s, and renewals charge it', async () => {
    const we = await h.stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
    const { price } = await seedCatalog(h.stripe, 'month');
    const session = await h.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: `${unique('co')}@example.com`,
      line_items: [{ price: price.id, quantity: 1 }],
      success_url: 'https://app.example/ok',
    });
    await h.control.completeCheckoutSession(session.id, 'pm_card_visa');
    const done = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ['subscription', 'customer'] });
    const sub = done.subscription as Stripe.Subscription;
    const customer = done.customer as Stripe.Customer;
    expect(sub.default_payment_method).toMatch(/^pm_/);
    expect(customer.invoice_settings.default_payment_method).toBeNull();

    await h.control.advanceClock(32 * DAY);
    const renewed = await h.stripe.invoices.list({ subscription: sub.id, limit: 1, expand: ['data.payments'] });
    const invoice = renewed.data[0] as Stripe.Invoice;
    expect(invoice).toMatchObject({ billing_reason: 'subscription_cycle', status: 'paid' });
    const pi = await h.stripe.paymentIntents.retrieve(invoice.payments?.data[0]?.payment.payment_intent as string);
    expect(pi.payment_method).toBe(sub.default_payment_method);

    await h.control.waitForDeliveries(SETTLE_MS);
    const types = verifiedEvents(h.stripe, receiver, we.secret as string).map((e) => e.type);
    expect(types).toContain('checkout.session.completed');
    expect(types).not.toContain('customer.updated');
  });
});

describe('events API', () => {
  sandboxOnly('lists and retrieves only the last 30 days of events', async () => {
    const old = await h.stripe.customers.create({ email: `${unique('old')}@example.com` });
    const oldEvent = (await h.stripe.events.list({ type: 'customer.created' })).data[0] as Stripe.Event;
    expect((oldEvent.data.object as Stripe.Customer).id).toBe(old.id);
    await h.control.advanceClock(29 * DAY);
    expect((await h.stripe.events.list({ type: 'customer.created' })).data.map((e) => e.id)).toEqual([oldEvent.id]);
    await h.control.advanceClock(2 * DAY);
    const fresh = await h.stripe.customers.create({ email: `${unique('new')}@example.com` });
    const listed = await h.stripe.events.list({ type: 'customer.created', limit: 100 });
    expect(listed.data.map((e) => (e.data.object as Stripe.Customer).id)).toEqual([fresh.id]);
    await expect(h.stripe.events.retrieve(oldEvent.id)).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  sandboxOnly('delivery_success=false lists events some endpoint has not acknowledged; true the others', async () => {
    const good = await h.stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: ['customer.created'] });
    const failing = await h.stripe.webhookEndpoints.create({ url: `${receiver.url}?second`, enabled_events: ['customer.updated'] });
    // Every copy is sent twice: the first success per endpoint is what counts, once.
    h.control.setFaults({ duplicate: 1, failEndpoint: { id: failing.id, attempts: 'always' } });
    const customer = await h.stripe.customers.create({ email: `${unique('ds')}@example.com` });
    await h.stripe.customers.update(customer.id, { name: 'Changed' });
    await h.control.waitForDeliveries(SETTLE_MS);

    const failed = await h.stripe.events.list({ delivery_success: false });
    expect(failed.data.map((e) => e.type)).toEqual(['customer.updated']);
    expect(failed.data[0]?.pending_webhooks).toBe(1);
    const delivered = await h.stripe.events.list({ delivery_success: true });
    expect(delivered.data.map((e) => e.type)).toEqual(['customer.created']);
    expect(delivered.data[0]?.pending_webhooks).toBe(0);
    expect(good.id).toMatch(/^we_/);
  });

  sandboxOnly('an event awaiting retries counts as not delivered until an attempt succeeds', async () => {
    await h.stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: ['customer.created'] });
    h.control.pauseDeliveries();
    await h.stripe.customers.create({ email: `${unique('pending')}@example.com` });
    expect((await h.stripe.events.list({ delivery_success: false })).data.map((e) => e.type)).toEqual(['customer.created']);
    h.control.resumeDeliveries();
    await waitUntil(async () => (await h.stripe.events.list({ delivery_success: true })).data.length === 1, { what: 'the event to count as delivered' });
    expect((await h.stripe.events.list({ delivery_success: false })).data).toEqual([]);
  });
});

describe('payment method types and checkout ui_mode', () => {
  test('PaymentIntent and SetupIntent create accept payment_method_types, and this version\'s allowed_payment_method_types', async () => {
    const pi = await h.stripe.paymentIntents.create({ amount: 500, currency: 'eur', payment_method_types: ['card'], payment_method: 'pm_card_visa', confirm: true } as Stripe.PaymentIntentCreateParams);
    expect(pi).toMatchObject({ status: 'succeeded', payment_method_types: ['card'] });
    const pi2 = await h.stripe.paymentIntents.create({ amount: 500, currency: 'eur', allowed_payment_method_types: ['card'] });
    expect(pi2.payment_method_types).toEqual(['card']);
    const si = await h.stripe.setupIntents.create({ payment_method_types: ['card'] } as Stripe.SetupIntentCreateParams);
    expect(si.payment_method_types).toEqual(['card']);
  });

  test('payment_method_types together with automatic_payment_methods is refused, as on Stripe', async () => {
    await expect(
      h.stripe.paymentIntents.create({ amount: 500, currency: 'eur', payment_method_types: ['card'], automatic_payment_methods: { enabled: true } } as Stripe.PaymentIntentCreateParams),
    ).rejects.toMatchObject({ statusCode: 400 });
  });

  sandboxOnly('a card cannot confirm an intent that only allows other types', async () => {
    await expect(
      h.stripe.paymentIntents.create({ amount: 500, currency: 'eur', payment_method_types: ['sepa_debit'], payment_method: 'pm_card_visa', confirm: true } as Stripe.PaymentIntentCreateParams),
    ).rejects.toMatchObject({ statusCode: 400, param: 'payment_method' });
  });

  test('checkout sessions default to this API version\'s ui_mode hosted_page and refuse values it does not have', async () => {
    const { price } = await seedCatalog(h.stripe);
    const session = await h.stripe.checkout.sessions.create({ mode: 'subscription', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://example.com/ok' });
    expect(session.ui_mode).toBe('hosted_page');
    expect(session.url).toMatch(/^http/);
    await expect(
      h.stripe.checkout.sessions.create({ mode: 'subscription', ui_mode: 'hosted' as Stripe.Checkout.SessionCreateParams.UiMode, line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://example.com/ok' }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'ui_mode' });
    const embedded = await h.stripe.checkout.sessions.create({ mode: 'subscription', ui_mode: 'embedded_page', line_items: [{ price: price.id, quantity: 1 }], return_url: 'https://example.com/back' });
    expect(embedded).toMatchObject({ ui_mode: 'embedded_page', url: null });
    expect(embedded.client_secret).toEqual(expect.any(String));
  });
});

describe('expand[]', () => {
  sandboxOnly('expands every id field that names an object: balance_transaction, latest_charge, customer, payment_method, invoice', async () => {
    const customer = await h.stripe.customers.create({ email: `${unique('exp')}@example.com` });
    const pi = await h.stripe.paymentIntents.create({
      amount: 1000, currency: 'eur', customer: customer.id, payment_method: 'pm_card_visa', confirm: true,
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      expand: ['latest_charge.balance_transaction', 'customer', 'payment_method'],
    });
    const charge = pi.latest_charge as Stripe.Charge;
    expect(charge.object).toBe('charge');
    const txn = charge.balance_transaction as Stripe.BalanceTransaction;
    expect(txn).toMatchObject({ object: 'balance_transaction', amount: 1000, currency: 'eur', source: charge.id, type: 'charge' });
    expect(txn.net).toBe(txn.amount - txn.fee);
    expect((pi.customer as Stripe.Customer).id).toBe(customer.id);
    expect((pi.payment_method as Stripe.PaymentMethod).object).toBe('payment_method');
    expect((await h.stripe.balanceTransactions.retrieve(txn.id)).id).toBe(txn.id);

    await h.stripe.customers.del(customer.id);
    const again = await h.stripe.paymentIntents.retrieve(pi.id, { expand: ['customer'] });
    expect(again.customer).toEqual({ id: customer.id, object: 'customer', deleted: true });
  });

  sandboxOnly('expands invoice, subscription.default_payment_method and nested latest_invoice on a completed checkout', async () => {
    const { price } = await seedCatalog(h.stripe);
    const session = await h.stripe.checkout.sessions.create({ mode: 'subscription', customer_email: `${unique('x')}@example.com`, line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://example.com/ok' });
    await h.control.completeCheckoutSession(session.id, 'pm_card_visa');
    const done = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ['invoice', 'subscription.default_payment_method', 'subscription.latest_invoice'] });
    expect((done.invoice as Stripe.Invoice).object).toBe('invoice');
    const sub = done.subscription as Stripe.Subscription;
    expect((sub.default_payment_method as Stripe.PaymentMethod).object).toBe('payment_method');
    expect((sub.latest_invoice as Stripe.Invoice).id).toBe((done.invoice as Stripe.Invoice).id);
  });

  test('refuses fields that are not ids', async () => {
    const customer = await h.stripe.customers.create({ email: `${unique('noexp')}@example.com` });
    await expect(h.stripe.customers.retrieve(customer.id, { expand: ['email'] })).rejects.toMatchObject({ statusCode: 400, param: 'expand' });
    await expect(h.stripe.customers.retrieve(customer.id, { expand: ['id'] })).rejects.toMatchObject({ statusCode: 400, param: 'expand' });
  });
});

describe('search', () => {
  sandboxOnly('customers.search matches metadata, email (exact and substring) and combines clauses', async () => {
    const tag = unique('s').replace(/-/g, '_');
    const a = await h.stripe.customers.create({ email: `alice_${tag}@example.com`, name: 'Alice', metadata: { userId: `u_${tag}_1` } });
    const b = await h.stripe.customers.create({ email: `bob_${tag}@example.com`, name: 'Bob', metadata: { userId: `u_${tag}_2` } });
    await h.stripe.customers.create({ email: `carol_${tag}@example.com`, metadata: { userId: `u_${tag}_3` } });

    const byUser = await h.stripe.customers.search({ query: `metadata['userId']:'u_${tag}_1'` });
    expect(byUser).toMatchObject({ object: 'search_result', has_more: false, next_page: null, url: '/v1/customers/search' });
    expect(byUser.data.map((c) => c.id)).toEqual([a.id]);
    expect((await h.stripe.customers.search({ query: `email:"BOB_${tag}@example.com"` })).data.map((c) => c.id)).toEqual([b.id]);
    expect((await h.stripe.customers.search({ query: `email~"${tag}" -name:'Alice'` })).data).toHaveLength(2);
    expect((await h.stripe.customers.search({ query: `name:'Alice' OR name:'Bob'` })).data.map((c) => c.id)).toEqual([b.id, a.id]);

    const pages: string[] = [];
    for await (const c of h.stripe.customers.search({ query: `email~'${tag}'`, limit: 1 })) pages.push(c.id);
    expect(pages).toHaveLength(3);
  });

  sandboxOnly('subscriptions.search matches status and metadata', async () => {
    const { price } = await seedCatalog(h.stripe);
    const customer = await h.stripe.customers.create({ payment_method: 'pm_card_visa', invoice_settings: { default_payment_method: 'pm_card_visa' } });
    const pm = (await h.stripe.paymentMethods.list({ customer: customer.id })).data[0] as Stripe.PaymentMethod;
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], default_payment_method: pm.id, metadata: { userId: 'u_77' } });
    const found = await h.stripe.subscriptions.search({ query: `status:'active' AND metadata['userId']:'u_77'` });
    expect(found.data.map((s) => s.id)).toEqual([sub.id]);
    expect((await h.stripe.subscriptions.search({ query: `status:'canceled'` })).data).toEqual([]);
  });

  sandboxOnly('with an API latency every /v1/ request waits that long, and reset turns it off', async () => {
    h.control.setApiLatency(400);
    try {
      const slow = performance.now();
      await h.stripe.customers.list({ limit: 1 });
      expect(performance.now() - slow).toBeGreaterThanOrEqual(390);
      // The control routes are not delayed (the bound is far below the latency, far above a slow machine).
      h.control.setApiLatency(20_000);
      const control = performance.now();
      await fetch(`${h.apiBase}/_sandbox/clock`);
      expect(performance.now() - control).toBeLessThan(10_000);
    } finally {
      h.control.setApiLatency(0);
    }
    expect(() => h.control.setApiLatency(-5)).toThrow(/non-negative/);
    const res = await fetch(`${h.apiBase}/_sandbox/api-latency`, { method: 'POST', body: JSON.stringify({ ms: 'slow' }) });
    expect(res.status).toBe(400);
    const set = await fetch(`${h.apiBase}/_sandbox/api-latency`, { method: 'POST', body: JSON.stringify({ ms: 0 }) });
    expect(await set.json()).toEqual({ ms: 0 });
  });

  sandboxOnly('with a search index lag, new objects are missing from search (not from list or retrieve) until the lag has passed', async () => {
    const tag = unique('lag');
    const older = await h.stripe.customers.create({ email: `${tag}-old@example.com`, metadata: { userId: `${tag}_old` } });
    await h.control.advanceClock(61);
    h.control.setSearchIndexLag(60);
    try {
      const fresh = await h.stripe.customers.create({ email: `${tag}@example.com`, metadata: { userId: tag } });
      const query = `metadata['userId']:'${tag}' OR metadata['userId']:'${tag}_old'`;
      expect((await h.stripe.customers.search({ query })).data.map((c) => c.id)).toEqual([older.id]);
      expect((await h.stripe.customers.list({ email: `${tag}@example.com` })).data.map((c) => c.id)).toEqual([fresh.id]);
      await expect(h.stripe.customers.retrieve(fresh.id)).resolves.toMatchObject({ id: fresh.id });

      await h.control.advanceClock(61);
      expect((await h.stripe.customers.search({ query })).data.map((c) => c.id)).toEqual([fresh.id, older.id]);
    } finally {
      h.control.setSearchIndexLag(0);
    }
    expect(() => h.control.setSearchIndexLag(-1)).toThrow(/non-negative/);
    const res = await fetch(`${h.apiBase}/_sandbox/search-index-lag`, { method: 'POST', body: JSON.stringify({ seconds: 'soon' }) });
    expect(res.status).toBe(400);
  });

  test('refuses queries Stripe would refuse instead of matching everything', async () => {
    for (const query of ['', 'nickname:"x"', "email:'a' AND name:'b' OR phone:'c'", 'email:unquoted', "email~'ab'", "created:'x'"]) {
      const err = (await h.stripe.customers.search({ query }).then(() => undefined, (e: unknown) => e)) as Stripe.errors.StripeError | undefined;
      expect({ query, status: err?.statusCode }).toEqual({ query, status: 400 });
    }
  });
});

describe('limits Stripe enforces that a sandbox run would otherwise hide', () => {
  test('a webhook endpoint naming an event type Stripe does not have is refused, naming the entry', async () => {
    await expect(h.stripe.webhookEndpoints.create({ url: 'https://example.com/hook', enabled_events: ['customer.created', 'invoice.payed' as Stripe.WebhookEndpointCreateParams.EnabledEvent] }))
      .rejects.toMatchObject({ statusCode: 400, param: 'enabled_events[1]' });
    const ok = await h.stripe.webhookEndpoints.create({ url: 'https://example.com/hook', enabled_events: ['charge.dispute.created', 'refund.updated'] });
    await expect(h.stripe.webhookEndpoints.update(ok.id, { enabled_events: ['customer.subscription.*' as Stripe.WebhookEndpointUpdateParams.EnabledEvent] })).rejects.toMatchObject({ statusCode: 400 });
    await h.stripe.webhookEndpoints.del(ok.id);
  });

  test('an Idempotency-Key longer than 255 characters is refused; 255 is fine', async () => {
    await expect(h.stripe.customers.create({}, { idempotencyKey: 'k'.repeat(256) })).rejects.toMatchObject({ statusCode: 400 });
    await expect(h.stripe.customers.create({}, { idempotencyKey: `${unique('k')}`.padEnd(255, 'k') })).resolves.toMatchObject({ object: 'customer' });
  });

  test('checkout refuses redirect URLs Stripe could not follow, customer_creation in subscription mode and over-long client_reference_id', async () => {
    const { price } = await seedCatalog(h.stripe);
    const base = { mode: 'subscription' as const, line_items: [{ price: price.id, quantity: 1 }] };
    await expect(h.stripe.checkout.sessions.create({ ...base, success_url: '/relative/ok' })).rejects.toMatchObject({ statusCode: 400, code: 'url_invalid', param: 'success_url' });
    await expect(h.stripe.checkout.sessions.create({ ...base, success_url: 'https://example.com/ok', cancel_url: 'javascript:alert(1)' })).rejects.toMatchObject({ statusCode: 400, param: 'cancel_url' });
    await expect(h.stripe.checkout.sessions.create({ ...base, success_url: 'https://example.com/ok', customer_creation: 'always' })).rejects.toMatchObject({ statusCode: 400, param: 'customer_creation' });
    await expect(h.stripe.checkout.sessions.create({ ...base, success_url: 'https://example.com/ok', client_reference_id: 'x'.repeat(201) })).rejects.toMatchObject({ statusCode: 400, param: 'client_reference_id' });
    await expect(h.stripe.checkout.sessions.create({ ...base, success_url: 'https://example.com/ok?session_id={CHECKOUT_SESSION_ID}' })).resolves.toMatchObject({ status: 'open' });
  });

  test('checkout line items need an explicit quantity of at least 1, as Stripe requires', async () => {
    const { price } = await seedCatalog(h.stripe);
    await expect(h.stripe.checkout.sessions.create({ mode: 'subscription', line_items: [{ price: price.id }], success_url: 'https://example.com/ok' }))
      .rejects.toMatchObject({ statusCode: 400, param: 'line_items[0]' });
    await expect(h.stripe.checkout.sessions.create({ mode: 'subscription', line_items: [{ price: price.id, quantity: 0 }], success_url: 'https://example.com/ok' }))
      .rejects.toMatchObject({ statusCode: 400, param: 'line_items[0][quantity]' });
  });

  test('currencies must be ISO 4217 codes; any case is answered in lowercase', async () => {
    await expect(h.stripe.paymentIntents.create({ amount: 500, currency: 'euro' })).rejects.toMatchObject({ statusCode: 400, param: 'currency' });
    const product = await h.stripe.products.create({ name: 'Currency' });
    await expect(h.stripe.prices.create({ product: product.id, currency: 'eu', unit_amount: 100 })).rejects.toMatchObject({ statusCode: 400, param: 'currency' });
    await expect(h.stripe.prices.create({ product: product.id, currency: 'EUR', unit_amount: 100 })).resolves.toMatchObject({ currency: 'eur' });
  });

  test('enum parameters refuse values Stripe does not have (the SDK types them with an OtherString escape, so typos compile)', async () => {
    const status = 'cancelled' as Stripe.SubscriptionListParams.Status;
    await expect(h.stripe.subscriptions.list({ status })).rejects.toMatchObject({ statusCode: 400, param: 'status' });
    await expect(h.stripe.invoices.list({ status: 'unpaid' as Stripe.InvoiceListParams.Status })).rejects.toMatchObject({ statusCode: 400, param: 'status' });
    await expect(h.stripe.paymentIntents.create({ amount: 500, currency: 'eur', capture_method: 'later' as Stripe.PaymentIntentCreateParams.CaptureMethod }))
      .rejects.toMatchObject({ statusCode: 400, param: 'capture_method' });
    const product = await h.stripe.products.create({ name: 'Enums' });
    await expect(h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 100, recurring: { interval: 'fortnight' as Stripe.PriceCreateParams.Recurring.Interval } }))
      .rejects.toMatchObject({ statusCode: 400, param: 'recurring[interval]' });
    await expect(h.stripe.subscriptions.list({ status: 'all' })).resolves.toMatchObject({ object: 'list' });
  });

  test('an email that is not an address is email_invalid on customers and checkout', async () => {
    await expect(h.stripe.customers.create({ email: 'bob' })).rejects.toMatchObject({ statusCode: 400, code: 'email_invalid', param: 'email' });
    const customer = await h.stripe.customers.create({ email: `${unique('mail')}@example.com` });
    await expect(h.stripe.customers.update(customer.id, { email: 'bob @example.com' })).rejects.toMatchObject({ statusCode: 400, code: 'email_invalid' });
    await expect(h.stripe.customers.update(customer.id, { email: '' })).resolves.toMatchObject({ email: null });
    const { price } = await seedCatalog(h.stripe);
    await expect(h.stripe.checkout.sessions.create({ mode: 'subscription', customer_email: 'nobody', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://example.com/ok' }))
      .rejects.toMatchObject({ statusCode: 400, code: 'email_invalid', param: 'customer_email' });
  });

  test('the billing portal refuses a return_url that is not an absolute http(s) URL', async () => {
    const customer = await h.stripe.customers.create({});
    await expect(h.stripe.billingPortal.sessions.create({ customer: customer.id, return_url: 'app/account' })).rejects.toMatchObject({ statusCode: 400, param: 'return_url' });
  });
});
