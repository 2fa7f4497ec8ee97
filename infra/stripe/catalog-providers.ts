import type * as pulumi from '@pulumi/pulumi';
import { connectStripe } from './connect';

/**
 * Dynamic providers for the Stripe product and its prices. Product: found again by
 * `metadata.upiik_key`, updated in place, archived on delete. Price: immutable in Stripe, so a
 * changed amount, currency or interval replaces it (Pulumi creates the new price first, moving the
 * lookup key to it, then deletes the old one, which here means archive: prices cannot be deleted).
 */
export interface ProductInputs {
  key: string;
  name: string;
  description: string;
}
export interface ProductOutputs extends ProductInputs {
  productId: string;
}

export class ProductProvider implements pulumi.dynamic.ResourceProvider<ProductInputs, ProductOutputs> {
  private secretKey?: string;

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.secretKey = req.config.get('stripeSecretKey');
  }

  async diff(_id: string, olds: ProductOutputs, news: ProductInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = olds.key === news.key ? [] : ['key'];
    const changes = replaces.length > 0 || olds.name !== news.name || olds.description !== news.description;
    return { changes, replaces };
  }

  async create(inputs: ProductInputs): Promise<pulumi.dynamic.CreateResult<ProductOutputs>> {
    const stripe = connectStripe(this.secretKey);
    // Adopting our own product (same metadata key) is safe and keeps a lost state from duplicating it.
    let existing;
    for await (const product of stripe.products.list({ active: true, limit: 100 })) {
      if (product.metadata?.upiik_key === inputs.key) {
        existing = product;
        break;
      }
    }
    const product = existing
      ? await stripe.products.update(existing.id, { name: inputs.name, description: inputs.description })
      : await stripe.products.create({ name: inputs.name, description: inputs.description, metadata: { upiik_key: inputs.key, managed_by: 'pulumi' } });
    return { id: product.id, outs: { ...inputs, productId: product.id } };
  }

  async update(id: string, _olds: ProductOutputs, news: ProductInputs): Promise<pulumi.dynamic.UpdateResult<ProductOutputs>> {
    await connectStripe(this.secretKey).products.update(id, { name: news.name, description: news.description });
    return { outs: { ...news, productId: id } };
  }

  async delete(id: string): Promise<void> {
    // Products with prices cannot be deleted; archiving hides them from new checkouts.
    await connectStripe(this.secretKey).products.update(id, { active: false });
  }
}

export interface PriceInputs {
  productId: string;
  unitAmount: number;
  currency: string;
  interval: 'day' | 'week' | 'month' | 'year';
  lookupKey: string;
  nickname: string;
}
export interface PriceOutputs extends PriceInputs {
  priceId: string;
}

/** Fields Stripe will not change on an existing price. */
export const PRICE_IMMUTABLE_FIELDS = ['productId', 'unitAmount', 'currency', 'interval'] as const;

export class PriceProvider implements pulumi.dynamic.ResourceProvider<PriceInputs, PriceOutputs> {
  private secretKey?: string;

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.secretKey = req.config.get('stripeSecretKey');
  }

  async check(_olds: PriceInputs, news: PriceInputs): Promise<pulumi.dynamic.CheckResult<PriceInputs>> {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!Number.isInteger(news.unitAmount) || news.unitAmount <= 0) failures.push({ property: 'unitAmount', reason: 'must be a positive integer in minor units' });
    if (!/^[a-z]{3}$/.test(news.currency)) failures.push({ property: 'currency', reason: 'must be a lower-case ISO currency code' });
    if (!['day', 'week', 'month', 'year'].includes(news.interval)) failures.push({ property: 'interval', reason: 'must be day, week, month or year' });
    return { inputs: news, failures };
  }

  async diff(_id: string, olds: PriceOutputs, news: PriceInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = ['productId', 'unitAmount', 'currency', 'interval'].filter(
      (field) => olds[field as keyof PriceInputs] !== news[field as keyof PriceInputs],
    );
    const changes = replaces.length > 0 || olds.lookupKey !== news.lookupKey || olds.nickname !== news.nickname;
    return { changes, replaces, deleteBeforeReplace: false };
  }

  async create(inputs: PriceInputs): Promise<pulumi.dynamic.CreateResult<PriceOutputs>> {
    const price = await connectStripe(this.secretKey).prices.create({
      product: inputs.productId,
      unit_amount: inputs.unitAmount,
      currency: inputs.currency,
      recurring: { interval: inputs.interval },
      lookup_key: inputs.lookupKey,
      // On replacement the new price takes the lookup key from the one about to be archived.
      transfer_lookup_key: true,
      nickname: inputs.nickname,
      metadata: { managed_by: 'pulumi' },
    });
    return { id: price.id, outs: { ...inputs, priceId: price.id } };
  }

  async update(id: string, _olds: PriceOutputs, news: PriceInputs): Promise<pulumi.dynamic.UpdateResult<PriceOutputs>> {
    await connectStripe(this.secretKey).prices.update(id, { lookup_key: news.lookupKey, transfer_lookup_key: true, nickname: news.nickname });
    return { outs: { ...news, priceId: id } };
  }

  async delete(id: string): Promise<void> {
    // Stripe prices cannot be deleted: archive. Existing subscriptions keep billing on it.
    await connectStripe(this.secretKey).prices.update(id, { active: false });
  }
}
