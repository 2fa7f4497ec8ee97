import { type Kysely, sql } from 'kysely';

/**
 * webhook_events.retry_at: when the service itself tries a failed event again. Set only for events
 * the service acknowledged before applying them (stored while processing was paused, or deferred
 * because applying them needed the Stripe API): Stripe has its 2xx and never redelivers those, so
 * their retries are the service's. Null for a failed live delivery (Stripe retries it) and once the
 * service gives up (three days, as Stripe would).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('webhook_events').addColumn('retry_at', 'timestamptz').execute();
  await sql`create index webhook_events_retry_idx on webhook_events (retry_at) where status = 'failed' and retry_at is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists webhook_events_retry_idx`.execute(db);
  await db.schema.alterTable('webhook_events').dropColumn('retry_at').execute();
}
