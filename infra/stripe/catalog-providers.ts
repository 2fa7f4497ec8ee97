import type * as pulumi from '@pulumi/pulumi';
import type Stripe from 'stripe';
import { asReadInputs, connectStripe, isMissing } from './connect';

/**
 * Dynamic providers for the Stripe product and its prices. Product: found again by
 * `metadata.upiik_key`, updated in place, archived on delete. Price: immutable in Stripe, so a
 * changed amount, currency or interval replaces it (Pulumi creates the new price first, moving the
 * lookup key to it, then deletes the old one, which here means archive: prices cannot be deleted).
 *
 * Both have a `read` so `pulumi refresh` sees drift: an archived product or price (`active: false`)
 * is reactivated by the next update (Stripe's update takes `active`; a price keeps its id, so
 * subscriptions and the task definition's price ids are untouched), a changed name, nickname or
 * lookup key is set back, and an object Stripe no longer has is dropped from state and created again.
 */
export interface ProductInputs {
  key: string;
  name: string;
  description: string;
}
export interface ProductOutputs extends ProductInputs {
  productId: string;
  /** false = archived in Stripe (drift, repaired by the next update). */
  active: boolean;
}

export class ProductProvider implements pulumi.dynamic.ResourceProvider<ProductInputs, ProductOutputs> {
  private secretKey?: string;

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.secretKey = req.config.get('stripeSecretKey');
  }

  async diff(_id: string, olds: ProductOutputs, news: ProductInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = olds.key === news.key ? [] : ['key'];
    const changes = replaces.length > 0 || olds.name !== news.name || olds.description !== news.description || olds.active === false;
    return { changes, replaces };
  }

  async create(inputs: ProductInputs): Promise<pulumi.dynamic.CreateResult<ProductOutputs>> {
    const stripe = connectStripe(this.secretKey);
    // Adopting our own product (same metadata key, archived or not) is safe and keeps a lost state
    // from duplicating it; an active one is preferred.
    let existing: Stripe.Product | undefined;
    for await (const product of stripe.products.list({ limit: 100 })) {
      if (product.metadata?.upiik_key !== inputs.key) continue;
      if (!existing || (product.active && !existing.active)) existing = product;
    }
    const product = existing
      ? await stripe.products.update(existing.id, { name: inputs.name, description: inputs.description, active: true })
      : await stripe.products.create({ name: inputs.name, description: inputs.description, metadata: { upiik_key: inputs.key, managed_by: 'pulumi' } });
    return { id: product.id, outs: { ...inputs, productId: product.id, active: product.active } };
  }

  async read(id: string, props?: ProductOutputs): Promise<pulumi.dynamic.ReadResult<ProductOutputs>> {
    let product: Stripe.Product;
    try {
      product = await connectStripe(this.secretKey).products.retrieve(id);
    } catch (error) {
      // No id: Pulumi drops it from state and the next update creates (or re-adopts) it.
      if (isMissing(error)) return {};
      throw error;
    }
    // Stripe answers 404 for a deleted product; a `deleted: true` body is treated the same.
    if ((product as { deleted?: boolean }).deleted) return {};
    const inputs: ProductInputs = { key: product.metadata?.upiik_key ?? (props?.key as string), name: product.name, description: product.description ?? '' };
    return { id: product.id, props: { ...inputs, productId: product.id, active: product.active }, inputs: asReadInputs(inputs) };
  }

  async update(id: string, _olds: ProductOutputs, news: ProductInputs): Promise<pulumi.dynamic.UpdateResult<ProductOutputs>> {
    const product = await connectStripe(this.secretKey).products.update(id, { name: news.name, description: news.description, active: true });
    return { outs: { ...news, productId: id, active: product.active } };
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
  /** false = archived in Stripe (drift, repaired by the next update: reactivated, same id). */
  active: boolean;
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
    const changes = replaces.length > 0 || olds.lookupKey !== news.lookupKey || olds.nickname !== news.nickname || olds.active === false;
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
    return { id: price.id, outs: { ...inputs, priceId: price.id, active: price.active } };
  }

  async read(id: string, props?: PriceOutputs): Promise<pulumi.dynamic.ReadResult<PriceOutputs>> {
    let price: Stripe.Price;
    try {
      price = await connectStripe(this.secretKey).prices.retrieve(id);
    } catch (error) {
      // Stripe cannot delete prices, but an id from another account or mode reads as missing.
      if (isMissing(error)) return {};
      throw error;
    }
    const inputs: PriceInputs = {
      productId: typeof price.product === 'string' ? price.product : price.product.id,
      unitAmount: price.unit_amount ?? (props?.unitAmount as number),
      currency: price.currency,
      interval: (price.recurring?.interval ?? props?.interval) as PriceInputs['interval'],
      lookupKey: price.lookup_key ?? '',
      nickname: price.nickname ?? '',
    };
    return { id: price.id, props: { ...inputs, priceId: price.id, active: price.active }, inputs: asReadInputs(inputs) };
  }

  async update(id: string, _olds: PriceOutputs, news: PriceInputs): Promise<pulumi.dynamic.UpdateResult<PriceOutputs>> {
    // active: true repairs an archived price in place; amount, currency and interval never change here (diff replaces).
    const price = await connectStripe(this.secretKey).prices.update(id, { lookup_key: news.lookupKey, transfer_lookup_key: true, nickname: news.nickname, active: true });
    return { outs: { ...news, priceId: id, active: price.active } };
  }

  async delete(id: string): Promise<void> {
    // Stripe prices cannot be deleted: archive. Existing subscriptions keep billing on it.
    await connectStripe(this.secretKey).prices.update(id, { active: false });
  }
}
