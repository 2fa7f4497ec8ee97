import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { invalidRequest, missingParameter } from '../http/errors';
import { Field, mergeMetadata, parseParams, Shape } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { indexed, search, SearchField } from '../http/search';
import { changedAttributes } from '../events/emit';
import { clone, listShape, mustGet } from './common';
import { liveCustomer } from './customers';
import { attachPaymentMethod, cardError, resolvePaymentMethod } from './payment-methods';
import { buildItem, startSubscription } from '../billing/subscriptions';
import { endSubscription } from '../billing/renewals';

const PAYMENT_BEHAVIOR: Field = { enum: ['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete'] };
const COLLECTION_METHOD: Field = { enum: ['charge_automatically', 'send_invoice'] };
const PRORATION_BEHAVIOR: Field = { enum: ['always_invoice', 'create_prorations', 'none'] };
const LIST_STATUSES = ['active', 'all', 'canceled', 'ended', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid'];

const ITEM: Shape = { id: 'string', price: 'string', quantity: 'integer', metadata: 'metadata', deleted: 'boolean', clear_usage: 'boolean' };

/** Stripe's query fields for subscriptions. */
const SUBSCRIPTION_SEARCH: Record<string, SearchField> = {
  created: { kind: 'number', read: (s: Stripe.Subscription) => s.created },
  status: { kind: 'string', read: (s: Stripe.Subscription) => s.status },
  metadata: { kind: 'metadata', read: (s: Stripe.Subscription, key?: string) => s.metadata[key as string] },
};

export function registerSubscriptions(router: Router): void {
  // Before `/v1/subscriptions/:id`, which would otherwise take `search` for an id.
  router.get('/v1/subscriptions/search', ({ engine, params, url }) => search(indexed(engine, engine.state.subscriptions.values()), params, SUBSCRIPTION_SEARCH, 'subscriptions', url));

  router.post('/v1/subscriptions', ({ engine, params }) => {
    const p = parseParams<Stripe.SubscriptionCreateParams>(
      params,
      {
        customer: 'string',
        items: { array: { object: ITEM } },
        default_payment_method: 'string',
        metadata: 'metadata',
        cancel_at_period_end: 'boolean',
        payment_behavior: PAYMENT_BEHAVIOR,
        description: 'string',
        collection_method: COLLECTION_METHOD,
        proration_behavior: PRORATION_BEHAVIOR,
        off_session: 'boolean',
      },
      ['customer'],
    );
    const customer = liveCustomer(engine, p.customer as string);
    if (!p.items || p.items.length === 0) throw missingParameter('items');
    const items = p.items.map((item, i) => {
      if (!item.price) throw missingParameter(`items[${i}][price]`);
      return { price: mustGet(engine.state.prices, item.price, 'price', `items[${i}][price]`), quantity: item.quantity ?? 1, metadata: item.metadata as Record<string, string> | undefined };
    });
    let defaultPm: string | null = null;
    if (p.default_payment_method) {
      const pm = mustGet(engine.state.paymentMethods, p.default_payment_method, 'PaymentMethod', 'default_payment_method');
      if (pm.customer !== customer.id) {
        throw invalidRequest('The customer does not have a payment method with the ID ' + pm.id + '. The payment method must be attached to the customer.', 'default_payment_method');
      }
      defaultPm = pm.id;
    }
    const behavior = p.payment_behavior ?? 'allow_incomplete';
    const { sub, outcome } = startSubscription(engine, {
      customer: customer.id,
      items,
      defaultPaymentMethod: defaultPm,
      metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
      cancelAtPeriodEnd: p.cancel_at_period_end,
      description: p.description,
    });
    if (outcome.result === 'declined' && behavior === 'error_if_incomplete') {
      throw cardError(outcome, undefined, { payment_intent: undefined });
    }
    return sub;
  });

  router.get('/v1/subscriptions/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.subscriptions, path.id as string, 'subscription');
  });

  router.post('/v1/subscriptions/:id', ({ engine, path, params }) => {
    const sub = mustGet(engine.state.subscriptions, path.id as string, 'subscription');
    const p = parseParams<Stripe.SubscriptionUpdateParams>(params, {
      items: { array: { object: ITEM } },
      default_payment_method: 'string',
      metadata: 'metadata',
      cancel_at_period_end: 'boolean',
      cancel_at: 'integer',
      proration_behavior: PRORATION_BEHAVIOR,
      payment_behavior: PAYMENT_BEHAVIOR,
      description: 'string',
      cancellation_details: { object: { comment: 'string', feedback: 'string' } },
    });
    if (sub.status === 'canceled' || sub.status === 'incomplete_expired') {
      throw invalidRequest(`A canceled subscription can only update its cancellation_details and metadata.`, undefined);
    }
    const before = clone(sub);
    if (p.metadata !== undefined) sub.metadata = mergeMetadata(sub.metadata, p.metadata as Record<string, string> | null);
    if (p.description !== undefined) sub.description = p.description || null;
    if (p.cancel_at_period_end !== undefined) {
      sub.cancel_at_period_end = p.cancel_at_period_end;
      sub.cancel_at = p.cancel_at_period_end ? Math.min(...sub.items.data.map((i) => i.current_period_end)) : null;
      sub.canceled_at = p.cancel_at_period_end ? engine.now() : null;
      sub.cancellation_details = { comment: null, feedback: null, feedback_option: null, reason: p.cancel_at_period_end ? 'cancellation_requested' : null };
    }
    if (p.cancellation_details && sub.cancellation_details) {
      if (p.cancellation_details.comment !== undefined) sub.cancellation_details.comment = p.cancellation_details.comment || null;
      if (p.cancellation_details.feedback !== undefined) sub.cancellation_details.feedback = (p.cancellation_details.feedback || null) as Stripe.Subscription.CancellationDetails.Feedback | null;
    }
    if (p.default_payment_method !== undefined) {
      if (p.default_payment_method) {
        const pm = resolvePaymentMethod(engine, p.default_payment_method, 'default_payment_method');
        attachPaymentMethod(engine, pm, sub.customer as string);
        sub.default_payment_method = pm.id;
      } else {
        sub.default_payment_method = null;
      }
    }
    if (p.items) updateItems(engine, sub, p.items as Stripe.SubscriptionUpdateParams.Item[]);
    const previous = changedAttributes(before, sub);
    if (Object.keys(previous).length > 0) engine.events.emit('customer.subscription.updated', sub, previous);
    return sub;
  });

  router.delete('/v1/subscriptions/:id', ({ engine, path, params }) => {
    parseParams(params, { invoice_now: 'boolean', prorate: 'boolean', cancellation_details: { object: { comment: 'string', feedback: 'string' } } });
    const sub = mustGet(engine.state.subscriptions, path.id as string, 'subscription');
    if (sub.status === 'canceled') {
      throw invalidRequest(`No such subscription: '${sub.id}'; it has already been canceled.`, 'id', 'resource_missing');
    }
    endSubscription(engine, sub, engine.now(), 'cancellation_requested');
    return sub;
  });

  router.get('/v1/subscriptions', ({ engine, params, url }) => {
    const p = parseParams<Stripe.SubscriptionListParams>(params, listShape({ customer: 'string', status: { enum: LIST_STATUSES }, price: 'string', collection_method: COLLECTION_METHOD }));
    return paginate(engine.state.subscriptions.values(), p as never, url, (sub) =>
      (!p.customer || sub.customer === p.customer) &&
      (!p.price || sub.items.data.some((i) => i.price.id === p.price)) &&
      statusMatches(sub.status, p.status),
    );
  });
}

/** Stripe lists every status except canceled by default; `all` includes canceled, `ended` too. */
function statusMatches(status: Stripe.Subscription.Status, filter: string | undefined): boolean {
  if (!filter) return status !== 'canceled' && status !== 'incomplete_expired';
  if (filter === 'all') return true;
  if (filter === 'ended') return status === 'canceled' || status === 'incomplete_expired';
  return status === filter;
}

/** Price changes take effect immediately without proration invoices (documented difference). */
function updateItems(engine: Engine, sub: Stripe.Subscription, items: Stripe.SubscriptionUpdateParams.Item[]): void {
  items.forEach((change, i) => {
    const existing = change.id ? sub.items.data.find((it) => it.id === change.id) : undefined;
    if (change.id && !existing) throw invalidRequest(`No such subscription item: '${change.id}'`, `items[${i}][id]`, 'resource_missing');
    if (existing && change.deleted) {
      sub.items.data = sub.items.data.filter((it) => it.id !== existing.id);
      return;
    }
    const price = change.price ? mustGet(engine.state.prices, change.price, 'price', `items[${i}][price]`) : undefined;
    if (price && price.currency !== sub.currency) throw invalidRequest('All prices on a subscription must have the same currency.', `items[${i}][price]`);
    if (existing) {
      if (price) {
        const replacement = buildItem(engine, sub.id, price, change.quantity ?? existing.quantity ?? 1, existing.current_period_start, existing.metadata);
        existing.price = replacement.price;
        existing.plan = replacement.plan;
      }
      if (change.quantity !== undefined) existing.quantity = change.quantity;
      if (change.metadata !== undefined) existing.metadata = mergeMetadata(existing.metadata, change.metadata as Record<string, string> | null);
      return;
    }
    if (!price) throw missingParameter(`items[${i}][price]`);
    const start = sub.items.data[0]?.current_period_start ?? engine.now();
    const item = buildItem(engine, sub.id, price, change.quantity ?? 1, start, (change.metadata as Record<string, string> | undefined) ?? {});
    const end = sub.items.data[0]?.current_period_end;
    if (end !== undefined) item.current_period_end = end;
    sub.items.data.push(item);
  });
  if (sub.items.data.length === 0) throw invalidRequest('A subscription must have at least one active plan.', 'items');
}
