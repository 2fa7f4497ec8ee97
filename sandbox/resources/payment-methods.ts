import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { invalidRequest, missingParameter, resourceMissing, StripeApiError } from '../http/errors';
import { parseParams } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { clone, listShape, mustGet } from './common';

/** Stripe's test payment method tokens. Behaviour follows the card number (last4), as on Stripe. */
const TEST_CARDS: Record<string, { brand: string; last4: string }> = {
  pm_card_visa: { brand: 'visa', last4: '4242' },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444' },
  pm_card_chargeDeclined: { brand: 'visa', last4: '0002' },
  pm_card_chargeDeclinedInsufficientFunds: { brand: 'visa', last4: '9995' },
  pm_card_authenticationRequired: { brand: 'visa', last4: '3184' },
  // Attaches fine, every later charge declines: the way to test renewal failures on Stripe.
  pm_card_chargeCustomerFail: { brand: 'visa', last4: '0341' },
};

export type CardOutcome =
  | { result: 'succeeded' }
  | { result: 'declined'; code: string; declineCode: string; message: string }
  | { result: 'requires_action' };

export function chargeOutcome(pm: Stripe.PaymentMethod): CardOutcome {
  switch (pm.card?.last4) {
    case '0002':
    case '0341':
      return { result: 'declined', code: 'card_declined', declineCode: 'generic_decline', message: 'Your card was declined.' };
    case '9995':
      return { result: 'declined', code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' };
    case '3184':
      return { result: 'requires_action' };
    default:
      return { result: 'succeeded' };
  }
}

/** Cards that decline outright also fail the check Stripe runs when they are attached or set up. */
export function attachOutcome(pm: Stripe.PaymentMethod): CardOutcome {
  return pm.card?.last4 === '0341' ? { result: 'succeeded' } : chargeOutcome(pm);
}

export function cardError(outcome: Extract<CardOutcome, { result: 'declined' }>, param?: string, extra?: Record<string, unknown>): StripeApiError {
  return new StripeApiError(outcome.message, {
    status: 402,
    type: 'card_error',
    code: outcome.code,
    declineCode: outcome.declineCode,
    param,
    extra,
  });
}

/**
 * A test token materialises a fresh `pm_...` object, as Stripe does; real ids are looked up.
 * `param` names the parameter the id came from (a miss is a 400), undefined for the URL path (404).
 */
export function resolvePaymentMethod(engine: Engine, id: string, param: string | undefined): Stripe.PaymentMethod {
  const card = TEST_CARDS[id];
  if (!card) {
    const found = engine.state.paymentMethods.get(id);
    if (!found) throw resourceMissing('PaymentMethod', id, param);
    return found;
  }
  const pm: Stripe.PaymentMethod = {
    id: newId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: { address: null, email: null, name: null, phone: null, tax_id: null },
    card: {
      brand: card.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
      country: 'US',
      display_brand: card.brand,
      exp_month: 12,
      exp_year: new Date().getUTCFullYear() + 3,
      fingerprint: `fp_${card.last4}sandbox`,
      funding: 'credit',
      generated_from: null,
      last4: card.last4,
      networks: { available: [card.brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created: engine.now(),
    customer: null,
    customer_account: null,
    livemode: false,
    metadata: {},
    type: 'card',
  };
  engine.state.paymentMethods.set(pm.id, pm);
  return pm;
}

/** Attaches (idempotently) and emits `payment_method.attached`; declining cards are refused. */
export function attachPaymentMethod(engine: Engine, pm: Stripe.PaymentMethod, customerId: string): Stripe.PaymentMethod {
  if (pm.customer === customerId) return pm;
  if (pm.customer) throw invalidRequest('The payment method you provided has already been attached to a customer.', 'payment_method');
  const outcome = attachOutcome(pm);
  if (outcome.result === 'declined') throw cardError(outcome);
  pm.customer = customerId;
  engine.events.emit('payment_method.attached', pm);
  return pm;
}

export function registerPaymentMethods(router: Router): void {
  router.get('/v1/payment_methods/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return resolvePaymentMethod(engine, path.id as string, undefined);
  });

  router.post('/v1/payment_methods/:id/attach', ({ engine, path, params }) => {
    const p = parseParams<Stripe.PaymentMethodAttachParams>(params, { customer: 'string' }, ['customer']);
    const customer = p.customer as string;
    mustGet(engine.state.customers, customer, 'customer', 'customer');
    return attachPaymentMethod(engine, resolvePaymentMethod(engine, path.id as string, undefined), customer);
  });

  router.post('/v1/payment_methods/:id/detach', ({ engine, path, params }) => {
    parseParams(params, {});
    const pm = mustGet(engine.state.paymentMethods, path.id as string, 'PaymentMethod');
    if (!pm.customer) throw invalidRequest('The payment method you provided is not attached to a customer so detachment is impossible.', 'payment_method');
    const before = clone(pm);
    pm.customer = null;
    engine.events.emit('payment_method.detached', pm, { customer: before.customer });
    return pm;
  });

  const list = (engine: Engine, params: Parameters<typeof parseParams>[0], url: string, customer?: string) => {
    const p = parseParams<Stripe.PaymentMethodListParams>(params, listShape({ customer: 'string', type: 'string' }));
    const owner = customer ?? p.customer;
    if (!owner) throw missingParameter('customer');
    return paginate(engine.state.paymentMethods.values(), p as never, url, (pm) => pm.customer === owner && (!p.type || pm.type === p.type));
  };
  router.get('/v1/payment_methods', ({ engine, params, url }) => list(engine, params, url));
  router.get('/v1/customers/:id/payment_methods', ({ engine, params, url, path }) => {
    mustGet(engine.state.customers, path.id as string, 'customer');
    return list(engine, params, url, path.id);
  });
}
