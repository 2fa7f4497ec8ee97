import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { invalidRequest, missingParameter } from '../http/errors';
import { mergeMetadata, parseParams } from '../http/params';
import type { Router } from '../http/router';
import { mustGet } from './common';
import { liveCustomer } from './customers';
import { attachOutcome, attachPaymentMethod, cardError, resolvePaymentMethod } from './payment-methods';
import { checkAllowedType, METHOD_PARAMS, MethodParams, paymentMethodTypes } from './payment-intents';

export function registerSetupIntents(router: Router): void {
  router.post('/v1/setup_intents', ({ engine, params }) => {
    const p = parseParams<Stripe.SetupIntentCreateParams & MethodParams>(params, {
      customer: 'string',
      payment_method: 'string',
      confirm: 'boolean',
      usage: { enum: ['off_session', 'on_session'] },
      description: 'string',
      metadata: 'metadata',
      ...METHOD_PARAMS,
      return_url: 'string',
    });
    if (p.customer) liveCustomer(engine, p.customer);
    const methods = paymentMethodTypes(p);
    const pm = p.payment_method ? resolvePaymentMethod(engine, p.payment_method, 'payment_method') : undefined;
    if (pm) checkAllowedType(methods.types, pm);
    const id = newId('seti');
    const si: Stripe.SetupIntent = {
      id,
      object: 'setup_intent',
      allowed_payment_method_types: methods.allowed as Stripe.SetupIntent.AllowedPaymentMethodType[] | null,
      application: null,
      automatic_payment_methods: methods.automatic,
      cancellation_reason: null,
      client_secret: `${id}_secret_${newId('x', 16).slice(2)}`,
      created: engine.now(),
      customer: p.customer ?? null,
      description: p.description ?? null,
      excluded_payment_method_types: null,
      flow_directions: null,
      last_setup_error: null,
      latest_attempt: null,
      livemode: false,
      mandate: null,
      metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
      next_action: null,
      on_behalf_of: null,
      payment_method: pm?.id ?? null,
      payment_method_configuration_details: null,
      payment_method_options: null,
      payment_method_types: methods.types,
      single_use_mandate: null,
      status: pm ? 'requires_confirmation' : 'requires_payment_method',
      usage: p.usage ?? 'off_session',
    };
    engine.state.setupIntents.set(id, si);
    engine.events.emit('setup_intent.created', si);
    if (p.confirm) confirmSetup(engine, si, undefined);
    return si;
  });

  router.get('/v1/setup_intents/:id', ({ engine, path, params }) => {
    parseParams(params, { client_secret: 'string' });
    return mustGet(engine.state.setupIntents, path.id as string, 'setup_intent');
  });

  router.post('/v1/setup_intents/:id/confirm', ({ engine, path, params }) => {
    const p = parseParams<Stripe.SetupIntentConfirmParams>(params, { payment_method: 'string', return_url: 'string' });
    const si = mustGet(engine.state.setupIntents, path.id as string, 'setup_intent');
    return confirmSetup(engine, si, p.payment_method);
  });
}

/** Card checks as at attach time; a card needing 3DS leaves the intent `requires_action`. */
function confirmSetup(engine: Engine, si: Stripe.SetupIntent, pmId: string | undefined): Stripe.SetupIntent {
  if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(si.status)) {
    throw invalidRequest(`This SetupIntent's status is ${si.status} and cannot be confirmed.`, undefined, 'setup_intent_unexpected_state');
  }
  const id = pmId ?? (si.payment_method as string | null);
  if (!id) throw missingParameter('payment_method');
  const pm = resolvePaymentMethod(engine, id, 'payment_method');
  checkAllowedType(si.payment_method_types, pm);
  si.payment_method = pm.id;
  const outcome = attachOutcome(pm);
  if (outcome.result === 'declined') {
    si.status = 'requires_payment_method';
    si.last_setup_error = { type: 'card_error', code: outcome.code, decline_code: outcome.declineCode, message: outcome.message };
    engine.events.emit('setup_intent.setup_failed', si);
    throw cardError(outcome, undefined, { setup_intent: structuredClone(si) });
  }
  if (pm.card?.last4 === '3184' && si.status !== 'requires_action') {
    si.status = 'requires_action';
    si.next_action = { type: 'use_stripe_sdk', use_stripe_sdk: {} as Stripe.SetupIntent.NextAction.UseStripeSdk };
    engine.events.emit('setup_intent.requires_action', si);
    return si;
  }
  if (si.customer) attachPaymentMethod(engine, pm, si.customer as string);
  si.status = 'succeeded';
  si.next_action = null;
  si.last_setup_error = null;
  engine.events.emit('setup_intent.succeeded', si);
  return si;
}
