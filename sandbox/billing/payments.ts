import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { chargeOutcome, CardOutcome } from '../resources/payment-methods';
import { recordBalanceTransaction } from './balance';

export interface NewPaymentIntent {
  amount: number;
  currency: string;
  customer: string | null;
  description?: string | null;
  metadata?: Record<string, string>;
  paymentMethodTypes?: string[];
  setupFutureUsage?: Stripe.PaymentIntent.SetupFutureUsage | null;
}

/** Builds and stores a `requires_payment_method` intent and emits `payment_intent.created`. */
export function createPaymentIntent(engine: Engine, input: NewPaymentIntent): Stripe.PaymentIntent {
  const id = newId('pi');
  const pi: Stripe.PaymentIntent = {
    id,
    object: 'payment_intent',
    allowed_payment_method_types: null,
    amount: input.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic',
    client_secret: `${id}_secret_${newId('x', 16).slice(2)}`,
    confirmation_method: 'automatic',
    created: engine.now(),
    currency: input.currency,
    customer: input.customer,
    customer_account: null,
    description: input.description ?? null,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: input.metadata ?? {},
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' } },
    payment_method_types: input.paymentMethodTypes ?? ['card'],
    payment_record: null,
    processing: null,
    receipt_email: null,
    review: null,
    setup_future_usage: input.setupFutureUsage ?? null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: 'requires_payment_method',
    transfer_data: null,
    transfer_group: null,
  };
  engine.state.paymentIntents.set(id, pi);
  engine.events.emit('payment_intent.created', pi);
  return pi;
}

/**
 * Confirms an intent with a payment method as the card network would answer for Stripe's test
 * cards: a charge (succeeded or failed) and the matching events. `offSession` turns an
 * authentication request into a decline (`authentication_required`), as for renewals.
 */
export function confirmPaymentIntent(
  engine: Engine,
  pi: Stripe.PaymentIntent,
  pm: Stripe.PaymentMethod,
  offSession = false,
): CardOutcome {
  pi.payment_method = pm.id;
  let outcome = chargeOutcome(pm);
  if (outcome.result === 'requires_action' && offSession) {
    outcome = {
      result: 'declined',
      code: 'authentication_required',
      declineCode: 'authentication_required',
      message: 'Your card was declined. This transaction requires authentication.',
    };
  }
  if (outcome.result === 'requires_action') {
    pi.status = 'requires_action';
    pi.next_action = { type: 'use_stripe_sdk', use_stripe_sdk: {} as Stripe.PaymentIntent.NextAction.UseStripeSdk };
    engine.events.emit('payment_intent.requires_action', pi);
    return outcome;
  }
  const charge = createCharge(engine, pi, pm, outcome);
  pi.latest_charge = charge.id;
  if (outcome.result === 'succeeded') {
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    pi.last_payment_error = null;
    pi.next_action = null;
    engine.events.emit('payment_intent.succeeded', pi);
    engine.events.emit('charge.succeeded', charge);
  } else {
    pi.status = 'requires_payment_method';
    pi.last_payment_error = {
      type: 'card_error',
      charge: charge.id,
      code: outcome.code,
      decline_code: outcome.declineCode,
      doc_url: `https://stripe.com/docs/error-codes/${outcome.code.replace(/_/g, '-')}`,
      message: outcome.message,
      payment_method: structuredClone(pm),
    };
    pi.payment_method = null;
    engine.events.emit('payment_intent.payment_failed', pi);
    engine.events.emit('charge.failed', charge);
  }
  return outcome;
}

function createCharge(engine: Engine, pi: Stripe.PaymentIntent, pm: Stripe.PaymentMethod, outcome: CardOutcome): Stripe.Charge {
  const ok = outcome.result === 'succeeded';
  const declined = outcome.result === 'declined' ? outcome : undefined;
  const id = newId('ch');
  const charge: Stripe.Charge = {
    id,
    object: 'charge',
    amount: pi.amount,
    amount_captured: ok ? pi.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: null,
    billing_details: pm.billing_details,
    calculated_statement_descriptor: 'UPIIK SANDBOX',
    captured: ok,
    created: engine.now(),
    currency: pi.currency,
    customer: pi.customer,
    description: pi.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: declined?.code ?? null,
    failure_message: declined?.message ?? null,
    fraud_details: {},
    livemode: false,
    metadata: pi.metadata,
    on_behalf_of: null,
    outcome: {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: ok ? 'approved_by_network' : 'declined_by_network',
      reason: declined?.declineCode ?? null,
      risk_level: 'normal',
      seller_message: ok ? 'Payment complete.' : 'The bank did not return any further details with this decline.',
      type: ok ? 'authorized' : 'issuer_declined',
    },
    paid: ok,
    payment_intent: pi.id,
    payment_method: pm.id,
    payment_method_details: {
      type: 'card',
      card: {
        amount_authorized: ok ? pi.amount : null,
        authorization_code: ok ? '123456' : null,
        brand: pm.card?.brand ?? null,
        checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
        country: pm.card?.country ?? 'US',
        electronic_commerce_indicator: null,
        exp_month: pm.card?.exp_month ?? 12,
        exp_year: pm.card?.exp_year ?? 2030,
        fingerprint: pm.card?.fingerprint ?? null,
        funding: pm.card?.funding ?? 'credit',
        installments: null,
        last4: pm.card?.last4 ?? null,
        mandate: null,
        network: pm.card?.brand ?? null,
        network_transaction_id: ok ? `${id.slice(3, 18)}` : null,
        regulated_status: 'unregulated',
        three_d_secure: null,
        transaction_link_id: null,
        wallet: null,
      },
    },
    receipt_email: null,
    receipt_number: null,
    receipt_url: null,
    refunded: false,
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: ok ? 'succeeded' : 'failed',
    transfer_data: null,
    transfer_group: null,
  };
  if (ok) {
    charge.balance_transaction = recordBalanceTransaction(engine, {
      amount: charge.amount, currency: charge.currency, source: id, type: 'charge', reportingCategory: 'charge', description: charge.description,
    }).id;
  }
  engine.state.charges.set(id, charge);
  return charge;
}
