import { PostgresQueryCompiler, sql } from 'kysely';
import type Stripe from 'stripe';
import { linkCustomer, lockUser, upsertUser } from '../../../service/checkout/repository';
import { addRows, USER_DAYS } from '../../../service/dashboard/people-rollups';
import { checkRollups } from '../../../service/dashboard/rollup-check';
import { storePending } from '../../../service/webhooks/inbox';
import { drainPendingEvents } from '../../../service/webhooks/pause';
import { processEvent } from '../../../service/webhooks/processor';
import { readLinks } from '../../../service/webhooks/users';
import { testConfig } from '../../support/config';
import { recorded } from '../../support/statements';
import { costSuite, fakeEvent } from './support';

/**
 * What a user's writes cost (issue 15, as apply-cost.test.ts for the inbox): a user locked once per
 * transaction, a subscription's people rollups moved in one statement per table, customer links
 * read once per pass, rollup rows written in bulk (a user's own record: test/service/checkout/user-profile-writes.test.ts). Real database
 * and store; statements are read by a Kysely plugin on the way to the database.
 */

jest.setTimeout(300_000);

const suite = costSuite();
const { deps, statusOf } = suite;
let sequence = 0;

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
    await upsertUser(suite.database.db, { id: userId, city: 'Lyon' });
    await linkCustomer(suite.database.db, { userId, customerId, livemode: false });
  };
  const setupIntent = (customer: string) => {
    sequence += 1;
    return fakeEvent('setup_intent.succeeded', { id: `seti_cost_${sequence}`, object: 'setup_intent', customer, metadata: {} }, { id: `evt_apply_cost_${process.pid}_${sequence}`, created: T + sequence });
  };
  const userLocks = (statements: string[]) => statements.filter((s) => s === 'select "id" from "users" where "id" = $1 for update');
  const dayOf = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);

  test("a subscription's write locks its user once and moves each people rollup in one statement, to what the tables say", async () => {
    await linkedUser('u_cost_sub', 'cus_cost_sub');
    const { db, statements } = recorded(suite.database.db);
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
      select to_char(day, 'YYYY-MM-DD') as day, started, ended, canceled, premium from subscription_days where zone = 'UTC' order by day`.execute(suite.database.db);
    expect(rows.rows.map((r) => ({ day: r.day, started: Number(r.started), ended: Number(r.ended), canceled: Number(r.canceled), premium: Number(r.premium) }))).toEqual([
      { day: dayOf(T), started: 1, ended: 0, canceled: 0, premium: 0 },
      { day: dayOf(T + 86_400 * 40), started: 0, ended: 1, canceled: 1, premium: 0 },
    ]);
    expect((await checkRollups(suite.database.db)).peopleDifferences).toEqual([]);
  });

  test('a user locked by this transaction is not locked again; another transaction waits for it', async () => {
    await upsertUser(suite.database.db, { id: 'u_cost_lock' });
    const { db, statements } = recorded(suite.database.db);
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
    await upsertUser(suite.database.db, { id: 'u_cost_link' });
    await upsertUser(suite.database.db, { id: 'u_cost_other' });
    const { db, statements } = recorded(suite.database.db);
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
    for (const event of events) await storePending(suite.database.db, event);
    const { db, statements } = recorded(suite.database.db);
    await expect(drainPendingEvents(deps(db))).resolves.toMatchObject({ seen: 4, applied: 4, failed: 0 });
    const links = statements.filter((s) => s.includes('from "stripe_customers"'));
    expect(links).toEqual(['select "customer_id", "user_id" from "stripe_customers" where "customer_id" in ($1, $2)']);
    expect(userLocks(statements)).toHaveLength(4);
  });

  test("a drain with one customer looks it up once, for all of its events; a failed page read is left to the events", async () => {
    await linkedUser('u_cost_single', 'cus_cost_single');
    const single = [setupIntent('cus_cost_single'), setupIntent('cus_cost_single'), setupIntent('cus_cost_single')];
    for (const event of single) await storePending(suite.database.db, event);
    const { db, statements } = recorded(suite.database.db);
    await expect(drainPendingEvents(deps(db))).resolves.toMatchObject({ seen: 3, applied: 3, failed: 0 });
    expect(statements.filter((s) => s.includes('from "stripe_customers"'))).toEqual(['select "user_id" from "stripe_customers" where "customer_id" = $1']);

    // The page's read fails (the plugin refuses it): each event looks its own customer up instead.
    await linkedUser('u_cost_fail_a', 'cus_cost_fail_a');
    await linkedUser('u_cost_fail_b', 'cus_cost_fail_b');
    const pair = [setupIntent('cus_cost_fail_a'), setupIntent('cus_cost_fail_b')];
    for (const event of pair) await storePending(suite.database.db, event);
    const refused: string[] = [];
    const failing = suite.database.db.withPlugin({
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
    const { db, statements } = recorded(suite.database.db);
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

describe('the people rollups written in bulk', () => {
  test('500 rows a statement, each added to what is there', async () => {
    const rows = Array.from({ length: 1001 }, (_, i) => ({ zone: 'UTC', day: new Date(Date.UTC(1980, 0, 1) + i * 86_400_000).toISOString().slice(0, 10), signups: (i % 3) + 1 }));
    const { db, statements } = recorded(suite.database.db);
    await addRows(db, USER_DAYS, rows);
    await addRows(db, USER_DAYS, [{ zone: 'UTC', day: '1980-01-01', signups: 2 }, { zone: 'UTC', day: '1980-01-02', signups: 0 }]);
    expect(statements).toHaveLength(4);
    const stored = await sql<{ day: string; signups: string }>`select to_char(day, 'YYYY-MM-DD') as day, signups from user_days where day < '1990-01-01' order by day`.execute(suite.database.db);
    expect(stored.rows).toHaveLength(1001);
    expect(stored.rows.slice(0, 3).map((r) => [r.day, Number(r.signups)])).toEqual([
      ['1980-01-01', 3],
      ['1980-01-02', 2],
      ['1980-01-03', 3],
    ]);
    expect(stored.rows.reduce((sum, r) => sum + Number(r.signups), 0)).toBe(rows.reduce((sum, r) => sum + r.signups, 0) + 2);
    await sql`delete from user_days where day < '1990-01-01'`.execute(suite.database.db);
  });
});
