import { PostgresQueryCompiler, sql } from 'kysely';
import type Stripe from 'stripe';
import { linkCustomer, lockUser, upsertUser } from '../../../service/checkout/repository';
import { addRows, USER_DAYS } from '../../../service/dashboard/people-rollups';
import { checkRollups } from '../../../service/dashboard/rollup-check';
import type { Database } from '../../../service/shared/db';
import { noopObserver } from '../../../service/shared/observer';
import type { Store } from '../../../service/shared/store';
import { createStripeClient } from '../../../service/shared/stripe-client';
import { refreshPaymentAdjustments } from '../../../service/webhooks/effects/ledger';
import { markOutcome, storedStatuses, storePending } from '../../../service/webhooks/inbox';
import { drainPendingEvents, WEBHOOKS_PAUSED_KEY } from '../../../service/webhooks/pause';
import { inBurst, noteAcknowledged } from '../../../service/webhooks/pressure';
import { processEvent, type WebhookDeps } from '../../../service/webhooks/processor';
import { readLinks } from '../../../service/webhooks/users';
import { testConfig } from '../../support/config';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { captureLogger } from '../../support/logger';
import { recorded } from '../../support/statements';
import { createTestStore } from '../../support/store';
import { fakeEvent } from './support';

/**
 * What applying an event costs the process (issue 15: every statement is a round trip, and a drain
 * shares the process with the acknowledgements): the statements an event takes, the async commit
 * of a drained event, the replay's batched status read, and a drain stepping aside during a burst
 * of deliveries. Real database and store; statements are read by a Kysely plugin on the way to the
 * database. Events of a type the service ignores need no Stripe call (the client points at a
 * closed port).
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

function deps(db: Database = database.db, logger = captureLogger().logger): WebhookDeps {
  const config = testConfig();
  return {
    db,
    store,
    config,
    stripe: createStripeClient({ secretKey: config.stripe.secretKey, apiVersion: config.stripe.apiVersion, apiBase: 'http://127.0.0.1:1', maxNetworkRetries: 0 }),
    logger,
    observer: noopObserver,
  };
}

let sequence = 0;
const ignored = (customer = 'cus_apply_cost') => {
  sequence += 1;
  return fakeEvent('customer.updated', { id: customer, object: 'customer', metadata: {} }, { id: `evt_apply_cost_${process.pid}_${sequence}`, created: 1_800_000_000 + sequence });
};
const inboxStatements = (statements: string[]) => statements.filter((s) => s.includes('"webhook_events"'));
const statusOf = async (id: string) => (await database.db.selectFrom('webhook_events').select('status').where('event_id', '=', id).executeTakeFirstOrThrow()).status;

describe('statements per applied event', () => {
  test('a new event is claimed by its insert: no read before it, no lock after it', async () => {
    const { db, statements } = recorded(database.db);
    const event = ignored();
    await expect(processEvent(deps(db), event, { storedStatus: null })).resolves.toMatchObject({ outcome: 'ignored' });
    const inbox = inboxStatements(statements);
    expect(inbox).toHaveLength(2);
    expect(inbox[0]).toMatch(/^insert into "webhook_events" .* on conflict \("event_id"\) do nothing returning "status", "attempts"$/);
    expect(inbox[1]).toMatch(/^update "webhook_events" set "status" = \$1/);
    expect(await statusOf(event.id)).toBe('ignored');
  });

  test('without a status from the caller, one read, then the claim locks the stored row', async () => {
    const event = ignored();
    await storePending(database.db, event);
    const { db, statements } = recorded(database.db);
    await processEvent(deps(db), event);
    const inbox = inboxStatements(statements);
    expect(inbox.map((s) => s.split(' ')[0])).toEqual(['select', 'select', 'update']);
    expect(inbox[1]).toMatch(/for update$/);
    expect(inbox.some((s) => s.startsWith('insert'))).toBe(false);
  });

  test('a payment refresh is one statement, and leaves a payment without refunds or disputes paid', async () => {
    await database.db
      .insertInto('payments')
      .values({ payment_key: 'in_apply_cost', amount: 400, currency: 'eur', status: 'succeeded', occurred_at: new Date(), stripe_updated_at: 1 })
      .execute();
    const { db, statements } = recorded(database.db);
    await refreshPaymentAdjustments(db, 'in_apply_cost');
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^update payments p set refunded_amount = a\.refunded/);
    const row = await database.db.selectFrom('payments').select(['status', 'refunded_amount', 'disputed_amount', 'dispute_status']).where('payment_key', '=', 'in_apply_cost').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'succeeded', dispute_status: null });
    expect(Number(row.refunded_amount)).toBe(0);
    await database.db.deleteFrom('payments').where('payment_key', '=', 'in_apply_cost').execute();
  });
});

describe('the commit of a drained event', () => {
  test('the outcome update makes it asynchronous for that transaction only', async () => {
    const event = ignored();
    await storePending(database.db, event);
    const settings = await database.db.connection().execute(async (connection) => {
      const inside = await connection.transaction().execute(async (trx) => {
        const before = await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(trx);
        await markOutcome(trx, event.id, { status: 'ignored', durationMs: 1 }, { asyncCommit: true });
        const after = await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(trx);
        return [before.rows[0]!.s, after.rows[0]!.s];
      });
      const next = await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(connection);
      return [...inside, next.rows[0]!.s];
    });
    expect(settings).toEqual(['on', 'off', 'on']);
    expect(await statusOf(event.id)).toBe('ignored');
  });

  test('an outcome without it leaves the commit synchronous', async () => {
    const event = ignored();
    await storePending(database.db, event);
    const setting = await database.db.transaction().execute(async (trx) => {
      await markOutcome(trx, event.id, { status: 'ignored', durationMs: 1 });
      return (await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(trx)).rows[0]!.s;
    });
    expect(setting).toBe('on');
  });
});

describe("a replay's status read", () => {
  test('reads stored statuses in batches, across the batch boundary, and leaves absent ids out', async () => {
    const first = ignored();
    const last = ignored();
    await storePending(database.db, first);
    await processEvent(deps(), last, { storedStatus: null });
    const ids = [first.id, ...Array.from({ length: 999 }, (_, i) => `evt_absent_${i}`), last.id];
    const { db, statements } = recorded(database.db);
    const statuses = await storedStatuses(db, ids);
    expect(statements).toHaveLength(2);
    expect([...statuses]).toEqual([
      [first.id, 'pending'],
      [last.id, 'ignored'],
    ]);
    await expect(storedStatuses(db, [])).resolves.toEqual(new Map());
    expect(statements).toHaveLength(2);
  });
});

describe('a drain during a burst of deliveries', () => {
  const drainedLines = (lines: () => Array<Record<string, unknown>>) => lines().filter((l) => l.message === 'pending webhooks drained');

  test('waits before each event while the burst lasts, says so, then applies the rest without waiting', async () => {
    const events = [ignored('cus_burst'), ignored('cus_burst'), ignored('cus_burst'), ignored('cus_burst')];
    for (const event of events) await storePending(database.db, event);
    // More than 50 acknowledgements per 100 ms window, for as long as the timer runs.
    const burst = setInterval(() => {
      for (let i = 0; i < 60; i++) noteAcknowledged(store);
    }, 10);
    for (let i = 0; i < 60; i++) noteAcknowledged(store);
    expect(inBurst(store)).toBe(true);
    const logs = captureLogger('info');
    const started = performance.now();
    const drained = drainPendingEvents(deps(database.db, logs.logger));
    await new Promise((resolve) => setTimeout(resolve, 150));
    const statuses = await Promise.all(events.map((e) => statusOf(e.id)));
    clearInterval(burst);
    // At 150 ms: the first event waited 100 ms, the second was waiting; never all four.
    expect(statuses.filter((s) => s === 'ignored').length).toBeLessThanOrEqual(2);
    await expect(drained).resolves.toMatchObject({ seen: 4, applied: 4, failed: 0 });
    // Two waits at least: the burst lasted 150 ms, and each event it covered waited 100 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    const [line] = drainedLines(logs.lines);
    expect(line).toMatchObject({ level: 'info', seen: 4, applied: 4 });
    expect(line!.burstWaits).toBeGreaterThanOrEqual(2);
    expect(line!.burstWaitMs).toBe(Number(line!.burstWaits) * 100);
    expect(await Promise.all(events.map((e) => statusOf(e.id)))).toEqual(['ignored', 'ignored', 'ignored', 'ignored']);
  });

  test('does not wait when deliveries arrive at an ordinary rate', async () => {
    const events = [ignored('cus_calm'), ignored('cus_calm'), ignored('cus_calm')];
    for (const event of events) await storePending(database.db, event);
    await new Promise((resolve) => setTimeout(resolve, 250)); // the previous test's burst window is over
    expect(inBurst(store)).toBe(false);
    const logs = captureLogger('info');
    await expect(drainPendingEvents(deps(database.db, logs.logger))).resolves.toMatchObject({ seen: 3, applied: 3 });
    const [line] = drainedLines(logs.lines);
    expect(line).toMatchObject({ seen: 3, applied: 3 });
    expect(line).not.toHaveProperty('burstWaits');
  });
});

describe("a user's events", () => {
  const T = 1_795_000_000;
  const subscription = (id: string, customer: string, status: Stripe.Subscription.Status, ended: number | null = null) => ({
    id,
    object: 'subscription',
    customer,
    status,
    currency: 'eur',
    cancel_at_period_end: false,
    canceled_at: ended,
    ended_at: ended,
    start_date: T,
    created: T,
    metadata: {},
    items: { object: 'list', data: [{ price: { id: testConfig().stripe.prices.monthly, unit_amount: 400, currency: 'eur', recurring: { interval: 'month' } }, quantity: 1, current_period_end: T + 2_592_000 }] },
  });
  const linkedUser = async (userId: string, customerId: string) => {
    await upsertUser(database.db, { id: userId, city: 'Lyon' });
    await linkCustomer(database.db, { userId, customerId, livemode: false });
  };
  const setupIntent = (customer: string) => {
    sequence += 1;
    return fakeEvent('setup_intent.succeeded', { id: `seti_cost_${sequence}`, object: 'setup_intent', customer, metadata: {} }, { id: `evt_apply_cost_${process.pid}_${sequence}`, created: T + sequence });
  };
  const userLocks = (statements: string[]) => statements.filter((s) => s === 'select "id" from "users" where "id" = $1 for update');
  const dayOf = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);

  test("a subscription's write locks its user once and moves each people rollup in one statement, to what the tables say", async () => {
    await linkedUser('u_cost_sub', 'cus_cost_sub');
    const { db, statements } = recorded(database.db);
    const created = fakeEvent('customer.subscription.created', subscription('sub_cost', 'cus_cost_sub', 'active'), { created: T + 1 });
    await expect(processEvent(deps(db), created, { storedStatus: null })).resolves.toMatchObject({ outcome: 'processed' });
    expect(userLocks(statements)).toHaveLength(1);
    const moves = statements.filter((s) => s.includes('subscription_days'));
    expect(moves).toHaveLength(1);
    expect(moves[0]).toMatch(/^with now_rows as \(.*\) insert into "subscription_days" .* on conflict \(zone, day, plan, currency\) do update set started = subscription_days\.started \+ excluded\.started/);

    statements.length = 0;
    const ended = fakeEvent('customer.subscription.deleted', subscription('sub_cost', 'cus_cost_sub', 'canceled', T + 86_400 * 40), { created: T + 86_400 * 40 });
    await expect(processEvent(deps(db), ended, { storedStatus: null })).resolves.toMatchObject({ outcome: 'processed' });
    expect(userLocks(statements)).toHaveLength(1);
    expect(statements.filter((s) => s.includes('subscription_days'))).toHaveLength(1);

    const rows = await sql<{ day: string; started: string; ended: string; canceled: string; premium: string }>`
      select to_char(day, 'YYYY-MM-DD') as day, started, ended, canceled, premium from subscription_days where zone = 'UTC' order by day`.execute(database.db);
    expect(rows.rows.map((r) => ({ day: r.day, started: Number(r.started), ended: Number(r.ended), canceled: Number(r.canceled), premium: Number(r.premium) }))).toEqual([
      { day: dayOf(T), started: 1, ended: 0, canceled: 0, premium: 0 },
      { day: dayOf(T + 86_400 * 40), started: 0, ended: 1, canceled: 1, premium: 0 },
    ]);
    expect((await checkRollups(database.db)).peopleDifferences).toEqual([]);
  });

  test('a user locked by this transaction is not locked again; another transaction waits for it', async () => {
    await upsertUser(database.db, { id: 'u_cost_lock' });
    const { db, statements } = recorded(database.db);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const first = db.transaction().execute(async (trx) => {
      await upsertUser(trx, { id: 'u_cost_lock', email: 'lock@example.com' });
      await expect(lockUser(trx, 'u_cost_lock')).resolves.toBe(true);
      await expect(lockUser(trx, 'u_cost_lock')).resolves.toBe(true);
      locked();
      await held;
    });
    let secondDone = false;
    let second: Promise<void> | undefined;
    try {
      await lockTaken;
      expect(userLocks(statements)).toHaveLength(0);
      second = db.transaction().execute(async (trx) => {
        await expect(lockUser(trx, 'u_cost_lock')).resolves.toBe(true);
        secondDone = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(secondDone).toBe(false);
    } finally {
      // Whatever failed above, the first transaction ends (a held row lock would hang the suite).
      release();
    }
    await Promise.all([first, second]);
    expect(secondDone).toBe(true);
    expect(userLocks(statements)).toHaveLength(1);
    // Nothing to lock is not remembered as locked.
    await db.transaction().execute(async (trx) => {
      await expect(lockUser(trx, 'u_cost_nobody')).resolves.toBe(false);
      await expect(lockUser(trx, 'u_cost_nobody')).resolves.toBe(false);
    });
    expect(userLocks(statements)).toHaveLength(3);
  });

  test('a new customer link is one statement; an existing one is read back; another user keeps theirs', async () => {
    await upsertUser(database.db, { id: 'u_cost_link' });
    await upsertUser(database.db, { id: 'u_cost_other' });
    const { db, statements } = recorded(database.db);
    await expect(linkCustomer(db, { userId: 'u_cost_link', customerId: 'cus_cost_link', livemode: false })).resolves.toBe('cus_cost_link');
    expect(statements).toHaveLength(1);
    await expect(linkCustomer(db, { userId: 'u_cost_link', customerId: 'cus_cost_link_2', livemode: false })).resolves.toBe('cus_cost_link');
    expect(statements).toHaveLength(3);
    await expect(linkCustomer(db, { userId: 'u_cost_other', customerId: 'cus_cost_link', livemode: false })).rejects.toThrow('customer cus_cost_link is linked to another user');
  });

  test("a drain reads its page's customer links in one statement, and no event looks its customer up again", async () => {
    await linkedUser('u_cost_page_a', 'cus_cost_page_a');
    await linkedUser('u_cost_page_b', 'cus_cost_page_b');
    const events = [setupIntent('cus_cost_page_a'), setupIntent('cus_cost_page_b'), setupIntent('cus_cost_page_a'), setupIntent('cus_cost_page_b')];
    for (const event of events) await storePending(database.db, event);
    const { db, statements } = recorded(database.db);
    await expect(drainPendingEvents(deps(db))).resolves.toMatchObject({ seen: 4, applied: 4, failed: 0 });
    const links = statements.filter((s) => s.includes('from "stripe_customers"'));
    expect(links).toEqual(['select "customer_id", "user_id" from "stripe_customers" where "customer_id" in ($1, $2)']);
    expect(userLocks(statements)).toHaveLength(4);
  });

  test("a drain with one customer looks it up once, for all of its events; a failed page read is left to the events", async () => {
    await linkedUser('u_cost_single', 'cus_cost_single');
    const single = [setupIntent('cus_cost_single'), setupIntent('cus_cost_single'), setupIntent('cus_cost_single')];
    for (const event of single) await storePending(database.db, event);
    const { db, statements } = recorded(database.db);
    await expect(drainPendingEvents(deps(db))).resolves.toMatchObject({ seen: 3, applied: 3, failed: 0 });
    expect(statements.filter((s) => s.includes('from "stripe_customers"'))).toEqual(['select "user_id" from "stripe_customers" where "customer_id" = $1']);

    // The page's read fails (the plugin refuses it): each event looks its own customer up instead.
    await linkedUser('u_cost_fail_a', 'cus_cost_fail_a');
    await linkedUser('u_cost_fail_b', 'cus_cost_fail_b');
    const pair = [setupIntent('cus_cost_fail_a'), setupIntent('cus_cost_fail_b')];
    for (const event of pair) await storePending(database.db, event);
    const refused: string[] = [];
    const failing = database.db.withPlugin({
      transformQuery(args) {
        const text = new PostgresQueryCompiler().compileQuery(args.node, args.queryId).sql;
        if (text.includes('"customer_id" in (')) {
          refused.push(text);
          throw new Error('page read refused by the test');
        }
        return args.node;
      },
      transformResult: (args) => Promise.resolve(args.result),
    });
    await expect(drainPendingEvents(deps(failing))).resolves.toMatchObject({ seen: 2, applied: 2, failed: 0 });
    expect(refused).toHaveLength(1);
    expect(await Promise.all(pair.map((e) => statusOf(e.id)))).toEqual(['processed', 'processed']);
  });

  test('links are read 1,000 customers a statement, and only the ones that exist', async () => {
    await linkedUser('u_cost_batch', 'cus_cost_batch');
    const { db, statements } = recorded(database.db);
    const links = await readLinks(db, [...Array.from({ length: 1000 }, (_, i) => `cus_absent_${i}`), 'cus_cost_batch', 'cus_cost_batch']);
    expect(statements).toHaveLength(2);
    // 1,000 ids in the first statement, the one left in the second.
    expect(statements[0]).toMatch(/\$1000\)$/);
    expect(statements[1]).toMatch(/in \(\$1\)$/);
    expect([...links]).toEqual([['cus_cost_batch', 'u_cost_batch']]);
    // None to read, or exactly one batch: no statement without ids.
    await expect(readLinks(db, [])).resolves.toEqual(new Map());
    expect(statements).toHaveLength(2);
    await readLinks(db, Array.from({ length: 1000 }, (_, i) => `cus_absent_${i}`));
    expect(statements).toHaveLength(3);
  });
});

describe('a new user', () => {
  const signups = async () => Number((await sql<{ n: string }>`select coalesce(sum(signups), 0) as n from user_days where zone = 'UTC'`.execute(database.db)).rows[0]!.n);

  test('is a lock attempt, an insert and one move of their signup; an internal one is not counted', async () => {
    const counted = await signups();
    const { db, statements } = recorded(database.db);
    await upsertUser(db, { id: 'u_cost_new', email: 'new@example.com', city: 'Nantes' });
    expect(statements.map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual(['select "city",', 'insert into', 'with now_rows']);
    expect(statements[1]).toMatch(/on conflict \("id"\) do nothing returning "id"$/);
    expect(await signups()).toBe(counted + 1);
    await upsertUser(db, { id: 'u_cost_new_internal', internal: true });
    expect(await signups()).toBe(counted + 1);
    expect((await checkRollups(database.db)).peopleDifferences).toEqual([]);
  });

  test('inserted by another transaction meanwhile is counted once, and recorded as a known user', async () => {
    const counted = await signups();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const firstInserted = new Promise<void>((resolve) => (inserted = resolve));
    const first = database.db.transaction().execute(async (trx) => {
      await upsertUser(trx, { id: 'u_cost_race', city: 'Lille' });
      inserted();
      await held;
    });
    let second: Promise<void> | undefined;
    try {
      await firstInserted;
      // Sees no row (the first has not committed), so its insert waits for the first, then finds it.
      second = upsertUser(database.db, { id: 'u_cost_race', email: 'race@example.com', city: 'Lyon' });
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      release();
    }
    await Promise.all([first, second]);
    expect(await signups()).toBe(counted + 1);
    expect(await database.db.selectFrom('users').select(['email', 'city']).where('id', '=', 'u_cost_race').executeTakeFirstOrThrow()).toEqual({ email: 'race@example.com', city: 'Lyon' });
    expect((await checkRollups(database.db)).peopleDifferences).toEqual([]);
  });
});

describe('the people rollups written in bulk', () => {
  test('500 rows a statement, each added to what is there', async () => {
    const rows = Array.from({ length: 1001 }, (_, i) => ({ zone: 'UTC', day: new Date(Date.UTC(1980, 0, 1) + i * 86_400_000).toISOString().slice(0, 10), signups: (i % 3) + 1 }));
    const { db, statements } = recorded(database.db);
    await addRows(db, USER_DAYS, rows);
    await addRows(db, USER_DAYS, [{ zone: 'UTC', day: '1980-01-01', signups: 2 }, { zone: 'UTC', day: '1980-01-02', signups: 0 }]);
    expect(statements).toHaveLength(4);
    const stored = await sql<{ day: string; signups: string }>`select to_char(day, 'YYYY-MM-DD') as day, signups from user_days where day < '1990-01-01' order by day`.execute(database.db);
    expect(stored.rows).toHaveLength(1001);
    expect(stored.rows.slice(0, 3).map((r) => [r.day, Number(r.signups)])).toEqual([
      ['1980-01-01', 3],
      ['1980-01-02', 2],
      ['1980-01-03', 3],
    ]);
    expect(stored.rows.reduce((sum, r) => sum + Number(r.signups), 0)).toBe(rows.reduce((sum, r) => sum + r.signups, 0) + 2);
    await sql`delete from user_days where day < '1990-01-01'`.execute(database.db);
  });
});
