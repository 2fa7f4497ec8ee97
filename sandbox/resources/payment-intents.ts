import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { invalidRequest, missingParameter } from '../http/errors';
import { mergeMetadata, parseParams } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { listShape, mustGet } from './common';
import { liveCustomer } from './customers';
import { cardError, resolvePaymentMethod } from './payment-methods';
import { confirmPaymentIntent, createPaymentIntent } from '../billing/payments';

type Form = Parameters<typeof parseParams>[0];

export function registerPaymentIntents(router: Router): void {
  router.post('/v1/payment_intents', ({ engine, params }) => {
    const p = parseParams<Stripe.PaymentIntentCreateParams>(
      params,
      {
        amount: 'integer',
        currency: 'string',
        customer: 'string',
        payment_method: 'string',
        confirm: 'boolean',
        off_session: 'boolean',
        description: 'string',
        metadata: 'metadata',
        automatic_payment_methods: { object: { enabled: 'boolean', allow_redirects: 'string' } },
        receipt_email: 'string',
        setup_future_usage: 'string',
        return_url: 'string',
        capture_method: 'string',
        statement_descriptor_suffix: 'string',
      },
      ['amount', 'currency'],
    );
    if (p.amount < 50) throw invalidRequest('Amount must be at least $0.50 usd', 'amount', 'amount_too_small');
    if (p.customer) liveCustomer(engine, p.customer);
    const pi = createPaymentIntent(engine, {
      amount: p.amount,
      currency: p.currency.toLowerCase(),
      customer: p.customer ?? null,
      description: p.description,
      metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
      setupFutureUsage: p.setup_future_usage ?? null,
    });
    if (p.receipt_email) pi.receipt_email = p.receipt_email;
    if (p.payment_method) {
      pi.payment_method = resolvePaymentMethod(engine, p.payment_method).id;
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
    const p = parseParams<Stripe.PaymentIntentCancelParams>(params, { cancellation_reason: 'string' });
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
  const pm = resolvePaymentMethod(engine, id);
  const outcome = confirmPaymentIntent(engine, pi, pm, offSession);
  if (outcome.result === 'declined') {
    throw cardError(outcome, undefined, { charge: pi.latest_charge, payment_intent: structuredClone(pi), payment_method: structuredClone(pm) });
  }
  return pi;
}
