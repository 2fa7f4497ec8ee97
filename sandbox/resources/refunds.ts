import type Stripe from 'stripe';
import { recordBalanceTransaction } from '../billing/balance';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { invalidRequest, missingParameter } from '../http/errors';
import { mergeMetadata, parseParams } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { changedAttributes } from '../events/emit';
import { clone, listShape, mustGet } from './common';

export const REFUND_FAILURE_REASONS = ['lost_or_stolen_card', 'expired_or_canceled_card', 'charge_for_pending_refund_disputed', 'insufficient_funds', 'declined', 'merchant_request', 'unknown'] as const;

/**
 * A refund the card network bounces after it succeeded (Stripe: `refund.updated` and `refund.failed`
 * with status `failed`, and `charge.refund.updated`): the money returns to the balance and the
 * charge's amount_refunded drops back.
 */
export function failRefund(engine: Engine, id: string, failureReason = 'expired_or_canceled_card'): Stripe.Refund {
  const refund = mustGet(engine.state.refunds, id, 'refund');
  if (refund.status !== 'succeeded' && refund.status !== 'pending') {
    throw invalidRequest(`Refund ${refund.id} is ${refund.status}; only a pending or succeeded refund can fail.`, undefined, 'refund_not_failable');
  }
  if (!(REFUND_FAILURE_REASONS as readonly string[]).includes(failureReason)) throw invalidRequest(`Invalid failure_reason: must be one of ${REFUND_FAILURE_REASONS.join(', ')}`, 'failure_reason');
  const before = clone(refund);
  refund.status = 'failed';
  refund.failure_reason = failureReason;
  refund.failure_balance_transaction = recordBalanceTransaction(engine, {
    amount: refund.amount,
    currency: refund.currency,
    source: refund.id,
    type: 'refund_failure',
    reportingCategory: 'refund_failure',
    description: `REFUND FOR FAILED REFUND (${refund.id})`,
  }).id;
  const charge = refund.charge ? engine.state.charges.get(refund.charge as string) : undefined;
  if (charge) {
    charge.amount_refunded = Math.max(0, charge.amount_refunded - refund.amount);
    charge.refunded = charge.amount_refunded >= charge.amount_captured && charge.amount_captured > 0;
  }
  const changed = changedAttributes(before, refund);
  engine.events.emit('refund.updated', refund, changed);
  engine.events.emit('refund.failed', refund, changed);
  engine.events.emit('charge.refund.updated', refund, changed);
  return refund;
}

export function registerRefunds(router: Router): void {
  router.post('/v1/refunds', ({ engine, params }) => {
    const p = parseParams<Stripe.RefundCreateParams>(params, {
      payment_intent: 'string',
      charge: 'string',
      amount: 'integer',
      reason: 'string',
      metadata: 'metadata',
    });
    let charge: Stripe.Charge;
    if (p.payment_intent) {
      const pi = mustGet(engine.state.paymentIntents, p.payment_intent, 'payment_intent', 'payment_intent');
      if (pi.status !== 'succeeded' || !pi.latest_charge) {
        throw invalidRequest(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, 'payment_intent', 'charge_not_refundable');
      }
      charge = mustGet(engine.state.charges, pi.latest_charge as string, 'charge', 'payment_intent');
    } else if (p.charge) {
      charge = mustGet(engine.state.charges, p.charge, 'charge', 'charge');
    } else {
      throw missingParameter('payment_intent');
    }
    const remaining = charge.amount_captured - charge.amount_refunded;
    const amount = p.amount ?? remaining;
    if (remaining <= 0) throw invalidRequest(`Charge ${charge.id} has already been refunded.`, 'charge', 'charge_already_refunded');
    if (amount <= 0 || amount > remaining) {
      throw invalidRequest(`Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})`, 'amount', 'amount_too_large');
    }
    const id = newId('re');
    const refund: Stripe.Refund = {
      id,
      object: 'refund',
      amount,
      balance_transaction: recordBalanceTransaction(engine, { amount: -amount, currency: charge.currency, source: id, type: 'refund', reportingCategory: 'refund', description: 'REFUND FOR CHARGE' }).id,
      charge: charge.id,
      created: engine.now(),
      currency: charge.currency,
      customer: charge.customer,
      customer_account: null,
      destination_details: { type: 'card', card: { reference_status: 'available', reference_type: 'acquirer_reference_number', type: 'refund' } } as Stripe.Refund.DestinationDetails,
      metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
      payment_intent: charge.payment_intent,
      payment_method: charge.payment_method,
      reason: p.reason ?? null,
      receipt_number: null,
      source_transfer_reversal: null,
      status: 'succeeded',
      transfer_reversal: null,
    };
    engine.state.refunds.set(refund.id, refund);
    const before = clone(charge);
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded >= charge.amount_captured;
    engine.events.emit('charge.refunded', charge, changedAttributes(before, charge));
    engine.events.emit('refund.created', refund);
    return refund;
  });

  router.get('/v1/refunds/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.refunds, path.id as string, 'refund');
  });

  router.get('/v1/refunds', ({ engine, params, url }) => {
    const p = parseParams<Stripe.RefundListParams>(params, listShape({ charge: 'string', payment_intent: 'string' }));
    return paginate(engine.state.refunds.values(), p as never, url, (r) =>
      (!p.charge || r.charge === p.charge) && (!p.payment_intent || r.payment_intent === p.payment_intent),
    );
  });
}
