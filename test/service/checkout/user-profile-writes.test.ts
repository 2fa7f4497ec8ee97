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
