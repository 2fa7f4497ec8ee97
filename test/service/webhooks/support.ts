import { createHmac } from 'node:crypto';
import { sql } from 'kysely';
import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../../sandbox';
import { toNumber } from '../../../service/shared/db';
import { AppError } from '../../../service/shared/errors';
import { drainsSettled } from '../../../service/webhooks';
import type { Database } from '../../../service/shared/db';
import { noopObserver } from '../../../service/shared/observer';
import type { Store } from '../../../service/shared/store';
import { createStripeClient } from '../../../service/shared/stripe-client';
import { WEBHOOKS_PAUSED_KEY } from '../../../service/webhooks/pause';
import type { WebhookDeps } from '../../../service/webhooks/processor';
import { testConfig } from '../../support/config';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { captureLogger } from '../../support/logger';
import { createTestStore } from '../../support/store';
import { startTestService, type StartTestServiceOptions, type TestService } from '../../support/service';

export const DAY = 86_400;

/** A service wired to its own sandbox with a fast retry schedule (and optional delivery concurrency, or a test clock started in the past). */
export async function startWebhookService(
  options: { deliveryConcurrency?: number; retrySchedule?: number[]; clockStart?: number } & StartTestServiceOptions = {},
): Promise<TestService & { ownSandbox: RunningSandbox }> {
  const sandbox = await startSandbox({
    port: 0,
    ...(options.clockStart !== undefined ? { clockStart: options.clockStart } : {}),
    retrySchedule: options.retrySchedule ?? [100, 300, 600, 1200],
    // A slow (loaded) receiver must not look like a failed delivery: that would add retries tests do not expect.
    deliveryTimeoutMs: 60_000,
    deliveryConcurrency: options.deliveryConcurrency ?? 1,
  });
  // startTestService stops what it started when it fails; the sandbox started here is ours to stop.
  const svc = await startTestService({ ...options, sandbox }).catch(async (err: unknown) => {
    await sandbox.close();
    throw err;
  });
  return {
    ...svc,
    ownSandbox: sandbox,
    close: async () => {
      await svc.close();
      await sandbox.close();
    },
  };
}

/**
 * A customer created the way the service creates it (metadata.userId, no local link: the webhook
 * must resolve it), a subscription checkout completed with `card`.
 */
export async function subscribe(
  svc: TestService,
  userId: string,
  options: { card?: string; plan?: 'monthly' | 'yearly' } = {},
): Promise<{ customerId: string; subscriptionId: string }> {
  const customer = await svc.stripe.customers.create({ email: `${userId}@example.com`, metadata: { userId } });
  const session = await svc.stripe.checkout.sessions.create({
    mode: 'subscription',
    customer: customer.id,
    client_reference_id: userId,
    line_items: [{ price: options.plan === 'yearly' ? svc.config.stripe.prices.yearly : svc.config.stripe.prices.monthly, quantity: 1 }],
    success_url: 'http://127.0.0.1/success',
    cancel_url: 'http://127.0.0.1/cancel',
    metadata: { userId },
    subscription_data: { metadata: { userId } },
  });
  const done = await svc.sandbox.control.completeCheckoutSession(session.id, options.card ?? 'pm_card_visa');
  return { customerId: customer.id, subscriptionId: done.subscription as string };
}

/** Makes the next renewals of a subscription decline. */
export async function useDecliningCard(svc: TestService, customerId: string, subscriptionId: string): Promise<void> {
  const failing = await svc.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customerId });
  await svc.stripe.subscriptions.update(subscriptionId, { default_payment_method: failing.id });
}

export function sign(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

/**
 * Posts one delivery and returns the answer. The service stores every delivery pending and a
 * drain applies it right after the 2xx: that is waited for too (unless processing is paused), so
 * the caller reads the applied state. `outcome`: the inbox status the event ended in, or
 * `duplicate` when the answer says it was applied already.
 */
export async function postWebhook(svc: TestService, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown; outcome?: string }> {
  const res = await fetch(`${svc.url}/api/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  if ((json as { status?: string } | null)?.status === 'pending') {
    await drainsSettled(svc.store);
    const id = (JSON.parse(body) as { id: string }).id;
    const row = await svc.database.db.selectFrom('webhook_events').select('status').where('event_id', '=', id).executeTakeFirst();
    return { status: res.status, json, outcome: row?.status };
  }
  // Known already: applied by an earlier delivery (or stored while paused, then `pending` above).
  return { status: res.status, json, outcome: typeof (json as { status?: unknown } | null)?.status === 'string' ? 'duplicate' : undefined };
}

export function fakeEvent(type: string, object: Record<string, unknown>, overrides: Partial<Stripe.Event> = {}): Stripe.Event {
  return {
    id: `evt_test_${Math.random().toString(36).slice(2, 12)}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    ...overrides,
  } as unknown as Stripe.Event;
}

export async function listAll<T>(list: Stripe.ApiListPromise<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of list) out.push(item);
  return out;
}

export async function countRows(svc: TestService, table: 'webhook_events' | 'payments' | 'subscriptions' | 'daily_revenue' | 'users' | 'audit_log'): Promise<number> {
  const row = await svc.database.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return toNumber(row.n);
}

/** The local ledger in a comparable shape. */
export async function localLedger(svc: TestService) {
  const db = svc.database.db;
  const [subs, payments, revenue, users] = await Promise.all([
    db.selectFrom('subscriptions').selectAll().orderBy('id').execute(),
    db.selectFrom('payments').selectAll().orderBy('payment_key').execute(),
    db.selectFrom('daily_revenue').selectAll().execute(),
    db.selectFrom('users').selectAll().orderBy('id').execute(),
  ]);
  return { subs, payments, revenue, users };
}

/**
 * Waits until the sandbox has nothing left to deliver, and fails as soon as any delivery fails (a
 * 5xx, or the sandbox's delivery timeout when a handler hangs on a lock), naming the event and the
 * answer, instead of waiting out the retry schedule into a bare timeout.
 */
export async function settleDeliveries(svc: TestService, timeoutMs = 120_000): Promise<void> {
  const control = svc.sandbox.control;
  let idle = false;
  const wait = control.waitForDeliveries(timeoutMs).then(() => {
    idle = true;
  });
  wait.catch(() => undefined);
  for (;;) {
    const failed = control.deliveries().filter((d) => !d.succeeded);
    if (failed.length > 0) {
      throw new Error(`webhook deliveries failed: ${failed.map((d) => `${d.type} ${d.event_id} attempt ${d.attempt}: ${d.status ?? d.error}`).join('; ')}`);
    }
    if (idle) return;
    await Promise.race([wait, new Promise((resolve) => setTimeout(resolve, 50))]);
  }
}

/** What a check refuses with (an AppError's code, status and message), or 'accepted'. */
export function refusalOf(run: () => unknown): { code: string; status: number; message: string } | 'accepted' {
  try {
    run();
    return 'accepted';
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { code: err.code, status: err.status, message: err.message };
  }
}

/**
 * The cost suites' harness (apply-cost, user-writes-cost): one database and store for the suite,
 * processing resumed and the inbox emptied before each test, and the webhook dependencies on them.
 * Events of a type the service ignores need no Stripe call (the client points at a closed port).
 */
export interface CostSuite {
  database: TestDatabase;
  store: Store;
  deps(db?: Database, logger?: ReturnType<typeof captureLogger>['logger']): WebhookDeps;
  statusOf(id: string): Promise<string>;
}

export function costSuite(): CostSuite {
  const suite: CostSuite = {
    database: undefined as unknown as TestDatabase,
    store: undefined as unknown as Store,
    deps(db = suite.database.db, logger = captureLogger().logger) {
      const config = testConfig();
      return {
        db,
        store: suite.store,
        config,
        stripe: createStripeClient({ secretKey: config.stripe.secretKey, apiVersion: config.stripe.apiVersion, apiBase: 'http://127.0.0.1:1', maxNetworkRetries: 0 }),
        logger,
        observer: noopObserver,
      };
    },
    async statusOf(id) {
      return (await suite.database.db.selectFrom('webhook_events').select('status').where('event_id', '=', id).executeTakeFirstOrThrow()).status;
    },
  };
  beforeAll(async () => {
    suite.database = await createTestDatabase();
    suite.store = await createTestStore();
  });
  afterAll(async () => {
    await suite.store?.close();
    await suite.database?.close();
  });
  beforeEach(async () => {
    await suite.store.del(WEBHOOKS_PAUSED_KEY);
    await suite.database.db.deleteFrom('webhook_events').execute();
  });
  return suite;
}

/** Lock requests waiting in this database (row and transaction-id locks carry no database: match backends). Real PostgreSQL only. */
export async function waitingLocks(db: Database): Promise<number> {
  const waiting = await sql<{ n: string | number }>`select count(*) as n from pg_locks where not granted and pid in (select pid from pg_stat_activity where datname = current_database())`.execute(db);
  return Number(waiting.rows[0]?.n ?? 0);
}
