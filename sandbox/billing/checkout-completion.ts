import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { invalidRequest, StripeApiError } from '../http/errors';
import { mustGet } from '../resources/common';
import { createCustomer } from '../resources/customers';
import { attachPaymentMethod, cardError, chargeOutcome, resolvePaymentMethod } from '../resources/payment-methods';
import { confirmPaymentIntent, createPaymentIntent } from './payments';
import { startSubscription } from './subscriptions';

/**
 * Does what the customer does on the hosted Checkout page. A card that would be refused leaves the
 * session open and creates nothing (the page shows the error), as on Stripe; otherwise the
 * customer, payment method, subscription or payment, and their events, then
 * `checkout.session.completed`.
 */
export function completeCheckoutSession(engine: Engine, id: string, paymentMethodId: string): Stripe.Checkout.Session {
  const session = mustGet(engine.state.checkoutSessions, id, 'checkout.session');
  if (session.status !== 'open') {
    throw invalidRequest(`This Checkout Session is no longer open (status ${session.status}).`, undefined, 'checkout_session_not_open');
  }
  if (session.expires_at <= engine.now()) {
    session.status = 'expired';
    session.url = null;
    engine.events.emit('checkout.session.expired', session);
    throw invalidRequest('This Checkout Session has expired.', undefined, 'checkout_session_expired');
  }
  const pm = resolvePaymentMethod(engine, paymentMethodId, 'payment_method');
  const outcome = chargeOutcome(pm);
  if (outcome.result === 'declined') throw cardError(outcome, 'payment_method');
  if (outcome.result === 'requires_action') {
    throw new StripeApiError('This card requires authentication, which the sandbox checkout page cannot perform.', {
      status: 402,
      type: 'card_error',
      code: 'authentication_required',
      declineCode: 'authentication_required',
      param: 'payment_method',
    });
  }
  const extras = engine.state.checkoutExtras.get(id) ?? { subscriptionMetadata: {}, paymentIntentMetadata: {} };
  const lineItems = engine.state.checkoutLineItems.get(id) ?? [];
  const needsCustomer = session.mode === 'subscription' || session.customer_creation === 'always' || session.customer !== null;
  const email = session.customer_email ?? session.customer_details?.email ?? null;
  const customer = !needsCustomer
    ? null
    : session.customer
      ? mustGet(engine.state.customers, session.customer as string, 'customer', 'customer')
      : createCustomer(engine, { email });

  if (session.mode === 'subscription' && customer) {
    // Stripe Checkout makes the card the *subscription's* default payment method; the customer's
    // invoice_settings stay untouched (no customer.updated), so renewals charge the subscription's.
    attachPaymentMethod(engine, pm, customer.id);
    const { sub } = startSubscription(engine, {
      customer: customer.id,
      items: lineItems.map((li) => ({ price: li.price as Stripe.Price, quantity: li.quantity ?? 1 })),
      defaultPaymentMethod: pm.id,
      metadata: extras.subscriptionMetadata,
    });
    session.subscription = sub.id;
    session.invoice = sub.latest_invoice as string;
  } else {
    const pi = createPaymentIntent(engine, {
      amount: session.amount_total ?? 0,
      currency: session.currency ?? 'usd',
      customer: customer?.id ?? null,
      metadata: extras.paymentIntentMetadata,
    });
    confirmPaymentIntent(engine, pi, pm);
    session.payment_intent = pi.id;
  }
  session.status = 'complete';
  session.payment_status = 'paid';
  session.customer = customer?.id ?? null;
  session.customer_details = {
    address: null,
    business_name: null,
    email: customer?.email ?? email,
    individual_name: null,
    name: customer?.name ?? null,
    phone: null,
    tax_exempt: 'none',
    tax_ids: [],
  };
  session.url = null;
  engine.events.emit('checkout.session.completed', session);
  return session;
}
