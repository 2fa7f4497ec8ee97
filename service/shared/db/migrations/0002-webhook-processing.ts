import { type Kysely, sql } from 'kysely';

/**
 * Webhook processing bookkeeping.
 * - webhook_events.duplicate_deliveries: redeliveries of an already applied event, counted durably
 *   so the monitoring capability can report duplicates without process memory.
 * - payments.failed_attempts + payment_attempts: a payment row keeps its final state (succeeded
 *   beats failed), while every failed attempt is recorded once under a stable attempt key
 *   (`<invoice>#<attempt_count>` or `<payment_intent>#<charge>`), so retries, replays and
 *   reconciliation never count an attempt twice and the failure rate stays meaningful.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('webhook_events')
    .addColumn('duplicate_deliveries', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('payments')
    .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('payment_attempts')
    .addColumn('attempt_key', 'text', (c) => c.primaryKey())
    .addColumn('payment_key', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('failure_code', 'text')
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('payment_attempts_payment_idx').on('payment_attempts').column('payment_key').execute();
  await db.schema.createIndex('payment_attempts_occurred_idx').on('payment_attempts').columns(['occurred_at', 'outcome']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('payment_attempts').ifExists().execute();
  await db.schema.alterTable('payments').dropColumn('failed_attempts').execute();
  await db.schema.alterTable('webhook_events').dropColumn('duplicate_deliveries').execute();
}
