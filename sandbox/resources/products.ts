import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { invalidRequest } from '../http/errors';
import { mergeMetadata, parseParams, Shape } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { changedAttributes } from '../events/emit';
import { clone, listShape, mustGet } from './common';

const WRITABLE: Shape = {
  name: 'string',
  active: 'boolean',
  description: 'string',
  metadata: 'metadata',
  images: 'strings',
  url: 'string',
  tax_code: 'string',
  unit_label: 'string',
  statement_descriptor: 'string',
  shippable: 'boolean',
};

export function registerProducts(router: Router): void {
  router.post('/v1/products', ({ engine, params }) => {
    const p = parseParams<Stripe.ProductCreateParams>(params, { ...WRITABLE, id: 'string' }, ['name']);
    const id = p.id ?? newId('prod', 14);
    if (engine.state.products.has(id)) throw invalidRequest(`Product already exists.`, 'id', 'resource_already_exists');
    const now = engine.now();
    const product: Stripe.Product = {
      id,
      object: 'product',
      active: p.active ?? true,
      created: now,
      default_price: null,
      description: p.description ?? null,
      images: p.images ?? [],
      livemode: false,
      marketing_features: [],
      metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
      name: p.name,
      package_dimensions: null,
      shippable: p.shippable ?? null,
      statement_descriptor: p.statement_descriptor ?? null,
      tax_code: p.tax_code ?? null,
      tax_details: null,
      type: 'service',
      unit_label: p.unit_label ?? null,
      updated: now,
      url: p.url ?? null,
    };
    engine.state.products.set(id, product);
    engine.events.emit('product.created', product);
    return product;
  });

  router.get('/v1/products/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.products, path.id as string, 'product');
  });

  router.post('/v1/products/:id', ({ engine, path, params }) => updateProduct(engine, path.id as string, params));

  // Stripe deletes only a product no price refers to (archive the others); afterwards its id is unknown (404).
  router.delete('/v1/products/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    const product = mustGet(engine.state.products, path.id as string, 'product');
    for (const price of engine.state.prices.values()) {
      if (price.product === product.id) throw invalidRequest('This product cannot be deleted because it has one or more user-created prices.');
    }
    engine.state.products.delete(product.id);
    engine.events.emit('product.deleted', product);
    return { id: product.id, object: 'product', deleted: true };
  });

  router.get('/v1/products', ({ engine, params, url }) => {
    const p = parseParams<Stripe.ProductListParams>(params, listShape({ active: 'boolean', ids: 'strings', shippable: 'boolean', url: 'string' }));
    return paginate(engine.state.products.values(), p as never, url, (prod) =>
      (p.active === undefined || prod.active === p.active) && (!p.ids || p.ids.includes(prod.id)),
    );
  });
}

function updateProduct(engine: Engine, id: string, params: Parameters<typeof parseParams>[0]): Stripe.Product {
  const product = mustGet(engine.state.products, id, 'product');
  const p = parseParams<Stripe.ProductUpdateParams>(params, { ...WRITABLE, default_price: 'string' });
  const before = clone(product);
  if (p.default_price !== undefined) {
    const price = mustGet(engine.state.prices, p.default_price, 'price', 'default_price');
    if (price.product !== id) throw invalidRequest('The default price must belong to this product.', 'default_price');
    product.default_price = price.id;
  }
  if (p.name !== undefined) product.name = p.name;
  if (p.active !== undefined) product.active = p.active;
  if (p.description !== undefined) product.description = (p.description as string) || null;
  if (p.images !== undefined) product.images = p.images as string[];
  if (p.url !== undefined) product.url = (p.url as string) || null;
  if (p.unit_label !== undefined) product.unit_label = (p.unit_label as string) || null;
  if (p.metadata !== undefined) product.metadata = mergeMetadata(product.metadata, p.metadata as Record<string, string> | null);
  product.updated = engine.now();
  const previous = changedAttributes(before, product);
  delete previous.updated;
  if (Object.keys(previous).length > 0) engine.events.emit('product.updated', product, previous);
  return product;
}
