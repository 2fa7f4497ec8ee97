import { sql } from 'kysely';
import { PREMIUM_STATUSES } from '../checkout/plans';
import type { Database } from '../shared/db';
import { zonesFrom } from './rollups';

/**
 * The dashboard's subscription and user figures as rollups, so a request reads a row per day and
 * plan instead of every subscription and user (service/dashboard/rollups.ts does the same for money).
 *
 * subscription_days (zone, day, plan, currency), from the subscriptions table, leaving out users
 * marked internal and subscriptions that never started paying (incomplete, incomplete_expired):
 *   started, started_mrr12   on the day it started (Stripe start_date)
 *   ended, ended_mrr12       on the day it ended
 *   canceled                 on the day its cancellation was asked for (canceled_at)
 *   premium, premium_mrr12   on the day it started, when its status now grants Premium
 * user_days (zone, day): signups, users by the day the service first saw them, internal left out.
 *
 * `mrr12` is twelve times the monthly amount (a month's price x 12, a year's price as is), so the
 * sums stay integers; MRR = sum / 12. Live at a moment = started before it minus ended before it.
 * They are derived, not incremented: a write computes the rows of the subscription or user it
 * touches before, and afterwards moves the tables by what they are now minus that, in the caller's
 * transaction.
 */
export const SUBSCRIPTION_COLUMNS = ['started', 'started_mrr12', 'ended', 'ended_mrr12', 'canceled', 'premium', 'premium_mrr12'] as const;
export type SubscriptionColumn = (typeof SUBSCRIPTION_COLUMNS)[number];

/** Statuses of a subscription that never started paying: in no figure. */
export const NEVER_STARTED = ['incomplete', 'incomplete_expired'];

export type PeopleScope = { kind: 'all' } | { kind: 'subscription'; id: string } | { kind: 'user'; userId: string };

/** The subscription_days rows `scope` contributes, as a query on the subscriptions table. */
function subscriptionDaysQuery(scope: PeopleScope, zones?: string[]) {
  const filter =
    scope.kind === 'subscription' ? sql`and s.id = ${scope.id}` : scope.kind === 'user' ? sql`and s.user_id = ${scope.userId}` : sql``;
  const mrr12 = sql`(coalesce(s.amount, 0) * case s.interval when 'month' then 12 when 'week' then 52 when 'day' then 365 else 1 end)`;
  const premium = sql`(s.status in (${sql.join([...PREMIUM_STATUSES])}))`;
  return sql<Record<string, string | number>>`
    select z.zone, to_char((m.at at time zone z.zone)::date, 'YYYY-MM-DD') as day, m.plan, m.currency,
      ${sql.raw(SUBSCRIPTION_COLUMNS.map((c) => `sum(m.${c})::bigint as ${c}`).join(', '))}
    from (
      select s.user_id, s.started_at as at, s.plan, lower(coalesce(s.currency, 'eur')) as currency, 1 as started, ${mrr12} as started_mrr12,
          0 as ended, 0 as ended_mrr12, 0 as canceled, case when ${premium} then 1 else 0 end as premium, case when ${premium} then ${mrr12} else 0 end as premium_mrr12
        from subscriptions s where s.started_at is not null and s.status not in (${sql.join(NEVER_STARTED)}) ${filter}
      union all
      select s.user_id, s.ended_at, s.plan, lower(coalesce(s.currency, 'eur')), 0, 0, 1, ${mrr12}, 0, 0, 0
        from subscriptions s where s.started_at is not null and s.ended_at is not null and s.status not in (${sql.join(NEVER_STARTED)}) ${filter}
      union all
      select s.user_id, s.canceled_at, s.plan, lower(coalesce(s.currency, 'eur')), 0, 0, 0, 0, 1, 0, 0
        from subscriptions s where s.started_at is not null and s.canceled_at is not null and s.status not in (${sql.join(NEVER_STARTED)}) ${filter}
    ) m
    cross join ${zonesFrom(zones)} z
    left join users u on u.id = m.user_id
    where not coalesce(u.is_internal, false)
    group by 1, 2, 3, 4`;
}

/** The subscription_days rows `scope` contributes, computed from the subscriptions table. */
export async function subscriptionDaysFromTable(db: Database, scope: PeopleScope = { kind: 'all' }, zones?: string[]): Promise<Array<Record<string, string | number>>> {
  const { rows } = await subscriptionDaysQuery(scope, zones).execute(db);
  return rows.map((r) => ({ ...r, ...Object.fromEntries(SUBSCRIPTION_COLUMNS.map((c) => [c, Number(r[c])])) }));
}

/** The user_days rows `scope` contributes, as a query on the users table (none for a subscription). */
function userDaysQuery(scope: PeopleScope, zones?: string[]) {
  const filter = scope.kind === 'user' ? sql`and u.id = ${scope.userId}` : scope.kind === 'subscription' ? sql`and false` : sql``;
  return sql<Record<string, string | number>>`
    select z.zone, to_char((u.created_at at time zone z.zone)::date, 'YYYY-MM-DD') as day, count(*)::bigint as signups
    from users u cross join ${zonesFrom(zones)} z
    where not u.is_internal ${filter}
    group by 1, 2`;
}

/** The user_days rows `scope` contributes, computed from the users table. */
export async function userDaysFromTable(db: Database, scope: PeopleScope = { kind: 'all' }, zones?: string[]): Promise<Array<Record<string, string | number>>> {
  if (scope.kind === 'subscription') return [];
  const { rows } = await userDaysQuery(scope, zones).execute(db);
  return rows.map((r) => ({ ...r, signups: Number(r.signups) }));
}

interface Table {
  name: 'subscription_days' | 'user_days';
  keys: string[];
  columns: readonly string[];
  compute(db: Database, scope: PeopleScope, zones?: string[]): Promise<Array<Record<string, string | number>>>;
  query(scope: PeopleScope): ReturnType<typeof userDaysQuery>;
}

export const SUBSCRIPTION_DAYS: Table = {
  name: 'subscription_days',
  keys: ['zone', 'day', 'plan', 'currency'],
  columns: SUBSCRIPTION_COLUMNS,
  compute: subscriptionDaysFromTable,
  query: (scope) => subscriptionDaysQuery(scope),
};
export const USER_DAYS: Table = { name: 'user_days', keys: ['zone', 'day'], columns: ['signups'], compute: userDaysFromTable, query: (scope) => userDaysQuery(scope) };

const keyOf = (table: Table, row: Record<string, unknown>) => table.keys.map((k) => String(row[k])).join('|');

/** Rows written per statement by addRows (11 values a row: far under PostgreSQL's 65,535 parameters). */
const ROWS_PER_STATEMENT = 500;

/** Adds rows (each column a signed amount) to `table`, in the caller's transaction: one statement per 500 rows. */
export async function addRows(trx: Database, table: Table, rows: Array<Record<string, string | number>>): Promise<void> {
  const moving = rows.filter((row) => table.columns.some((c) => Number(row[c] ?? 0) !== 0));
  for (let i = 0; i < moving.length; i += ROWS_PER_STATEMENT) {
    const values = moving.slice(i, i + ROWS_PER_STATEMENT).map(
      (row) => sql`(${sql.join([...table.keys.map((k) => (k === 'day' ? sql`${row[k]}::date` : sql`${row[k]}`)), ...table.columns.map((c) => sql`${Number(row[c] ?? 0)}::bigint`)])})`,
    );
    await sql`
      insert into ${sql.table(table.name)} (${sql.raw([...table.keys, ...table.columns].join(', '))})
      values ${sql.join(values)}
      on conflict (${sql.raw(table.keys.join(', '))}) do update set ${upsertSums(table)}`.execute(trx);
  }
}

const upsertSums = (table: Table) => sql.raw(`${table.columns.map((c) => `${c} = ${table.name}.${c} + excluded.${c}`).join(', ')}, updated_at = now()`);

/**
 * Moves `table` by what `scope` contributes now minus `before` (what it contributed before the
 * change), in ONE statement: the contribution is computed, subtracted and added where it lands
 * without a round trip for each step (a subscription's write is three statements fewer; issue 15).
 */
async function moveBy(trx: Database, table: Table, scope: PeopleScope, before: Array<Record<string, string | number>>): Promise<void> {
  const keys = sql.raw(table.keys.join(', '));
  const columns = sql.raw(table.columns.join(', '));
  const recordType = sql.raw([...table.keys.map((k) => `${k} text`), ...table.columns.map((c) => `${c} bigint`)].join(', '));
  const negated = sql.raw(table.columns.map((c) => `-${c}`).join(', '));
  const sums = sql.raw(table.columns.map((c) => `sum(${c})::bigint as ${c}`).join(', '));
  const moves = sql.raw(table.columns.map((c) => `sum(${c}) <> 0`).join(' or '));
  const selected = sql.raw(table.keys.map((k) => (k === 'day' ? 'day::date' : k)).join(', '));
  await sql`
    with now_rows as (${table.query(scope)}),
      before_rows as (select * from jsonb_to_recordset(${JSON.stringify(before)}::jsonb) as b(${recordType})),
      moved as (
        select ${keys}, ${sums} from (
          select ${keys}, ${columns} from now_rows
          union all
          select ${keys}, ${negated} from before_rows
        ) d
        group by ${keys}
        having ${moves}
      )
    insert into ${sql.table(table.name)} (${keys}, ${columns})
    select ${selected}, ${columns} from moved
    on conflict (${keys}) do update set ${upsertSums(table)}`.execute(trx);
}

/** after - before, per row key, zero rows dropped. */
export function difference(table: Table, before: Array<Record<string, string | number>>, after: Array<Record<string, string | number>>): Array<Record<string, string | number>> {
  const out = new Map<string, Record<string, string | number>>();
  const add = (rows: Array<Record<string, string | number>>, sign: 1 | -1) => {
    for (const row of rows) {
      const key = keyOf(table, row);
      const into = out.get(key) ?? { ...Object.fromEntries(table.keys.map((k) => [k, row[k]!])), ...Object.fromEntries(table.columns.map((c) => [c, 0])) };
      for (const c of table.columns) into[c] = Number(into[c]) + sign * Number(row[c] ?? 0);
      out.set(key, into);
    }
  };
  add(after, 1);
  add(before, -1);
  return [...out.values()].filter((r) => table.columns.some((c) => r[c] !== 0));
}

/**
 * A user this transaction inserted: their signup day moves user_days (unless they are internal). They
 * contributed nothing before, and no subscription can name them yet (foreign key), so
 * subscription_days does not move: one statement.
 */
export async function countNewUser(trx: Database, userId: string): Promise<void> {
  await moveBy(trx, USER_DAYS, { kind: 'user', userId }, []);
}

/**
 * Runs `change` (a write to subscriptions or users) and moves the people rollups by what it changed
 * for `scope`, in the caller's transaction.
 */
export async function withPeopleRollups<T>(trx: Database, scope: PeopleScope, change: () => Promise<T>): Promise<T> {
  const tables = scope.kind === 'subscription' ? [SUBSCRIPTION_DAYS] : [SUBSCRIPTION_DAYS, USER_DAYS];
  const before = await Promise.all(tables.map((t) => t.compute(trx, scope)));
  const result = await change();
  for (const [i, table] of tables.entries()) await moveBy(trx, table, scope, before[i]!);
  return result;
}
