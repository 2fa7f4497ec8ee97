/**
 * The admin dashboard at scale, on real PostgreSQL (DATABASE_URL, else the local server):
 * two databases seeded server-side (generate_series, not HTTP calls), a small one (10,000 payments)
 * and a large one (1,000,000 payments over two years, 200,000 users; BENCH_DASHBOARD_PAYMENTS to
 * change), each with the same proportions of users, subscriptions, refunds and declines. The
 * dashboard's rollups are built from the ledger with `rebuildRollups`, as `npm run rollups --
 * --rebuild` would. Then the 90-day dashboard (Europe/Paris) is computed many times on each, and the
 * bench prints the medians and the ratio t(large) / t(small), measured in the same run.
 * Targets (issue 11): median <= 50 ms on the large one, ratio <= 2. Creates and drops its own
 * databases on the server; touches nothing else.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { sql } from 'kysely';
import { loadDashboard, parseDashboardQuery } from '../../service/dashboard';
import { rebuildRollups } from '../../service/dashboard/rollup-check';
import { type Database, migrateToLatest, openDatabase } from '../../service/shared/db';
import { report, wanted } from './report';
import { databaseServer } from './support';

const LARGE = Number(process.env.BENCH_DASHBOARD_PAYMENTS ?? 1_000_000);
const SMALL = 10_000;
const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 40);
const CITIES = ['Paris', 'Lyon', 'Marseille', 'Toulouse', 'Bordeaux', 'Lille', 'Nantes', 'Strasbourg', 'Montpellier', 'Rennes', 'Nice', 'Grenoble'];

async function withDatabase<T>(serverUrl: string, fn: (db: Database) => Promise<T>): Promise<T> {
  const name = `upiik_bench_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ url: url.toString(), poolMax: 4 });
  try {
    await migrateToLatest(handle.db);
    return await fn(handle.db);
  } finally {
    await handle.close();
    const cleanup = new Client({ connectionString: serverUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.end();
  }
}

/** Users, subscriptions and a ledger of `payments` payments over two years ending now, in SQL. */
export async function seed(db: Database, payments: number): Promise<void> {
  const users = Math.max(100, Math.round(payments / 5));
  const cities = sql.raw(`array[${CITIES.map((c) => `'${c}'`).join(', ')}]`);
  await sql`
    insert into users (id, email, city, is_premium, created_at)
    select 'bench_' || g, 'bench' || g || '@example.com', case when g % 20 = 0 then null else (${cities})[1 + (g * 7) % ${CITIES.length}] end,
      g % 5 <> 0, now() - (g % 730) * interval '1 day'
    from generate_series(1, ${users}) g`.execute(db);
  await sql`
    insert into subscriptions (id, user_id, customer_id, plan, status, amount, currency, interval, canceled_at, ended_at, started_at, stripe_updated_at)
    select 'sub_bench_' || g, 'bench_' || g, 'cus_bench_' || g, case when g % 3 = 0 then 'yearly' else 'monthly' end,
      case when g % 5 = 0 then 'canceled' else 'active' end, case when g % 3 = 0 then 3000 else 400 end, 'eur',
      case when g % 3 = 0 then 'year' else 'month' end,
      case when g % 5 = 0 then now() - (g % 300) * interval '1 day' end, case when g % 5 = 0 then now() - (g % 300) * interval '1 day' end,
      now() - (g % 730) * interval '1 day' - interval '1 hour', 1
    from generate_series(1, ${users}) g`.execute(db);
  await sql`
    insert into payments (payment_key, user_id, customer_id, amount, currency, status, refunded_amount, occurred_at, stripe_updated_at)
    select 'in_bench_' || g, 'bench_' || (1 + g % ${users}), 'cus_bench_' || (1 + g % ${users}), case when g % 3 = 0 then 3000 else 400 end, 'eur',
      case when g % 25 = 0 then 'failed' when g % 50 = 1 then 'refunded' else 'succeeded' end,
      case when g % 50 = 1 then (case when g % 3 = 0 then 3000 else 400 end) else 0 end,
      now() - (random() * 730) * interval '1 day', 1
    from generate_series(1, ${payments}) g`.execute(db);
  await sql`
    insert into payment_attempts (attempt_key, payment_key, outcome, failure_code, occurred_at)
    select payment_key || '#1', payment_key, 'failed', 'card_declined', occurred_at from payments where status = 'failed'`.execute(db);
  await sql`
    insert into refunds (refund_id, payment_key, user_id, amount, currency, status, counted, refunded_at, stripe_updated_at)
    select 're_' || payment_key, payment_key, user_id, amount, currency, 'succeeded', true, occurred_at + interval '2 days', 1 from payments where status = 'refunded'`.execute(db);
  await sql`analyze`.execute(db);
  const report = await rebuildRollups(db);
  if (report.differences.length === 0) throw new Error('the rollups rebuild wrote nothing: the seed is empty');
  await sql`analyze`.execute(db);
}

async function medianMs(db: Database): Promise<{ median: number; p90: number; total: number }> {
  const query = parseDashboardQuery({ timeframe: '90d' }, new Date());
  let total = 0;
  for (let i = 0; i < 5; i++) total = (await loadDashboard(db, query)).revenue.total; // warm-up: plans, caches
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = process.hrtime.bigint();
    await loadDashboard(db, query);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, p90: times[Math.floor(times.length * 0.9)]!, total };
}

async function main(): Promise<void> {
  if (!wanted('dashboard-90d')) return;
  const serverUrl = databaseServer();
  const results: Array<{ payments: number; seedS: number; median: number; p90: number; total: number }> = [];
  for (const payments of [SMALL, LARGE]) {
    await withDatabase(serverUrl, async (db) => {
      const started = Date.now();
      await seed(db, payments);
      const seedS = (Date.now() - started) / 1000;
      results.push({ payments, seedS, ...(await medianMs(db)) });
    });
  }
  console.log('dashboard, 90 days, Europe/Paris, loadDashboard on real PostgreSQL');
  console.log('payments    users     seed (s)  median (ms)  p90 (ms)  90-day revenue');
  for (const r of results) {
    console.log(`${String(r.payments).padEnd(11)} ${String(Math.max(100, Math.round(r.payments / 5))).padEnd(9)} ${r.seedS.toFixed(1).padEnd(9)} ${r.median.toFixed(1).padEnd(12)} ${r.p90.toFixed(1).padEnd(9)} ${r.total}`);
  }
  const [small, large] = results as [(typeof results)[0], (typeof results)[0]];
  const ratio = large.median / small.median;
  console.log(`ratio t(${large.payments}) / t(${small.payments}) = ${ratio.toFixed(2)} (target <= 2); median at ${large.payments} = ${large.median.toFixed(1)} ms (target <= 50)`);
  report({ name: 'dashboard-90d', p50Ms: large.median, ratio, payments: large.payments, p50MsSmall: small.median, target: `median <= 50 ms at ${large.payments} payments, t(large) / t(${small.payments}) <= 2`, pass: large.median <= 50 && ratio <= 2 });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
