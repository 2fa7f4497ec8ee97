import { sql } from 'kysely';
import type { Database } from '../../shared/db';
import { attributionOf, moveContributions } from '../../dashboard/rollups';
import { addToRollups, isPaid, lockPayment, refreshPaymentAdjustments } from './ledger';

/**
 * One payment row per money movement (`payment_key`: the invoice id when the movement pays an
 * invoice, else the payment intent id), so an invoice and the intent that pays it are one row.
 *
 * Counting rules, which keep the daily rollup exact however events are duplicated or reordered:
 * - the row holds the final state; paid (`succeeded`, or `partially_refunded` / `refunded` once
 *   refunds count against it) beats `failed` and is never undone by a late failure or a late
 *   duplicate success;
 * - revenue (gross_amount, payments_succeeded) is added exactly once, on the transition into
 *   paid, on the day the money moved; refunds and disputes are their own rows (refunds.ts,
 *   disputes.ts) and the payment's refund/dispute columns are re-derived from them after every write;
 * - every failed attempt is recorded once in payment_attempts under a stable attempt key and adds
 *   one to payments_failed on its own day (a retry that succeeds after two declines is one
 *   succeeded payment with failed_attempts = 2, and two failures in the rollup).
 */
export interface PaymentObservation {
  paymentKey: string;
  invoiceId?: string | null;
  paymentIntentId?: string | null;
  subscriptionId?: string | null;
  customerId?: string | null;
  userId?: string | null;
  amount: number;
  currency: string;
  outcome: 'succeeded' | 'failed';
  failureCode?: string | null;
  failureMessage?: string | null;
  occurredAt: Date;
  /** Stripe time of the observation (event `created`), unix seconds. */
  stripeTime: number;
  /** Stable key of this failed attempt; absent when another event of the same attempt counts it. */
  attemptKey?: string | null;
}

export interface PaymentWriteResult {
  /** The row moved into `succeeded` now (revenue was added). */
  succeeded: boolean;
  /** A failed attempt was counted now. */
  failedAttemptCounted: boolean;
}

export async function recordPayment(trx: Database, p: PaymentObservation): Promise<PaymentWriteResult> {
  const currency = p.currency.toLowerCase();
  const result: PaymentWriteResult = { succeeded: false, failedAttemptCounted: false };
  let owner = p.userId ?? null;
  await lockPayment(trx, p.paymentKey);
  const inserted = await trx
    .insertInto('payments')
    .values({
      payment_key: p.paymentKey,
      user_id: p.userId ?? null,
      customer_id: p.customerId ?? null,
      invoice_id: p.invoiceId ?? null,
      payment_intent_id: p.paymentIntentId ?? null,
      subscription_id: p.subscriptionId ?? null,
      amount: p.amount,
      currency,
      status: p.outcome,
      failure_code: p.outcome === 'failed' ? (p.failureCode ?? null) : null,
      failure_message: p.outcome === 'failed' ? (p.failureMessage ?? null) : null,
      occurred_at: p.occurredAt,
      stripe_updated_at: p.stripeTime,
    })
    .onConflict((oc) => oc.column('payment_key').doNothing())
    // Whether refunds or disputes of this key arrived before it (they are serialised with this
    // write by the payment's lock, so the statement's snapshot sees every one committed).
    .returning(['id', sql<boolean>`exists (select 1 from refunds r where r.payment_key = ${p.paymentKey}) or exists (select 1 from disputes d where d.payment_key = ${p.paymentKey})`.as('adjusted')])
    .executeTakeFirst();

  if (inserted) {
    result.succeeded = p.outcome === 'succeeded';
  } else {
    const row = await trx
      .selectFrom('payments')
      .select(['status', 'stripe_updated_at', 'user_id'])
      .where('payment_key', '=', p.paymentKey)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (row.user_id === null && owner !== null) {
      // The payment gets its user now: what it already counted moves from "no city" to theirs,
      // before anything this observation adds (which is counted for them directly).
      await trx.updateTable('payments').set({ user_id: owner }).where('payment_key', '=', p.paymentKey).execute();
      await moveContributions(trx, { kind: 'payment', paymentKey: p.paymentKey }, { city: null, internal: false }, await attributionOf(trx, owner));
    }
    owner = row.user_id ?? owner;
    const fill = {
      user_id: sql<string | null>`coalesce(user_id, ${p.userId ?? null})`,
      customer_id: sql<string | null>`coalesce(customer_id, ${p.customerId ?? null})`,
      invoice_id: sql<string | null>`coalesce(invoice_id, ${p.invoiceId ?? null})`,
      payment_intent_id: sql<string | null>`coalesce(payment_intent_id, ${p.paymentIntentId ?? null})`,
      subscription_id: sql<string | null>`coalesce(subscription_id, ${p.subscriptionId ?? null})`,
      updated_at: sql<Date>`now()`,
    };
    if (p.outcome === 'succeeded' && !isPaid(row.status)) {
      await trx
        .updateTable('payments')
        .set({ ...fill, status: 'succeeded', amount: p.amount, currency, failure_code: null, failure_message: null, occurred_at: p.occurredAt, stripe_updated_at: p.stripeTime })
        .where('payment_key', '=', p.paymentKey)
        .execute();
      result.succeeded = true;
    } else if (p.outcome === 'failed' && row.status === 'failed' && p.stripeTime >= Number(row.stripe_updated_at)) {
      // The newest failure describes the row; an older one only fills in what is missing.
      await trx
        .updateTable('payments')
        .set({
          ...fill,
          amount: p.amount,
          failure_code: sql<string | null>`coalesce(${p.failureCode ?? null}, failure_code)`,
          failure_message: sql<string | null>`coalesce(${p.failureMessage ?? null}, failure_message)`,
          occurred_at: p.occurredAt,
          stripe_updated_at: p.stripeTime,
        })
        .where('payment_key', '=', p.paymentKey)
        .execute();
    } else {
      const failureFill =
        p.outcome === 'failed' && row.status === 'failed'
          ? { failure_code: sql<string | null>`coalesce(failure_code, ${p.failureCode ?? null})`, failure_message: sql<string | null>`coalesce(failure_message, ${p.failureMessage ?? null})` }
          : {};
      await trx.updateTable('payments').set({ ...fill, ...failureFill }).where('payment_key', '=', p.paymentKey).execute();
    }
  }

  if (p.outcome === 'failed' && p.attemptKey) {
    result.failedAttemptCounted = await recordFailedAttempt(trx, {
      attemptKey: p.attemptKey,
      paymentKey: p.paymentKey,
      failureCode: p.failureCode ?? null,
      occurredAt: p.occurredAt,
      currency,
    });
  }
  if (result.succeeded) await addToRollups(trx, { at: p.occurredAt, currency, userId: owner, delta: { gross_amount: p.amount, payments_succeeded: 1 } });
  // Refunds or disputes that arrived before this payment's own event apply now. A row this write
  // inserted with none of them is already what the refresh would leave (no refund, no dispute: the
  // columns' defaults), so it costs no statement (issue 15: one round trip per new payment).
  if (!inserted || inserted.adjusted) await refreshPaymentAdjustments(trx, p.paymentKey);
  return result;
}

/** Counts one failed attempt once; true when it was new. */
export async function recordFailedAttempt(
  trx: Database,
  a: { attemptKey: string; paymentKey: string; failureCode: string | null; occurredAt: Date; currency: string },
): Promise<boolean> {
  const inserted = await trx
    .insertInto('payment_attempts')
    .values({ attempt_key: a.attemptKey, payment_key: a.paymentKey, outcome: 'failed', failure_code: a.failureCode, occurred_at: a.occurredAt })
    .onConflict((oc) => oc.column('attempt_key').doNothing())
    .returning('attempt_key')
    .executeTakeFirst();
  if (!inserted) return false;
  const payment = await trx
    .updateTable('payments')
    .set({ failed_attempts: sql`failed_attempts + 1` })
    .where('payment_key', '=', a.paymentKey)
    .returning('user_id')
    .executeTakeFirst();
  await addToRollups(trx, { at: a.occurredAt, currency: a.currency, userId: payment?.user_id ?? null, delta: { payments_failed: 1 } });
  return true;
}
