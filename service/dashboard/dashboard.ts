import { sql } from 'kysely';
import type { Database } from '../shared/db';
import { badRequest } from '../shared/errors';
import { addDays, type DashboardQuery, type Period } from './query';
import { SUBSCRIPTION_COLUMNS, subscriptionDaysFromTable, userDaysFromTable } from './people-rollups';
import { NO_CITY, ROLLUP_COLUMNS, type RollupColumn, rollupsFromLedger, toRollupRow } from './rollups';

/**
 * `GET /api/admin/payments/dashboard`. Money figures come from the rollups of the zone asked for
 * (service/dashboard/rollups.ts), so a request reads a row per day, currency and city shown, not the
 * payments; a zone without rollups is computed from the ledger over the two periods instead (same
 * figures, cost grows with the movements in them). Subscription and user figures come from their
 * tables. Users marked internal are left out of every figure.
 *
 * Amounts are minor units. The service's currency (EUR) is the headline; any other currency with
 * movements in either period gets its own entry in `currencies`, never summed with another.
 */
export const HEADLINE_CURRENCY = 'eur';
export const TOP_CITIES = 10;
export const UNKNOWN_CITY = 'unknown';

type Totals = Record<RollupColumn, number>;

export interface MoneyFigures {
  currency: string;
  /** Gross revenue: payments that succeeded (refunds are their own figure). */
  total: number;
  transactionCount: number;
  refunded: number;
  refunds: number;
  /** Dispute money taken back by the bank, net of what was reinstated. */
  disputesWithdrawn: number;
  disputesOpened: number;
  /** total - refunded - disputesWithdrawn. */
  net: number;
  failedPayments: number;
  /** failed / (failed + succeeded), 0 when there was no attempt. */
  failureRate: number;
}

export interface DailyFigures {
  date: string;
  totalRevenue: number;
  transactionCount: number;
  refunded: number;
  net: number;
  failedPayments: number;
}

export interface CurrencyBreakdown extends MoneyFigures {
  daily: DailyFigures[];
  previous: MoneyFigures;
}

export interface Dashboard {
  period: { start: string; end: string; timeframe: string; tz: string; days: number; previous: { start: string; end: string } };
  /** `rollups` when the zone has rollups, `ledger` when the figures were computed from the ledger. */
  source: 'rollups' | 'ledger';
  revenue: MoneyFigures & { daily: DailyFigures[]; previous: MoneyFigures };
  /** One entry per currency with movements in either period (the headline currency first); present when there is more than one. */
  currencies?: CurrencyBreakdown[];
  subscriptions: {
    active: Array<{ plan: string; count: number; revenue: number; currency: string }>;
    /** Monthly recurring revenue of active subscriptions: monthly prices, yearly / 12 (headline currency). */
    mrr: number;
    currency: string;
    conversionRate: number;
    newInPeriod: number;
    canceledInPeriod: number;
    /** When the period began: MRR and count of live subscriptions, conversion; new and canceled in the previous period. */
    previous: { mrr: number; active: number; newInPeriod: number; canceledInPeriod: number; conversionRate: number };
  };
  geographic: Array<{ city: string; revenue: number; transactions: number; currency: string }>;
  /** `previous`: users who existed, and users with a live subscription, when the period began. */
  summary: { totalUsers: number; premiumUsers: number; freeUsers: number; previous: { totalUsers: number; premiumUsers: number } };
}

const zeroTotals = (): Totals => Object.fromEntries(ROLLUP_COLUMNS.map((c) => [c, 0])) as Totals;

function add(into: Totals, row: Record<RollupColumn, number>): void {
  for (const c of ROLLUP_COLUMNS) into[c] += row[c];
}

function money(currency: string, t: Totals): MoneyFigures {
  const disputesWithdrawn = t.dispute_withdrawn_amount - t.dispute_reinstated_amount;
  const attempts = t.payments_failed + t.payments_succeeded;
  return {
    currency,
    total: t.gross_amount,
    transactionCount: t.payments_succeeded,
    refunded: t.refunded_amount,
    refunds: t.refunds,
    disputesWithdrawn,
    disputesOpened: t.disputes_opened,
    net: t.gross_amount - t.refunded_amount - disputesWithdrawn,
    failedPayments: t.payments_failed,
    failureRate: attempts === 0 ? 0 : t.payments_failed / attempts,
  };
}

interface DayRow extends Record<RollupColumn, number> {
  day: string;
  currency: string;
}

/** Per day and currency over both periods, from the zone's rollups or from the ledger. */
async function dailyRows(db: Database, q: DashboardQuery, fromRollups: boolean): Promise<{ days: DayRow[]; cities: Array<{ city: string; currency: string; gross: number; count: number }> }> {
  const first = q.previous.start;
  const last = q.period.end;
  if (fromRollups) {
    const sums = sql.raw(ROLLUP_COLUMNS.map((c) => `sum(${c})::bigint as ${c}`).join(', '));
    const [days, cities] = await Promise.all([
      sql<Record<string, unknown>>`
        select to_char(day, 'YYYY-MM-DD') as day, currency, ${sums} from dashboard_rollups
        where zone = ${q.tz} and day between ${first}::date and ${last}::date group by day, currency`.execute(db),
      sql<Record<string, unknown>>`
        select city, currency, sum(gross_amount)::bigint as gross, sum(payments_succeeded)::bigint as count from dashboard_rollups
        where zone = ${q.tz} and day between ${q.period.start}::date and ${last}::date
        group by city, currency having sum(gross_amount) <> 0 or sum(payments_succeeded) <> 0`.execute(db),
    ]);
    return {
      days: days.rows.map((r) => ({ ...toRollupRow({ ...r, zone: q.tz, city: '' }), day: String(r.day), currency: String(r.currency) })),
      cities: cities.rows.map((r) => ({ city: String(r.city), currency: String(r.currency), gross: Number(r.gross), count: Number(r.count) })),
    };
  }
  const bounds = await sql<{ from: Date; to: Date }>`
    select (${first}::date::timestamp at time zone ${q.tz}) as "from", (${addDays(last, 1)}::date::timestamp at time zone ${q.tz}) as "to"`.execute(db);
  const range = bounds.rows[0]!;
  const rows = await rollupsFromLedger(db, { zones: [q.tz], range: { from: new Date(range.from), to: new Date(range.to) } });
  const byDay = new Map<string, DayRow>();
  const byCity = new Map<string, { city: string; currency: string; gross: number; count: number }>();
  for (const row of rows) {
    if (row.day < first || row.day > last) continue;
    const key = `${row.day}|${row.currency}`;
    const day = byDay.get(key) ?? { ...zeroTotals(), day: row.day, currency: row.currency };
    add(day, row);
    byDay.set(key, day);
    if (row.day >= q.period.start) {
      const cityKey = `${row.city}|${row.currency}`;
      const city = byCity.get(cityKey) ?? { city: row.city, currency: row.currency, gross: 0, count: 0 };
      city.gross += row.gross_amount;
      city.count += row.payments_succeeded;
      byCity.set(cityKey, city);
    }
  }
  return { days: [...byDay.values()], cities: [...byCity.values()].filter((c) => c.gross !== 0 || c.count !== 0) };
}

function series(period: Period, rows: DayRow[]): DailyFigures[] {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const out: DailyFigures[] = [];
  for (let i = 0; i < period.days; i++) {
    const date = addDays(period.start, i);
    const r = byDay.get(date);
    const withdrawn = r ? r.dispute_withdrawn_amount - r.dispute_reinstated_amount : 0;
    out.push({
      date,
      totalRevenue: r?.gross_amount ?? 0,
      transactionCount: r?.payments_succeeded ?? 0,
      refunded: r?.refunded_amount ?? 0,
      net: r ? r.gross_amount - r.refunded_amount - withdrawn : 0,
      failedPayments: r?.payments_failed ?? 0,
    });
  }
  return out;
}

function breakdown(q: DashboardQuery, currency: string, rows: DayRow[]): CurrencyBreakdown {
  const mine = rows.filter((r) => r.currency === currency);
  const current = zeroTotals();
  const previous = zeroTotals();
  for (const r of mine) add(r.day >= q.period.start ? current : previous, r);
  return { ...money(currency, current), daily: series(q.period, mine.filter((r) => r.day >= q.period.start)), previous: money(currency, previous) };
}

/** Whether the zone has rollups (else the dashboard computes from the ledger); a zone the database does not know is a 400. */
async function zoneSource(db: Database, tz: string): Promise<'rollups' | 'ledger'> {
  if (await db.selectFrom('rollup_zones').select('zone').where('zone', '=', tz).executeTakeFirst()) return 'rollups';
  // Asking the database to use the zone is the cheap test (pg_timezone_names reads every zone
  // file: 25-40 ms a request); it refuses one it does not know with invalid_parameter_value.
  try {
    await sql`select now() at time zone ${tz}`.execute(db);
  } catch (err) {
    if ((err as { code?: unknown }).code === '22023') throw badRequest('tz is not a time zone the database knows', 'invalid_query', { param: 'tz' });
    throw err;
  }
  return 'ledger';
}

/**
 * Subscription and user figures from the people rollups (people-rollups.ts): the zone's rows, a
 * few per day and plan, or, for a zone without rollups, the same rows computed from the tables.
 */
async function peopleFigures(db: Database, q: DashboardQuery, fromRollups: boolean) {
  const [subscriptionRows, userRows] = fromRollups
    ? await Promise.all([
        sql<Record<string, string | number>>`
          select to_char(day, 'YYYY-MM-DD') as day, plan, currency, ${sql.raw(SUBSCRIPTION_COLUMNS.join(', '))} from subscription_days where zone = ${q.tz}`.execute(db),
        sql<Record<string, string | number>>`select to_char(day, 'YYYY-MM-DD') as day, signups from user_days where zone = ${q.tz}`.execute(db),
      ]).then(([subs, users]) => [subs.rows, users.rows] as const)
    : await Promise.all([subscriptionDaysFromTable(db, { kind: 'all' }, [q.tz]), userDaysFromTable(db, { kind: 'all' }, [q.tz])]);
  const n = (v: unknown) => Number(v ?? 0);
  const within = (day: string, p: Period) => day >= p.start && day <= p.end;
  const plans = new Map<string, { plan: string; currency: string; count: number; mrr12: number }>();
  let newNow = 0;
  let canceledNow = 0;
  let newBefore = 0;
  let canceledBefore = 0;
  let activeBefore = 0;
  let mrr12Before = 0;
  for (const r of subscriptionRows) {
    const day = String(r.day);
    const key = `${String(r.plan)}|${String(r.currency)}`;
    const plan = plans.get(key) ?? { plan: String(r.plan), currency: String(r.currency), count: 0, mrr12: 0 };
    plan.count += n(r.premium);
    plan.mrr12 += n(r.premium_mrr12);
    plans.set(key, plan);
    if (within(day, q.period)) {
      newNow += n(r.started);
      canceledNow += n(r.canceled);
    } else if (within(day, q.previous)) {
      newBefore += n(r.started);
      canceledBefore += n(r.canceled);
    }
    if (day < q.period.start) {
      activeBefore += n(r.started) - n(r.ended);
      if (r.currency === HEADLINE_CURRENCY) mrr12Before += n(r.started_mrr12) - n(r.ended_mrr12);
    }
  }
  const active = [...plans.values()]
    .filter((p) => p.count !== 0)
    .sort((a, b) => a.plan.localeCompare(b.plan) || a.currency.localeCompare(b.currency))
    .map((p) => ({ plan: p.plan, count: p.count, revenue: Math.round(p.mrr12 / 12), currency: p.currency }));
  const premiumUsers = [...plans.values()].reduce((sum, p) => sum + p.count, 0);
  const totalUsers = userRows.reduce((sum, r) => sum + n(r.signups), 0);
  const totalBefore = userRows.filter((r) => String(r.day) < q.period.start).reduce((sum, r) => sum + n(r.signups), 0);
  return {
    active,
    mrr: Math.round([...plans.values()].filter((p) => p.currency === HEADLINE_CURRENCY).reduce((sum, p) => sum + p.mrr12, 0) / 12),
    newInPeriod: newNow,
    canceledInPeriod: canceledNow,
    previous: { mrr: Math.round(mrr12Before / 12), active: activeBefore, newInPeriod: newBefore, canceledInPeriod: canceledBefore },
    // A user has at most one live subscription (checkout refuses a second): subscriptions count users.
    premiumBefore: activeBefore,
    users: { totalUsers, premiumUsers, freeUsers: totalUsers - premiumUsers, totalBefore },
  };
}

const rate = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);

export async function loadDashboard(db: Database, q: DashboardQuery): Promise<Dashboard> {
  const source = await zoneSource(db, q.tz);
  const [{ days, cities }, subscriptions] = await Promise.all([dailyRows(db, q, source === 'rollups'), peopleFigures(db, q, source === 'rollups')]);
  const users = subscriptions.users;
  const summary = { totalUsers: users.totalUsers, premiumUsers: users.premiumUsers, freeUsers: users.freeUsers };
  const others = [...new Set(days.map((r) => r.currency))].filter((c) => c !== HEADLINE_CURRENCY).sort();
  const headline = breakdown(q, HEADLINE_CURRENCY, days);
  const geographic = cities
    .filter((c) => c.currency === HEADLINE_CURRENCY)
    .sort((a, b) => b.gross - a.gross || b.count - a.count || a.city.localeCompare(b.city))
    .slice(0, TOP_CITIES)
    .map((c) => ({ city: c.city === NO_CITY ? UNKNOWN_CITY : c.city, revenue: c.gross, transactions: c.count, currency: HEADLINE_CURRENCY }));
  return {
    period: { start: q.period.start, end: q.period.end, timeframe: q.timeframe, tz: q.tz, days: q.period.days, previous: { start: q.previous.start, end: q.previous.end } },
    source,
    revenue: headline,
    ...(others.length > 0 ? { currencies: [headline, ...others.map((c) => breakdown(q, c, days))] } : {}),
    subscriptions: {
      active: subscriptions.active,
      mrr: subscriptions.mrr,
      currency: HEADLINE_CURRENCY,
      conversionRate: rate(summary.premiumUsers, summary.totalUsers),
      newInPeriod: subscriptions.newInPeriod,
      canceledInPeriod: subscriptions.canceledInPeriod,
      previous: { ...subscriptions.previous, conversionRate: rate(subscriptions.premiumBefore, users.totalBefore) },
    },
    geographic,
    summary: { ...summary, previous: { totalUsers: users.totalBefore, premiumUsers: subscriptions.premiumBefore } },
  };
}
