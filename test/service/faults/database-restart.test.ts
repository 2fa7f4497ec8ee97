import { sql } from 'kysely';
import type Stripe from 'stripe';
import { CLOUDWATCH_METRICS } from '../../../service/shared/metric-names';
import { drainPendingEvents, pauseWebhookProcessing, resumeWebhookProcessing, type WebhookDeps } from '../../../service/webhooks';
import { openProxiedDatabase, type ProxiedDatabase } from '../../support/proxied-database';
import type { TestService } from '../../support/service';
import { SETTLE_MS, waitUntil } from '../../support/wait';
import { DAY, listAll, startWebhookService, subscribe } from '../webhooks/support';

/**
 * A PostgreSQL restart or failover while webhooks are being delivered. The service's pool talks to
 * the database through a TCP proxy this suite can cut, hold and whose backends it can terminate
 * (support/proxied-database.ts: this suite's own database on the real server, PGlite over TCP on the
 * embedded default), never the shared server itself.
 */

/** Compressed but long enough to outlast every outage below (about 30 s in total). */
const RETRY_SCHEDULE = [250, 500, 1000, 2000, 4000, 8000, 16000];

let database: ProxiedDatabase;
let svc: TestService;

beforeAll(async () => {
  database = await openProxiedDatabase();
  svc = await startWebhookService({ database: database.service, retrySchedule: RETRY_SCHEDULE, deliveryConcurrency: 4 });
});
afterAll(async () => {
  await svc?.close();
  await database?.close();
});

beforeEach(async () => {
  await svc.sandbox.control.waitForDeliveries(SETTLE_MS);
  database.proxy.restore();
});

async function ready(): Promise<{ status: number; body: { failed?: string[] } }> {
  const res = await fetch(`${svc.url}/health/ready`);
  return { status: res.status, body: (await res.json()) as { failed?: string[] } };
}

/** Every event the sandbox delivered is in the inbox exactly once, applied; the ledger equals Stripe's. */
async function expectEverythingAppliedOnce(): Promise<void> {
  const db = database.direct.db;
  // Events acknowledged before the cut (deferred because they needed the Stripe API) whose drain
  // the cut broke are the service's to apply: its sweep does every 5 s in production (retries once
  // their time comes). Here one drain pass, with their time come, stands for the next sweeps.
  await sql`update webhook_events set retry_at = now() where status = 'failed' and retry_at is not null`.execute(db);
  await drainPendingEvents({ db: svc.database.db, stripe: svc.stripe, store: svc.store, config: svc.config, logger: svc.logs.logger, observer: svc.deps.observer });
  const delivered = new Set(svc.sandbox.control.deliveries().map((d) => d.event_id));
  const succeeded = new Set(svc.sandbox.control.deliveries().filter((d) => d.succeeded).map((d) => d.event_id));
  // Stripe (the sandbox) got a 2xx for every event in the end: nothing was given up on.
  expect([...delivered].filter((id) => !succeeded.has(id))).toEqual([]);
  const inbox = await db.selectFrom('webhook_events').select(['event_id', 'status']).execute();
  const applied = inbox.filter((e) => delivered.has(e.event_id));
  expect(applied).toHaveLength(delivered.size);
  expect(applied.filter((e) => e.status !== 'processed' && e.status !== 'ignored')).toEqual([]);

  const stripeSubs = await listAll(svc.stripe.subscriptions.list({ status: 'all', limit: 100 }));
  const localSubs = new Map((await db.selectFrom('subscriptions').selectAll().execute()).map((s) => [s.id, s]));
  expect(stripeSubs.map((s) => ({ id: s.id, status: localSubs.get(s.id)?.status }))).toEqual(stripeSubs.map((s) => ({ id: s.id, status: s.status })));
  const invoices = await listAll(svc.stripe.invoices.list({ limit: 100 }));
  const paid = invoices.filter((i: Stripe.Invoice) => i.status === 'paid' && i.amount_paid > 0).map((i) => i.id).sort();
  const payments = await db.selectFrom('payments').select(['payment_key', 'status']).where('status', '=', 'succeeded').orderBy('payment_key').execute();
  expect(payments.map((p) => p.payment_key).sort()).toEqual(paid);
}

test('a connection terminated while its transaction waits fails that transaction, and the process and the pool carry on', async () => {
  const errorsBefore = database.connectionErrors.length;
  let signalInside!: () => void;
  const inside = new Promise<void>((resolve) => (signalInside = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  // A transaction checked out and idle between two statements: exactly where the seed crashed
  // (the client, not the pool, emits the error, and nobody listened).
  const transaction = database.service.db.transaction().execute(async (trx) => {
    await sql`select 1`.execute(trx);
    signalInside();
    await released;
    await sql`select 1`.execute(trx);
  });
  const outcome = transaction.then(
    () => 'committed',
    (err: unknown) => `failed: ${(err as Error).message}`,
  );
  await inside;
  expect(await database.terminateBackends()).toBeGreaterThan(0);
  // The error event reaches the client while it is idle in the transaction.
  await waitUntil(() => database.connectionErrors.length > errorsBefore, { what: 'the pool reporting the dropped connection' });
  release();
  expect(await outcome).toMatch(/^failed: /);
  // The pool opens a new connection for the next query by itself.
  const row = await waitUntil(async () => (await sql<{ one: number }>`select 1 as one`.execute(database.service.db)).rows[0], { what: 'a query through the recovered pool' });
  expect(row.one).toBe(1);
});

test('backends terminated again and again during a burst of deliveries: nothing exits, every event is applied exactly once', async () => {
  const { control } = svc.sandbox;
  const users = Array.from({ length: 10 }, (_, i) => `user_dbkill_${i}`);
  // The burst is queued first and released at once, so deliveries keep the pool busy while the
  // killer runs.
  control.pauseDeliveries();
  try {
    for (const user of users) await subscribe(svc, user);
    await control.advanceClock(32 * DAY);
  } finally {
    // Every connection the pool may use is open, and what it sends next is held at the proxy: the
    // first termination below then meets queries in flight (not only idle connections, which the
    // pool replaces silently), however fast the acknowledgements are or slow the machine is.
    await Promise.all(Array.from({ length: 4 }, () => sql`select pg_sleep(0.05)`.execute(database.service.db)));
    database.proxy.hold();
    control.resumeDeliveries();
  }
  let drained = false;
  const settled = control.waitForDeliveries(SETTLE_MS).then(() => (drained = true));
  let killed = 0;
  try {
    // The acknowledgement's insert, not whatever else the service happens to query meanwhile.
    await waitUntil(() => database.proxy.heldInFlight('insert into "webhook_events"') > 0, { what: 'an acknowledgement held in flight on an open connection' });
    killed += await database.terminateBackends();
  } finally {
    database.proxy.release();
  }
  // A delivery whose query was in flight failed (a 5xx Stripe retries).
  await waitUntil(() => control.deliveries().some((d) => !d.succeeded), { what: 'a delivery failing on a dropped connection' });
  // Then again and again while the burst and Stripe's retries drain.
  const killer = (async () => {
    for (let round = 0; round < 10 && !drained; round++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      killed += await database.terminateBackends();
    }
  })();
  await killer;
  expect(killed).toBeGreaterThan(0);
  expect(database.connectionErrors.length).toBeGreaterThan(0);
  await settled;
  expect((await ready()).status).toBe(200);
  await expectEverythingAppliedOnce();
});

test('the database unreachable for several seconds: deliveries answer 5xx, readiness names the database, and after it returns nothing is lost', async () => {
  const { control } = svc.sandbox;
  const failedBefore = control.deliveries().filter((d) => !d.succeeded).length;
  database.proxy.cut();
  const cutAt = Date.now();
  const users = Array.from({ length: 4 }, (_, i) => `user_dbdown_${i}`);
  for (const user of users) await subscribe(svc, user);

  const notReady = await waitUntil(async () => {
    const probe = await ready();
    return probe.status === 503 ? probe : undefined;
  }, { what: 'readiness reporting the database' });
  expect(notReady.body.failed).toEqual(['database']);
  await waitUntil(() => control.deliveries().filter((d) => !d.succeeded).length > failedBefore, { what: 'deliveries failing while the database is down' });
  const failedWhileDown = control.deliveries().filter((d) => !d.succeeded && d.at >= cutAt);
  expect(failedWhileDown.length).toBeGreaterThan(0);
  expect(failedWhileDown.every((d) => d.status !== null && d.status >= 500)).toBe(true);

  // Health, metrics and alerts see failures the database could not record.
  const health = await fetch(`${svc.url}/api/payments/health`);
  expect(health.status).toBe(503);
  const report = (await health.json()) as { status: string; database: string; inProcess: { unrecordedWebhookFailures: number }; window: { webhookFailure: { failed: number } } };
  expect({ status: report.status, database: report.database }).toEqual({ status: 'critical', database: 'unavailable' });
  expect(report.inProcess.unrecordedWebhookFailures).toBeGreaterThan(0);
  expect(report.window.webhookFailure.failed).toBe(report.inProcess.unrecordedWebhookFailures);
  const metrics = await (await fetch(`${svc.url}/metrics`)).text();
  const unrecordedMetric = [...metrics.matchAll(/^payments_webhook_failures_unrecorded_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  expect(unrecordedMetric).toBeGreaterThan(0);
  expect(svc.emfLines().filter((l) => l[CLOUDWATCH_METRICS.names.webhookFailed] === 1 && l.recorded === false).length).toBeGreaterThan(0);
  await svc.monitoring.alerts.flush();
  expect(svc.alerts.alerts.filter((a) => a.type === 'database_unavailable').map((a) => a.severity)).toContain('critical');

  // Down for at least 3 s, then back.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 3000 - (Date.now() - cutAt))));
  database.proxy.restore();
  await waitUntil(async () => (await ready()).status === 200, { what: 'readiness after the database returned' });
  await control.waitForDeliveries(SETTLE_MS);
  await expectEverythingAppliedOnce();

  // Back up: the durable figures again, with the failures only this process saw merged in.
  const after = (await (await fetch(`${svc.url}/api/payments/health`)).json()) as { database: string; inProcess: { unrecordedWebhookFailures: number }; window: { webhookFailure: { failed: number; total: number } } };
  expect(after.database).toBe('available');
  expect(after.inProcess.unrecordedWebhookFailures).toBeGreaterThanOrEqual(report.inProcess.unrecordedWebhookFailures);
  expect(after.window.webhookFailure.failed).toBeGreaterThanOrEqual(after.inProcess.unrecordedWebhookFailures);
});

test('paused while the database is down: a delivery that cannot even be stored answers 5xx and is still counted', async () => {
  const { control } = svc.sandbox;
  const deps: WebhookDeps = { db: svc.database.db, stripe: svc.stripe, store: svc.store, config: svc.config, logger: svc.logs.logger, observer: svc.deps.observer };
  const counted = async () =>
    ((await (await fetch(`${svc.url}/api/payments/health`)).json()) as { inProcess: { unrecordedWebhookFailures: number } }).inProcess.unrecordedWebhookFailures;
  const before = await counted();
  await pauseWebhookProcessing(svc.store, { reason: 'rollback during an outage' });
  const cutAt = Date.now();
  database.proxy.cut();
  try {
    await subscribe(svc, 'user_paused_dbdown');
    await waitUntil(() => control.deliveries().some((d) => !d.succeeded && d.at >= cutAt), { what: 'a paused delivery failing to be stored' });
    expect(control.deliveries().filter((d) => !d.succeeded && d.at >= cutAt).every((d) => d.status !== null && d.status >= 500)).toBe(true);
    expect(await counted()).toBeGreaterThan(before);
  } finally {
    database.proxy.restore();
  }
  await waitUntil(async () => (await ready()).status === 200, { what: 'readiness after the database returned' });
  // Stripe's retries store the events as pending; the resume applies them.
  await control.waitForDeliveries(SETTLE_MS);
  await resumeWebhookProcessing(deps);
  await expectEverythingAppliedOnce();
});
