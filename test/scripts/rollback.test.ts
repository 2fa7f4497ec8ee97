import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyExport } from '../../service/ops/export';
import { WEBHOOKS_PAUSED_KEY } from '../../service/webhooks';
import { CreateDBSnapshotCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { GENERIC_STATUS_MESSAGE, main, parseRollbackArgs, rollback } from '../../scripts/rollback';
import { OpsApi } from '../../scripts/lib/ops-api';
import type { OpsTarget } from '../../scripts/lib/ops-env';
import type { ReportRow } from '../../scripts/lib/report';
import type { TestService } from '../support/service';
import { SETTLE_MS } from '../support/wait';
import { startWebhookService, subscribe } from '../service/webhooks/support';

/**
 * npm run rollback -- --env local against a running service and the sandbox, the way on-call runs
 * it: payments become safe (processing paused, maintenance on) within seconds, deliveries keep
 * being stored and acknowledged, a backup is taken, a second run resumes the first, and only
 * --disable-endpoint touches Stripe.
 */
jest.setTimeout(300_000);

let svc: TestService;
let dir: string;
let user: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'upiik-rollback-'));
  svc = await startWebhookService({ env: { OPS_BACKUP_DIR: join(dir, 'backups') } });
  user = await svc.tokenFor({ id: 'u_rollback_buyer' });
});
afterAll(async () => {
  await svc?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const env = { PORT: new URL(svc.url).port, SANDBOX_PORT: new URL(svc.sandbox.url).port, STRIPE_SECRET_KEY: 'sk_test_rollback', AUTH_JWT_SECRET: svc.config.auth.secret, USER: 'oncall' };
  const code = await main(argv, env, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), opsEnv: { localEnvFile: join(dir, 'none.env') } });
  return { code, stdout, stderr };
}
type Report = { ok: boolean; markerId: number; triggerToSafeMs: number; rows: ReportRow[] };
const rowsOf = (report: Report) => Object.fromEntries(report.rows.map((r) => [r.name, r]));
const status = async () => (await (await fetch(`${svc.url}/api/payments/status`)).json()) as { maintenance: boolean; reason?: string };
const endpoint = async () => (await svc.stripe.webhookEndpoints.list({ limit: 100 })).data.find((e) => e.url.startsWith(svc.url))!;

test('a first rollback: marker, paused and in maintenance within seconds, a verified backup, Stripe untouched, a generic status message', async () => {
  const { code, stdout, stderr } = await run('--env', 'local', '--reason', 'checkout 5xx after abc1234', '--json');
  expect(stderr).toBe('');
  const report = JSON.parse(stdout) as Report;
  expect({ code, ok: report.ok }).toEqual({ code: 0, ok: true });
  expect(report.rows.map((r) => r.name)).toEqual(['rollback marker', 'pause webhook processing', 'maintenance on', 'backup', 'notify']);
  const rows = rowsOf(report);
  expect(rows['rollback marker']!.found).toMatch(new RegExp(`^#${report.markerId} opened at `));
  expect(rows.notify!.found).toBe('not asked (--notify): users see a generic status message');
  // Loose bound (a loaded machine): the target is 5 s and the figure is in the report.
  expect(report.triggerToSafeMs).toBeGreaterThan(0);
  expect(report.triggerToSafeMs).toBeLessThan(60_000);
  for (const row of report.rows.filter((r) => r.name !== 'notify')) expect(row.durationMs).toEqual(expect.any(Number));

  expect(await svc.store.get(WEBHOOKS_PAUSED_KEY)).not.toBeNull();
  expect(await status()).toMatchObject({ maintenance: true, reason: GENERIC_STATUS_MESSAGE });
  const checkout = await fetch(`${svc.url}/api/payments/checkout-session`, { method: 'POST', headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' }, body: JSON.stringify({ plan: 'monthly' }) });
  expect(checkout.status).toBe(503);
  expect(checkout.headers.get('retry-after')).not.toBeNull();

  const backupFile = /^(\S+) \(/.exec(rows.backup!.found)![1]!;
  expect(await verifyExport(backupFile)).toMatchObject({ ok: true });
  expect((await endpoint()).status).toBe('enabled');
  const audit = await svc.database.db.selectFrom('audit_log').select(['actor', 'action']).where('actor', '=', 'ops:oncall').orderBy('id').execute();
  expect(audit.map((a) => a.action)).toEqual(['rollback.marker.open', 'webhooks.pause', 'maintenance.enable', 'ops.backup', 'rollback.marker.step']);
});

test('while paused, Stripe deliveries are stored and acknowledged, none applied', async () => {
  await subscribe(svc, 'u_during_rollback');
  await svc.sandbox.control.waitForDeliveries(SETTLE_MS);
  const deliveries = svc.sandbox.control.deliveries();
  expect(deliveries.length).toBeGreaterThan(3);
  expect(deliveries.every((d) => d.status === 200)).toBe(true);
  const pending = await svc.database.db.selectFrom('webhook_events').select('event_id').where('status', '=', 'pending').execute();
  expect(pending).toHaveLength(new Set(deliveries.map((d) => d.event_id)).size);
  expect(await svc.database.db.selectFrom('subscriptions').select('id').execute()).toEqual([]);
});

test('run again with --disable-endpoint --notify: resumes the same marker, takes no second backup, disables the endpoint, pages nobody twice', async () => {
  const first = await svc.database.db.selectFrom('ops_markers').select('id').executeTakeFirstOrThrow();
  const { code, stdout } = await run('--env', 'local', '--reason', 'checkout 5xx after abc1234', '--disable-endpoint', '--notify', '--json');
  const report = JSON.parse(stdout) as Report;
  expect(code).toBe(0);
  expect(report.markerId).toBe(Number(first.id));
  const rows = rowsOf(report);
  expect(rows['rollback marker']!.found).toMatch(/already open since .*: resuming it$/);
  expect(rows['pause webhook processing']!.found).toMatch(/^already paused since /);
  expect(rows.backup!.found).toMatch(/^already taken: /);
  expect(rows['disable endpoint']!.found).toMatch(/^we_\w+ disabled: npm run restore re-enables it/);
  expect(rows.notify!.found).toMatch(/^not sent: this run resumed an open rollback/);
  expect((await endpoint()).status).toBe('disabled');
  // --notify: the reason is now what users read.
  expect(await status()).toMatchObject({ maintenance: true, reason: 'checkout 5xx after abc1234' });
  const marker = await svc.database.db.selectFrom('ops_markers').select('details').executeTakeFirstOrThrow();
  expect(marker.details).toMatchObject({ endpointDisabled: (await endpoint()).id, backup: expect.any(String), backupSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  expect(await svc.database.db.selectFrom('ops_markers').select('id').execute()).toHaveLength(1);
  expect(svc.alerts.ofType('rollback_started')).toEqual([]);
  // A third run changes nothing more.
  const third = JSON.parse((await run('--env', 'local', '--reason', 'again', '--disable-endpoint', '--json')).stdout) as Report;
  expect(rowsOf(third)['disable endpoint']!.found).toMatch(/already disabled$/);
});

test('--scope app leaves payments and Stripe alone; --notify on a new rollback pages once', async () => {
  // Undo the previous rollback by hand (npm run restore's job) so a new one starts.
  const admin = await svc.tokenFor({ id: 'ops_test', admin: true });
  const headers = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
  await fetch(`${svc.url}/api/admin/payments/ops/rollback-marker/close`, { method: 'POST', headers, body: JSON.stringify({ summary: { by: 'test' } }) });
  await fetch(`${svc.url}/api/admin/payments/maintenance`, { method: 'DELETE', headers });
  await fetch(`${svc.url}/api/admin/payments/webhooks/resume`, { method: 'POST', headers, body: '{}' });

  const { code, stdout } = await run('--env', 'local', '--reason', 'canary failed', '--scope', 'app', '--notify', '--json');
  const report = JSON.parse(stdout) as Report;
  expect(code).toBe(0);
  expect(report.rows.map((r) => r.name)).toEqual(['rollback marker', 'backup', 'notify']);
  expect(report.triggerToSafeMs).toBeUndefined();
  expect(await svc.store.get(WEBHOOKS_PAUSED_KEY)).toBeNull();
  expect((await status()).maintenance).toBe(false);
  await svc.monitoring.alerts.flush();
  expect(svc.alerts.ofType('rollback_started')).toEqual([expect.objectContaining({ severity: 'high', message: expect.stringContaining('(app) started by ops:oncall: canary failed') })]);
});

test('wrong invocations and an unconfirmed production rollback are exit 2, before anything is touched', async () => {
  expect(() => parseRollbackArgs(['--env', 'local'])).toThrow('--reason is required');
  expect(() => parseRollbackArgs(['--env', 'local', '--reason', 'x', '--scope', 'all'])).toThrow('--scope must be stripe, app or both');
  expect(() => parseRollbackArgs(['--env', 'local', '--reason', 'x', '--maintenance-ttl', '10'])).toThrow('--maintenance-ttl must be 60-86400 seconds');
  expect(() => parseRollbackArgs(['--env', 'local', '--reason', 'x', '--scope', 'app', '--disable-endpoint'])).toThrow('not with --scope app');
  const refused = await run('--env', 'production', '--reason', 'x');
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('a production rollback needs --yes');
});

describe('in AWS, the backup is an RDS snapshot (RDS mocked with aws-sdk-client-mock: no AWS here)', () => {
  const rds = mockClient(RDSClient);
  afterEach(() => rds.reset());

  test('one snapshot per marker, named after it and tagged; a second run takes none', async () => {
    const admin = await svc.tokenFor({ id: 'ops:gha-1', admin: true });
    const headers = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
    await fetch(`${svc.url}/api/admin/payments/ops/rollback-marker/close`, { method: 'POST', headers, body: JSON.stringify({ summary: {} }) });
    rds.on(CreateDBSnapshotCommand).resolvesOnce({}).rejects(Object.assign(new Error('exists'), { name: 'DBSnapshotAlreadyExistsFault' }));
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [{ Status: 'creating' }] });
    const target: OpsTarget = {
      env: 'staging',
      serviceUrl: svc.url,
      webhookUrl: `${svc.url}/api/webhooks/stripe`,
      stripe: { secretKey: 'sk_test_rollback', apiBase: svc.sandbox.url },
      auth: svc.config.auth,
      aws: { databaseInstanceIdentifier: 'upiik-payments-staging-db' } as OpsTarget['aws'],
    };
    const connection = { target, api: new OpsApi(svc.url, admin), stripe: svc.stripe, rds: new RDSClient({ region: 'eu-central-1' }), close: async () => undefined };
    const args = parseRollbackArgs(['--env', 'staging', '--reason', 'canary failed', '--scope', 'app']);
    const first = await rollback(args, connection);
    const id = `upiik-payments-staging-db-rollback-${first.markerId}`;
    expect(first.rows.find((r) => r.name === 'backup')).toMatchObject({ ok: true, found: `RDS snapshot ${id} (creating; it completes in the background)` });
    expect(rds.commandCalls(CreateDBSnapshotCommand)[0]!.args[0].input).toEqual({ DBInstanceIdentifier: 'upiik-payments-staging-db', DBSnapshotIdentifier: id, Tags: [{ Key: 'rollback-marker', Value: String(first.markerId) }] });
    const marker = await svc.database.db.selectFrom('ops_markers').select('details').where('id', '=', first.markerId!).executeTakeFirstOrThrow();
    expect(marker.details).toMatchObject({ backup: `rds-snapshot:${id}` });

    // The marker already names its backup: a second run takes none.
    const second = await rollback(args, connection);
    expect(second.rows.find((r) => r.name === 'backup')?.found).toBe(`already taken: rds-snapshot:${id}`);
    expect(rds.commandCalls(CreateDBSnapshotCommand)).toHaveLength(1);
  });

  test('an external database (no RDS instance) fails the backup row with what to do, and the rest still runs', async () => {
    const admin = await svc.tokenFor({ id: 'ops:gha-2', admin: true });
    const headers = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
    await fetch(`${svc.url}/api/admin/payments/ops/rollback-marker/close`, { method: 'POST', headers, body: JSON.stringify({ summary: {} }) });
    const target: OpsTarget = { env: 'staging', serviceUrl: svc.url, webhookUrl: `${svc.url}/api/webhooks/stripe`, stripe: { secretKey: 'sk_test_rollback', apiBase: svc.sandbox.url }, auth: svc.config.auth, aws: {} as OpsTarget['aws'] };
    const result = await rollback(parseRollbackArgs(['--env', 'staging', '--reason', 'x', '--scope', 'app']), { target, api: new OpsApi(svc.url, admin), stripe: svc.stripe, rds: new RDSClient({ region: 'eu-central-1' }), close: async () => undefined });
    expect(result.rows.map((r) => [r.name, r.ok])).toEqual([['rollback marker', true], ['backup', false], ['notify', true]]);
    expect(result.rows[1]).toMatchObject({ found: expect.stringContaining('no RDS instance (external database)'), fix: expect.stringContaining('npm run backup where the database is') });
    expect(rds.commandCalls(CreateDBSnapshotCommand)).toHaveLength(0);
  });
});
