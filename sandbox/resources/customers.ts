import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { mergeMetadata, parseParams, Shape } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { indexed, search, SearchField } from '../http/search';
import { changedAttributes } from '../events/emit';
import { clone, listShape, mustGet } from './common';
import { attachOutcome, attachPaymentMethod, cardError, resolvePaymentMethod } from './payment-methods';

const WRITABLE: Shape = {
  email: 'email',
  name: 'string',
  description: 'string',
  phone: 'string',
  metadata: 'metadata',
  payment_method: 'string',
  preferred_locales: 'strings',
  invoice_settings: { object: { default_payment_method: 'string', footer: 'string' } },
};

export interface NewCustomer {
  email?: string | null;
  name?: string | null;
  description?: string | null;
  phone?: string | null;
  preferredLocales?: string[];
  defaultPaymentMethod?: string | null;
  metadata?: Record<string, string>;
}

/** Creates a customer and emits `customer.created` (used by the API and by checkout completion). */
export function createCustomer(engine: Engine, input: NewCustomer): Stripe.Customer {
  const customer: Stripe.Customer = {
    id: newId('cus', 14),
    object: 'customer',
    address: null,
    balance: 0,
    created: engine.now(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: input.description ?? null,
    discount: null,
    email: input.email ?? null,
    invoice_prefix: newId('x', 8).slice(2).toUpperCase(),
    invoice_settings: { custom_fields: null, default_payment_method: input.defaultPaymentMethod ?? null, footer: null, rendering_options: null },
    livemode: false,
    metadata: input.metadata ?? {},
    name: input.name ?? null,
    next_invoice_sequence: 1,
    phone: input.phone ?? null,
    preferred_locales: input.preferredLocales ?? [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: engine.state.testClock?.id ?? null,
  };
  engine.state.customers.set(customer.id, customer);
  engine.events.emit('customer.created', customer);
  return customer;
}

export function liveCustomer(engine: Engine, id: string, param = 'customer'): Stripe.Customer {
  return mustGet(engine.state.customers, id, 'customer', param);
}

/** Stripe's query fields for customers. */
const CUSTOMER_SEARCH: Record<string, SearchField> = {
  created: { kind: 'number', read: (c: Stripe.Customer) => c.created },
  email: { kind: 'string', substring: true, read: (c: Stripe.Customer) => c.email },
  name: { kind: 'string', substring: true, read: (c: Stripe.Customer) => c.name },
  phone: { kind: 'string', substring: true, read: (c: Stripe.Customer) => c.phone },
  metadata: { kind: 'metadata', read: (c: Stripe.Customer, key?: string) => c.metadata[key as string] },
};

export function registerCustomers(router: Router): void {
  // Before `/v1/customers/:id`, which would otherwise take `search` for an id.
  router.get('/v1/customers/search', ({ engine, params, url }) => search(indexed(engine, engine.state.customers.values()), params, CUSTOMER_SEARCH, 'customers', url));

  router.post('/v1/customers', ({ engine, params }) => {
    const p = parseParams<Stripe.CustomerCreateParams>(params, WRITABLE);
    // Resolve and check the card first so a declining card creates nothing, as on Stripe.
    const pm = p.payment_method ? resolvePaymentMethod(engine, p.payment_method, 'payment_method') : undefined;
    const outcome = pm ? attachOutcome(pm) : undefined;
    if (outcome?.result === 'declined') throw cardError(outcome, 'payment_method');
    const defaultPm = p.invoice_settings?.default_payment_method;
    const customer = createCustomer(engine, {
      email: p.email,
      name: p.name,
      description: p.description,
      phone: p.phone,
      preferredLocales: p.preferred_locales,
      defaultPaymentMethod: pm && defaultPm === p.payment_method ? pm.id : defaultPm,
      metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
    });
    if (pm) attachPaymentMethod(engine, pm, customer.id);
    return customer;
  });

  router.get('/v1/customers/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    const id = path.id as string;
    if (engine.state.deletedCustomers.has(id)) return { id, object: 'customer', deleted: true };
    return mustGet(engine.state.customers, id, 'customer');
  });

  router.post('/v1/customers/:id', ({ engine, path, params }) => {
    const customer = mustGet(engine.state.customers, path.id as string, 'customer');
    const p = parseParams<Stripe.CustomerUpdateParams>(params, WRITABLE);
    const before = clone(customer);
    if (p.email !== undefined) customer.email = p.email || null;
    if (p.name !== undefined) customer.name = p.name || null;
    if (p.description !== undefined) customer.description = p.description || null;
    if (p.phone !== undefined) customer.phone = p.phone || null;
    if (p.preferred_locales !== undefined) customer.preferred_locales = p.preferred_locales as string[];
    if (p.metadata !== undefined) customer.metadata = mergeMetadata(customer.metadata, p.metadata as Record<string, string> | null);
    const defaultPm = p.invoice_settings ? p.invoice_settings.default_payment_method : undefined;
    if (defaultPm !== undefined) {
      if (defaultPm) {
        const pm = mustGet(engine.state.paymentMethods, defaultPm, 'PaymentMethod', 'invoice_settings[default_payment_method]');
        attachPaymentMethod(engine, pm, customer.id);
      }
      customer.invoice_settings.default_payment_method = defaultPm || null;
    }
    const previous = changedAttributes(before, customer);
    if (Object.keys(previous).length > 0) engine.events.emit('customer.updated', customer, previous);
    return customer;
  });

  router.delete('/v1/customers/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    const customer = mustGet(engine.state.customers, path.id as string, 'customer');
    engine.state.customers.delete(customer.id);
    engine.state.deletedCustomers.add(customer.id);
    for (const sub of engine.state.subscriptions.values()) {
      if (sub.customer === customer.id && sub.status !== 'canceled') {
        sub.status = 'canceled';
        sub.ended_at = engine.now();
        sub.canceled_at = engine.now();
        engine.events.emit('customer.subscription.deleted', sub);
      }
    }
    engine.events.emit('customer.deleted', customer);
    return { id: customer.id, object: 'customer', deleted: true };
  });

  router.get('/v1/customers', ({ engine, params, url }) => {
    const p = parseParams<Stripe.CustomerListParams>(params, listShape({ email: 'string', test_clock: 'string' }));
    // Stripe matches email case-sensitively in list filters.
    return paginate(engine.state.customers.values(), p as never, url, (c) => !p.email || c.email === p.email);
  });
}
