import type { CompiledQuery, QueryId } from 'kysely';
import type Stripe from 'stripe';
import type { Database } from '../../../service/shared/db';
import { createIntake } from '../../../service/webhooks/intake';
import { createTestDatabase, type TestDatabase } from '../../support/database';

/**
 * The acknowledgement's one write (issue 15): deliveries arriving while an insert is in flight are
 * written together by the next insert (group commit), and each gets the inbox status its event has
 * afterwards. Real database (the suite's own); the statements are counted where Kysely executes
 * them.
 */

let database: TestDatabase;
let closed: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
  closed = await createTestDatabase();
  await closed.close();
});
afterAll(async () => {
  await database?.close();
});

/**
 * The database with every insert into the inbox recorded as its number of rows. The intake sends
 * its statement as text built once per batch size (no query builder), so it is read where every
 * query is executed: the rows are its value tuples.
 */
function counted(db: Database): { db: Database; inserts: number[] } {
  const inserts: number[] = [];
  const counting = db.withoutPlugins();
  const execute = counting.executeQuery.bind(counting);
  counting.executeQuery = ((query: CompiledQuery, queryId?: QueryId) => {
    if (query.sql.startsWith('insert into "webhook_events"')) inserts.push(query.sql.match(/\(\$\d+(?:, \$\d+)*\)/g)?.length ?? 0);
    return execute(query, queryId);
  }) as typeof counting.executeQuery;
  return { db: counting, inserts };
}

let sequence = 0;
function event(extra: Record<string, unknown> = {}): Stripe.Event {
  sequence += 1;
  return {
    id: `evt_intake_${process.pid}_${sequence}`,
    object: 'event',
    type: 'customer.updated',
    api_version: '2025-09-30.clover',
    created: 1_800_000_000 + sequence,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object: { id: 'cus_intake', object: 'customer', metadata: {} } },
    ...extra,
  } as unknown as Stripe.Event;
}

const row = (id: string) =>
  database.db.selectFrom('webhook_events').select(['status', 'attempts', 'duplicate_deliveries', 'retry_at', 'type', 'api_version']).where('event_id', '=', id).executeTakeFirstOrThrow();

test('a burst is written in two statements: the first delivery alone, everything that arrived meanwhile together', async () => {
  const { db, inserts } = counted(database.db);
  const intake = createIntake(db);
  const events = Array.from({ length: 50 }, () => event());
  const results = await Promise.all(events.map((e) => intake.accept(e)));
  expect(results).toEqual(Array(50).fill({ status: 'pending', pending: true }));
  expect(inserts).toEqual([1, 49]);
  for (const e of [events[0]!, events[49]!]) expect(await row(e.id)).toMatchObject({ status: 'pending', attempts: 0, duplicate_deliveries: 0, type: 'customer.updated', api_version: '2025-09-30.clover' });
  // Once idle, a single delivery is its own statement at once (nothing waits for a batch to fill).
  await intake.accept(event());
  expect(inserts).toEqual([1, 49, 1]);
});

test('a batch larger than the cap is written in several statements', async () => {
  const { db, inserts } = counted(database.db);
  const batches: number[] = [];
  const intake = createIntake(db, 10, (size) => batches.push(size));
  await Promise.all(Array.from({ length: 25 }, () => intake.accept(event())));
  expect(inserts).toEqual([1, 10, 10, 4]);
  // What the drain's pressure signal hears: each insert's deliveries, as they are written.
  expect(batches).toEqual([1, 10, 10, 4]);
});

test('what a redelivery finds: applied (counted, status kept), still pending (not counted), failed (pending again, no retry time of its own)', async () => {
  const intake = createIntake(database.db);
  const applied = event();
  const pending = event();
  const failed = event();
  await Promise.all([applied, pending, failed].map((e) => intake.accept(e)));
  await database.db.updateTable('webhook_events').set({ status: 'processed', attempts: 1 }).where('event_id', '=', applied.id).execute();
  await database.db.updateTable('webhook_events').set({ status: 'failed', attempts: 2, retry_at: new Date(Date.now() + 60_000) }).where('event_id', '=', failed.id).execute();

  expect(await intake.accept(applied)).toEqual({ status: 'processed', pending: false });
  expect(await intake.accept(applied)).toEqual({ status: 'processed', pending: false });
  expect(await intake.accept(pending)).toEqual({ status: 'pending', pending: true });
  expect(await intake.accept(failed)).toEqual({ status: 'pending', pending: true });

  expect(await row(applied.id)).toMatchObject({ status: 'processed', attempts: 1, duplicate_deliveries: 2 });
  expect(await row(pending.id)).toMatchObject({ status: 'pending', attempts: 0, duplicate_deliveries: 0 });
  expect(await row(failed.id)).toMatchObject({ status: 'pending', attempts: 2, duplicate_deliveries: 0, retry_at: null });
  // Ignored and unmatched are final too.
  for (const status of ['ignored', 'unmatched'] as const) {
    const e = event();
    await intake.accept(e);
    await database.db.updateTable('webhook_events').set({ status }).where('event_id', '=', e.id).execute();
    expect(await intake.accept(e)).toEqual({ status, pending: false });
    expect((await row(e.id)).duplicate_deliveries).toBe(1);
  }
});

test('two deliveries of one event in the same batch are one row and get the same answer', async () => {
  const { db, inserts } = counted(database.db);
  const intake = createIntake(db);
  const first = event();
  const twice = event();
  const results = await Promise.all([intake.accept(first), intake.accept(twice), intake.accept(twice)]);
  expect(inserts).toEqual([1, 1]);
  expect(results).toEqual([
    { status: 'pending', pending: true },
    { status: 'pending', pending: true },
    { status: 'pending', pending: true },
  ]);
  expect(await row(twice.id)).toMatchObject({ status: 'pending', duplicate_deliveries: 0 });
});

test('an event the database refuses fails alone: the deliveries it shared a statement with are stored', async () => {
  const { db, inserts } = counted(database.db);
  const intake = createIntake(db);
  const first = event();
  const good = [event(), event()];
  // jsonb refuses \u0000 (the route's shape check strips it; the intake must not depend on that).
  const refused = event({ data: { object: { id: 'cus_intake', object: 'customer', name: 'nul\u0000here', metadata: {} } } });
  const settled = await Promise.allSettled([intake.accept(first), intake.accept(good[0]!), intake.accept(refused), intake.accept(good[1]!)]);
  expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({ code: expect.stringMatching(/^22/) });
  // The batch of three failed once, then each was written on its own.
  expect(inserts).toEqual([1, 3, 1, 1, 1]);
  for (const e of good) expect((await row(e.id)).status).toBe('pending');
  expect(await database.db.selectFrom('webhook_events').select('event_id').where('event_id', '=', refused.id).executeTakeFirst()).toBeUndefined();
});

test('when the database is down every delivery of the batch fails, without a statement per delivery', async () => {
  const { db, inserts } = counted(closed.db);
  const intake = createIntake(db);
  const settled = await Promise.allSettled([intake.accept(event()), intake.accept(event()), intake.accept(event()), intake.accept(event())]);
  expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
  expect(inserts).toEqual([1, 3]);
});
