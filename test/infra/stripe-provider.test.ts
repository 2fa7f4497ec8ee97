import type Stripe from 'stripe';
import { useProviderSandbox } from './stripe-provider-sandbox';
import { SDK_API_VERSION } from '../../service/shared/stripe-client';
import { PriceProvider, ProductProvider, PriceInputs } from '../../infra/stripe/catalog-providers';
import { WebhookEndpointProvider, WebhookEndpointInputs, WEBHOOK_ENDPOINT_SECRET_OUTPUTS } from '../../infra/stripe/webhook-endpoint-provider';
import { webhookEndpointOptions } from '../../infra/stripe/resources';
import { registeredUrl } from '../../infra/stripe/webhook-endpoint-rules';
import { WEBHOOK_EVENTS } from '../../service/shared/catalog';

const KEY = 'sk_test_infraProviderSuite';
const env = useProviderSandbox(KEY);
let stripe: Stripe;
beforeAll(() => {
  ({ stripe } = env);
});

let seq = 0;
const unique = (s: string) => `${s}_${Date.now().toString(36)}_${seq++}`;

describe('product and price provider', () => {
  test('creates the product once and re-running with unchanged inputs is a no-op', async () => {
    const provider = new ProductProvider();
    const inputs = { key: unique('premium'), name: 'Upiik Premium', description: 'Upiik Premium subscription' };
    const created = await provider.create(inputs);
    expect(await provider.diff(created.id, created.outs!, inputs)).toMatchObject({ changes: false, replaces: [] });
    // A lost state finds the same product again by its metadata key instead of duplicating it.
    const again = await provider.create(inputs);
    expect(again.id).toBe(created.id);
    const renamed = { ...inputs, name: 'Upiik Premium+' };
    expect(await provider.diff(created.id, created.outs!, renamed)).toMatchObject({ changes: true, replaces: [] });
    await provider.update(created.id, created.outs!, renamed);
    expect((await stripe.products.retrieve(created.id)).name).toBe('Upiik Premium+');
    await provider.delete(created.id);
    expect((await stripe.products.retrieve(created.id)).active).toBe(false);
  });

  test('replaces a price whose amount, currency or interval changes, archiving the old one and moving the lookup key', async () => {
    const product = await new ProductProvider().create({ key: unique('p'), name: 'P', description: 'P' });
    const provider = new PriceProvider();
    const inputs: PriceInputs = { productId: product.id, unitAmount: 400, currency: 'eur', interval: 'month', lookupKey: unique('monthly'), nickname: 'monthly' };
    const old = await provider.create(inputs);
    expect(await provider.diff(old.id, old.outs!, inputs)).toMatchObject({ changes: false, replaces: [] });
    for (const change of [{ unitAmount: 500 }, { currency: 'usd' }, { interval: 'year' as const }]) {
      expect((await provider.diff(old.id, old.outs!, { ...inputs, ...change })).replaces).toEqual([Object.keys(change)[0]]);
    }
    expect(await provider.diff(old.id, old.outs!, { ...inputs, nickname: 'renamed' })).toMatchObject({ changes: true, replaces: [] });

    // Pulumi's replacement order: create the new price, then delete (archive) the old one.
    const next = await provider.create({ ...inputs, unitAmount: 500 });
    await provider.delete(old.id);
    const [oldPrice, newPrice] = await Promise.all([stripe.prices.retrieve(old.id), stripe.prices.retrieve(next.id)]);
    expect(oldPrice).toMatchObject({ active: false, unit_amount: 400, lookup_key: null });
    expect(newPrice).toMatchObject({ active: true, unit_amount: 500, lookup_key: inputs.lookupKey });
  });

  test('rejects a non-integer amount before calling Stripe', async () => {
    const result = await new PriceProvider().check({} as PriceInputs, { productId: 'prod_x', unitAmount: 4.5, currency: 'EUR', interval: 'month', lookupKey: 'k', nickname: 'n' });
    expect(result.failures?.map((f) => f.property)).toEqual(['unitAmount', 'currency']);
  });
});

describe('webhook endpoint provider', () => {
  const base = (): WebhookEndpointInputs => ({
    url: `https://payments.example.test/${unique('hook')}/api/webhooks/stripe`,
    enabledEvents: [...WEBHOOK_EVENTS],
    description: 'Upiik payments (test)',
    apiVersion: SDK_API_VERSION,
  });

  test('creates the endpoint with its signing secret as an output marked secret, and re-running is a no-op', async () => {
    const provider = new WebhookEndpointProvider();
    const inputs = base();
    const created = await provider.create(inputs);
    expect(created.outs?.secret).toMatch(/^whsec_/);
    expect(WEBHOOK_ENDPOINT_SECRET_OUTPUTS).toContain('secret');
    expect(webhookEndpointOptions({ protect: true })).toEqual({ protect: true, additionalSecretOutputs: expect.arrayContaining(['secret']) });
    // Only the secret output carries it: no other field, and the API never returns it again.
    const { secret, ...rest } = created.outs!;
    expect(JSON.stringify(rest)).not.toContain(secret);
    expect((await stripe.webhookEndpoints.retrieve(created.id)).secret).toBeUndefined();
    expect(await provider.diff(created.id, created.outs!, { ...inputs, enabledEvents: [...inputs.enabledEvents].reverse() })).toMatchObject({ changes: false, replaces: [] });
  });

  test('updates url, events and description in place and keeps the secret', async () => {
    const provider = new WebhookEndpointProvider();
    const inputs = base();
    const created = await provider.create(inputs);
    const news = { ...inputs, url: `${inputs.url}?v=2`, enabledEvents: ['invoice.payment_failed'], description: 'changed' };
    expect(await provider.diff(created.id, created.outs!, news)).toMatchObject({ changes: true, replaces: [] });
    const updated = await provider.update(created.id, created.outs!, news);
    expect(updated.outs).toMatchObject({ endpointId: created.id, secret: created.outs!.secret });
    expect(await stripe.webhookEndpoints.retrieve(created.id)).toMatchObject({
      url: registeredUrl(news.url, news.apiVersion), enabled_events: ['invoice.payment_failed'], description: 'changed',
    });
  });

  test('takes a secret rolled in the Dashboard as the adopted secret of the same endpoint, and only then', async () => {
    const provider = new WebhookEndpointProvider();
    const inputs = base();
    const created = await provider.create(inputs);
    const rolled = { ...inputs, adoptEndpointId: created.id, adoptedSecret: 'whsec_rolled_in_the_dashboard' };
    expect(await provider.diff(created.id, created.outs!, rolled)).toMatchObject({ changes: true, replaces: [] });
    const updated = await provider.update(created.id, created.outs!, rolled);
    expect(updated.outs).toMatchObject({ endpointId: created.id, secret: 'whsec_rolled_in_the_dashboard' });
    // Left set afterwards, the two keys change nothing more; another endpoint's id never moves the secret.
    expect(await provider.diff(created.id, updated.outs!, rolled)).toMatchObject({ changes: false });
    const other = { ...inputs, adoptEndpointId: 'we_someone_else', adoptedSecret: 'whsec_other' };
    expect(await provider.diff(created.id, created.outs!, other)).toMatchObject({ changes: false });
    expect((await provider.update(created.id, created.outs!, other)).outs?.secret).toBe(created.outs!.secret);
  });

  test('replaces the endpoint (create first) when the API version changes, because Stripe cannot update it', async () => {
    const provider = new WebhookEndpointProvider();
    const inputs = base();
    const created = await provider.create(inputs);
    // Registered with its version, so the replacement (another version) never shares its URL.
    expect(created.outs?.endpointUrl).toBe(registeredUrl(inputs.url, inputs.apiVersion));
    expect(await provider.diff(created.id, created.outs!, { ...inputs, apiVersion: '2025-01-27.acacia' })).toEqual({
      changes: true, replaces: ['apiVersion'], deleteBeforeReplace: false,
    });
  });

  test('refuses to adopt an existing endpoint on the same URL, saying why, unless told to', async () => {
    const inputs = base();
    const existing = await stripe.webhookEndpoints.create({ url: inputs.url, enabled_events: ['invoice.paid'] });
    const provider = new WebhookEndpointProvider();
    await expect(provider.create(inputs)).rejects.toThrow(new RegExp(`already exists \\(${existing.id}\\)[\\s\\S]*signing secret only when the endpoint is created`));
    const adopted = await provider.create({ ...inputs, adoptEndpointId: existing.id, adoptedSecret: existing.secret });
    expect(adopted).toMatchObject({ id: existing.id, outs: { secret: existing.secret } });
    expect((await stripe.webhookEndpoints.retrieve(existing.id)).enabled_events).toEqual(inputs.enabledEvents);
  });

  test('delete removes the endpoint and tolerates one already gone', async () => {
    const provider = new WebhookEndpointProvider();
    const created = await provider.create(base());
    await provider.delete(created.id);
    await expect(stripe.webhookEndpoints.retrieve(created.id)).rejects.toMatchObject({ statusCode: 404 });
    await expect(provider.delete(created.id)).resolves.toBeUndefined();
  });

  test('reads the key from the stack config handed to configure(), not from its inputs', async () => {
    const provider = new WebhookEndpointProvider();
    delete process.env.STRIPE_SECRET_KEY;
    try {
      await expect(provider.create(base())).rejects.toThrow(/no secret key/);
      await provider.configure({ config: { get: (k: string) => (k === 'stripeSecretKey' ? KEY : undefined), require: () => KEY } });
      await expect(provider.create(base())).resolves.toMatchObject({ id: expect.stringMatching(/^we_/) });
    } finally {
      process.env.STRIPE_SECRET_KEY = KEY;
    }
  });

  test('refuses a live key pointed at a non-Stripe API base', async () => {
    const provider = new WebhookEndpointProvider();
    await provider.configure({ config: { get: () => 'sk_live_notreal', require: () => 'sk_live_notreal' } });
    await expect(provider.create(base())).rejects.toThrow(/live keys only ever go to api.stripe.com/);
  });
});
