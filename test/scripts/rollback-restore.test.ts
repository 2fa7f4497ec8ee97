import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Stripe from 'stripe';
import { WEBHOOK_EVENTS } from '../../service/shared/catalog';
import { main as restore } from '../../scripts/restore';
import { main as rollback } from '../../scripts/rollback';
import type { ReportRow } from '../../scripts/lib/report';
import type { TestService } from '../support/service';
import { SETTLE_MS } from '../support/wait';
import { DAY, listAll, startWebhookService, subscribe } from '../service/webhooks/support';

/**
 * rollback → restore on the local stack while Stripe keeps working: a customer subscribes while
 * processing is paused (deliveries stored and acknowledged), another subscribes
 * and another cancels while the endpoint is disabled (Stripe never sends those events). The restore re-enables the
 * endpoint, replays what was never sent, drains what was stored, and proves every Stripe event since
 * the marker is applied exactly once; the local subscriptions and payments then equal Stripe's.
 */
jest.setTimeout(300_000);

let svc: TestService;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'upiik-restore-'));
  svc = await startWebhookService({ env: { OPS_BACKUP_DIR: join(dir, 'backups') } });
});
afterAll(async () => {
  await svc?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function run(command: typeof rollback, ...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const env = { PORT: new URL(svc.url).port, SANDBOX_PORT: new URL(svc.sandbox.url).port, STRIPE_SECRET_KEY: 'sk_test_restore', AUTH_JWT_SECRET: svc.config.auth.secret, USER: 'oncall' };
  const code = await command(argv, env, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), opsEnv: { localEnvFile: join(dir, 'none.env') } });
  return { code, stdout, stderr };
}
const settle = () => svc.sandbox.control.waitForDeliveries(SETTLE_MS);
const db = () => svc.database.db;

test('nothing is lost: paused deliveries drained, events of a disabled endpoint replayed, each applied once, the ledger equals Stripe', async () => {
  const before = await subscribe(svc, 'u_before');
  // A renewal, before the incident (Stripe lists 30 days of events: the clock moves first, not during it).
  await svc.sandbox.control.advanceClock(32 * DAY);
  await settle();

  const first = await run(rollback, '--env', 'local', '--reason', 'bad release', '--json');
  expect(first.code).toBe(0);
  await subscribe(svc, 'u_paused');
  await settle();
  expect(svc.sandbox.control.deliveries().every((d) => d.status === 200)).toBe(true);
  const pendingWhilePaused = await db().selectFrom('webhook_events').select('event_id').where('status', '=', 'pending').execute();
  expect(pendingWhilePaused.length).toBeGreaterThan(3);

  const second = await run(rollback, '--env', 'local', '--reason', 'bad release', '--disable-endpoint', '--json');
  expect(second.code).toBe(0);
  const deliveredBefore = svc.sandbox.control.deliveries().length;
  await subscribe(svc, 'u_disabled');
  await svc.stripe.subscriptions.cancel(before.subscriptionId);
  await settle();
  // Stripe sends nothing to a disabled endpoint.
  expect(svc.sandbox.control.deliveries().length).toBe(deliveredBefore);

  const restored = await run(restore, '--env', 'local', '--json');
  const report = JSON.parse(restored.stdout) as { ok: boolean; counts: Record<string, number>; rows: ReportRow[] };
  expect(restored.stderr).toBe('');
  expect(report.rows.filter((r) => !r.ok)).toEqual([]);
  expect(restored.code).toBe(0);
  expect(report.rows.map((r) => r.name)).toEqual(['rollback marker', 're-enable endpoint', 'replay events', 'resume webhook processing', 'maintenance off', 'stripe:validate', 'nothing missing', 'close marker']);
  expect(report.counts.missing).toBe(0);
  expect(report.counts.failed).toBe(0);
  // Replayed: what the disabled endpoint never got (and the paused events the replay reached first).
  expect(report.counts.replayed).toBeGreaterThan(3);

  // Every Stripe event of the service's types is in the inbox once and applied.
  const events = await listAll(svc.stripe.events.list({ limit: 100 }));
  const inbox = await db().selectFrom('webhook_events').select(['event_id', 'status']).execute();
  const status = new Map(inbox.map((r) => [r.event_id, r.status]));
  const handled = events.filter((e) => (WEBHOOK_EVENTS as readonly string[]).includes(e.type));
  expect(handled.length).toBeGreaterThan(10);
  expect(handled.filter((e) => !status.has(e.id)).map((e) => `${e.type} ${e.id}`)).toEqual([]);
  expect(inbox.filter((r) => r.status === 'pending' || r.status === 'failed')).toEqual([]);

  // The local state equals Stripe's objects.
  const subs = await listAll(svc.stripe.subscriptions.list({ status: 'all', limit: 100 }));
  expect(subs).toHaveLength(3);
  const local = await db().selectFrom('subscriptions').select(['id', 'status', 'current_period_end']).execute();
  expect(local.map((s) => [s.id, s.status, s.current_period_end?.getTime()]).sort()).toEqual(
    subs.map((s) => [s.id, s.status, (s.items.data[0] as Stripe.SubscriptionItem).current_period_end * 1000]).sort(),
  );
  const paid = (await listAll(svc.stripe.invoices.list({ limit: 100 }))).filter((i) => i.status === 'paid' && i.amount_paid > 0);
  const payments = await db().selectFrom('payments').select(['invoice_id', 'amount', 'status']).where('status', '=', 'succeeded').execute();
  expect(payments.map((p) => [p.invoice_id, p.amount]).sort()).toEqual(paid.map((i) => [i.id, i.amount_paid]).sort());
  expect(paid.length).toBeGreaterThanOrEqual(4);

  // Back to normal: no open marker, not paused, open for checkout, and new deliveries applied.
  const again = await run(restore, '--env', 'local', '--json');
  expect(JSON.parse(again.stdout).rows[0]).toMatchObject({ name: 'rollback marker', found: expect.stringMatching(/^none open \(#\d+ already restored\)/) });
  await subscribe(svc, 'u_after');
  await settle();
  expect(await db().selectFrom('subscriptions').select('id').where('status', '=', 'active').execute()).toHaveLength(3);
  expect(await db().selectFrom('subscriptions').select('status').where('id', '=', before.subscriptionId).executeTakeFirstOrThrow()).toEqual({ status: 'canceled' });
});

test('an unconfirmed production restore is exit 2 before anything is touched', async () => {
  const refused = await run(restore, '--env', 'production');
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('a production restore needs --yes');
});
