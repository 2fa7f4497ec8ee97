import type { Database } from '../shared/db';

/** Local records of one user, as an admin investigating a ticket needs them. */
export async function loadUserRecords(db: Database, userId: string) {
  const [user, customer, subscriptions, payments, audit] = await Promise.all([
    db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst(),
    db.selectFrom('stripe_customers').selectAll().where('user_id', '=', userId).executeTakeFirst(),
    db.selectFrom('subscriptions').selectAll().where('user_id', '=', userId).orderBy('stripe_updated_at', 'desc').execute(),
    db.selectFrom('payments').selectAll().where('user_id', '=', userId).orderBy('occurred_at', 'desc').limit(50).execute(),
    db.selectFrom('audit_log').selectAll().where('target', '=', `user:${userId}`).orderBy('at', 'desc').limit(20).execute(),
  ]);
  return { user, customer, subscriptions, payments, audit };
}
