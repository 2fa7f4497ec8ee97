import { type RawBuilder, sql } from 'kysely';
import type { Database } from '../shared/db';

/**
 * The dashboard's rollups: one row per business day, currency and city, for every time zone in
 * `rollup_zones` (Europe/Paris, Upiik's business days, and UTC unless changed). They are written in
 * the same transaction as the ledger rows they count, so a retried webhook never counts twice and a
 * rolled-back transaction leaves them equal to the ledger.
 *
 * What they are, exactly (the definition `npm run rollups -- --check` verifies):
 *   every money movement in the ledger, on its own day in the zone, in its currency, in the city
 *   its user has now, leaving out users marked internal:
 *   - a paid payment (succeeded, partially refunded, refunded): gross_amount, payments_succeeded
 *     on the day the money moved;
 *   - a failed attempt (payment_attempts): payments_failed on its day;
 *   - a refund while it counts (refunds.counted): refunded_amount, refunds on the refund's day;
 *   - a dispute: disputes_opened, disputed_amount on the day it was opened;
 *   - a dispute's balance transaction: dispute_withdrawn_amount or dispute_reinstated_amount on
 *     its own day.
 * Whose movement it is: the payment row's user (payments and attempts), the refund's or the
 * dispute's own user (recorded with it, so a refund that arrives before its payment is counted for
 * the right person at once). A user's city or internal flag changing moves their movements between
 * rows in the same transaction (moveUserContributions), so "now" stays true.
 */

export const ROLLUP_COLUMNS = [
  'gross_amount',
  'payments_succeeded',
  'payments_failed',
  'refunded_amount',
  'refunds',
  'disputes_opened',
  'disputed_amount',
  'dispute_withdrawn_amount',
  'dispute_reinstated_amount',
] as const;

export type RollupColumn = (typeof ROLLUP_COLUMNS)[number];
export type RollupDelta = Partial<Record<RollupColumn, number>>;

/** The city key of a user without a city (a primary key cannot be null); shown as `unknown`. */
export const NO_CITY = '';

/** Where a user's movements are counted. */
export interface Attribution {
  city: string | null;
  internal: boolean;
}

const columnList = sql.raw(ROLLUP_COLUMNS.join(', '));
const addExcluded = sql.raw(ROLLUP_COLUMNS.map((c) => `${c} = dashboard_rollups.${c} + excluded.${c}`).join(', '));
const onConflictAdd = sql`on conflict (zone, day, currency, city) do update set ${addExcluded}, updated_at = now()`;

/**
 * Adds one movement to every zone's row of its day, in the caller's transaction. `userId` null (a
 * payment nobody could attribute yet) counts under no city; an internal user's movement is not
 * counted at all.
 */
export async function addContribution(trx: Database, movement: { at: Date; currency: string; userId: string | null; delta: RollupDelta }): Promise<void> {
  const values = ROLLUP_COLUMNS.map((c) => movement.delta[c] ?? 0);
  if (values.every((v) => v === 0)) return;
  await sql`
    insert into dashboard_rollups (zone, day, currency, city, ${columnList})
    select z.zone, (${movement.at}::timestamptz at time zone z.zone)::date, ${movement.currency.toLowerCase()}, coalesce(u.city, ${NO_CITY}),
      ${sql.join(values.map((v) => sql`${v}::bigint`))}
    from rollup_zones z left join users u on u.id = ${movement.userId}
    where not coalesce(u.is_internal, false)
    ${onConflictAdd}`.execute(trx);
}

/** Which movements of the ledger a computation covers. */
export type LedgerScope =
  | { kind: 'all' }
  | { kind: 'user'; userId: string }
  /** A payment row's own movements (the payment and its failed attempts), not its refunds or disputes. */
  | { kind: 'payment'; paymentKey: string };

const PAID = sql`('succeeded', 'partially_refunded', 'refunded')`;

/**
 * Every movement of the ledger in `scope`, one row each: user, currency, time, and its amounts in
 * the rollup columns (in ROLLUP_COLUMNS order).
 */
function movements(scope: LedgerScope, range?: { from: Date; to: Date }): RawBuilder<unknown> {
  const userIs = (column: string) => (scope.kind === 'user' ? sql`and ${sql.ref(column)} = ${scope.userId}` : sql``);
  const keyIs = (column: string) => (scope.kind === 'payment' ? sql`and ${sql.ref(column)} = ${scope.paymentKey}` : sql``);
  const within = (column: string) => (range ? sql`and ${sql.ref(column)} >= ${range.from} and ${sql.ref(column)} < ${range.to}` : sql``);
  const paymentOnly = scope.kind === 'payment';
  const parts = [
    sql`select p.user_id, p.currency, p.occurred_at as at, p.amount as gross_amount, 1 as payments_succeeded, 0 as payments_failed,
          0 as refunded_amount, 0 as refunds, 0 as disputes_opened, 0 as disputed_amount, 0 as dispute_withdrawn_amount, 0 as dispute_reinstated_amount
        from payments p where p.status in ${PAID} ${userIs('p.user_id')} ${keyIs('p.payment_key')} ${within('p.occurred_at')}`,
    sql`select p.user_id, p.currency, a.occurred_at, 0, 0, 1, 0, 0, 0, 0, 0, 0
        from payment_attempts a join payments p on p.payment_key = a.payment_key
        where a.outcome = 'failed' ${userIs('p.user_id')} ${keyIs('a.payment_key')} ${within('a.occurred_at')}`,
  ];
  if (!paymentOnly) {
    parts.push(
      sql`select r.user_id, r.currency, r.refunded_at, 0, 0, 0, r.amount, 1, 0, 0, 0, 0
          from refunds r where r.counted ${userIs('r.user_id')} ${within('r.refunded_at')}`,
      sql`select d.user_id, d.currency, d.opened_at, 0, 0, 0, 0, 0, 1, d.amount, 0, 0
          from disputes d where true ${userIs('d.user_id')} ${within('d.opened_at')}`,
      sql`select d.user_id, f.currency, f.occurred_at, 0, 0, 0, 0, 0, 0, 0, greatest(-f.amount, 0), greatest(f.amount, 0)
          from dispute_funds f join disputes d on d.dispute_id = f.dispute_id where true ${userIs('d.user_id')} ${within('f.occurred_at')}`,
    );
  }
  return sql.join(parts, sql` union all `);
}

const sums = sql.raw(ROLLUP_COLUMNS.map((c) => `sum(m.${c})::bigint as ${c}`).join(', '));

/** The zones a computation covers: the given ones, or every zone with rollups. */
export const zonesFrom = (zones?: string[]) => (zones ? sql`(select unnest(${zones}::text[]) as zone)` : sql`(select zone from rollup_zones)`);

/** One row of rollups: a zone's day, a currency and a city, with its amounts. */
export interface RollupRow extends Record<RollupColumn, number> {
  zone: string;
  day: string;
  currency: string;
  city: string;
}

/**
 * The rollups as the ledger defines them, computed from the ledger itself (cost grows with the
 * number of movements): what `--check` compares with, what `--rebuild` writes, and how the
 * dashboard answers for a zone that has no rollups (`range` bounds the movements' times).
 */
export async function rollupsFromLedger(db: Database, options: { zones?: string[]; range?: { from: Date; to: Date } } = {}): Promise<RollupRow[]> {
  const { rows } = await sql<Record<string, unknown>>`
    select z.zone, to_char((m.at at time zone z.zone)::date, 'YYYY-MM-DD') as day, m.currency, coalesce(u.city, ${NO_CITY}) as city, ${sums}
    from (${movements({ kind: 'all' }, options.range)}) m
      cross join ${zonesFrom(options.zones)} z
      left join users u on u.id = m.user_id
    where not coalesce(u.is_internal, false)
    group by 1, 2, 3, 4`.execute(db);
  return rows.map(toRollupRow);
}

export function toRollupRow(row: Record<string, unknown>): RollupRow {
  const out = { zone: String(row.zone), day: String(row.day), currency: String(row.currency), city: String(row.city) } as RollupRow;
  for (const c of ROLLUP_COLUMNS) out[c] = Number(row[c] ?? 0);
  return out;
}

/**
 * Moves the movements of `scope` from one attribution to another in every zone (a user's city
 * changed, a user became internal or stopped being, a payment got its user), in the caller's
 * transaction: subtracted where they were counted, added where they count now.
 */
export async function moveContributions(trx: Database, scope: LedgerScope, from: Attribution, to: Attribution): Promise<void> {
  if (from.internal === to.internal && (from.internal || (from.city ?? NO_CITY) === (to.city ?? NO_CITY))) return;
  const apply = async (sign: 1 | -1, where: Attribution) => {
    if (where.internal) return;
    const signed = sql.raw(ROLLUP_COLUMNS.map((c) => `${sign} * sum(m.${c})::bigint`).join(', '));
    await sql`
      insert into dashboard_rollups (zone, day, currency, city, ${columnList})
      select z.zone, (m.at at time zone z.zone)::date, m.currency, ${where.city ?? NO_CITY}, ${signed}
      from (${movements(scope)}) m cross join rollup_zones z
      group by 1, 2, 3
      ${onConflictAdd}`.execute(trx);
  };
  await apply(-1, from);
  await apply(1, to);
}

/** The user's attribution now (a user without a row counts under no city). */
export async function attributionOf(trx: Database, userId: string | null): Promise<Attribution> {
  if (userId === null) return { city: null, internal: false };
  const row = await trx.selectFrom('users').select(['city', 'is_internal']).where('id', '=', userId).executeTakeFirst();
  return { city: row?.city ?? null, internal: row?.is_internal ?? false };
}

/** A user's movements follow their new city or internal flag (called with the user's row locked). */
export async function moveUserContributions(trx: Database, userId: string, from: Attribution, to: Attribution): Promise<void> {
  await moveContributions(trx, { kind: 'user', userId }, from, to);
}
