import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { changedAttributes } from '../events/emit';
import { clone, decimal } from '../resources/common';
import { CardOutcome } from '../resources/payment-methods';
import { confirmPaymentIntent, createPaymentIntent } from './payments';

/** Creates a subscription invoice for one period (status draft) and emits `invoice.created`. */
export function createSubscriptionInvoice(
  engine: Engine,
  sub: Stripe.Subscription,
  reason: Stripe.Invoice.BillingReason,
  period: { start: number; end: number },
): Stripe.Invoice {
  const customer = engine.state.customers.get(sub.customer as string);
  const id = newId('in');
  const lines: Stripe.InvoiceLineItem[] = sub.items.data.map((item) => {
    const amount = (item.price.unit_amount ?? 0) * (item.quantity ?? 1);
    return {
      id: newId('il'),
      object: 'line_item',
      amount,
      currency: item.price.currency,
      description: `${item.quantity ?? 1} × ${productName(engine, item.price)} (at ${(item.price.unit_amount ?? 0) / 100} / ${item.price.recurring?.interval ?? 'period'})`,
      discount_amounts: [],
      discountable: true,
      discounts: [],
      invoice: id,
      livemode: false,
      metadata: {},
      parent: {
        type: 'subscription_item_details',
        invoice_item_details: null,
        subscription_item_details: { invoice_item: null, proration: false, proration_details: { credited_items: null }, subscription: sub.id, subscription_item: item.id },
      },
      period: { start: item.current_period_start, end: item.current_period_end },
      pretax_credit_amounts: [],
      pricing: { type: 'price_details', price_details: { price: item.price.id, product: item.price.product as string }, unit_amount_decimal: decimal(item.price.unit_amount ?? 0) },
      quantity: item.quantity ?? 1,
      quantity_decimal: decimal(item.quantity ?? 1),
      subscription: sub.id,
      subtotal: amount,
      taxes: [],
    };
  });
  const total = lines.reduce((sum, l) => sum + l.amount, 0);
  const invoice: Stripe.Invoice = {
    id,
    object: 'invoice',
    account_country: 'US',
    account_name: 'Upiik Sandbox',
    account_tax_ids: null,
    amount_due: total,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: total,
    amount_shipping: 0,
    application: null,
    attempt_count: 0,
    attempted: false,
    auto_advance: true,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null,
    billing_reason: reason,
    collection_method: 'charge_automatically',
    created: engine.now(),
    currency: sub.currency,
    custom_fields: null,
    customer: sub.customer as string,
    customer_account: null,
    customer_address: null,
    customer_email: customer?.email ?? null,
    customer_name: customer?.name ?? null,
    customer_phone: customer?.phone ?? null,
    customer_shipping: null,
    customer_tax_exempt: 'none',
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: null,
    ending_balance: null,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: 'self' },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: null,
    on_behalf_of: null,
    parent: {
      type: 'subscription_details',
      quote_details: null,
      subscription_details: { metadata: clone(sub.metadata), subscription: sub.id },
    },
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: period.end,
    period_start: period.start,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: 'draft',
    status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: engine.state.testClock?.id ?? null,
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: null,
  };
  engine.state.invoices.set(id, invoice);
  engine.events.emit('invoice.created', invoice);
  return invoice;
}

function productName(engine: Engine, price: Stripe.Price): string {
  const product = engine.state.products.get(price.product as string);
  return product?.name ?? price.nickname ?? price.id;
}

export function finalizeInvoice(engine: Engine, invoice: Stripe.Invoice): void {
  const customer = engine.state.customers.get(invoice.customer as string);
  const sequence = customer?.next_invoice_sequence ?? 1;
  if (customer) customer.next_invoice_sequence = sequence + 1;
  invoice.status = 'open';
  invoice.number = `${customer?.invoice_prefix ?? 'SANDBOX'}-${String(sequence).padStart(4, '0')}`;
  invoice.effective_at = engine.now();
  invoice.status_transitions.finalized_at = engine.now();
  invoice.hosted_invoice_url = `${engine.baseUrl}/invoices/${invoice.id}`;
  engine.events.emit('invoice.finalized', invoice);
}

/**
 * Attempts payment of an open invoice with a payment method: a payment intent per attempt,
 * recorded as an InvoicePayment, then `invoice.paid` + `invoice.payment_succeeded` or
 * `invoice.payment_failed`.
 */
export function payInvoice(engine: Engine, invoice: Stripe.Invoice, pm: Stripe.PaymentMethod | null, offSession: boolean): CardOutcome {
  const before = clone(invoice);
  invoice.attempted = true;
  invoice.attempt_count += 1;
  if (invoice.amount_due === 0) {
    markPaid(engine, invoice, before);
    return { result: 'succeeded' };
  }
  if (!pm) {
    invoice.next_payment_attempt = null;
    engine.events.emit('invoice.payment_failed', invoice, changedAttributes(before, invoice));
    return { result: 'declined', code: 'payment_method_missing', declineCode: 'generic_decline', message: 'No default payment method.' };
  }
  const pi = createPaymentIntent(engine, {
    amount: invoice.amount_due,
    currency: invoice.currency,
    customer: invoice.customer as string,
    description: invoice.billing_reason === 'subscription_create' ? 'Subscription creation' : 'Subscription update',
  });
  const payment: Stripe.InvoicePayment = {
    id: newId('inpay'),
    object: 'invoice_payment',
    amount_paid: null,
    amount_requested: invoice.amount_due,
    created: engine.now(),
    currency: invoice.currency,
    invoice: invoice.id,
    is_default: true,
    livemode: false,
    payment: { type: 'payment_intent', payment_intent: pi.id },
    status: 'open',
    status_transitions: { canceled_at: null, paid_at: null },
  };
  for (const other of engine.state.invoicePayments.values()) if (other.invoice === invoice.id) other.is_default = false;
  engine.state.addInvoicePayment(payment);
  const outcome = confirmPaymentIntent(engine, pi, pm, offSession);
  if (outcome.result === 'succeeded') {
    payment.status = 'paid';
    payment.amount_paid = invoice.amount_due;
    payment.status_transitions.paid_at = engine.now();
    markPaid(engine, invoice, before);
    engine.events.emit('invoice_payment.paid', payment);
  } else {
    invoice.next_payment_attempt = null;
    engine.events.emit('invoice.payment_failed', invoice, changedAttributes(before, invoice));
  }
  return outcome;
}

function markPaid(engine: Engine, invoice: Stripe.Invoice, before: Stripe.Invoice): void {
  invoice.status = 'paid';
  invoice.amount_paid = invoice.amount_due;
  invoice.amount_remaining = 0;
  invoice.next_payment_attempt = null;
  invoice.status_transitions.paid_at = engine.now();
  const previous = changedAttributes(before, invoice);
  engine.events.emit('invoice.paid', invoice, previous);
  engine.events.emit('invoice.payment_succeeded', invoice, previous);
}
