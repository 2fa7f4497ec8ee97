import { sql } from 'kysely';
import { lockUser, upsertUser } from '../../../service/checkout/repository';
import { checkRollups } from '../../../service/dashboard/rollup-check';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { recorded } from '../../support/statements';

/**
 * What recording a user costs and writes (`upsertUser`: every authenticated checkout and portal
 * request, and the webhooks that name a user). A new user is a read, a lock attempt, an insert and
 * one move of their signup; a known user whose profile changes nothing is one read and no write; a
 * change is written under the user's lock, and the people rollups follow it. Real database;
 * statements are read by a Kysely plugin on the way to it.
 */

jest.setTimeout(300_000);

const suite = { database: undefined as unknown as TestDatabase };
beforeAll(async () => {
  suite.database = await createTestDatabase();
});
afterAll(async () => {
  await suite.database?.close();
});

describe('a new user', () => {
  const signups = async () => Number((await sql<{ n: string }>`select coalesce(sum(signups), 0) as n from user_days where zone = 'UTC'`.execute(suite.database.db)).rows[0]!.n);

  test('is a read, then a lock attempt, an insert and one move of their signup; an internal one is not counted', async () => {
    const counted = await signups();
    const { db, statements } = recorded(suite.database.db);
    await upsertUser(db, { id: 'u_cost_new', email: 'new@example.com', city: 'Nantes' });
    expect(statements.map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual(['select "email",', 'select "email",', 'insert into', 'with now_rows']);
    expect(statements[0]).not.toMatch(/for update$/);
    expect(statements[1]).toMatch(/for update$/);
    expect(statements[2]).toMatch(/on conflict \("id"\) do nothing returning "id"$/);
    expect(await signups()).toBe(counted + 1);
    await upsertUser(db, { id: 'u_cost_new_internal', internal: true });
    expect(await signups()).toBe(counted + 1);
    expect((await checkRollups(suite.database.db)).peopleDifferences).toEqual([]);
  });

  test('inserted by another transaction meanwhile is counted once, and recorded as a known user', async () => {
    const counted = await signups();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const firstInserted = new Promise<void>((resolve) => (inserted = resolve));
    const first = suite.database.db.transaction().execute(async (trx) => {
      await upsertUser(trx, { id: 'u_cost_race', city: 'Lille' });
      inserted();
      await held;
    });
    let second: Promise<void> | undefined;
    try {
      await firstInserted;
      // Sees no row (the first has not committed), so its insert waits for the first, then finds it.
      second = upsertUser(suite.database.db, { id: 'u_cost_race', email: 'race@example.com', city: 'Lyon' });
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      release();
    }
    await Promise.all([first, second]);
    expect(await signups()).toBe(counted + 1);
    expect(await suite.database.db.selectFrom('users').select(['email', 'city']).where('id', '=', 'u_cost_race').executeTakeFirstOrThrow()).toEqual({ email: 'race@example.com', city: 'Lyon' });
    expect((await checkRollups(suite.database.db)).peopleDifferences).toEqual([]);
  });
});

describe('a known user', () => {
  const row = (id: string) => suite.database.db.selectFrom('users').select(['email', 'city', 'is_internal', 'updated_at']).where('id', '=', id).executeTakeFirstOrThrow();

  test('whose profile changes nothing is one read outside any transaction, and nothing is written', async () => {
    await upsertUser(suite.database.db, { id: 'u_cost_known', email: 'known@example.com', city: 'Brest', internal: true });
    const before = await row('u_cost_known');
    const { db, statements } = recorded(suite.database.db);
    // The same values, none at all, and internal: false (which never clears the flag).
    for (const profile of [{ email: 'known@example.com', city: 'Brest', internal: true }, {}, { internal: false }]) await upsertUser(db, { id: 'u_cost_known', ...profile });
    expect(statements).toHaveLength(3);
    expect(statements.every((s) => s.startsWith('select "email", "city", "is_internal" from "users"') && !s.endsWith('for update'))).toBe(true);
    expect(await row('u_cost_known')).toEqual(before);
  });

  test.each([
    ['a new email', { email: 'moved@example.com' }, { email: 'moved@example.com', city: 'Brest', is_internal: false }],
    ['a new city', { city: 'Quimper' }, { email: 'same@example.com', city: 'Quimper', is_internal: false }],
    ['becoming internal', { internal: true }, { email: 'same@example.com', city: 'Brest', is_internal: true }],
  ])('with %s is written, under the lock', async (_, profile, expected) => {
    const id = `u_cost_change_${Object.keys(profile)[0]}`;
    await upsertUser(suite.database.db, { id, email: 'same@example.com', city: 'Brest' });
    const { db, statements } = recorded(suite.database.db);
    await upsertUser(db, { id, ...profile });
    expect(statements.some((s) => s.startsWith('insert into "users"') && s.includes('on conflict ("id") do update'))).toBe(true);
    expect(await row(id)).toMatchObject(expected);
    expect((await checkRollups(suite.database.db)).peopleDifferences).toEqual([]);
  });

  test('the people rollups are recomputed around the write only when the user becomes internal', async () => {
    // Statements between the lock and the write: the people rollups read before it (the user's
    // subscription days and user days), which only becoming internal needs.
    const betweenLockAndWrite = (statements: string[]) =>
      statements.findIndex((s) => s.startsWith('insert into "users"')) - statements.findIndex((s) => s.endsWith('for update')) - 1;
    await upsertUser(suite.database.db, { id: 'u_cost_recompute', city: 'Brest' });
    await upsertUser(suite.database.db, { id: 'u_cost_recompute_internal', city: 'Brest', internal: true });
    const cases = [
      { id: 'u_cost_recompute', profile: { city: 'Vannes' }, recomputed: false },
      // Already internal, and the token says so again: only the city changes.
      { id: 'u_cost_recompute_internal', profile: { city: 'Vannes', internal: true }, recomputed: false },
      { id: 'u_cost_recompute', profile: { internal: true }, recomputed: true },
    ];
    for (const { id, profile, recomputed } of cases) {
      const { db, statements } = recorded(suite.database.db);
      await upsertUser(db, { id, ...profile });
      expect({ id, profile, between: betweenLockAndWrite(statements) > 0 }).toEqual({ id, profile, between: recomputed });
    }
    expect((await checkRollups(suite.database.db)).peopleDifferences).toEqual([]);
  });

  test('inside a transaction the user is locked even when nothing changes', async () => {
    await upsertUser(suite.database.db, { id: 'u_cost_known_trx', city: 'Rennes' });
    const { db, statements } = recorded(suite.database.db);
    await db.transaction().execute(async (trx) => {
      await upsertUser(trx, { id: 'u_cost_known_trx', city: 'Rennes' });
      // Locked by this transaction: lockUser knows it and asks nothing.
      await expect(lockUser(trx, 'u_cost_known_trx')).resolves.toBe(true);
    });
    expect(statements).toEqual([expect.stringMatching(/^select "email", "city", "is_internal" from "users" where "id" = \$1 for update$/)]);
  });
});

describe('lockUser', () => {
  const lockStatements = (statements: string[]) => statements.filter((s) => s === 'select "id" from "users" where "id" = $1 for update');

  test('says whether the user exists; outside a transaction every call asks (nothing is held to remember)', async () => {
    await upsertUser(suite.database.db, { id: 'u_lock_plain' });
    const { db, statements } = recorded(suite.database.db);
    await expect(lockUser(db, 'u_lock_plain')).resolves.toBe(true);
    await suite.database.db.deleteFrom('users').where('id', '=', 'u_lock_plain').execute();
    await expect(lockUser(db, 'u_lock_plain')).resolves.toBe(false);
    await expect(lockUser(db, 'u_lock_nobody')).resolves.toBe(false);
    expect(lockStatements(statements)).toHaveLength(3);
  });

  test('in a transaction a user is locked once, and a missing one is asked for again each time', async () => {
    await upsertUser(suite.database.db, { id: 'u_lock_trx' });
    const { db, statements } = recorded(suite.database.db);
    const answers = await db.transaction().execute(async (trx) => [
      await lockUser(trx, 'u_lock_trx'),
      await lockUser(trx, 'u_lock_trx'),
      await lockUser(trx, 'u_lock_trx_nobody'),
      await lockUser(trx, 'u_lock_trx_nobody'),
    ]);
    expect(answers).toEqual([true, true, false, false]);
    expect(lockStatements(statements)).toHaveLength(3);
  });
});
