import { Kysely, PostgresDialect } from 'kysely';
import { Pool } from 'pg';
import type Stripe from 'stripe';
import { type DatabaseSchema, toNumber } from '../../../service/shared/db';
import { noopObserver, type PaymentObserver } from '../../../service/shared/observer';
import type { Store } from '../../../service/shared/store';
import { createStripeClient } from '../../../service/shared/stripe-client';
import {
  drainPendingEvents,
  haltDrains,
  isWebhookProcessingPaused,
  pauseWebhookProcessing,
  readWebhookPause,
  requestDrain,
  resumeWebhookProcessing,
  startDrainSweep,
  WEBHOOKS_PAUSED_KEY,
} from '../../../service/webhooks/pause';
import { storePending } from '../../../service/webhooks/inbox';
import type { WebhookDeps } from '../../../service/webhooks/processor';
import { testConfig } from '../../support/config';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { captureLogger } from '../../support/logger';
import { createTestStore } from '../../support/store';
import { waitUntil } from '../../support/wait';
import { fakeEvent, waitingLocks } from './support';

/**
 * The drain (resume after a pause) on the real database and store. The events are of a type the
 * service ignores, so no Stripe call is needed: the client points at a closed port and would fail.
 */

jest.setTimeout(300_000);

let database: TestDatabase;
let store: Store;
beforeAll(async () => {
  database = await createTestDatabase();
  store = await createTestStore();
});
afterAll(async () => {
  await store.close();
  await database.close();
});
beforeEach(async () => {
  await store.del(WEBHOOKS_PAUSED_KEY);
  await database.db.deleteFrom('webhook_events').execute();
});

function deps(observer: Partial<PaymentObserver> = {}): WebhookDeps {
  const config = testConfig();
  return {
    db: database.db,
    store,
    config,
    stripe: createStripeClient({ secretKey: config.stripe.secretKey, apiVersion: config.stripe.apiVersion, apiBase: 'http://127.0.0.1:1', maxNetworkRetries: 0 }),
    logger: captureLogger().logger,
    observer: { ...noopObserver, ...observer },
  };
}

/** `count` events stored while paused, one second apart from `start`, in Stripe order. */
async function storeEvents(count: number, start = 1_800_000_000, prefix = 'evt_drain_'): Promise<Stripe.Event[]> {
  const events = Array.from({ length: count }, (_, i) =>
    fakeEvent('customer.created', { id: `cus_${prefix}${i}` }, { id: `${prefix}${String(i).padStart(4, '0')}`, created: start + i }),
  );
  for (const e of events) expect(await storePending(database.db, e)).toEqual({ stored: true, status: 'pending' });
  return events;
}

async function statuses(): Promise<Map<string, string>> {
  const rows = await database.db.selectFrom('webhook_events').select(['event_id', 'status']).execute();
  return new Map(rows.map((r) => [r.event_id, r.status]));
}

test.each([
  ['set by the rollback tooling (JSON)', async () => pauseWebhookProcessing(store, { reason: 'rollback', now: new Date('2026-06-01T00:00:00Z') }), { paused: true, reason: 'rollback', since: '2026-06-01T00:00:00.000Z' }],
  ['set by hand to "1"', async () => store.set(WEBHOOKS_PAUSED_KEY, '1'), { paused: true }],
  ['set by hand to "yes" (not JSON)', async () => store.set(WEBHOOKS_PAUSED_KEY, 'yes'), { paused: true }],
] as const)('a drain started while paused (%s) applies nothing and says it stopped for the pause', async (_label, pause, state) => {
  await storeEvents(3);
  await pause();
  expect(await readWebhookPause(store)).toEqual(state);
  const summary = await drainPendingEvents(deps());
  expect(summary).toMatchObject({ seen: 0, applied: 0, stoppedByPause: true });
  expect([...(await statuses()).values()]).toEqual(['pending', 'pending', 'pending']);
});

test('a re-pause during a drain stops it; the rest stays pending in Stripe order, and the next resume finishes it', async () => {
  // More than one page of the drain (100), so a per-page pause check is reached too.
  const events = await storeEvents(250);
  let handled = 0;
  let repaused: Promise<unknown> | undefined;
  const summary = await drainPendingEvents(
    deps({
      webhookHandled: () => {
        handled++;
        if (handled === 1) repaused = pauseWebhookProcessing(store, { reason: 'second rollback' });
      },
    }),
  );
  await repaused;
  expect(await isWebhookProcessingPaused(store)).toBe(true);
  expect(summary.stoppedByPause).toBe(true);
  expect(summary.failed).toBe(0);
  expect(summary.seen).toBeGreaterThan(0);
  expect(summary.seen).toBeLessThan(events.length);

  const after = await statuses();
  const order = events.map((e) => after.get(e.id));
  // Applied ones are a prefix of Stripe order; everything after the stop is still pending.
  expect(order.slice(0, summary.seen).every((s) => s === 'ignored')).toBe(true);
  expect(order.slice(summary.seen).every((s) => s === 'pending')).toBe(true);

  const resumed = await resumeWebhookProcessing(deps());
  expect(resumed).toMatchObject({ seen: events.length - summary.seen, applied: events.length - summary.seen, alreadyApplied: 0, stoppedByPause: false });
  expect([...(await statuses()).values()].every((s) => s === 'ignored')).toBe(true);
});

test('an event stored behind the cursor while the drain runs is picked up by the same drain', async () => {
  await storeEvents(3, 1_800_000_100);
  let late: Promise<unknown> | undefined;
  const drainDeps = deps({
    webhookHandled: (h) => {
      // A delivery that read the flag just before the resume: stored pending, older than the cursor.
      if (h.eventId === 'evt_drain_0002') late = storeEvents(1, 1_800_000_000, 'evt_behind_');
    },
  });
  // The drain reads the pause flag before each page: that read waits for the late insert to
  // commit, so the insert lands between the pages on any machine (the observer cannot await it).
  const get = drainDeps.store.get.bind(drainDeps.store);
  drainDeps.store = Object.assign(Object.create(drainDeps.store) as Store, { get: async (key: string) => (await late, get(key)) });
  const summary = await drainPendingEvents(drainDeps);
  expect(summary).toMatchObject({ seen: 4, applied: 4, failed: 0, stoppedByPause: false });
  expect((await statuses()).get('evt_behind_0000')).toBe('ignored');
});

test('two drains started together apply each event once: the second waits for the first', async () => {
  const events = await storeEvents(40);
  const [first, second] = await Promise.all([drainPendingEvents(deps()), drainPendingEvents(deps())]);
  expect(first.applied + second.applied).toBe(events.length);
  expect(first.alreadyApplied + second.alreadyApplied).toBe(0);
  const dup = await database.db.selectFrom('webhook_events').select((eb) => eb.fn.sum<string>('duplicate_deliveries').as('n')).executeTakeFirstOrThrow();
  expect(toNumber(dup.n)).toBe(0);
});

test('no flag reads as not paused; a pause given a lifetime expires with it, one without has none', async () => {
  expect(await readWebhookPause(store)).toEqual({ paused: false });
  await pauseWebhookProcessing(store, { reason: 'maintenance window', ttlSeconds: 600 });
  const ttl = await store.ttlSeconds(WEBHOOKS_PAUSED_KEY);
  expect(ttl).toBeGreaterThan(590);
  expect(ttl).toBeLessThanOrEqual(600);
  await pauseWebhookProcessing(store, { reason: 'rollback' });
  expect(await store.ttlSeconds(WEBHOOKS_PAUSED_KEY)).toBeNull();
});

test('a stopping process: its running drain ends after the events it is on, no drain starts after, the rest stays pending', async () => {
  // haltDrains marks its store for good: this test's own store, not the suite's.
  const own = await createTestStore();
  try {
    const events = await storeEvents(30);
    let halting: Promise<void> | undefined;
    const stopping: WebhookDeps = {
      ...deps({
        webhookHandled: () => {
          halting ??= haltDrains(own);
        },
      }),
      store: own,
    };
    const summary = await drainPendingEvents(stopping);
    await halting;
    expect(summary.seen).toBeGreaterThan(0);
    // One page of 30: without the per-event check the page would be applied whole.
    expect(summary.seen).toBeLessThan(events.length);
    expect(summary).toMatchObject({ applied: summary.seen, failed: 0 });
    const pending = async () => [...(await statuses()).values()].filter((s) => s === 'pending').length;
    expect(await pending()).toBe(events.length - summary.seen);

    // Nothing starts any more on this store, asked for or swept.
    expect(await requestDrain(stopping)).toEqual({ seen: 0, applied: 0, alreadyApplied: 0, failed: 0, stoppedByPause: false });
    expect(await drainPendingEvents(stopping)).toMatchObject({ seen: 0, applied: 0 });
    expect(await pending()).toBe(events.length - summary.seen);
    // Another instance's drain (its own store) applies the rest.
    expect(await drainPendingEvents(deps())).toMatchObject({ seen: events.length - summary.seen, applied: events.length - summary.seen });
  } finally {
    await own.close();
  }
});

test('a drain that fails (the database refuses connections) is logged for on-call and left to the sweep', async () => {
  // A database nobody listens on: the drain's first read fails.
  const unreachable = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool: new Pool({ connectionString: 'postgres://upiik@127.0.0.1:1/none', connectionTimeoutMillis: 5_000 }) }) });
  const { logger, lines } = captureLogger();
  try {
    await expect(requestDrain({ ...deps(), db: unreachable, logger })).rejects.toThrow(/ECONNREFUSED|connect/);
    const warning = await waitUntil(() => lines().find((l) => l.message === 'draining stored webhooks failed; the sweep retries'), { what: 'the drain failure warning', timeoutMs: 10_000 });
    expect(warning).toMatchObject({ level: 'warn', error: expect.stringMatching(/ECONNREFUSED|connect/) });
  } finally {
    await unreachable.destroy();
  }
});

test('the periodic sweep applies what is due on its own, and applies nothing once stopped', async () => {
  const stopped = startDrainSweep(deps(), 25);
  stopped.stop();
  await storeEvents(2);
  // Twenty intervals of the stopped sweep: nothing applied.
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect([...(await statuses()).values()]).toEqual(['pending', 'pending']);

  const sweep = startDrainSweep(deps(), 25);
  try {
    await waitUntil(async () => [...(await statuses()).values()].every((s) => s === 'ignored'), { what: 'the sweep to apply both events' });
  } finally {
    sweep.stop();
  }
});

const onPostgres = process.env.DATABASE_URL ? test : test.skip;

onPostgres('an event another instance applies while this drain is on it counts as already applied, not applied', async () => {
  const [event] = await storeEvents(1);
  // This connection holds the row: the drain lists it pending, applies it and waits at its settle.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held!: () => void;
  const locked = new Promise<void>((resolve) => (held = resolve));
  const other = database.db.transaction().execute(async (trx) => {
    await trx.selectFrom('webhook_events').select('event_id').where('event_id', '=', event!.id).forUpdate().execute();
    held();
    await gate;
    // The other instance's application commits first.
    await trx.updateTable('webhook_events').set({ status: 'ignored', processed_at: new Date() }).where('event_id', '=', event!.id).execute();
  });
  await locked;
  let done = false;
  const drained = drainPendingEvents(deps()).finally(() => (done = true));
  try {
    await waitUntil(
      async () => done || (await waitingLocks(database.db)) > 0,
      { what: 'the drain to wait on the held row' },
    );
  } finally {
    release();
  }
  await other;
  expect(await drained).toMatchObject({ seen: 1, applied: 0, alreadyApplied: 1, failed: 0 });
  // Not a redelivery: the row's duplicate count stays 0.
  const row = await database.db.selectFrom('webhook_events').select(['status', 'duplicate_deliveries']).where('event_id', '=', event!.id).executeTakeFirstOrThrow();
  expect(row).toEqual({ status: 'ignored', duplicate_deliveries: 0 });
});
