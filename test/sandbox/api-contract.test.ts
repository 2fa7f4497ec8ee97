import Stripe from 'stripe';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';
import { againstRealStripe, Harness, sandboxOnly, startHarness, unique } from './support';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

describe('catalog through the official SDK', () => {
  test('creates a product and a recurring price that lists by lookup key, with the product expanded', async () => {
    const product = await h.stripe.products.create({ name: 'Upiik Premium', metadata: { tier: 'premium' } });
    const lookupKey = unique('premium_monthly');
    const price = await h.stripe.prices.create({
      product: product.id,
      currency: 'eur',
      unit_amount: 400,
      recurring: { interval: 'month' },
      lookup_key: lookupKey,
    });
    expect(product).toMatchObject({ object: 'product', livemode: false, active: true, metadata: { tier: 'premium' } });
    expect(product.id).toMatch(/^prod_/);
    expect(price).toMatchObject({ object: 'price', type: 'recurring', currency: 'eur', unit_amount: 400, lookup_key: lookupKey });
    expect(price.id).toMatch(/^price_/);
    expect(price.recurring).toMatchObject({ interval: 'month', interval_count: 1 });

    const listed = await h.stripe.prices.list({ lookup_keys: [lookupKey], expand: ['data.product'] });
    expect(listed.data.map((p) => p.id)).toEqual([price.id]);
    expect((listed.data[0]?.product as Stripe.Product).name).toBe('Upiik Premium');
  });

  test('refuses a second price with the same lookup key unless transfer_lookup_key moves it', async () => {
    const product = await h.stripe.products.create({ name: 'Lookup' });
    const key = unique('lk');
    const first = await h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 100, lookup_key: key });
    await expect(h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 200, lookup_key: key })).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      param: 'lookup_key',
    });
    const second = await h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 200, lookup_key: key, transfer_lookup_key: true });
    expect((await h.stripe.prices.retrieve(first.id)).lookup_key).toBeNull();
    expect((await h.stripe.prices.list({ lookup_keys: [key] })).data.map((p) => p.id)).toEqual([second.id]);
  });

  test('deactivates a price and filters lists by active and product', async () => {
    const product = await h.stripe.products.create({ name: 'Filters' });
    const a = await h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 100 });
    const b = await h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 200 });
    const updated = await h.stripe.prices.update(a.id, { active: false, metadata: { retired: 'yes' } });
    expect(updated).toMatchObject({ active: false, metadata: { retired: 'yes' } });
    const active = await h.stripe.prices.list({ product: product.id, active: true });
    expect(active.data.map((p) => p.id)).toEqual([b.id]);
  });

  test('round-trips customer metadata and removes a key set to the empty string', async () => {
    const email = `${unique('meta')}@example.com`;
    const customer = await h.stripe.customers.create({ email, metadata: { user_id: 'u1', plan: 'free' } });
    expect(customer.id).toMatch(/^cus_/);
    const updated = await h.stripe.customers.update(customer.id, { metadata: { plan: '' , source: 'contract' } });
    expect(updated.metadata).toEqual({ user_id: 'u1', source: 'contract' });
    const found = await h.stripe.customers.list({ email });
    expect(found.data.map((c) => c.id)).toEqual([customer.id]);
  });

  test('deletes a customer and then reports it as deleted', async () => {
    const customer = await h.stripe.customers.create({ email: `${unique('del')}@example.com` });
    const deleted = await h.stripe.customers.del(customer.id);
    expect(deleted).toMatchObject({ id: customer.id, deleted: true });
    const again = await h.stripe.customers.retrieve(customer.id);
    expect(again.deleted).toBe(true);
  });

  test('retrieves the account', async () => {
    const account = await h.stripe.accounts.retrieveCurrent();
    expect(account.id).toMatch(/^acct_/);
    expect(account.object).toBe('account');
  });
});

describe('pagination', () => {
  test('walks newest first with limit, starting_after and ending_before, reporting has_more', async () => {
    const email = `${unique('page')}@example.com`;
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await h.stripe.customers.create({ email, name: `c${i}` })).id);
    const newestFirst = [...created].reverse();

    const page1 = await h.stripe.customers.list({ email, limit: 2 });
    expect(page1.object).toBe('list');
    expect(page1.data.map((c) => c.id)).toEqual(newestFirst.slice(0, 2));
    expect(page1.has_more).toBe(true);

    const page2 = await h.stripe.customers.list({ email, limit: 2, starting_after: page1.data[1]?.id });
    expect(page2.data.map((c) => c.id)).toEqual(newestFirst.slice(2, 4));

    const last = await h.stripe.customers.list({ email, limit: 2, starting_after: page2.data[1]?.id });
    expect(last.data.map((c) => c.id)).toEqual(newestFirst.slice(4));
    expect(last.has_more).toBe(false);

    const back = await h.stripe.customers.list({ email, limit: 2, ending_before: page2.data[0]?.id });
    expect(back.data.map((c) => c.id)).toEqual(newestFirst.slice(0, 2));

    const all: string[] = [];
    for await (const c of h.stripe.customers.list({ email, limit: 2 })) all.push(c.id);
    expect(all).toEqual(newestFirst);
  });

  test('rejects a limit above 100', async () => {
    await expect(h.stripe.customers.list({ limit: 101 })).rejects.toMatchObject({ type: 'StripeInvalidRequestError', param: 'limit' });
  });
});

describe('errors', () => {
  test('rejects an unknown parameter by name', async () => {
    const params = { email: 'x@example.com', favourite_colour: 'blue' } as Stripe.CustomerCreateParams;
    await expect(h.stripe.customers.create(params)).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 400,
      param: 'favourite_colour',
      message: 'Received unknown parameter: favourite_colour',
    });
  });

  test('rejects a missing required parameter', async () => {
    await expect(h.stripe.products.create({} as Stripe.ProductCreateParams)).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 400,
      param: 'name',
    });
  });

  test('answers an unknown id with 404 resource_missing on param id', async () => {
    await expect(h.stripe.customers.retrieve('cus_doesnotexist')).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 404,
      code: 'resource_missing',
      param: 'id',
      message: "No such customer: 'cus_doesnotexist'",
    });
  });

  test('answers 401 when no API key is sent', async () => {
    const res = await fetch(`${h.apiBase}/v1/customers`);
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/API key/);
  });

  test('refuses a live-mode key', async () => {
    const live = createStripeClient({ secretKey: 'sk_live_notarealkey000000000', apiVersion: SDK_API_VERSION, apiBase: againstRealStripe ? undefined : h.apiBase, maxNetworkRetries: 0 });
    const err = (await live.customers.list().catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect([401, 403]).toContain(err.statusCode);
    if (!againstRealStripe) expect(err.message).toMatch(/test-mode key/);
  });

  test('declines pm_card_chargeDeclined with card_declined / generic_decline and a failed intent', async () => {
    const err = (await h.stripe.paymentIntents
      .create({ amount: 1000, currency: 'eur', payment_method: 'pm_card_chargeDeclined', confirm: true, automatic_payment_methods: { enabled: true, allow_redirects: 'never' } })
      .catch((e: unknown) => e)) as Stripe.errors.StripeCardError;
    expect(err).toMatchObject({ type: 'StripeCardError', statusCode: 402, code: 'card_declined', decline_code: 'generic_decline' });
    const pi = await h.stripe.paymentIntents.retrieve(err.payment_intent?.id as string);
    expect(pi.status).toBe('requires_payment_method');
    expect(pi.last_payment_error?.decline_code).toBe('generic_decline');
  });

  test('declines insufficient funds with its decline code', async () => {
    await expect(
      h.stripe.paymentIntents.create({ amount: 1000, currency: 'eur', payment_method: 'pm_card_chargeDeclinedInsufficientFunds', confirm: true, automatic_payment_methods: { enabled: true, allow_redirects: 'never' } }),
    ).rejects.toMatchObject({ code: 'card_declined', decline_code: 'insufficient_funds' });
  });
});

describe('idempotency', () => {
  test('replays the first response for the same key and parameters', async () => {
    const key = unique('idem');
    const email = `${unique('idem')}@example.com`;
    const first = await h.stripe.customers.create({ email }, { idempotencyKey: key });
    const second = await h.stripe.customers.create({ email }, { idempotencyKey: key });
    expect(second.id).toBe(first.id);
    expect(second.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect((await h.stripe.customers.list({ email })).data).toHaveLength(1);
  });

  test('rejects the same key with different parameters as an idempotency_error', async () => {
    const key = unique('idem');
    await h.stripe.customers.create({ email: 'one@example.com' }, { idempotencyKey: key });
    await expect(h.stripe.customers.create({ email: 'two@example.com' }, { idempotencyKey: key })).rejects.toMatchObject({
      type: 'StripeIdempotencyError',
      statusCode: 400,
    });
  });

  sandboxOnly('scopes keys per API key', async () => {
    const key = unique('idem');
    const other = createStripeClient({ secretKey: 'sk_test_another_key', apiVersion: SDK_API_VERSION, apiBase: h.apiBase });
    const a = await h.stripe.customers.create({ email: 'scope@example.com' }, { idempotencyKey: key });
    const b = await other.customers.create({ email: 'scope@example.com' }, { idempotencyKey: key });
    expect(b.id).not.toBe(a.id);
  });
});
