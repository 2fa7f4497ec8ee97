import Stripe from 'stripe';
import type { Database } from '../shared/db';
import type { DisputeOpened } from '../shared/observer';
import { stripeFailure } from '../shared/stripe-errors';
import { type DisputeObservation, recordDispute } from './effects/disputes';
import { recordRefund, type RefundObservation } from './effects/refunds';
import type { HandlerDeps, LedgerNotice, PreparedEvent } from './handlers';
import { idOf, type PaymentOwner, paymentOwner } from './payment-keys';
import { ensureUserLinked, type ResolvedUser, resolveUser } from './users';

/**
 * Refund and dispute events: Stripe lookups (which payment row, which user, the charge's refunds)
 * before the transaction; inside it, the user's lock, then the refund or dispute writers, which
 * re-derive the payment row from what they recorded.
 */

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

export function refundObservation(refund: Stripe.Refund, paymentKey: string, stripeTime: number, userId: string | null): RefundObservation {
  return {
    refundId: refund.id,
    paymentKey,
    userId,
    chargeId: idOf(refund.charge),
    paymentIntentId: idOf(refund.payment_intent),
    amount: refund.amount,
    currency: refund.currency,
    status: refund.status,
    reason: text(refund.reason),
    failureReason: text(refund.failure_reason),
    refundedAt: new Date(refund.created * 1000),
    stripeTime,
  };
}

export function disputeObservation(dispute: Stripe.Dispute, paymentKey: string, stripeTime: number, userId: string | null): DisputeObservation {
  const funds: DisputeObservation['funds'] = [];
  for (const bt of dispute.balance_transactions ?? []) {
    if (!bt || typeof bt.id !== 'string' || typeof bt.amount !== 'number' || bt.amount === 0) continue;
    // A balance transaction's own time is its day; an older event shape without it uses the event's.
    const at = typeof bt.created === 'number' && Number.isSafeInteger(bt.created) ? bt.created : stripeTime;
    funds.push({ balanceTransactionId: bt.id, direction: bt.amount < 0 ? 'withdrawn' : 'reinstated', occurredAt: new Date(at * 1000) });
  }
  const dueBy = dispute.evidence_details?.due_by ?? null;
  return {
    disputeId: dispute.id,
    paymentKey,
    userId,
    chargeId: idOf(dispute.charge),
    paymentIntentId: idOf(dispute.payment_intent),
    amount: dispute.amount,
    currency: dispute.currency,
    status: dispute.status,
    reason: dispute.reason,
    evidenceDueBy: dueBy === null ? null : new Date(dueBy * 1000),
    openedAt: new Date(dispute.created * 1000),
    stripeTime,
    funds,
  };
}

/**
 * Whose money this is: the payment row's user when the payment is known; else the customer's user
 * (local link, or `metadata.userId` from Stripe). A customer nobody can map is `unmatched`, like the
 * payment itself would be; money with no customer at all is still recorded.
 */
async function ownerUser(deps: HandlerDeps, owner: PaymentOwner, customerId: () => Promise<string | null>): Promise<{ user?: ResolvedUser } | 'unmatched'> {
  if (owner.local) return owner.local.userId ? { user: { userId: owner.local.userId, customerId: null } } : {};
  const customer = await customerId();
  if (!customer) return {};
  const user = await resolveUser(deps.db, deps.stripe, customer, {}, deps.links);
  return user ? { user } : 'unmatched';
}

const unmatched = (what: string): PreparedEvent => ({ kind: 'unmatched', reason: `no Upiik user for ${what} (its customer has no local link and no metadata.userId)` });

async function applyRefunds(trx: Database, user: ResolvedUser | undefined, observations: RefundObservation[]): Promise<LedgerNotice[]> {
  if (user) await ensureUserLinked(trx, user);
  const notices: LedgerNotice[] = [];
  for (const observation of observations) {
    const result = await recordRefund(trx, observation);
    if (result.countedNow) notices.push({ outcome: 'refunded', amount: observation.amount, currency: observation.currency, userId: user?.userId ?? null });
  }
  return notices;
}

/** refund.created / refund.updated / refund.failed: the refund itself. */
export async function prepareRefund(deps: HandlerDeps, event: Stripe.Event, refund: Stripe.Refund): Promise<PreparedEvent> {
  const owner = await paymentOwner(deps.db, deps.stripe, { paymentIntentId: idOf(refund.payment_intent), chargeId: idOf(refund.charge) }, deps.invoices);
  if (!owner) return { kind: 'ignored' };
  const resolved = await ownerUser(deps, owner, async () => idOf(refund.customer));
  if (resolved === 'unmatched') return unmatched(`refund ${refund.id}`);
  const observation = refundObservation(refund, owner.paymentKey, event.created, resolved.user?.userId ?? null);
  return { kind: 'apply', apply: (trx) => applyRefunds(trx, resolved.user, [observation]) };
}

/**
 * charge.refunded carries the charge (its cumulative `amount_refunded`), not which refunds: the
 * charge's refunds are read from Stripe here, and each is recorded by its id, so this event also
 * repairs any refund event that was missed.
 */
export async function prepareChargeRefunded(deps: HandlerDeps, event: Stripe.Event, charge: Stripe.Charge): Promise<PreparedEvent> {
  const owner = await paymentOwner(deps.db, deps.stripe, { paymentIntentId: idOf(charge.payment_intent), chargeId: charge.id }, deps.invoices);
  if (!owner) return { kind: 'ignored' };
  const resolved = await ownerUser(deps, owner, async () => idOf(charge.customer));
  if (resolved === 'unmatched') return unmatched(`charge ${charge.id}`);
  const refunds: Stripe.Refund[] = [];
  try {
    for await (const refund of deps.stripe.refunds.list({ charge: charge.id, limit: 100 })) refunds.push(refund);
  } catch (err) {
    throw stripeFailure(err, 'refund listing');
  }
  const observations = refunds.map((refund) => refundObservation(refund, owner.paymentKey, event.created, resolved.user?.userId ?? null));
  return { kind: 'apply', apply: (trx) => applyRefunds(trx, resolved.user, observations) };
}

/**
 * The customer of a charge, read from Stripe; 'missing' when Stripe says the charge does not exist
 * in this account (a retry could never find it: the event is recorded as unmatched, not retried for
 * days). Any other failure is a dependency failure: 5xx, Stripe retries.
 */
async function customerOfCharge(stripe: Stripe, chargeId: string | null): Promise<string | null | 'missing'> {
  if (!chargeId) return null;
  try {
    return idOf((await stripe.charges.retrieve(chargeId)).customer);
  } catch (err) {
    if (err instanceof Stripe.errors.StripeInvalidRequestError && err.statusCode === 404) return 'missing';
    throw stripeFailure(err, 'charge lookup');
  }
}

/** Every charge.dispute.* event: the dispute object is the whole state (status, funds moved). */
export async function prepareDispute(deps: HandlerDeps, event: Stripe.Event, dispute: Stripe.Dispute): Promise<PreparedEvent> {
  const chargeId = idOf(dispute.charge);
  const owner = await paymentOwner(deps.db, deps.stripe, { paymentIntentId: idOf(dispute.payment_intent), chargeId }, deps.invoices);
  if (!owner) return { kind: 'ignored' };
  // Disputes do not name the customer; its charge does (read only when the payment is not known here).
  const customer = owner.local ? null : await customerOfCharge(deps.stripe, chargeId);
  if (customer === 'missing') return { kind: 'unmatched', reason: `dispute ${dispute.id}: charge ${chargeId} does not exist in this Stripe account` };
  const resolved = await ownerUser(deps, owner, async () => customer);
  if (resolved === 'unmatched') return unmatched(`dispute ${dispute.id}`);
  const observation = disputeObservation(dispute, owner.paymentKey, event.created, resolved.user?.userId ?? null);
  const user = resolved.user;
  return {
    kind: 'apply',
    apply: async (trx) => {
      if (user) await ensureUserLinked(trx, user);
      const result = await recordDispute(trx, observation);
      if (!result.opened) return [];
      const opened: DisputeOpened = {
        kind: 'dispute_opened',
        disputeId: observation.disputeId,
        paymentKey: observation.paymentKey,
        amount: observation.amount,
        currency: observation.currency,
        reason: observation.reason,
        status: observation.status,
        evidenceDueBy: observation.evidenceDueBy?.toISOString() ?? null,
        userId: user?.userId ?? null,
      };
      return [opened];
    },
  };
}
