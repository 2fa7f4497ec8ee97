import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../../sandbox';
import { errorHandler } from '../../../service/http/error-handler';
import { AppError } from '../../../service/shared/errors';
import type { PaymentObserver } from '../../../service/shared/observer';
import type { Store } from '../../../service/shared/store';
import { createStripeClient } from '../../../service/shared/stripe-client';
import { processEvent, resolveUser, type WebhookDeps, webhookHandlers } from '../../../service/webhooks';
import { recordFailure, settleEvent, storePending } from '../../../service/webhooks/inbox';
import { drainPendingEvents, drainsSettled, pauseWebhookProcessing, WEBHOOKS_PAUSED_KEY } from '../../../service/webhooks/pause';
import { testConfig } from '../../support/config';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { captureLogger } from '../../support/logger';
import { createTestStore } from '../../support/store';
import { waitUntil } from '../../support/wait';
import { sign } from './support';

/**
 * The ingest path's contract, unit by unit, each built inside its test (the signature check has
 * its own suite, signature-contract.test.ts): the route's answers while deliveries are deferred, what the
 * processor logs and tells the observer on each outcome, what happens to deliveries while the pause
 * flag cannot be read, and how a Stripe-side user is resolved. Found by mutation testing: the
 * end-to-end suites build the service once per file (per-test coverage sees none of that as theirs)
 * and assert outcomes, not these codes, messages and log lines, which on-call reads.
 *
 * Real parts: the Stripe sandbox, the suite's own database and store. The only fakes are a store
 * that can be switched "down" (wrapping the real one) and a closed database (a database that fails).
 */

const SECRET = 'whsec_ingest_contract_0123456789';
const NOW = 1_800_000_000;

let sandbox: RunningSandbox;
let database: TestDatabase;
let closedDatabase: TestDatabase;
let store: Store;
/** A Stripe customer no Upiik user owns. */
const real = { customer: '' };

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0 });
  database = await createTestDatabase();
  closedDatabase = await createTestDatabase();
  await closedDatabase.close();
  store = await createTestStore();
  const customer = await stripeClient().customers.create({ email: 'ingest@example.com' });
  real.customer = customer.id;
});
afterAll(async () => {
  await store?.close();
  await database?.close();
  await sandbox?.close();
});

function stripeClient(apiBase = sandbox.url): Stripe {
  return createStripeClient({ secretKey: 'sk_test_ingest_contract', apiVersion: testConfig().stripe.apiVersion, apiBase, maxNetworkRetries: 0 });
}

interface Observed {
  deps: WebhookDeps;
  handled: Array<Parameters<PaymentObserver['webhookHandled']>[0]>;
  logs: ReturnType<typeof captureLogger>;
}

function depsWith(overrides: Partial<WebhookDeps> = {}): Observed {
  const handled: Observed['handled'] = [];
  const logs = captureLogger('debug');
  const observer: PaymentObserver = { webhookHandled: (e) => handled.push(e), paymentRecorded: () => undefined, checkoutCreated: () => undefined };
  const config = testConfig({ STRIPE_API_BASE: sandbox.url, STRIPE_WEBHOOK_SECRET: SECRET });
  return { deps: { db: database.db, stripe: stripeClient(), store, config, logger: logs.logger, observer, ...overrides }, handled, logs };
}

let sequence = 0;
/** An event the way Stripe sends it: a customer.updated of a customer no Upiik user owns. */
function customerEvent(extra: Record<string, unknown> = {}): Stripe.Event {
  sequence += 1;
  return {
    id: `evt_ingest_${process.pid}_${sequence}`,
    object: 'event',
    type: 'customer.updated',
    api_version: '2025-09-30.clover',
    created: Math.floor(Date.now() / 1000) - 60 + sequence,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object: { id: real.customer, object: 'customer', email: 'ingest@example.com', metadata: {} } },
    ...extra,
  } as unknown as Stripe.Event;
}

/** A customer.subscription.deleted of a customer: nothing to re-fetch, only who owns it to resolve. */
function subscriptionDeletedEvent(customer: string): Stripe.Event {
  return customerEvent({
    type: 'customer.subscription.deleted',
    data: {
      object: { id: `sub_ingest_${sequence + 1}`, object: 'subscription', customer, status: 'canceled', currency: 'eur', cancel_at_period_end: false, canceled_at: NOW, ended_at: NOW, metadata: {}, items: { object: 'list', data: [] } },
    },
  });
}

/** The webhook route alone behind the service's error handler, on a real port. */
async function serveRouter(deps: WebhookDeps): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  const { post, otherMethods } = webhookHandlers(deps);
  app.post('/hook', ...post);
  app.all('/hook', otherMethods);
  app.use(errorHandler({ logger: deps.logger, exposeStack: false }));
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function deliver(url: string, event: Stripe.Event): Promise<{ status: number; body: unknown }> {
  const payload = JSON.stringify(event);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': sign(SECRET, payload) }, body: payload });
  return { status: res.status, body: await res.json() };
}

describe('webhook route', () => {
  test('any method but POST is 405 with Allow: POST and the house error body', async () => {
    const { deps } = depsWith();
    const server = await serveRouter(deps);
    try {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const res = await fetch(server.url, { method });
        expect(res.status).toBe(405);
        expect(res.headers.get('allow')).toBe('POST');
        expect(await res.json()).toEqual({ error: { code: 'method_not_allowed', message: 'Use POST for Stripe webhooks' } });
      }
    } finally {
      await server.close();
    }
  });

  test('while paused a delivery is stored and answered pending (again if redelivered); one already applied answers its status as a duplicate', async () => {
    const { deps, handled } = depsWith({ store: await createTestStore() });
    const applied = customerEvent();
    expect((await processEvent(deps, applied)).outcome).toBe('ignored');
    handled.length = 0;
    await pauseWebhookProcessing(deps.store, { reason: 'ingest contract' });
    const server = await serveRouter(deps);
    try {
      const event = customerEvent();
      const before = performance.now();
      expect(await deliver(server.url, event)).toEqual({ status: 200, body: { received: true, status: 'pending' } });
      expect(await deliver(server.url, event)).toEqual({ status: 200, body: { received: true, status: 'pending' } });
      expect(await deliver(server.url, applied)).toEqual({ status: 200, body: { received: true, status: 'ignored' } });
      const row = await database.db.selectFrom('webhook_events').select(['status', 'api_version', 'livemode']).where('event_id', '=', event.id).executeTakeFirstOrThrow();
      expect(row).toEqual({ status: 'pending', api_version: '2025-09-30.clover', livemode: false });
      expect(handled.map(({ eventId, type, outcome }) => ({ eventId, type, outcome }))).toEqual([
        { eventId: event.id, type: 'customer.updated', outcome: 'pending' },
        { eventId: event.id, type: 'customer.updated', outcome: 'pending' },
        { eventId: applied.id, type: 'customer.updated', outcome: 'duplicate' },
      ]);
      // Each duration is its own delivery's: within the time the three took together.
      const took = performance.now() - before;
      for (const h of handled) {
        expect(h.durationMs).toBeGreaterThanOrEqual(0);
        expect(h.durationMs).toBeLessThanOrEqual(took);
        expect(h).not.toHaveProperty('unrecorded');
      }
    } finally {
      await server.close();
      await deps.store.close();
    }
  });

  test('an event without api_version is stored with none', async () => {
    const event = customerEvent({ api_version: null });
    await storePending(database.db, event);
    const row = await database.db.selectFrom('webhook_events').select('api_version').where('event_id', '=', event.id).executeTakeFirstOrThrow();
    expect(row.api_version).toBeNull();
  });

  test('a deferred delivery the database cannot store is a 5xx counted in memory as unrecorded', async () => {
    const { deps, handled } = depsWith({ db: closedDatabase.db, store: await createTestStore() });
    await pauseWebhookProcessing(deps.store);
    const server = await serveRouter(deps);
    try {
      const event = customerEvent();
      const before = performance.now();
      const res = await deliver(server.url, event);
      const took = performance.now() - before;
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(handled).toHaveLength(1);
      expect(handled[0]).toMatchObject({ eventId: event.id, type: 'customer.updated', outcome: 'failed', unrecorded: true });
      expect(handled[0]!.durationMs).toBeGreaterThanOrEqual(0);
      expect(handled[0]!.durationMs).toBeLessThanOrEqual(took);
      expect(typeof handled[0]!.error).toBe('string');
    } finally {
      await server.close();
      await deps.store.close();
    }
  });
});

describe('processor outcomes as on-call sees them', () => {
  const logLines = (logs: ReturnType<typeof captureLogger>, message: string) => logs.lines().filter((l) => l.message === message);

  test('an event for a customer nobody owns is unmatched: one warning naming it, no debug line', async () => {
    const { deps, handled, logs } = depsWith();
    // A deleted subscription of a customer nobody owns: nobody to credit.
    const event = subscriptionDeletedEvent(real.customer);
    const result = await processEvent(deps, event);
    expect(result.outcome).toBe('unmatched');
    expect(logLines(logs, 'webhook for an unknown customer')).toEqual([expect.objectContaining({ level: 'warn', eventId: event.id, type: event.type })]);
    expect(logLines(logs, 'webhook handled')).toEqual([]);
    expect(handled).toEqual([expect.objectContaining({ eventId: event.id, type: event.type, outcome: 'unmatched' })]);
  });

  test('a handled event logs one debug line with its outcome, and no warning', async () => {
    const { deps, logs } = depsWith();
    const event = customerEvent();
    const result = await processEvent(deps, event);
    expect(result.outcome).not.toBe('unmatched');
    expect(logLines(logs, 'webhook handled')).toEqual([expect.objectContaining({ level: 'debug', eventId: event.id, type: event.type, outcome: result.outcome })]);
    expect(logLines(logs, 'webhook for an unknown customer')).toEqual([]);
  });

  test('a failure is recorded, logged with the event and rethrown; the observer is not told it went unrecorded', async () => {
    const { deps, handled, logs } = depsWith({ stripe: stripeClient('http://127.0.0.1:1') });
    const event = subscriptionDeletedEvent('cus_ingest_unknown_to_us');
    await expect(processEvent(deps, event)).rejects.toThrow(/Stripe is temporarily unavailable/);
    const row = await database.db.selectFrom('webhook_events').select(['status', 'last_error']).where('event_id', '=', event.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('failed');
    expect(logLines(logs, 'webhook processing failed')).toEqual([expect.objectContaining({ level: 'error', eventId: event.id, type: event.type })]);
    expect(logLines(logs, 'webhook failure could not be recorded')).toEqual([]);
    expect(handled).toEqual([expect.objectContaining({ eventId: event.id, outcome: 'failed', error: expect.stringMatching(/customer lookup/) })]);
    expect(handled[0]).not.toHaveProperty('unrecorded');
  });

  test.each([
    ['an acknowledged event (another drain applied it)', true, 0],
    ['a delivery (Stripe sent it twice)', false, 1],
  ])('%s applied meanwhile by another while this one failed is a duplicate: the row keeps its outcome, nothing rethrown or told as failed', async (_, acknowledged, duplicates) => {
    const event = subscriptionDeletedEvent('cus_ingest_unknown_to_us');
    // The other application committed after this one read the row as pending.
    await database.db.transaction().execute((trx) => settleEvent(trx, event, { status: 'unmatched', durationMs: 1, error: 'first' }));
    const { deps, handled, logs } = depsWith({ stripe: stripeClient('http://127.0.0.1:1') });
    await expect(processEvent(deps, event, { storedStatus: 'pending', acknowledged })).resolves.toMatchObject({ outcome: 'duplicate' });
    const row = await database.db.selectFrom('webhook_events').select(['status', 'attempts', 'last_error', 'duplicate_deliveries', 'retry_at']).where('event_id', '=', event.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'unmatched', attempts: 1, last_error: 'first', duplicate_deliveries: duplicates, retry_at: null });
    expect(logLines(logs, 'webhook processing failed')).toEqual([]);
    expect(handled).toEqual([expect.objectContaining({ eventId: event.id, outcome: 'duplicate' })]);
  });

  test('when the database itself fails, the failure cannot be recorded: logged as such and counted unrecorded', async () => {
    const { deps, handled, logs } = depsWith({ db: closedDatabase.db });
    const event = customerEvent();
    await expect(processEvent(deps, event)).rejects.toThrow();
    expect(logLines(logs, 'webhook failure could not be recorded')).toEqual([expect.objectContaining({ level: 'error', eventId: event.id, error: expect.any(String) })]);
    expect(handled).toEqual([expect.objectContaining({ eventId: event.id, outcome: 'failed', unrecorded: true })]);
  });

  test('a stored error keeps its text with NUL characters replaced, not dropped', async () => {
    const event = customerEvent();
    await storePending(database.db, event);
    await recordFailure(database.db, event, 'bad\0byte', 1);
    const row = await database.db.selectFrom('webhook_events').select('last_error').where('event_id', '=', event.id).executeTakeFirstOrThrow();
    expect(row.last_error).toBe('bad\uFFFDbyte');
  });
});

/** The suite's store with get() switchable to failing, as Redis down would make it. */
function switchableStore(inner: Store): Store & { down: boolean } {
  const wrapped = Object.create(inner) as Store & { down: boolean };
  wrapped.down = false;
  wrapped.get = (key: string) => (wrapped.down ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')) : inner.get(key));
  return wrapped;
}

/** Runs a case against deps whose store can be switched down; closes the store after. */
async function withFlakyStore(run: (flaky: Store & { down: boolean }, observed: Observed, inner: Store) => Promise<void>): Promise<void> {
  const inner = await createTestStore();
  try {
    const flaky = switchableStore(inner);
    await run(flaky, depsWith({ store: flaky }), inner);
  } finally {
    await inner.close();
  }
}

/** Waits until the inbox no longer holds the event as pending (a drain took it). */
async function drained(eventId: string): Promise<void> {
  await waitUntil(async () => (await database.db.selectFrom('webhook_events').select('status').where('event_id', '=', eventId).executeTakeFirstOrThrow()).status !== 'pending');
}

describe('deliveries while the pause flag cannot be read', () => {
  const readable = 'webhook pause flag readable again: applying deliveries stored meanwhile';
  const unreadable = 'webhook pause flag unreadable: deliveries are stored and acknowledged, and applied once the store answers';
  const status = async (eventId: string) => (await database.db.selectFrom('webhook_events').select('status').where('event_id', '=', eventId).executeTakeFirstOrThrow()).status;

  test('acknowledged and stored, applied by no drain, warned once; the next drain once readable applies them and says how long it was out', async () => {
    await withFlakyStore(async (flaky, { deps, logs }) => {
      flaky.down = true;
      const server = await serveRouter(deps);
      const events = [customerEvent(), customerEvent(), customerEvent()];
      try {
        for (const event of events) expect(await deliver(server.url, event)).toEqual({ status: 200, body: { received: true, status: 'pending' } });
        await drainsSettled(flaky);
        // Every drain the deliveries asked for stopped at the flag: nothing applied, one warning.
        expect(await drainPendingEvents(deps)).toEqual({ seen: 0, applied: 0, alreadyApplied: 0, failed: 0, stoppedByPause: true });
        for (const event of events) expect(await status(event.id)).toBe('pending');
        expect(logs.lines().filter((l) => l.message === unreadable)).toEqual([expect.objectContaining({ level: 'warn', error: expect.stringMatching(/ECONNREFUSED/) })]);
        flaky.down = false;
        const summary = await drainPendingEvents(deps);
        expect(summary.stoppedByPause).toBe(false);
        expect(summary.applied).toBeGreaterThanOrEqual(3);
        for (const event of events) expect(await status(event.id)).toBe('ignored');
        expect(logs.lines().filter((l) => l.message === readable)).toEqual([expect.objectContaining({ level: 'info', unreadableForMs: expect.any(Number), paused: false })]);
        // One line per outage: the next drain finds the flag readable and says nothing.
        await drainPendingEvents(deps);
        expect(logs.lines().filter((l) => l.message === readable)).toHaveLength(1);
      } finally {
        await drainsSettled(flaky);
        await server.close();
      }
    });
  });

  test('readable again but paused: still nothing applied until the resume', async () => {
    await withFlakyStore(async (flaky, { deps, logs }, inner) => {
      flaky.down = true;
      const event = customerEvent();
      await storePending(database.db, event);
      expect((await drainPendingEvents(deps)).stoppedByPause).toBe(true);
      await inner.set(WEBHOOKS_PAUSED_KEY, '1');
      flaky.down = false;
      // The recovery watcher polls within a second here and asks for a drain: the drain finds the pause.
      await waitUntil(() => logs.lines().some((l) => l.message === readable), { timeoutMs: 20_000 });
      await drainsSettled(flaky);
      expect(logs.lines().filter((l) => l.message === readable)).toEqual([expect.objectContaining({ paused: true })]);
      expect(await status(event.id)).toBe('pending');
      await inner.del(WEBHOOKS_PAUSED_KEY);
      await drainPendingEvents(deps);
      expect(await status(event.id)).toBe('ignored');
    });
  });

  test('with no delivery after the store recovers, the watcher drains what was stored, backing off while it stays down', async () => {
    await withFlakyStore(async (flaky, { deps, logs }) => {
      flaky.down = true;
      const event = customerEvent();
      await storePending(database.db, event);
      expect((await drainPendingEvents(deps)).stoppedByPause).toBe(true);
      // Down through the first polls (250 ms, then 500 ms): the watcher keeps polling, doubling.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await status(event.id)).toBe('pending');
      flaky.down = false;
      // Polls at most 30 s apart; a watcher that backed off to the cap (or stopped) would not drain in time.
      await drained(event.id);
      expect(logs.lines().filter((l) => l.message === readable)).toHaveLength(1);
      expect(logs.lines().filter((l) => l.message === unreadable)).toHaveLength(1);
      await drainsSettled(flaky);
    });
  });
});

describe('drain', () => {
  test('a summary line with what it saw, applied and failed; a failure is logged per event and the drain goes on', async () => {
    const db = await createTestDatabase();
    const { deps, logs } = depsWith({ db: db.db, store: await createTestStore(), stripe: stripeClient('http://127.0.0.1:1') });
    try {
      const ok = customerEvent();
      const failing = subscriptionDeletedEvent('cus_ingest_drain_unknown');
      await storePending(db.db, ok);
      await storePending(db.db, failing);
      const summary = await drainPendingEvents(deps);
      expect(summary).toEqual({ seen: 2, applied: 1, alreadyApplied: 0, failed: 1, stoppedByPause: false });
      expect(logs.lines().filter((l) => l.message === 'pending webhook failed during drain')).toEqual([expect.objectContaining({ level: 'warn', eventId: failing.id, error: expect.stringMatching(/customer lookup/) })]);
      expect(logs.lines().filter((l) => l.message === 'pending webhooks drained')).toEqual([expect.objectContaining({ level: 'info', seen: 2, applied: 1, alreadyApplied: 0, failed: 1, stoppedByPause: false })]);
      // Nothing pending: no summary line.
      expect(await drainPendingEvents(deps)).toEqual({ seen: 0, applied: 0, alreadyApplied: 0, failed: 0, stoppedByPause: false });
      expect(logs.lines().filter((l) => l.message === 'pending webhooks drained')).toHaveLength(1);
    } finally {
      await deps.store.close();
      await db.close();
    }
  });
});

describe('resolving the Upiik user of a Stripe customer', () => {
  test('a well-formed hint is taken as a new, test-mode link with its email', async () => {
    const customer = await stripeClient().customers.create({ email: 'hinted@example.com' });
    expect(await resolveUser(database.db, stripeClient(), customer.id, { userId: 'user_hinted_1', email: 'hinted@example.com' })).toEqual({
      userId: 'user_hinted_1',
      customerId: customer.id,
      link: { email: 'hinted@example.com', livemode: false },
    });
  });

  test("otherwise the customer's metadata names the user, with its email, city and mode", async () => {
    const customer = await stripeClient().customers.create({ email: 'meta@example.com', metadata: { userId: 'user_meta_1', city: 'Lyon' } });
    expect(await resolveUser(database.db, stripeClient(), customer.id, { userId: 'not a user id!' })).toEqual({
      userId: 'user_meta_1',
      customerId: customer.id,
      link: { email: 'meta@example.com', city: 'Lyon', livemode: false },
    });
  });

  test('a customer without a user id, a deleted one and one Stripe does not have resolve to nobody', async () => {
    const stripe = stripeClient();
    expect(await resolveUser(database.db, stripe, real.customer)).toBeUndefined();
    const gone = await stripe.customers.create({ email: 'gone@example.com', metadata: { userId: 'user_gone_1' } });
    await stripe.customers.del(gone.id);
    expect(await resolveUser(database.db, stripe, gone.id)).toBeUndefined();
    expect(await resolveUser(database.db, stripe, 'cus_never_existed')).toBeUndefined();
  });

  test('Stripe unreachable during the lookup is a 503 naming it, so the delivery is retried', async () => {
    const err = await resolveUser(database.db, stripeClient('http://127.0.0.1:1'), 'cus_whoever').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'stripe_unavailable', status: 503, message: expect.stringMatching(/customer lookup/) });
  });
});
