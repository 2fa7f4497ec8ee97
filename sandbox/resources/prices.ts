import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { invalidRequest, missingParameter } from '../http/errors';
import { Field, mergeMetadata, parseParams } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { changedAttributes } from '../events/emit';
import { clone, decimal, listShape, mustGet } from './common';

type Form = Parameters<typeof parseParams>[0];

const INTERVAL: Field = { enum: ['day', 'week', 'month', 'year'] };
const USAGE_TYPE: Field = { enum: ['licensed', 'metered'] };
const TAX_BEHAVIOR: Field = { enum: ['exclusive', 'inclusive', 'unspecified'] };

export function registerPrices(router: Router): void {
  router.post('/v1/prices', ({ engine, params }) => createPrice(engine, params));
  router.get('/v1/prices/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.prices, path.id as string, 'price');
  });
  router.post('/v1/prices/:id', ({ engine, path, params }) => updatePrice(engine, path.id as string, params));
  router.get('/v1/prices', ({ engine, params, url }) => {
    const p = parseParams<Stripe.PriceListParams>(
      params,
      listShape({
        active: 'boolean',
        currency: 'currency',
        lookup_keys: 'strings',
        product: 'string',
        type: { enum: ['one_time', 'recurring'] },
        recurring: { object: { interval: INTERVAL, usage_type: USAGE_TYPE, meter: 'string' } },
      }),
    );
    return paginate(engine.state.prices.values(), p as never, url, (price) =>
      (p.active === undefined || price.active === p.active) &&
      (!p.currency || price.currency === p.currency) &&
      (!p.lookup_keys || (price.lookup_key !== null && p.lookup_keys.includes(price.lookup_key))) &&
      (!p.product || price.product === p.product) &&
      (!p.type || price.type === p.type) &&
      (!p.recurring?.interval || price.recurring?.interval === p.recurring.interval),
    );
  });
}

function createPrice(engine: Engine, params: Form): Stripe.Price {
  const p = parseParams<Stripe.PriceCreateParams>(
    params,
    {
      currency: 'currency',
      unit_amount: 'integer',
      product: 'string',
      product_data: { object: { name: 'string', metadata: 'metadata', active: 'boolean', unit_label: 'string' }, required: ['name'] },
      recurring: { object: { interval: INTERVAL, interval_count: 'integer', usage_type: USAGE_TYPE, trial_period_days: 'integer' }, required: ['interval'] },
      lookup_key: 'string',
      transfer_lookup_key: 'boolean',
      nickname: 'string',
      metadata: 'metadata',
      active: 'boolean',
      tax_behavior: TAX_BEHAVIOR,
      billing_scheme: { enum: ['per_unit', 'tiered'] },
    },
    ['currency'],
  );
  if (p.unit_amount === undefined) throw missingParameter('unit_amount');
  if (p.unit_amount < 0) throw invalidRequest('Invalid non-negative integer', 'unit_amount');
  let productId = p.product;
  if (!productId && !p.product_data) throw missingParameter('product');
  if (productId) mustGet(engine.state.products, productId, 'product', 'product');
  const now = engine.now();
  if (!productId && p.product_data) {
    productId = newId('prod', 14);
    const product: Stripe.Product = {
      id: productId, object: 'product', active: p.product_data.active ?? true, created: now, default_price: null,
      description: null, images: [], livemode: false, marketing_features: [],
      metadata: mergeMetadata({}, p.product_data.metadata as Record<string, string> | undefined),
      name: p.product_data.name, package_dimensions: null, shippable: null, statement_descriptor: null,
      tax_code: null, tax_details: null, type: 'service', unit_label: p.product_data.unit_label ?? null, updated: now, url: null,
    };
    engine.state.products.set(productId, product);
    engine.events.emit('product.created', product);
  }
  if (p.lookup_key) claimLookupKey(engine, p.lookup_key, p.transfer_lookup_key ?? false);
  const price: Stripe.Price = {
    id: newId('price'),
    object: 'price',
    active: p.active ?? true,
    billing_scheme: 'per_unit',
    created: now,
    currency: p.currency.toLowerCase(),
    custom_unit_amount: null,
    livemode: false,
    lookup_key: p.lookup_key ?? null,
    metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
    nickname: p.nickname ?? null,
    product: productId as string,
    recurring: p.recurring
      ? {
          interval: p.recurring.interval,
          interval_count: p.recurring.interval_count ?? 1,
          meter: null,
          trial_period_days: p.recurring.trial_period_days ?? null,
          usage_type: p.recurring.usage_type ?? 'licensed',
        }
      : null,
    tax_behavior: p.tax_behavior ?? 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: p.recurring ? 'recurring' : 'one_time',
    unit_amount: p.unit_amount,
    unit_amount_decimal: decimal(p.unit_amount),
  };
  engine.state.prices.set(price.id, price);
  engine.events.emit('price.created', price);
  return price;
}

/** Lookup keys are unique per account; `transfer_lookup_key` moves the key off its old price. */
function claimLookupKey(engine: Engine, key: string, transfer: boolean): void {
  for (const other of engine.state.prices.values()) {
    if (other.lookup_key !== key) continue;
    if (!transfer) {
      throw invalidRequest(
        `A price (\`${other.id}\`) already uses that lookup key. To transfer the lookup key to this price, set \`transfer_lookup_key\` to \`true\`.`,
        'lookup_key',
      );
    }
    const before = clone(other);
    other.lookup_key = null;
    engine.events.emit('price.updated', other, changedAttributes(before, other));
  }
}

function updatePrice(engine: Engine, id: string, params: Form): Stripe.Price {
  const price = mustGet(engine.state.prices, id, 'price');
  const p = parseParams<Stripe.PriceUpdateParams>(params, {
    active: 'boolean',
    metadata: 'metadata',
    lookup_key: 'string',
    transfer_lookup_key: 'boolean',
    nickname: 'string',
    tax_behavior: TAX_BEHAVIOR,
  });
  const before = clone(price);
  if (p.lookup_key !== undefined && p.lookup_key !== price.lookup_key) {
    if (p.lookup_key) claimLookupKey(engine, p.lookup_key, p.transfer_lookup_key ?? false);
    price.lookup_key = p.lookup_key || null;
  }
  if (p.active !== undefined) price.active = p.active;
  if (p.nickname !== undefined) price.nickname = (p.nickname as string) || null;
  if (p.tax_behavior !== undefined) price.tax_behavior = p.tax_behavior;
  if (p.metadata !== undefined) price.metadata = mergeMetadata(price.metadata, p.metadata as Record<string, string> | null);
  const previous = changedAttributes(before, price);
  if (Object.keys(previous).length > 0) engine.events.emit('price.updated', price, previous);
  return price;
}
