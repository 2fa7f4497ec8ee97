import type Stripe from 'stripe';
import type { RunningSandbox } from '../../sandbox';
import { useProviderSandbox } from './stripe-provider-sandbox';
import { PriceInputs, PriceOutputs, PriceProvider, ProductInputs, ProductOutputs, ProductProvider } from '../../infra/stripe/catalog-providers';

/**
 * Product and price providers against the sandbox as `pulumi refresh` + `pulumi up` drive them:
 * read reports what Stripe has, diff proposes the repair, update applies it.
 */
const KEY = 'sk_test_infraCatalogDriftSuite';
const env = useProviderSandbox(KEY);
let sandbox: RunningSandbox;
let stripe: Stripe;
beforeAll(() => {
  ({ sandbox, stripe } = env);
});
beforeEach(() => sandbox.control.reset());

const products = new ProductProvider();
const prices = new PriceProvider();
const PRODUCT: ProductInputs = { key: 'premium', name: 'Upiik Premium', description: 'Upiik Premium subscription' };

async function productAndPrice() {
  const product = await products.create(PRODUCT);
  const inputs: PriceInputs = { productId: product.id, unitAmount: 400, currency: 'eur', interval: 'month', lookupKey: 'premium_monthly', nickname: 'Upiik Premium (monthly)' };
  const price = await prices.create(inputs);
  return { product, price, inputs };
}

describe('product', () => {
  test('archived in Stripe: refresh reads it inactive, the update reactivates it, then nothing to do', async () => {
    const created = await products.create(PRODUCT);
    expect(created.outs).toMatchObject({ active: true });
    await stripe.products.update(created.id, { active: false });

    const refreshed = await products.read(created.id, created.outs!);
    expect(refreshed).toMatchObject({ id: created.id, props: { active: false }, inputs: PRODUCT });
    expect(await products.diff(created.id, refreshed.props as ProductOutputs, PRODUCT)).toEqual({ changes: true, replaces: [] });
    const applied = await products.update(created.id, refreshed.props as ProductOutputs, PRODUCT);
    expect(applied.outs).toMatchObject({ active: true });
    expect((await stripe.products.retrieve(created.id)).active).toBe(true);
    expect((await products.diff(created.id, (await products.read(created.id, applied.outs!)).props as ProductOutputs, PRODUCT)).changes).toBe(false);
  });

  test('renamed in the Dashboard: refresh reads the new name and the update sets the declared one back', async () => {
    const created = await products.create(PRODUCT);
    await stripe.products.update(created.id, { name: 'Renamed by hand', description: 'edited' });
    const refreshed = await products.read(created.id, created.outs!);
    expect(refreshed.inputs).toEqual({ key: PRODUCT.key, name: 'Renamed by hand', description: 'edited' });
    expect((await products.diff(created.id, refreshed.props as ProductOutputs, PRODUCT)).changes).toBe(true);
    await products.update(created.id, refreshed.props as ProductOutputs, PRODUCT);
    expect(await stripe.products.retrieve(created.id)).toMatchObject({ name: PRODUCT.name, description: PRODUCT.description });
  });

  test('deleted in Stripe: refresh reads it as gone and the next create makes a new one', async () => {
    const created = await products.create(PRODUCT);
    await stripe.products.del(created.id);
    expect((await products.read(created.id, created.outs!)).id).toBeUndefined();
    const recreated = await products.create(PRODUCT);
    expect(recreated.id).not.toBe(created.id);
    expect((await stripe.products.retrieve(recreated.id)).metadata).toMatchObject({ upiik_key: PRODUCT.key });
  });

  test('a product with prices cannot be deleted in Stripe (only archived), so archiving is the drift ours can show', async () => {
    const { product } = await productAndPrice();
    await expect(stripe.products.del(product.id)).rejects.toMatchObject({ statusCode: 400 });
    expect((await products.read(product.id, product.outs!)).id).toBe(product.id);
  });

  test('a lost state finds the archived product by its key and reactivates it instead of duplicating it', async () => {
    const created = await products.create(PRODUCT);
    await stripe.products.update(created.id, { active: false });
    const again = await products.create(PRODUCT);
    expect(again).toMatchObject({ id: created.id, outs: { active: true } });
    expect((await stripe.products.list({ limit: 100 })).data).toHaveLength(1);
  });
});

describe('price', () => {
  test('archived in Stripe: refresh reads it inactive and the update reactivates the same price (same id, no replacement)', async () => {
    const { price, inputs } = await productAndPrice();
    await stripe.prices.update(price.id, { active: false });

    const refreshed = await prices.read(price.id, price.outs!);
    expect(refreshed).toMatchObject({ id: price.id, props: { active: false, priceId: price.id }, inputs });
    expect(await prices.diff(price.id, refreshed.props as PriceOutputs, inputs)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    const applied = await prices.update(price.id, refreshed.props as PriceOutputs, inputs);
    expect(applied.outs).toMatchObject({ active: true, priceId: price.id });
    expect(await stripe.prices.retrieve(price.id)).toMatchObject({ active: true, lookup_key: inputs.lookupKey, unit_amount: 400 });
    expect((await prices.diff(price.id, (await prices.read(price.id, applied.outs!)).props as PriceOutputs, inputs)).changes).toBe(false);
  });

  test('its lookup key moved to another price by hand: refresh sees it and the update takes it back', async () => {
    const { product, price, inputs } = await productAndPrice();
    const stray = await stripe.prices.create({ product: product.id, unit_amount: 999, currency: 'eur', recurring: { interval: 'month' }, lookup_key: inputs.lookupKey, transfer_lookup_key: true });
    const refreshed = await prices.read(price.id, price.outs!);
    expect(refreshed.inputs).toMatchObject({ lookupKey: '' });
    expect((await prices.diff(price.id, refreshed.props as PriceOutputs, inputs)).changes).toBe(true);
    await prices.update(price.id, refreshed.props as PriceOutputs, inputs);
    const { data } = await stripe.prices.list({ lookup_keys: [inputs.lookupKey] });
    expect(data.map((p) => p.id)).toEqual([price.id]);
    expect((await stripe.prices.retrieve(stray.id)).lookup_key).toBeNull();
  });

  test('refresh reads the immutable terms from Stripe, so a price that differs from the program is replaced, not updated', async () => {
    const { price, inputs } = await productAndPrice();
    const refreshed = await prices.read(price.id, price.outs!);
    expect(refreshed.props).toMatchObject({ unitAmount: 400, currency: 'eur', interval: 'month', productId: inputs.productId });
    expect((await prices.diff(price.id, refreshed.props as PriceOutputs, { ...inputs, unitAmount: 500 })).replaces).toEqual(['unitAmount']);
  });

  test('an id Stripe does not know reads as gone', async () => {
    expect((await prices.read('price_doesNotExist', undefined)).id).toBeUndefined();
    expect((await products.read('prod_doesNotExist', undefined)).id).toBeUndefined();
  });
});
