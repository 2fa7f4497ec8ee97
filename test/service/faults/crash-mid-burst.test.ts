import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../../sandbox';
import { BENCH_JWT_SECRET, type BenchProcess, completeCheckout, freePort, freshDatabase, serviceEnv, startProcess } from '../../../scripts/bench/support';
import { ensureCatalog, registerWebhookEndpoint } from '../../../scripts/lib/stripe-catalog';
import { WEBHOOK_EVENTS, WEBHOOK_PATH } from '../../../service/shared/catalog';
import { type DatabaseHandle, openDatabase } from '../../../service/shared/db';
import { createStripeClient, SDK_API_VERSION } from '../../../service/shared/stripe-client';
import { SETTLE_MS, waitUntil } from '../../support/wait';
import { sign } from '../webhooks/support';

/**
 * `kill -9` of the service in the middle of a burst, then a restart (issue 15: the storm-style
 * guarantees hold after the acknowledgement became the insert alone and drains commit without
 * waiting for the WAL flush). Every delivery the service acknowledged before it died must be in the
 * inbox, and once the restarted service has drained, applied exactly once; deliveries it never
 * answered are Stripe's to retry, and are retried here.
 *
 * The service runs in its own process (`node --import tsx service/main.ts`), as a task does, on a
 * database of its own on the real PostgreSQL server: a SIGKILL of a process holding PGlite files is
 * not the production shape, so without DATABASE_URL this suite is skipped.
 */

const withPostgres = process.env.DATABASE_URL ? describe : describe.skip;
jest.setTimeout(600_000);

withPostgres('kill -9 mid-burst', () => {
  let sandbox: RunningSandbox;
  let database: { url: string; drop(): Promise<void> };
  let direct: DatabaseHandle;
  let service: BenchProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let port: number;
  let secret: string;
  let stripe: Stripe;

  const start = () => startProcess({ args: ['--import', 'tsx', 'service/main.ts'], env, port, readyPath: '/health/ready', timeoutMs: 180_000 });

  beforeAll(async () => {
    database = await freshDatabase(process.env.DATABASE_URL!, 'crash');
    sandbox = await startSandbox({ port: 0, deliveryTimeoutMs: 60_000 });
    stripe = createStripeClient({ secretKey: 'sk_test_crash', apiVersion: SDK_API_VERSION, apiBase: sandbox.url });
    const catalog = await ensureCatalog(stripe);
    port = await freePort();
    const endpoint = await registerWebhookEndpoint(stripe, `http://127.0.0.1:${port}${WEBHOOK_PATH}`, SDK_API_VERSION);
    secret = endpoint.secret;
    env = { PATH: process.env.PATH, ...serviceEnv({ port, databaseUrl: database.url, stripe: { apiBase: sandbox.url, webhookSecret: secret, prices: catalog.prices } }) };
    expect(env.AUTH_JWT_SECRET).toBe(BENCH_JWT_SECRET);
    service = await start();
    direct = await openDatabase({ url: database.url, poolMax: 2 });
    // Real events to resend: checkouts of a few users, applied by the service as Stripe sends them.
    for (let i = 0; i < 6; i++) {
      await completeCheckout(stripe, sandbox.control, { userId: `u_crash_${i}`, email: `crash${i}@example.com`, price: catalog.prices.monthly, plan: 'monthly' });
    }
    await sandbox.control.waitForDeliveries(SETTLE_MS);
    await stripe.webhookEndpoints.update(endpoint.id, { disabled: true });
  });

  afterAll(async () => {
    await service?.stop();
    await direct?.close();
    await sandbox?.close();
    await database?.drop();
  });

  test('every acknowledged delivery survives, and after the restart each is applied exactly once', async () => {
    const types = new Set<string>(WEBHOOK_EVENTS);
    const templates: Stripe.Event[] = [];
    for await (const event of stripe.events.list({ limit: 100 })) if (types.has(event.type)) templates.push(event);
    expect(templates.length).toBeGreaterThanOrEqual(20);

    // 16 senders; the process is killed once a third of the bodies are acknowledged.
    const bodies = Array.from({ length: 900 }, (_, k) => {
      const template = templates[k % templates.length]!;
      const event = { ...template, id: `evt_crash_${k}`, created: template.created + 1 + Math.floor(k / templates.length) };
      return { id: event.id, body: JSON.stringify(event) };
    });
    const acknowledged = new Set<string>();
    const unanswered: typeof bodies = [];
    let next = 0;
    let killed = false;
    const post = (item: (typeof bodies)[number]) =>
      fetch(`http://127.0.0.1:${port}${WEBHOOK_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': sign(secret, item.body) }, body: item.body }).then(
        (res) => res.ok,
        () => false,
      );
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < bodies.length) {
          const item = bodies[next++]!;
          if (await post(item)) acknowledged.add(item.id);
          else unanswered.push(item);
          if (!killed && acknowledged.size >= bodies.length / 3) {
            killed = true;
            service!.child.kill('SIGKILL');
          }
        }
      }),
    );
    expect(killed).toBe(true);
    expect(unanswered.length).toBeGreaterThan(0);
    // Acknowledged means stored: every one is in the inbox already, before any restart.
    const stored = await direct.db.selectFrom('webhook_events').select('event_id').where('event_id', 'like', 'evt_crash_%').execute();
    const storedIds = new Set(stored.map((r) => r.event_id));
    expect([...acknowledged].filter((id) => !storedIds.has(id))).toEqual([]);

    // The restarted service drains what it acknowledged; Stripe's retries of the rest arrive.
    service = await start();
    for (const item of unanswered) {
      await waitUntil(() => post(item), { timeoutMs: 60_000, what: `the retry of ${item.id} acknowledged` });
      acknowledged.add(item.id);
    }
    const rows = await waitUntil(
      async () => {
        const all = await direct.db.selectFrom('webhook_events').select(['event_id', 'status', 'attempts']).where('event_id', 'like', 'evt_crash_%').execute();
        return all.length === bodies.length && all.every((r) => ['processed', 'ignored', 'unmatched'].includes(r.status)) ? all : undefined;
      },
      { timeoutMs: 300_000, what: 'every delivery applied after the restart' },
    );
    expect(acknowledged.size).toBe(bodies.length);
    // attempts counts applications that committed: exactly one each, none lost, none doubled.
    expect(rows.filter((r) => r.attempts !== 1).map((r) => [r.event_id, r.attempts])).toEqual([]);
    // The ledger holds each payment once, however often its events were sent and resent.
    const payments = await direct.db.selectFrom('payments').select(['payment_key']).execute();
    expect(new Set(payments.map((p) => p.payment_key)).size).toBe(payments.length);
    expect(payments.length).toBeGreaterThanOrEqual(6);
  });
});
