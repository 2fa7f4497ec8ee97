import { sql } from 'kysely';
import { addContribution, type RollupColumn, type RollupDelta } from '../../dashboard/rollups';
import type { Database } from '../../shared/db';

export type { RollupDelta } from '../../dashboard/rollups';

export const dayOf = (date: Date): string => date.toISOString().slice(0, 10);

/**
 * Adds one money movement (`delta`, positive or negative) to the rollups in the caller's
 * transaction: daily_revenue (UTC day and currency) and the dashboard's rollups (each zone's
 * business day, currency and the user's city). `userId` is whose movement it is (null: nobody yet).
 */
export async function addToRollups(trx: Database, movement: { at: Date; currency: string; userId: string | null; delta: RollupDelta }): Promise<void> {
  const { delta } = movement;
  const columns = (Object.keys(delta) as RollupColumn[]).filter((c) => delta[c] !== 0 && delta[c] !== undefined);
  if (columns.length === 0) return;
  const values = Object.fromEntries(columns.map((c) => [c, delta[c] as number]));
  const update = Object.fromEntries(columns.map((c) => [c, sql`${sql.ref(`daily_revenue.${c}`)} + ${sql.ref(`excluded.${c}`)}`]));
  await trx
    .insertInto('daily_revenue')
    .values({ day: dayOf(movement.at), currency: movement.currency.toLowerCase(), gross_amount: 0, refunded_amount: 0, payments_succeeded: 0, payments_failed: 0, ...values })
    .onConflict((oc) => oc.columns(['day', 'currency']).doUpdateSet({ ...update, updated_at: sql`now()` }))
    .execute();
  await addContribution(trx, movement);
}

/**
 * Serialises, for this transaction, everything that writes one payment's money: the payment's own
 * events, its refunds and its disputes. Without it a refund committed while its payment row was
 * being inserted would be missed by both (each reads before the other commits). Always taken after
 * the user's row lock (ensureUserLinked) and before any payment, refund or dispute row.
 */
export async function lockPayment(trx: Database, paymentKey: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${paymentKey}, 0))`.execute(trx);
}

/** Statuses of a payment whose money moved (a refund or dispute later does not undo that it was paid). */
export const PAID_STATUSES: readonly string[] = ['succeeded', 'partially_refunded', 'refunded'];
export const isPaid = (status: string): boolean => PAID_STATUSES.includes(status);

/** A paid payment's status from what has been refunded of it. */
export function paidStatus(amount: number, refunded: number): 'succeeded' | 'partially_refunded' | 'refunded' {
  if (refunded <= 0) return 'succeeded';
  return refunded >= amount ? 'refunded' : 'partially_refunded';
}

/**
 * Re-derives a payment row's refund and dispute state from the refunds, disputes and dispute_funds
 * rows of its key (sums of bigint are numeric: read through Number). Derived, not incremented, so it is right however often and in whatever order it
 * runs; a payment row that appears after its refunds or disputes picks them up here.
 */
export async function refreshPaymentAdjustments(trx: Database, paymentKey: string): Promise<void> {
  const payment = await trx.selectFrom('payments').select(['status', 'amount']).where('payment_key', '=', paymentKey).executeTakeFirst();
  if (!payment) return;
  const [refunds, disputes, latest, funds] = await Promise.all([
    trx
      .selectFrom('refunds')
      .select(sql<string | number>`coalesce(sum(amount), 0)`.as('total'))
      .where('payment_key', '=', paymentKey)
      .where('counted', '=', true)
      .executeTakeFirstOrThrow(),
    trx.selectFrom('disputes').select(sql<string | number>`coalesce(sum(amount), 0)`.as('total')).where('payment_key', '=', paymentKey).executeTakeFirstOrThrow(),
    trx.selectFrom('disputes').select('status').where('payment_key', '=', paymentKey).orderBy('opened_at', 'desc').orderBy('dispute_id', 'desc').limit(1).executeTakeFirst(),
    trx
      .selectFrom('dispute_funds')
      .innerJoin('disputes', 'disputes.dispute_id', 'dispute_funds.dispute_id')
      .select(sql<string | number>`coalesce(-sum(dispute_funds.amount), 0)`.as('withdrawn'))
      .where('disputes.payment_key', '=', paymentKey)
      .executeTakeFirstOrThrow(),
  ]);
  const refunded = Number(refunds.total);
  await trx
    .updateTable('payments')
    .set({
      refunded_amount: refunded,
      status: isPaid(payment.status) ? paidStatus(payment.amount, refunded) : payment.status,
      disputed_amount: Number(disputes.total),
      dispute_status: latest?.status ?? null,
      dispute_withdrawn_amount: Number(funds.withdrawn),
      updated_at: sql<Date>`now()`,
    })
    .where('payment_key', '=', paymentKey)
    .execute();
}
