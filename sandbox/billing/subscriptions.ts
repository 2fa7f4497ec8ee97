import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { invalidRequest } from '../http/errors';
import { changedAttributes } from '../events/emit';
import { clone } from '../resources/common';
import { CardOutcome } from '../resources/payment-methods';
import { addInterval } from './periods';
import { createSubscriptionInvoice, finalizeInvoice, payInvoice } from './invoices';

export interface NewSubscription {
  customer: string;
  items: { price: Stripe.Price; quantity: number; metadata?: Record<string, string> }[];
  defaultPaymentMethod: string | null;
  metadata: Record<string, string>;
  cancelAtPeriodEnd?: boolean;
  description?: string | null;
}

export function planFromPrice(price: Stripe.Price): Stripe.Plan {
  const recurring = price.recurring;
  if (!recurring) throw invalidRequest(`The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`, 'items[0][price]');
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: 'per_unit',
    created: price.created,
    currency: price.currency,
    interval: recurring.interval,
    interval_count: recurring.interval_count,
    livemode: false,
    metadata: price.metadata,
    meter: null,
    nickname: price.nickname,
    product: price.product as string,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: recurring.trial_period_days,
    usage_type: recurring.usage_type,
  };
}

export function buildItem(engine: Engine, subId: string, price: Stripe.Price, quantity: number, start: number, metadata: Record<string, string> = {}): Stripe.SubscriptionItem {
  const plan = planFromPrice(price);
  return {
    id: newId('si', 14),
    object: 'subscription_item',
    billing_thresholds: null,
    created: engine.now(),
    current_period_end: addInterval(start, plan.interval, plan.interval_count),
    current_period_start: start,
    current_trial: null,
    discounts: [],
    metadata,
    plan,
    price: clone(price),
    quantity,
    subscription: subId,
    tax_rates: [],
  };
}

/** Builds and stores an `incomplete` subscription whose first period starts now. */
export function buildSubscription(engine: Engine, input: NewSubscription): Stripe.Subscription {
  if (input.items.length === 0) throw invalidRequest('Missing required param: items.', 'items');
  const currencies = new Set(input.items.map((i) => i.price.currency));
  if (currencies.size > 1) throw invalidRequest('All prices on a subscription must have the same currency.', 'items');
  const intervals = new Set(input.items.map((i) => `${i.price.recurring?.interval}/${i.price.recurring?.interval_count}`));
  if (intervals.size > 1) throw invalidRequest('All prices on a subscription must have the same recurring interval.', 'items');
  const id = newId('sub');
  const now = engine.now();
  const items = input.items.map((i) => buildItem(engine, id, i.price, i.quantity, now, i.metadata));
  const sub: Stripe.Subscription = {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: now,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: null, type: 'classic' },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: input.cancelAtPeriodEnd ? (items[0] as Stripe.SubscriptionItem).current_period_end : null,
    cancel_at_period_end: input.cancelAtPeriodEnd ?? false,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
    collection_method: 'charge_automatically',
    created: now,
    currency: input.items[0]?.price.currency ?? 'usd',
    customer: input.customer,
    customer_account: null,
    days_until_due: null,
    default_payment_method: input.defaultPaymentMethod,
    default_source: null,
    default_tax_rates: [],
    description: input.description ?? null,
    discounts: [],
    ended_at: null,
    invoice_settings: { account_tax_ids: null, custom_fields: null, description: null, footer: null, issuer: { type: 'self' } },
    items: { object: 'list', data: items, has_more: false, url: `/v1/subscription_items?subscription=${id}` },
    latest_invoice: null,
    livemode: false,
    managed_payments: null,
    metadata: input.metadata,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: 'off' },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status: 'incomplete',
    test_clock: engine.state.testClock?.id ?? null,
    transfer_data: null,
    trial_end: null,
    trial_settings: { end_behavior: { billing_cycle_anchor: null, missing_payment_method: 'create_invoice' } },
    trial_start: null,
  };
  engine.state.subscriptions.set(id, sub);
  return sub;
}

/** The payment method a subscription charges: its own default, else the customer's. */
export function chargeablePaymentMethod(engine: Engine, sub: Stripe.Subscription): Stripe.PaymentMethod | null {
  const own = sub.default_payment_method as string | null;
  const customer = engine.state.customers.get(sub.customer as string);
  const id = own ?? (customer?.invoice_settings.default_payment_method as string | null | undefined) ?? null;
  return id ? (engine.state.paymentMethods.get(id) ?? null) : null;
}

/**
 * Stripe's first-invoice flow: invoice.created, invoice.finalized,
 * customer.subscription.created (incomplete), the payment, then customer.subscription.updated
 * (active) when it succeeds.
 */
export function startSubscription(engine: Engine, input: NewSubscription): { sub: Stripe.Subscription; outcome: CardOutcome } {
  const sub = buildSubscription(engine, input);
  const first = sub.items.data[0] as Stripe.SubscriptionItem;
  const invoice = createSubscriptionInvoice(engine, sub, 'subscription_create', { start: first.current_period_start, end: first.current_period_start });
  sub.latest_invoice = invoice.id;
  finalizeInvoice(engine, invoice);
  engine.events.emit('customer.subscription.created', sub);
  const outcome = payInvoice(engine, invoice, chargeablePaymentMethod(engine, sub), false);
  if (outcome.result === 'succeeded') setStatus(engine, sub, 'active');
  return { sub, outcome };
}

export function setStatus(engine: Engine, sub: Stripe.Subscription, status: Stripe.Subscription.Status): void {
  if (sub.status === status) return;
  const before = clone(sub);
  sub.status = status;
  engine.events.emit('customer.subscription.updated', sub, changedAttributes(before, sub));
}
