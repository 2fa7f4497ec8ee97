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

/**
 * Re-derives a payment row's refund and dispute state from the refunds, disputes and dispute_funds
 * rows of its key. Derived, not incremented, so it is right however often and in whatever order it
 * runs; a payment row that appears after its refunds or disputes picks them up here. One statement
 * (it runs after every payment, refund and dispute write: five reads and an update were a third of
 * a drained payment's round trips, issue 15). A paid payment's status follows what is refunded of
 * it: nothing `succeeded`, all of it or more `refunded`, else `partially_refunded`; any other
 * status stays.
 */
export async function refreshPaymentAdjustments(trx: Database, paymentKey: string): Promise<void> {
  await sql`
    update payments p set
      refunded_amount = a.refunded,
      status = case when p.status not in (${sql.join(PAID_STATUSES)}) then p.status
        when a.refunded <= 0 then 'succeeded' when a.refunded >= p.amount then 'refunded' else 'partially_refunded' end,
      disputed_amount = a.disputed,
      dispute_status = a.dispute_status,
      dispute_withdrawn_amount = a.withdrawn,
      updated_at = now()
    from (select
        (select coalesce(sum(amount), 0) from refunds where payment_key = ${paymentKey} and counted) as refunded,
        (select coalesce(sum(amount), 0) from disputes where payment_key = ${paymentKey}) as disputed,
        (select status from disputes where payment_key = ${paymentKey} order by opened_at desc, dispute_id desc limit 1) as dispute_status,
        (select coalesce(-sum(f.amount), 0) from dispute_funds f join disputes d on d.dispute_id = f.dispute_id where d.payment_key = ${paymentKey}) as withdrawn
      ) a
    where p.payment_key = ${paymentKey}`.execute(trx);
}
