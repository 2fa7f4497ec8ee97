import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { invalidRequest, missingParameter } from '../http/errors';
import { mergeMetadata, parseParams, Shape } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { listShape, mustGet } from './common';
import { liveCustomer } from './customers';
import { cardError, resolvePaymentMethod } from './payment-methods';
import { confirmPaymentIntent, createPaymentIntent } from '../billing/payments';

type Form = Parameters<typeof parseParams>[0];

/** Stripe's cap on a single charge in minor units (eight digits) for two-decimal currencies. */
const MAX_AMOUNT = 99_999_999;

/** The payment-method parameters intents accept on create. */
export const METHOD_PARAMS: Shape = {
  automatic_payment_methods: { object: { enabled: 'boolean', allow_redirects: { enum: ['always', 'never'] } } },
  // This API version's name for the list of allowed types ...
  allowed_payment_method_types: 'strings',
  // ... and the name every integration written before it sends (the SDK's CHANGELOG records the
  // rename for 2026-10-28.endive); both are accepted and mean the same.
  payment_method_types: 'strings',
};

export interface MethodParams {
  automatic_payment_methods?: { enabled: boolean; allow_redirects?: string };
  allowed_payment_method_types?: string[];
  payment_method_types?: string[];
}

/**
 * Allowed types or `automatic_payment_methods`, never both (as on Stripe). The sandbox can only
 * charge cards, so automatic methods resolve to `['card']`.
 */
export function paymentMethodTypes(p: MethodParams): {
  allowed: string[] | null;
  types: string[];
  automatic: Stripe.PaymentIntent.AutomaticPaymentMethods | null;
} {
  if (p.allowed_payment_method_types && p.payment_method_types) {
    throw invalidRequest('You may only specify one of these parameters: allowed_payment_method_types, payment_method_types.', 'payment_method_types');
  }
  const param = p.allowed_payment_method_types ? 'allowed_payment_method_types' : 'payment_method_types';
  const types = p.allowed_payment_method_types ?? p.payment_method_types;
  if (types && p.automatic_payment_methods) {
    throw invalidRequest(`You may only specify one of these parameters: automatic_payment_methods, ${param}.`, param);
  }
  if (types) {
    if (types.length === 0) throw invalidRequest(`${param} must contain at least one payment method type.`, param);
    return { allowed: types, types, automatic: null };
  }
  if (p.automatic_payment_methods?.enabled) {
    const redirects = (p.automatic_payment_methods.allow_redirects ?? 'always') as Stripe.PaymentIntent.AutomaticPaymentMethods.AllowRedirects;
    return { allowed: null, types: ['card'], automatic: { allow_redirects: redirects, enabled: true } };
  }
  return { allowed: null, types: ['card'], automatic: null };
}

/** Refuses a payment method whose type the intent does not allow, before any charge. */
export function checkAllowedType(allowed: string[], pm: Stripe.PaymentMethod): void {
  if (!allowed.includes(pm.type)) {
    throw invalidRequest(
      `The PaymentMethod provided (${pm.type}) is not allowed for this intent, which accepts: ${allowed.join(', ')}.`,
      'payment_method',
    );
  }
}

export function registerPaymentIntents(router: Router): void {
  router.post('/v1/payment_intents', ({ engine, params }) => {
    const p = parseParams<Stripe.PaymentIntentCreateParams & MethodParams>(
      params,
      {
        amount: 'integer',
        currency: 'currency',
        customer: 'string',
        payment_method: 'string',
        confirm: 'boolean',
        off_session: 'boolean',
        description: 'string',
        metadata: 'metadata',
        ...METHOD_PARAMS,
        receipt_email: 'string',
        setup_future_usage: { enum: ['off_session', 'on_session'] },
        return_url: 'string',
        capture_method: { enum: ['automatic', 'automatic_async', 'manual'] },
        statement_descriptor_suffix: 'string',
      },
      ['amount', 'currency'],
    );
    if (p.amount < 50) throw invalidRequest('Amount must be at least $0.50 usd', 'amount', 'amount_too_small');
    if (p.amount > MAX_AMOUNT) throw invalidRequest('Amount must be no more than 99999999', 'amount', 'amount_too_large');
    if (p.customer) liveCustomer(engine, p.customer);
    const methods = paymentMethodTypes(p);
    const pi = createPaymentIntent(engine, {
      amount: p.amount,
      currency: p.currency.toLowerCase(),
      customer: p.customer ?? null,
      description: p.description,
      metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
      setupFutureUsage: p.setup_future_usage ?? null,
      paymentMethodTypes: methods.types,
    });
    pi.automatic_payment_methods = methods.automatic;
    pi.allowed_payment_method_types = methods.allowed as Stripe.PaymentIntent.AllowedPaymentMethodType[] | null;
    if (p.receipt_email) pi.receipt_email = p.receipt_email;
    if (p.payment_method) {
      const pm = resolvePaymentMethod(engine, p.payment_method, 'payment_method');
      checkAllowedType(pi.payment_method_types, pm);
      pi.payment_method = pm.id;
      pi.status = 'requires_confirmation';
    }
    if (p.confirm) confirm(engine, pi, undefined, p.off_session === true);
    return pi;
  });

  router.get('/v1/payment_intents/:id', ({ engine, path, params }) => {
    parseParams(params, { client_secret: 'string' });
    return mustGet(engine.state.paymentIntents, path.id as string, 'payment_intent');
  });

  router.post('/v1/payment_intents/:id/confirm', ({ engine, path, params }) => {
    const pi = mustGet(engine.state.paymentIntents, path.id as string, 'payment_intent');
    return confirmFromParams(engine, pi, params);
  });

  router.post('/v1/payment_intents/:id/cancel', ({ engine, path, params }) => {
    const p = parseParams<Stripe.PaymentIntentCancelParams>(params, { cancellation_reason: { enum: ['abandoned', 'duplicate', 'fraudulent', 'requested_by_customer'] } });
    const pi = mustGet(engine.state.paymentIntents, path.id as string, 'payment_intent');
    if (pi.status === 'succeeded' || pi.status === 'canceled') {
      throw invalidRequest(
        `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.`,
        undefined,
        'payment_intent_unexpected_state',
      );
    }
    pi.status = 'canceled';
    pi.canceled_at = engine.now();
    pi.cancellation_reason = p.cancellation_reason ?? null;
    engine.events.emit('payment_intent.canceled', pi);
    return pi;
  });

  router.get('/v1/payment_intents', ({ engine, params, url }) => {
    const p = parseParams<Stripe.PaymentIntentListParams>(params, listShape({ customer: 'string' }));
    return paginate(engine.state.paymentIntents.values(), p as never, url, (pi) => !p.customer || pi.customer === p.customer);
  });
}

function confirmFromParams(engine: Engine, pi: Stripe.PaymentIntent, params: Form): Stripe.PaymentIntent {
  const p = parseParams<Stripe.PaymentIntentConfirmParams>(params, { payment_method: 'string', off_session: 'boolean', return_url: 'string', receipt_email: 'string' });
  return confirm(engine, pi, p.payment_method, p.off_session === true);
}

/** Confirmation answers 402 with the intent in the error body on a decline, as Stripe does. */
function confirm(engine: Engine, pi: Stripe.PaymentIntent, pmId: string | undefined, offSession: boolean): Stripe.PaymentIntent {
  if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(pi.status)) {
    throw invalidRequest(
      `This PaymentIntent's status is ${pi.status}, but it must be one of requires_payment_method, requires_confirmation, or requires_action to be confirmed.`,
      undefined,
      'payment_intent_unexpected_state',
    );
  }
  const id = pmId ?? (pi.payment_method as string | null);
  if (!id) throw missingParameter('payment_method');
  const pm = resolvePaymentMethod(engine, id, 'payment_method');
  checkAllowedType(pi.payment_method_types, pm);
  const outcome = confirmPaymentIntent(engine, pi, pm, offSession);
  if (outcome.result === 'declined') {
    throw cardError(outcome, undefined, { charge: pi.latest_charge, payment_intent: structuredClone(pi), payment_method: structuredClone(pm) });
  }
  return pi;
}
