import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { enableMaintenance } from '../../../service/maintenance';
import { createStore, type Store } from '../../../service/shared/store';
import { pauseWebhookProcessing, resumeWebhookProcessing, type WebhookDeps } from '../../../service/webhooks';
import type { TestService } from '../../support/service';
import { type CuttableProxy, startProxy } from '../../support/tcp-proxy';
import { SETTLE_MS, waitUntil } from '../../support/wait';
import { listAll, startWebhookService, subscribe } from '../webhooks/support';

/**
 * Redis down, for real: the service's store is a real Redis reached through a TCP proxy this suite
 * cuts (never the shared server itself). Behind the proxy runs a private `redis-server` on a free
 * port when the binary is installed, else the shared REDIS_URL; with neither the suite is skipped.
 */

const redisBinary = spawnSync('redis-server', ['--version']).status === 0;
const sharedRedis = process.env.REDIS_URL;
const runnable = redisBinary || Boolean(sharedRedis);
if (!runnable) {
  test.skip('needs a Redis to stop: no redis-server binary and no REDIS_URL', () => undefined);
}
const suite = runnable ? describe : describe.skip;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A private redis-server (no persistence) for this suite alone. */
async function startPrivateRedis(): Promise<{ host: string; port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = await createStore({ redisUrl: `redis://127.0.0.1:${port}` }).catch(async () =>
    // Startup can take a moment on a loaded machine: the store retries within its own bound; once more.
    waitUntil(() => createStore({ redisUrl: `redis://127.0.0.1:${port}` }), { what: 'the private redis-server answering' }),
  );
  await probe.close();
  return {
    host: '127.0.0.1',
    port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

suite('with Redis unreachable', () => {
  let redis: { host: string; port: number; stop(): Promise<void> } | undefined;
  let proxy: CuttableProxy;
  let store: Store;
  /** "Another instance": its own connection to the same Redis, not through the cut. */
  let otherInstance: Store;
  let svc: TestService;
  const storeErrors: Error[] = [];
  const keyPrefix = `upiik-test:redis-down:${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    let target: { host: string; port: number };
    if (redisBinary) {
      redis = await startPrivateRedis();
      target = redis;
    } else {
      const url = new URL(sharedRedis!);
      target = { host: url.hostname, port: Number(url.port || 6379) };
    }
    proxy = await startProxy(target);
    store = await createStore({ redisUrl: `redis://${proxy.host}:${proxy.port}`, keyPrefix, onError: (e) => storeErrors.push(e) });
    otherInstance = await createStore({ redisUrl: `redis://${target.host}:${target.port}`, keyPrefix });
    svc = await startWebhookService({ store, env: { STRIPE_RATE_LIMIT_MAX: '3', STRIPE_RATE_LIMIT_WINDOW: '600000' }, retrySchedule: [250, 500, 1000, 2000, 4000, 8000] });
  });
  afterAll(async () => {
    proxy?.restore();
    await svc?.close();
    await store?.close();
    await otherInstance?.close();
    await proxy?.close();
    await redis?.stop();
  });

  const deps = (): WebhookDeps => ({ db: svc.database.db, stripe: svc.stripe, store: svc.store, config: svc.config, logger: svc.logs.logger, observer: svc.deps.observer });

  async function cutRedis(): Promise<void> {
    proxy.cut();
    await waitUntil(async () => svc.store.ping().then(() => false, () => true), { what: 'the store failing' });
  }

  async function restoreRedis(): Promise<void> {
    proxy.restore();
    await waitUntil(async () => svc.store.ping().then(() => true, () => false), { what: 'the store answering again' });
  }

  test('readiness names redis while it is down, and recovers', async () => {
    await cutRedis();
    try {
      const down = await fetch(`${svc.url}/health/ready`);
      expect(down.status).toBe(503);
      expect(((await down.json()) as { failed: string[] }).failed).toEqual(['redis']);
    } finally {
      await restoreRedis();
    }
    expect((await fetch(`${svc.url}/health/ready`)).status).toBe(200);
  });

  test('webhook deliveries are stored and acknowledged while the pause flag cannot be read, then applied once Redis answers', async () => {
    const { control } = svc.sandbox;
    await control.waitForDeliveries(SETTLE_MS);
    const since = Date.now();
    await cutRedis();
    let subscriptionId: string;
    try {
      ({ subscriptionId } = await subscribe(svc, 'user_redis_down'));
      await control.waitForDeliveries(SETTLE_MS);
      const attempts = control.deliveries().filter((d) => d.at >= since);
      expect(attempts.length).toBeGreaterThan(0);
      // No retry storm: every delivery got its 2xx at the first attempt.
      expect(attempts.filter((d) => !d.succeeded)).toEqual([]);
      const ids = attempts.map((d) => d.event_id);
      const rows = await svc.database.db.selectFrom('webhook_events').select(['event_id', 'status']).where('event_id', 'in', ids).execute();
      expect(rows).toHaveLength(new Set(ids).size);
      expect(rows.every((r) => r.status === 'pending')).toBe(true);
    } finally {
      await restoreRedis();
    }
    // Nothing else arrives: the service drains what it deferred by itself once Redis answers.
    const ids = [...new Set(control.deliveries().filter((d) => d.at >= since).map((d) => d.event_id))];
    await waitUntil(
      async () => {
        const rows = await svc.database.db.selectFrom('webhook_events').select('status').where('event_id', 'in', ids).execute();
        return rows.every((r) => r.status === 'processed' || r.status === 'ignored');
      },
      { what: 'the deferred events applied' },
    );
    const local = await svc.database.db.selectFrom('subscriptions').selectAll().where('id', '=', subscriptionId).executeTakeFirstOrThrow();
    const remote = await svc.stripe.subscriptions.retrieve(subscriptionId);
    expect(local.status).toBe(remote.status);
    expect((await svc.database.db.selectFrom('users').select('is_premium').where('id', '=', 'user_redis_down').executeTakeFirstOrThrow()).is_premium).toBe(true);
  });

  test('a pause set by another instance applies to the very next delivery here', async () => {
    const { control } = svc.sandbox;
    await control.waitForDeliveries(SETTLE_MS);
    await pauseWebhookProcessing(otherInstance, { reason: 'rollback on another instance' });
    const since = Date.now();
    try {
      await subscribe(svc, 'user_paused_elsewhere');
      await control.waitForDeliveries(SETTLE_MS);
      const ids = [...new Set(control.deliveries().filter((d) => d.at >= since).map((d) => d.event_id))];
      expect(ids.length).toBeGreaterThan(0);
      const rows = await svc.database.db.selectFrom('webhook_events').select('status').where('event_id', 'in', ids).execute();
      expect(rows.map((r) => r.status)).toEqual(ids.map(() => 'pending'));
    } finally {
      await resumeWebhookProcessing(deps());
    }
  });

  test('checkout and portal refuse with 503 and Retry-After while maintenance cannot be read; the banner shows the last known state', async () => {
    const token = await svc.tokenFor({ id: 'user_redis_maintenance', email: 'm@example.com' });
    await enableMaintenance(svc.store, { reason: 'planned', ttlSeconds: 600, now: new Date() });
    const status = await fetch(`${svc.url}/api/payments/status`);
    expect(((await status.json()) as { maintenance: boolean }).maintenance).toBe(true);
    await svc.store.del('stripe:maintenance');
    // Read once while Redis answers: the last known state is "no maintenance".
    expect(((await (await fetch(`${svc.url}/api/payments/status`)).json()) as { maintenance: boolean }).maintenance).toBe(false);

    await cutRedis();
    try {
      for (const path of ['/api/payments/checkout-session', '/api/payments/portal-session']) {
        const res = await fetch(`${svc.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${path.length}` },
          body: JSON.stringify(path.includes('checkout') ? { plan: 'monthly' } : {}),
        });
        const { error } = (await res.json()) as { error: { code: string; message: string } };
        expect({ path, status: res.status, code: error.code, message: error.message, retryAfter: res.headers.get('retry-after') }).toEqual({
          path,
          status: 503,
          code: 'maintenance_unknown',
          message: 'Payments are temporarily unavailable; please try again shortly',
          retryAfter: '30',
        });
      }
      const banner = await fetch(`${svc.url}/api/payments/status`);
      expect(banner.status).toBe(200);
      expect(await banner.json()).toEqual({ maintenance: false, unknown: true });
    } finally {
      await restoreRedis();
    }
  });

  test('rate limits keep holding per instance while Redis is down (neither 5xx nor unlimited)', async () => {
    await cutRedis();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        // Unauthenticated: counted against the address, then answered 401 by the route.
        const res = await fetch(`${svc.url}/api/payments/checkout-session`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.77' },
          body: '{"plan":"monthly"}',
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await restoreRedis();
    }
  });

  test('alerts still go out while Redis is down (throttled per instance meanwhile)', async () => {
    const before = svc.alerts.alerts.length;
    await cutRedis();
    try {
      svc.monitoring.alerts.record('payment_failure', { lastFailureCode: 'card_declined' });
      await svc.monitoring.alerts.flush();
      const sent = svc.alerts.alerts.slice(before);
      expect(sent.map((a) => ({ type: a.type, count: a.count }))).toEqual([{ type: 'payment_failure', count: 1 }]);
    } finally {
      await restoreRedis();
    }
  });

  test('nothing was lost: every delivered event is applied exactly once and premium matches Stripe', async () => {
    const { control } = svc.sandbox;
    await control.waitForDeliveries(SETTLE_MS);
    const delivered = new Set(control.deliveries().map((d) => d.event_id));
    const inbox = await svc.database.db.selectFrom('webhook_events').select(['event_id', 'status']).execute();
    expect(inbox.filter((e) => delivered.has(e.event_id))).toHaveLength(delivered.size);
    expect(inbox.filter((e) => e.status !== 'processed' && e.status !== 'ignored')).toEqual([]);
    const subs = await listAll(svc.stripe.subscriptions.list({ status: 'all', limit: 100 }));
    const local = await svc.database.db.selectFrom('subscriptions').select(['id', 'status']).orderBy('id').execute();
    expect(local).toEqual(subs.map((s) => ({ id: s.id, status: s.status })).sort((a, b) => (a.id < b.id ? -1 : 1)));
    expect(storeErrors.length).toBeGreaterThan(0);
  });
});
