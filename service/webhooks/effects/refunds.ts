import { sql } from 'kysely';
import type { Database } from '../../shared/db';
import { addToRollups, lockPayment, refreshPaymentAdjustments } from './ledger';

/**
 * One Stripe refund, as an event (refund.created/updated/failed) or a fetched object (charge.refunded,
 * reconciliation) shows it.
 *
 * Counting rules (order-independent, exactly once per refund id):
 * - a refund counts against its payment from its creation (Stripe takes it from the balance then)
 *   until it fails or is canceled; `failed` and `canceled` are final and never undone by an older or
 *   same-second event that still shows it pending or succeeded;
 * - otherwise the newest Stripe time wins, and within one second the further status
 *   (succeeded > requires_action > pending);
 * - the rollup's refunded_amount moves by the change of what counts, on the refund's own day (a
 *   failed refund is taken back from the day it was added to, so every day stays what it would be
 *   had the refund never counted), and the payment row re-derives its refunded_amount and status.
 */
export interface RefundObservation {
  refundId: string;
  /** The payment row this refund belongs to (invoice id when its payment intent pays an invoice). */
  paymentKey: string;
  chargeId: string | null;
  paymentIntentId: string | null;
  amount: number;
  currency: string;
  /** Stripe's refund status (null is read as pending). */
  status: string | null;
  reason: string | null;
  failureReason: string | null;
  /** Whose money this is (the payment's user, else the customer's); kept with the refund for the dashboard. */
  userId: string | null;
  /** The refund's creation time (its rollup day). */
  refundedAt: Date;
  /** Stripe time of the observation (event `created`), unix seconds. */
  stripeTime: number;
  /** A fresh read from Stripe (reconciliation): its status is the truth, whatever is stored. */
  authoritative?: boolean;
}

export interface RefundWriteResult {
  /** The refund started counting now (new money out). */
  countedNow: boolean;
  /** The refund stopped counting now (failed or canceled after it counted). */
  reversedNow: boolean;
}

const FINAL_STATUSES = ['failed', 'canceled'];
const RANK: Record<string, number> = { pending: 0, requires_action: 1, succeeded: 2 };

const isFinal = (status: string): boolean => FINAL_STATUSES.includes(status);
const counts = (status: string): boolean => !isFinal(status);

/** Whether an observation with `incoming` status at `incomingTime` replaces the stored one. */
export function refundStatusWins(incoming: string, incomingTime: number, stored: string, storedTime: number): boolean {
  if (isFinal(stored)) return false;
  if (isFinal(incoming)) return true;
  if (incomingTime !== storedTime) return incomingTime > storedTime;
  return (RANK[incoming] ?? 0) > (RANK[stored] ?? 0);
}

export async function recordRefund(trx: Database, r: RefundObservation): Promise<RefundWriteResult> {
  const status = r.status ?? 'pending';
  const currency = r.currency.toLowerCase();
  await lockPayment(trx, r.paymentKey);
  const existing = await trx
    .selectFrom('refunds')
    .select(['status', 'amount', 'counted', 'stripe_updated_at', 'refunded_at', 'currency', 'payment_key', 'user_id'])
    .where('refund_id', '=', r.refundId)
    .forUpdate()
    .executeTakeFirst();

  const result: RefundWriteResult = { countedNow: false, reversedNow: false };
  if (!existing) {
    const counted = counts(status);
    await trx
      .insertInto('refunds')
      .values({
        refund_id: r.refundId,
        payment_key: r.paymentKey,
        charge_id: r.chargeId,
        payment_intent_id: r.paymentIntentId,
        amount: r.amount,
        currency,
        status,
        reason: r.reason,
        failure_reason: r.failureReason,
        user_id: r.userId,
        counted,
        refunded_at: r.refundedAt,
        stripe_updated_at: r.stripeTime,
      })
      .execute();
    if (counted) await addToRollups(trx, { at: r.refundedAt, currency, userId: r.userId, delta: { refunded_amount: r.amount, refunds: 1 } });
    result.countedNow = counted;
  } else {
    const storedTime = Number(existing.stripe_updated_at);
    const wins = r.authoritative === true || refundStatusWins(status, r.stripeTime, existing.status, storedTime);
    const nextStatus = wins ? status : existing.status;
    const nextCounted = counts(nextStatus);
    const before = existing.counted ? existing.amount : 0;
    const after = nextCounted ? r.amount : 0;
    await trx
      .updateTable('refunds')
      .set({
        ...(wins ? { status: nextStatus, stripe_updated_at: Math.max(r.stripeTime, storedTime) } : {}),
        amount: r.amount,
        counted: nextCounted,
        failure_reason: sql<string | null>`coalesce(${r.failureReason}, failure_reason)`,
        reason: sql<string | null>`coalesce(reason, ${r.reason})`,
        charge_id: sql<string | null>`coalesce(charge_id, ${r.chargeId})`,
        payment_intent_id: sql<string | null>`coalesce(payment_intent_id, ${r.paymentIntentId})`,
        updated_at: sql<Date>`now()`,
      })
      .where('refund_id', '=', r.refundId)
      .execute();
    if (after !== before || nextCounted !== existing.counted) {
      await addToRollups(trx, {
        at: existing.refunded_at,
        currency: existing.currency,
        userId: existing.user_id,
        delta: { refunded_amount: after - before, refunds: (nextCounted ? 1 : 0) - (existing.counted ? 1 : 0) },
      });
    }
    result.countedNow = nextCounted && !existing.counted;
    result.reversedNow = !nextCounted && existing.counted;
  }
  await refreshPaymentAdjustments(trx, existing?.payment_key ?? r.paymentKey);
  return result;
}
