import type Stripe from 'stripe';
import { recordBalanceTransaction } from '../billing/balance';
import type { Engine } from '../engine';
import { changedAttributes } from '../events/emit';
import { invalidRequest } from '../http/errors';
import { paginate } from '../http/list';
import { mergeMetadata, parseParams } from '../http/params';
import type { Router } from '../http/router';
import { newId } from '../ids';
import { clone, listShape, mustGet } from './common';

/**
 * Disputes (chargebacks). Stripe opens them from the card network, so the sandbox opens one through
 * its control API (`openDispute`) and decides it (`closeDisputeAs`); `/v1/disputes` reads, updates
 * (evidence, submit) and closes (accepts) them like Stripe. Money moves as on Stripe: opening a
 * chargeback withdraws the disputed amount (a balance transaction on the dispute,
 * `charge.dispute.funds_withdrawn`), winning reinstates it (`charge.dispute.funds_reinstated`),
 * losing or accepting keeps it withdrawn. Evidence is due 7 days after opening (sandbox clock).
 */

const EVIDENCE_WINDOW_SECONDS = 7 * 86_400;
const DISPUTE_FEE = 1500;
const CLOSED: readonly string[] = ['won', 'lost', 'warning_closed'];
export const DISPUTE_REASONS = [
  'bank_cannot_process', 'check_returned', 'credit_not_processed', 'customer_initiated', 'debit_not_authorized', 'duplicate',
  'fraudulent', 'general', 'incorrect_account_details', 'insufficient_funds', 'noncompliant', 'product_not_received',
  'product_unacceptable', 'subscription_canceled', 'unrecognized',
] as const;

function emptyEvidence(): Stripe.Dispute.Evidence {
  return {
    access_activity_log: null, billing_address: null, cancellation_policy: null, cancellation_policy_disclosure: null,
    cancellation_rebuttal: null, customer_communication: null, customer_email_address: null, customer_name: null,
    customer_purchase_ip: null, customer_signature: null, duplicate_charge_documentation: null, duplicate_charge_explanation: null,
    duplicate_charge_id: null, enhanced_evidence: {}, product_description: null, receipt: null, refund_policy: null,
    refund_policy_disclosure: null, refund_refusal_explanation: null, service_date: null, service_documentation: null,
    shipping_address: null, shipping_carrier: null, shipping_date: null, shipping_documentation: null,
    shipping_tracking_number: null, uncategorized_file: null, uncategorized_text: null,
  };
}

/** The dispute's balance movement, recorded like every other (retrievable, expandable), with the dispute fee on withdrawal. */
function balanceTransaction(engine: Engine, dispute: Stripe.Dispute, direction: 'withdrawal' | 'reinstatement'): Stripe.BalanceTransaction {
  const withdrawal = direction === 'withdrawal';
  const txn = recordBalanceTransaction(engine, {
    amount: (withdrawal ? -1 : 1) * dispute.amount,
    currency: dispute.currency,
    source: dispute.id,
    type: 'adjustment',
    reportingCategory: withdrawal ? 'dispute' : 'dispute_reversal',
    description: `${withdrawal ? 'Chargeback withdrawal' : 'Chargeback reversal'} for ${dispute.charge as string}`,
  });
  if (withdrawal) {
    txn.fee = DISPUTE_FEE;
    txn.fee_details = [{ amount: DISPUTE_FEE, application: null, currency: dispute.currency, description: 'Dispute fee', type: 'stripe_fee' }];
    txn.net = txn.amount - DISPUTE_FEE;
  }
  return txn;
}

/** Opens a chargeback on a succeeded charge, as the card network would. */
export function openDispute(engine: Engine, chargeId: string, options: { reason?: string; amount?: number } = {}): Stripe.Dispute {
  const charge = mustGet(engine.state.charges, chargeId, 'charge', 'charge');
  if (!charge.paid || charge.status !== 'succeeded') throw invalidRequest(`Charge ${charge.id} was not paid; it cannot be disputed.`, 'charge');
  if (charge.disputed) throw invalidRequest(`Charge ${charge.id} is already disputed.`, 'charge', 'charge_disputed');
  const reason = options.reason ?? 'fraudulent';
  if (!(DISPUTE_REASONS as readonly string[]).includes(reason)) throw invalidRequest(`Invalid reason: must be one of ${DISPUTE_REASONS.join(', ')}`, 'reason');
  const amount = options.amount ?? charge.amount_captured - charge.amount_refunded;
  if (!Number.isSafeInteger(amount) || amount <= 0 || amount > charge.amount_captured) throw invalidRequest(`Invalid dispute amount ${amount} for charge ${charge.id}`, 'amount');
  const now = engine.now();
  const dispute: Stripe.Dispute = {
    id: newId('dp'),
    object: 'dispute',
    amount,
    balance_transactions: [],
    charge: charge.id,
    created: now,
    currency: charge.currency,
    enhanced_eligibility_types: [],
    evidence: emptyEvidence(),
    evidence_details: { due_by: now + EVIDENCE_WINDOW_SECONDS, enhanced_eligibility: {}, has_evidence: false, past_due: false, submission_count: 0, submission_method: 'not_submitted' },
    intended_submission_method: null,
    is_charge_refundable: false,
    livemode: false,
    metadata: {},
    network_reason_code: null,
    payment_intent: charge.payment_intent,
    payment_method_details: { type: 'card', card: { brand: (charge.payment_method_details?.card?.brand as string | undefined) ?? 'visa', case_type: 'chargeback', network: 'visa', network_reason_code: null } },
    reason,
    status: 'needs_response',
  };
  engine.state.disputes.set(dispute.id, dispute);
  const before = clone(charge);
  charge.disputed = true;
  engine.events.emit('charge.dispute.created', dispute);
  dispute.balance_transactions.push(balanceTransaction(engine, dispute, 'withdrawal'));
  engine.events.emit('charge.dispute.funds_withdrawn', dispute);
  engine.events.emit('charge.updated', charge, changedAttributes(before, charge));
  return dispute;
}

/** The network's decision: `won` reinstates the funds, `lost` keeps them withdrawn. */
export function closeDisputeAs(engine: Engine, id: string, outcome: 'won' | 'lost'): Stripe.Dispute {
  const dispute = mustGet(engine.state.disputes, id, 'dispute');
  if (CLOSED.includes(dispute.status)) throw invalidRequest(`Dispute ${dispute.id} is already closed (${dispute.status}).`, undefined, 'dispute_already_closed');
  const before = clone(dispute);
  dispute.status = outcome;
  dispute.evidence_details.due_by = null;
  dispute.is_charge_refundable = false;
  if (outcome === 'won') {
    dispute.balance_transactions.push(balanceTransaction(engine, dispute, 'reinstatement'));
    engine.events.emit('charge.dispute.funds_reinstated', dispute);
  }
  engine.events.emit('charge.dispute.closed', dispute, changedAttributes(before, dispute));
  return dispute;
}

const EVIDENCE_FIELDS = Object.keys(emptyEvidence()).filter((k) => k !== 'enhanced_evidence' && k !== 'appeal');

export function registerDisputes(router: Router): void {
  router.get('/v1/disputes/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.disputes, path.id as string, 'dispute');
  });

  router.get('/v1/disputes', ({ engine, params, url }) => {
    const p = parseParams<Stripe.DisputeListParams>(params, listShape({ charge: 'string', payment_intent: 'string', created: 'timestamp_range' }));
    return paginate(engine.state.disputes.values(), p as never, url, (d) =>
      (!p.charge || d.charge === p.charge) && (!p.payment_intent || d.payment_intent === p.payment_intent),
    );
  });

  router.post('/v1/disputes/:id', ({ engine, path, params }) => {
    const p = parseParams<{ evidence?: Record<string, string>; metadata?: Record<string, string>; submit?: boolean }>(params, {
      evidence: { object: Object.fromEntries(EVIDENCE_FIELDS.map((k) => [k, 'string' as const])) },
      metadata: 'metadata',
      submit: 'boolean',
    });
    const dispute = mustGet(engine.state.disputes, path.id as string, 'dispute');
    if (CLOSED.includes(dispute.status)) throw invalidRequest(`This dispute is already closed (${dispute.status}).`, undefined, 'dispute_already_closed');
    const before = clone(dispute);
    if (p.evidence) {
      Object.assign(dispute.evidence, p.evidence);
      dispute.evidence_details.has_evidence = true;
    }
    if (p.metadata) dispute.metadata = mergeMetadata(dispute.metadata, p.metadata);
    if (p.submit) {
      dispute.status = 'under_review';
      dispute.evidence_details.submission_count += 1;
      dispute.evidence_details.submission_method = 'manual';
    }
    const changed = changedAttributes(before, dispute);
    if (Object.keys(changed).length > 0) engine.events.emit('charge.dispute.updated', dispute, changed);
    return dispute;
  });

  // Accepting a dispute (closing it) concedes it: Stripe marks it lost and the funds stay withdrawn.
  router.post('/v1/disputes/:id/close', ({ engine, path, params }) => {
    parseParams(params, {});
    return closeDisputeAs(engine, path.id as string, 'lost');
  });
}
