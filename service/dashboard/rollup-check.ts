import { sql } from 'kysely';
import type { Database } from '../shared/db';
import { addRows, difference, SUBSCRIPTION_DAYS, USER_DAYS } from './people-rollups';
import { ROLLUP_COLUMNS, type RollupColumn, type RollupRow, rollupsFromLedger, toRollupRow } from './rollups';

/**
 * `npm run rollups`: compares the dashboard's rollups with the ledger, repairs them, adds a zone.
 *
 * - check: one REPEATABLE READ snapshot for both sides (rollups and ledger are written in the same
 *   transactions, so any snapshot sees them equal unless something is wrong); takes no lock.
 * - rebuild: writes only the rows that differ, under EXCLUSIVE locks on the three rollup tables
 *   (reads go on; a webhook that wants to add to a rollup waits the few seconds, holding its own
 *   ledger rows uncommitted, which the rebuild therefore does not count and the webhook adds after;
 *   should the two still deadlock, PostgreSQL aborts one: the webhook answers 5xx and Stripe
 *   retries it, or the rebuild fails and is run again). Running it twice changes nothing the second
 *   time. The subscription and user rollups are compared with their tables the same way.
 */
export interface RollupDifference {
  zone: string;
  day: string;
  currency: string;
  city: string;
  /** Per column: what the rollups hold and what the ledger says, only columns that differ. */
  columns: Partial<Record<RollupColumn, { stored: number; ledger: number }>>;
}

/** A row of subscription_days or user_days that differs from its table (people-rollups.ts). */
export interface PeopleDifference {
  table: 'subscription_days' | 'user_days';
  key: Record<string, string>;
  columns: Record<string, { stored: number; computed: number }>;
}

export interface RollupReport {
  zones: string[];
  rowsCompared: number;
  /** dashboard_rollups against the ledger. */
  differences: RollupDifference[];
  /** subscription_days and user_days against the subscriptions and users tables. */
  peopleDifferences: PeopleDifference[];
}

const keyOf = (r: { zone: string; day: string; currency: string; city: string }) => `${r.zone}|${r.day}|${r.currency}|${r.city}`;

async function storedRows(db: Database, zones?: string[]): Promise<RollupRow[]> {
  const filter = zones ? sql`where zone = any(${zones}::text[])` : sql``;
  const { rows } = await sql<Record<string, unknown>>`
    select zone, to_char(day, 'YYYY-MM-DD') as day, currency, city, ${sql.raw(ROLLUP_COLUMNS.join(', '))} from dashboard_rollups ${filter}`.execute(db);
  return rows.map(toRollupRow);
}

function compare(stored: RollupRow[], ledger: RollupRow[]): RollupDifference[] {
  const byKey = new Map(stored.map((r) => [keyOf(r), r]));
  const seen = new Set<string>();
  const differences: RollupDifference[] = [];
  const zero = Object.fromEntries(ROLLUP_COLUMNS.map((c) => [c, 0])) as Record<RollupColumn, number>;
  const diff = (key: { zone: string; day: string; currency: string; city: string }, s: Record<RollupColumn, number>, l: Record<RollupColumn, number>) => {
    const columns: RollupDifference['columns'] = {};
    for (const c of ROLLUP_COLUMNS) if (s[c] !== l[c]) columns[c] = { stored: s[c], ledger: l[c] };
    if (Object.keys(columns).length > 0) differences.push({ zone: key.zone, day: key.day, currency: key.currency, city: key.city, columns });
  };
  for (const l of ledger) {
    const key = keyOf(l);
    seen.add(key);
    diff(l, byKey.get(key) ?? zero, l);
  }
  for (const s of stored) if (!seen.has(keyOf(s))) diff(s, s, zero);
  return differences.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}

type PeopleTable = typeof SUBSCRIPTION_DAYS;

async function storedPeople(db: Database, table: PeopleTable, zones?: string[]): Promise<Array<Record<string, string | number>>> {
  const filter = zones ? sql`where zone = any(${zones}::text[])` : sql``;
  const keys = table.keys.map((k) => (k === 'day' ? `to_char(day, 'YYYY-MM-DD') as day` : k)).join(', ');
  const { rows } = await sql<Record<string, string | number>>`select ${sql.raw(keys)}, ${sql.raw(table.columns.join(', '))} from ${sql.table(table.name)} ${filter}`.execute(db);
  return rows.map((r) => ({ ...r, ...Object.fromEntries(table.columns.map((c) => [c, Number(r[c])])) }));
}

/**
 * Per people table: what must be added to the stored rows to make them what the tables say, and the
 * same described for the report (stored rows read once).
 */
async function peopleReport(db: Database): Promise<{ repairs: Array<{ table: PeopleTable; rows: Array<Record<string, string | number>> }>; differences: PeopleDifference[] }> {
  const repairs = [];
  const differences: PeopleDifference[] = [];
  for (const table of [SUBSCRIPTION_DAYS, USER_DAYS]) {
    const storedRows = await storedPeople(db, table);
    const rows = difference(table, storedRows, await table.compute(db, { kind: 'all' }));
    const stored = new Map(storedRows.map((r) => [table.keys.map((k) => String(r[k])).join('|'), r]));
    repairs.push({ table, rows });
    for (const row of rows) {
      const before = stored.get(table.keys.map((k) => String(row[k])).join('|'));
      const columns = Object.fromEntries(
        table.columns.filter((c) => Number(row[c]) !== 0).map((c) => [c, { stored: Number(before?.[c] ?? 0), computed: Number(before?.[c] ?? 0) + Number(row[c]) }]),
      );
      differences.push({ table: table.name, key: Object.fromEntries(table.keys.map((k) => [k, String(row[k])])), columns });
    }
  }
  return { repairs, differences };
}

async function zonesOf(db: Database): Promise<string[]> {
  return (await db.selectFrom('rollup_zones').select('zone').orderBy('zone').execute()).map((r) => r.zone);
}

export async function checkRollups(db: Database): Promise<RollupReport> {
  return db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    const [zones, stored, ledger] = [await zonesOf(trx), await storedRows(trx), await rollupsFromLedger(trx)];
    const people = await peopleReport(trx);
    return { zones, rowsCompared: new Set([...stored, ...ledger].map(keyOf)).size, differences: compare(stored, ledger), peopleDifferences: people.differences };
  });
}

/** Makes the rollups equal to the ledger; returns what it changed (nothing when they already were). */
export async function rebuildRollups(db: Database): Promise<RollupReport> {
  return db.transaction().execute(async (trx) => {
    await sql`lock table dashboard_rollups, subscription_days, user_days in exclusive mode`.execute(trx);
    const [zones, stored, ledger] = [await zonesOf(trx), await storedRows(trx), await rollupsFromLedger(trx)];
    const differences = compare(stored, ledger);
    const ledgerByKey = new Map(ledger.map((r) => [keyOf(r), r]));
    for (const d of differences) {
      const target = ledgerByKey.get(keyOf(d));
      if (!target) {
        await sql`delete from dashboard_rollups where zone = ${d.zone} and day = ${d.day}::date and currency = ${d.currency} and city = ${d.city}`.execute(trx);
        continue;
      }
      const values = ROLLUP_COLUMNS.map((c) => target[c]);
      await sql`
        insert into dashboard_rollups (zone, day, currency, city, ${sql.raw(ROLLUP_COLUMNS.join(', '))})
        values (${d.zone}, ${d.day}::date, ${d.currency}, ${d.city}, ${sql.join(values.map((v) => sql`${v}::bigint`))})
        on conflict (zone, day, currency, city) do update set ${sql.raw(ROLLUP_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', '))}, updated_at = now()`.execute(trx);
    }
    const people = await peopleReport(trx);
    for (const { table, rows } of people.repairs) await addRows(trx, table, rows);
    return { zones, rowsCompared: new Set([...stored, ...ledger].map(keyOf)).size, differences, peopleDifferences: people.differences };
  });
}

/** Adds a zone to the rollups and fills its rows from the ledger, in one transaction. False when it was there already. */
export async function addRollupZone(db: Database, zone: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await sql`lock table dashboard_rollups, subscription_days, user_days in exclusive mode`.execute(trx);
    const known = await sql<{ known: boolean }>`select exists (select 1 from pg_timezone_names where name = ${zone}) as known`.execute(trx);
    if (!known.rows[0]?.known) throw new RangeError(`${zone} is not a time zone the database knows`);
    const added = await trx.insertInto('rollup_zones').values({ zone }).onConflict((oc) => oc.doNothing()).returning('zone').executeTakeFirst();
    if (!added) return false;
    for (const table of [SUBSCRIPTION_DAYS, USER_DAYS]) await addRows(trx, table, await table.compute(trx, { kind: 'all' }, [zone]));
    for (const row of await rollupsFromLedger(trx, { zones: [zone] })) {
      await sql`
        insert into dashboard_rollups (zone, day, currency, city, ${sql.raw(ROLLUP_COLUMNS.join(', '))})
        values (${row.zone}, ${row.day}::date, ${row.currency}, ${row.city}, ${sql.join(ROLLUP_COLUMNS.map((c) => sql`${row[c]}::bigint`))})`.execute(trx);
    }
    return true;
  });
}
