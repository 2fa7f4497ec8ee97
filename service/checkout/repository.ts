import { sql } from 'kysely';
import { countNewUser, withPeopleRollups } from '../dashboard/people-rollups';
import { moveUserContributions } from '../dashboard/rollups';
import type { Database, SubscriptionRow, UserRow } from '../shared/db';
import { BLOCKING_STATUSES } from './plans';

/** Data access for users, their Stripe customer and their subscription (checkout's view). */

export interface UserProfile {
  id: string;
  email?: string;
  city?: string;
  /** A user every dashboard figure leaves out (the release pipeline's smoke-test users). */
  internal?: boolean;
}

/**
 * Users whose row the transaction holds locked (`for update`, or written by it): locking again would
 * be a round trip that changes nothing (issue 15). Keyed by the transaction object, so it is
 * forgotten with it; the service uses no savepoints, so a lock taken is held until the end.
 */
const lockedUsers = new WeakMap<Database, Set<string>>();

function noteUserLocked(trx: Database, userId: string): void {
  if (!trx.isTransaction) return;
  const users = lockedUsers.get(trx);
  if (users) users.add(userId);
  else lockedUsers.set(trx, new Set([userId]));
}

/**
 * Locks the user's row until the transaction ends, once per transaction: every event touching a
 * user takes this lock before anything else, so concurrent events of one user serialise instead of
 * deadlocking. False when there is no such user (nothing to lock).
 */
export async function lockUser(trx: Database, userId: string): Promise<boolean> {
  if (lockedUsers.get(trx)?.has(userId)) return true;
  const row = await trx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().executeTakeFirst();
  if (row) noteUserLocked(trx, userId);
  return row !== undefined;
}

/**
 * Records the user as the app describes them; later tokens may fill in email/city, never blank
 * them, and never clear `internal`. When the city or the internal flag changes, the user's money
 * moves with it in the dashboard's rollups, in the same transaction.
 */
export async function upsertUser(db: Database, user: UserProfile): Promise<void> {
  // What the profile would change of a known user: an email or city it names that differs (it
  // never blanks one), or becoming internal (it never clears that). Nothing: no write at all.
  const changes = (known: { email: string | null; city: string | null; is_internal: boolean }) =>
    (user.email != null && user.email !== known.email) || (user.city != null && user.city !== known.city) || (user.internal === true && !known.is_internal);
  if (!db.isTransaction) {
    // Every authenticated checkout and portal request records its user: for a known user whose
    // token says nothing new (nearly every request), one read instead of a transaction.
    const known = await db.selectFrom('users').select(['email', 'city', 'is_internal']).where('id', '=', user.id).executeTakeFirst();
    if (known && !changes(known)) return;
  }
  const write = async (trx: Database) => {
    const lockKnown = () => trx.selectFrom('users').select(['email', 'city', 'is_internal']).where('id', '=', user.id).forUpdate().executeTakeFirst();
    let before = await lockKnown();
    if (!before) {
      // A new user, inserted unless someone did meanwhile (then it is a known user, below). Nothing
      // can reference a row that did not exist (foreign keys): no payment or subscription of theirs
      // is in any rollup yet, so only their signup moves.
      const inserted = await trx
        .insertInto('users')
        .values({ id: user.id, email: user.email ?? null, city: user.city ?? null, is_internal: user.internal === true })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted) {
        noteUserLocked(trx, user.id);
        await countNewUser(trx, user.id);
        return;
      }
      before = await lockKnown();
      if (!before) throw new Error(`user ${user.id} vanished while it was recorded`);
    }
    noteUserLocked(trx, user.id);
    // Locked either way: a webhook's transaction counts on holding its user from here on.
    if (!changes(before)) return;
    const upsert = () =>
      trx
        .insertInto('users')
        .values({ id: user.id, email: user.email ?? null, city: user.city ?? null, is_internal: user.internal === true })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet({
            email: sql`coalesce(excluded.email, users.email)`,
            city: sql`coalesce(excluded.city, users.city)`,
            is_internal: sql`users.is_internal or excluded.is_internal`,
            updated_at: sql`now()`,
          }),
        )
        .returning(['city', 'is_internal'])
        .executeTakeFirstOrThrow();
    // A user becoming internal leaves the subscription and user rollups; only then do they move.
    const after = user.internal === true && !before.is_internal ? await withPeopleRollups(trx, { kind: 'user', userId: user.id }, upsert) : await upsert();
    await moveUserContributions(trx, user.id, { city: before.city, internal: before.is_internal }, { city: after.city, internal: after.is_internal });
  };
  await (db.isTransaction ? write(db) : db.transaction().execute(write));
}

export async function findUser(db: Database, userId: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
}

export async function findCustomerId(db: Database, userId: string): Promise<string | undefined> {
  const row = await db.selectFrom('stripe_customers').select('customer_id').where('user_id', '=', userId).executeTakeFirst();
  return row?.customer_id;
}

export async function findUserIdByCustomer(db: Database, customerId: string): Promise<string | undefined> {
  const row = await db.selectFrom('stripe_customers').select('user_id').where('customer_id', '=', customerId).executeTakeFirst();
  return row?.user_id;
}

/**
 * Links a user to a Stripe customer. Returns the customer id that is linked afterwards — the given
 * one, or the one another request linked first (the unique constraint decides the race).
 */
export async function linkCustomer(db: Database, link: { userId: string; customerId: string; livemode: boolean }): Promise<string> {
  const inserted = await db
    .insertInto('stripe_customers')
    .values({ user_id: link.userId, customer_id: link.customerId, livemode: link.livemode })
    .onConflict((oc) => oc.doNothing())
    .returning('customer_id')
    .executeTakeFirst();
  if (inserted) return inserted.customer_id;
  const linked = await findCustomerId(db, link.userId);
  if (!linked) throw new Error(`customer ${link.customerId} is linked to another user`);
  return linked;
}

/** The user's subscription that still needs managing (blocks a new checkout), newest first. */
export async function findBlockingSubscription(db: Database, userId: string): Promise<SubscriptionRow | undefined> {
  return db
    .selectFrom('subscriptions')
    .selectAll()
    .where('user_id', '=', userId)
    .where('status', 'in', [...BLOCKING_STATUSES])
    .orderBy('stripe_updated_at', 'desc')
    .executeTakeFirst();
}

/** The subscription the user sees: a live one if any, else the most recently changed one. */
export async function findCurrentSubscription(db: Database, userId: string): Promise<SubscriptionRow | undefined> {
  return (
    (await findBlockingSubscription(db, userId)) ??
    db.selectFrom('subscriptions').selectAll().where('user_id', '=', userId).orderBy('stripe_updated_at', 'desc').executeTakeFirst()
  );
}
