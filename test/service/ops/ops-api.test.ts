import type Stripe from 'stripe';
import { eventLane, WEBHOOKS_PAUSED_KEY } from '../../../service/webhooks';
import type { TestService } from '../../support/service';
import { SETTLE_MS } from '../../support/wait';
import { countRows, startWebhookService, subscribe } from '../webhooks/support';

/**
 * The operational admin API the rollback and restore commands drive over HTTPS: pause and resume
 * (stored deliveries drained in Stripe order), the ops status, and the rollback marker. Through the
 * running service and the sandbox's signed deliveries; every change is audited with its actor and
 * reason, and every refused request changes nothing.
 */
jest.setTimeout(300_000);

let svc: TestService;
let admin: string;
let user: string;
beforeAll(async () => {
  svc = await startWebhookService({ env: { SERVICE_VERSION: 'abc1234' } });
  admin = await svc.tokenFor({ id: 'ops:run-42', admin: true });
  user = await svc.tokenFor({ id: 'u_plain' });
});
afterAll(async () => svc?.close());

/** The fields these tests read of the API's answers (each test asserts the whole shape where it matters). */
interface Answer {
  error: { code: string };
  since: string;
  reason: string;
  drain: Record<string, unknown>;
  webhooks: Record<string, unknown>;
  rollback: unknown;
  marker: { id: number; openedAt: string; details: Record<string, unknown> };
}

async function call(method: string, path: string, options: { token?: string; body?: unknown; contentType?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const res = await fetch(`${svc.url}/api/admin/payments${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Answer };
}

/** A replay start Stripe still keeps events for. */
const RECENT = new Date(Date.now() - 60_000).toISOString();

const auditOf = (action: string) =>
  svc.database.db.selectFrom('audit_log').select(['actor', 'action', 'target', 'details']).where('action', '=', action).orderBy('id').execute();

describe('refused requests change nothing', () => {
  test.each([
    ['POST', '/webhooks/pause', { body: { reason: 'x' } }, 401, 'missing_token'],
    ['POST', '/webhooks/pause', { body: { reason: 'x' }, as: 'user' }, 403, 'forbidden'],
    ['POST', '/webhooks/pause', { body: {} }, 400, 'invalid_body'],
    ['POST', '/webhooks/pause', { body: { reason: '   ' } }, 400, 'invalid_body'],
    ['POST', '/webhooks/pause', { body: { reason: 'x', ttl: 5 } }, 400, 'invalid_body'],
    ['POST', '/webhooks/pause', { body: 'reason=x', contentType: 'text/plain' }, 415, undefined],
    ['POST', '/webhooks/resume', { body: { reason: 7 } }, 400, 'invalid_body'],
    ['POST', '/ops/rollback-marker', { body: { reason: 'bad deploy' } }, 400, 'invalid_body'],
    ['POST', '/ops/rollback-marker', { body: { reason: 'bad deploy', scope: 'everything' } }, 400, 'invalid_body'],
    ['POST', '/ops/rollback-marker', { body: { reason: 'bad deploy', scope: 'app', details: { nested: { a: 1 } } } }, 400, 'invalid_body'],
    ['PATCH', '/ops/rollback-marker', { body: { details: { backup: 'b1' } } }, 409, 'no_open_rollback_marker'],
    ['POST', '/ops/rollback-marker/close', { body: { summary: { replayed: 0 } } }, 409, 'no_open_rollback_marker'],
    ['GET', '/ops?verbose=1', { as: 'admin' }, 400, undefined],
    ['POST', '/ops/rollups', { body: { mode: 'check' } }, 401, 'missing_token'],
    ['POST', '/ops/rollups', { body: { mode: 'check' }, as: 'user' }, 403, 'forbidden'],
    ['POST', '/ops/rollups', { body: {} }, 400, 'invalid_body'],
    ['POST', '/ops/rollups', { body: { mode: 'repair' } }, 400, 'invalid_body'],
    ['POST', '/ops/rollups', { body: { mode: 'rebuild', zone: 'UTC' } }, 400, 'invalid_body'],
    ['POST', '/ops/rollups', { body: { mode: 'check', reason: '  ' } }, 400, 'invalid_body'],
    ['POST', '/ops/replay', { body: { since: RECENT } }, 401, 'missing_token'],
    ['POST', '/ops/replay', { body: { since: RECENT }, as: 'user' }, 403, 'forbidden'],
    ['POST', '/ops/replay', { body: { since: RECENT, types: ['DROP TABLE'] } }, 400, 'invalid_body'],
    ['POST', '/ops/replay', { body: { since: RECENT, types: [] } }, 400, 'invalid_body'],
    ['POST', '/ops/replay', { body: { since: RECENT, dryRun: true, verbose: true } }, 400, 'invalid_body'],
  ] as const)('%s %s (case %#)', async (method, path, options, status, code) => {
    const auditBefore = await countRows(svc, 'audit_log');
    const token = 'as' in options ? (options.as === 'user' ? user : admin) : status === 401 ? undefined : admin;
    const res = await call(method, path, { token, ...('body' in options ? { body: options.body } : {}), ...('contentType' in options ? { contentType: options.contentType } : {}) });
    expect(res.status).toBe(status);
    if (code) expect(res.body.error.code).toBe(code);
    expect(await svc.store.get(WEBHOOKS_PAUSED_KEY)).toBeNull();
    expect(await countRows(svc, 'audit_log')).toBe(auditBefore);
    expect(await svc.database.db.selectFrom('ops_markers').select('id').execute()).toEqual([]);
  });
});

test('GET /ops with nothing going on: the version, no maintenance, not paused, an empty inbox, no rollback', async () => {
  const res = await call('GET', '/ops', { token: admin });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    service: { version: 'abc1234', environment: 'test', stripeMode: 'test' },
    maintenance: { maintenance: false },
    webhooks: { paused: false, pendingEvents: 0, failedEvents: 0, oldestPendingCreatedAt: null },
    rollback: { open: null, last: null },
  });
});

test('pause: deliveries are stored and acknowledged; /ops counts them; resume drains them (each customer in Stripe order) and says so', async () => {
  const paused = await call('POST', '/webhooks/pause', { token: admin, body: { reason: 'rollback of abc1234 (sk_live_51H8aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789)' } });
  expect(paused.status).toBe(200);
  expect(paused.body).toMatchObject({ paused: true, alreadyPaused: false, since: expect.any(String) });
  // The reason is kept redacted: it is shown to every admin and kept in the audit log.
  expect(paused.body.reason).toMatch(/^rollback of abc1234 \(/);
  expect(paused.body.reason).not.toContain('sk_live_51H8');

  // Pausing again (a resumed rollback) keeps the first pause.
  const again = await call('POST', '/webhooks/pause', { token: admin, body: { reason: 'second try' } });
  expect(again.body).toMatchObject({ paused: true, alreadyPaused: true, since: paused.body.since, reason: paused.body.reason });

  for (let i = 0; i < 3; i++) await subscribe(svc, `u_ops_${i}`);
  await svc.sandbox.control.waitForDeliveries(SETTLE_MS);
  const deliveries = svc.sandbox.control.deliveries();
  expect(deliveries.length).toBeGreaterThan(6);
  expect(deliveries.every((d) => d.status === 200)).toBe(true);
  const events = new Set(deliveries.map((d) => d.event_id)).size;

  const during = await call('GET', '/ops', { token: admin });
  expect(during.body.webhooks).toMatchObject({ paused: true, reason: paused.body.reason, pendingEvents: events, failedEvents: 0, oldestPendingCreatedAt: expect.any(String) });
  expect(await countRows(svc, 'subscriptions')).toBe(0);

  const resumed = await call('POST', '/webhooks/resume', { token: admin, body: { reason: 'fixed forward' } });
  expect(resumed.status).toBe(200);
  expect(resumed.body).toEqual({
    paused: false,
    wasPaused: true,
    drain: { seen: events, applied: events, alreadyApplied: 0, failed: 0, stoppedByPause: false },
    pendingEvents: 0,
    failedEvents: 0,
    oldestPendingCreatedAt: null,
  });
  expect(await svc.store.get(WEBHOOKS_PAUSED_KEY)).toBeNull();
  expect(await countRows(svc, 'subscriptions')).toBe(3);
  // Customers side by side (the drain's lanes), each customer's events in Stripe order.
  const rows = await svc.database.db.selectFrom('webhook_events').select(['event_id', 'stripe_created_at', 'processed_at', 'payload']).execute();
  const lanes = new Map<string, typeof rows>();
  for (const r of rows) lanes.set(eventLane(r.payload as Stripe.Event), [...(lanes.get(eventLane(r.payload as Stripe.Event)) ?? []), r]);
  expect(lanes.size).toBeGreaterThanOrEqual(3);
  for (const laneRows of lanes.values()) {
    const inStripeOrder = [...laneRows].sort((a, b) => a.stripe_created_at.getTime() - b.stripe_created_at.getTime() || (a.event_id < b.event_id ? -1 : 1)).map((r) => r.event_id);
    expect([...laneRows].sort((a, b) => a.processed_at!.getTime() - b.processed_at!.getTime()).map((r) => r.event_id)).toEqual(inStripeOrder);
  }

  const pauses = await auditOf('webhooks.pause');
  expect(pauses.map((a) => [a.actor, a.target, (a.details as { alreadyPaused: boolean }).alreadyPaused])).toEqual([
    ['ops:run-42', 'payments:webhooks', false],
    ['ops:run-42', 'payments:webhooks', true],
  ]);
  expect(JSON.stringify(pauses)).not.toContain('sk_live_51H8');
  const resumes = await auditOf('webhooks.resume');
  expect(resumes).toEqual([expect.objectContaining({ actor: 'ops:run-42', details: expect.objectContaining({ reason: 'fixed forward', wasPaused: true, drain: resumed.body.drain }) })]);

  // Resuming what is not paused drains nothing and says it was not paused.
  const idle = await call('POST', '/webhooks/resume', { token: admin, body: {} });
  expect(idle.body).toMatchObject({ paused: false, wasPaused: false, drain: { seen: 0 } });
});

test('the rollback marker: opened once, resumed by a second rollback, steps recorded, closed by the restore, shown by /ops', async () => {
  const opened = await call('POST', '/ops/rollback-marker', { token: admin, body: { reason: 'checkout 5xx after deploy', scope: 'both' } });
  expect(opened.status).toBe(201);
  expect(opened.body).toMatchObject({ created: true, marker: { scope: 'both', reason: 'checkout 5xx after deploy', openedBy: 'ops:run-42', details: {}, closedAt: null } });
  const id = opened.body.marker.id;

  const resumed = await call('POST', '/ops/rollback-marker', { token: admin, body: { reason: 'retry of the same rollback', scope: 'app' } });
  expect(resumed.status).toBe(200);
  expect(resumed.body).toMatchObject({ created: false, marker: { id, scope: 'both', reason: 'checkout 5xx after deploy', openedAt: opened.body.marker.openedAt } });

  await call('PATCH', '/ops/rollback-marker', { token: admin, body: { details: { endpointDisabled: 'we_123', backup: 'local:export-1' } } });
  const step = await call('PATCH', '/ops/rollback-marker', { token: admin, body: { details: { backup: 'local:export-2', backupSha256: 'ab'.repeat(32) } } });
  expect(step.status).toBe(200);
  expect(step.body.marker.details).toEqual({ endpointDisabled: 'we_123', backup: 'local:export-2', backupSha256: 'ab'.repeat(32) });

  const during = await call('GET', '/ops', { token: admin });
  expect(during.body.rollback).toEqual({ open: step.body.marker, last: step.body.marker });

  const closed = await call('POST', '/ops/rollback-marker/close', { token: admin, body: { summary: { replayed: 12, missing: 0 } } });
  expect(closed.status).toBe(200);
  expect(closed.body.marker).toMatchObject({ id, closedBy: 'ops:run-42', closedAt: expect.any(String), closeSummary: { replayed: 12, missing: 0 } });
  const after = await call('GET', '/ops', { token: admin });
  expect(after.body.rollback).toEqual({ open: null, last: closed.body.marker });
  expect((await call('POST', '/ops/rollback-marker/close', { token: admin, body: { summary: {} } })).status).toBe(409);

  // The next rollback is a new marker.
  const next = await call('POST', '/ops/rollback-marker', { token: admin, body: { reason: 'second incident', scope: 'app' } });
  expect(next.body).toMatchObject({ created: true, marker: { id: expect.any(Number), scope: 'app' } });
  expect(next.body.marker.id).not.toBe(id);

  const actions = await svc.database.db.selectFrom('audit_log').select(['action', 'target']).where('action', 'like', 'rollback.%').orderBy('id').execute();
  expect(actions).toEqual([
    { action: 'rollback.marker.open', target: `ops_marker:${id}` },
    { action: 'rollback.marker.resume', target: `ops_marker:${id}` },
    { action: 'rollback.marker.step', target: `ops_marker:${id}` },
    { action: 'rollback.marker.step', target: `ops_marker:${id}` },
    { action: 'rollback.marker.close', target: `ops_marker:${id}` },
    { action: 'rollback.marker.open', target: `ops_marker:${next.body.marker.id}` },
  ]);
});

test('rollups through the ops API: check reads, rebuild repairs; both audited with the actor and the reason', async () => {
  await svc.database.db.insertInto('dashboard_rollups').values({ zone: 'UTC', day: '2026-01-01', currency: 'eur', city: 'Nowhere', refunds: 2 } as never).execute();
  const check = await call('POST', '/ops/rollups', { token: admin, body: { mode: 'check', reason: 'nightly check' } });
  expect(check.status).toBe(200);
  expect(check.body).toMatchObject({ mode: 'check', zones: ['Europe/Paris', 'UTC'], differences: [expect.objectContaining({ zone: 'UTC', city: 'Nowhere', columns: { refunds: { stored: 2, ledger: 0 } } })], peopleDifferences: [] });
  const rebuild = await call('POST', '/ops/rollups', { token: admin, body: { mode: 'rebuild' } });
  expect(rebuild.body).toMatchObject({ mode: 'rebuild', differences: [expect.objectContaining({ city: 'Nowhere' })] });
  expect((await call('POST', '/ops/rollups', { token: admin, body: { mode: 'check' } })).body).toMatchObject({ differences: [], peopleDifferences: [] });
  expect(await auditOf('ops.rollups.check')).toEqual([
    expect.objectContaining({ actor: 'ops:run-42', target: 'payments:rollups', details: expect.objectContaining({ reason: 'nightly check', differences: 1 }) }),
    expect.objectContaining({ actor: 'ops:run-42', details: expect.objectContaining({ reason: null, differences: 0 }) }),
  ]);
  expect(await auditOf('ops.rollups.rebuild')).toEqual([expect.objectContaining({ actor: 'ops:run-42', details: expect.objectContaining({ reason: null, differences: 1 }) })]);
});

test('replay through the ops API honours types and dry run, and audits them', async () => {
  const res = await call('POST', '/ops/replay', { token: admin, body: { since: RECENT, dryRun: true, types: ['customer.subscription.created'] } });
  expect(res.status).toBe(200);
  // The three subscriptions of the pause test: one creation event each, all applied already.
  expect(res.body).toMatchObject({ dryRun: true, seen: 3, alreadyApplied: 3, applied: 0, failed: 0 });
  expect(await auditOf('ops.replay')).toEqual([expect.objectContaining({ actor: 'ops:run-42', details: expect.objectContaining({ types: ['customer.subscription.created'], dryRun: true, seen: 3 }) })]);
});
