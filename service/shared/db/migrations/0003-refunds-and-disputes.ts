import { type Kysely, sql } from 'kysely';

/**
 * Money that leaves after a payment: refunds and disputes (chargebacks).
 *
 * - Money columns become bigint: Stripe amounts are integers in minor units that can pass 32 bits
 *   (e.g. IDR/JPY amounts, or any large invoice); an `integer` column would reject the event.
 * - refunds: one row per Stripe refund id. A refund counts against its payment (`counted`) from its
 *   creation until it fails or is canceled; `payment_key` is the payment row it belongs to (the
 *   invoice id when its payment intent pays an invoice), so a refund that arrives before its
 *   payment waits here and is applied when the payment row appears.
 * - disputes: one row per Stripe dispute id with its latest status (ordering guard on Stripe time).
 * - dispute_funds: every balance transaction of a dispute (withdrawal < 0, reinstatement > 0) once,
 *   keyed by its id, so however the dispute events are duplicated or reordered each movement of
 *   money is counted exactly once, on its own day.
 * - payments: the refund and dispute state of the payment, derived from the two tables above.
 * - daily_revenue: refunds by the refund's day (refunded_amount already existed), disputes opened,
 *   disputed, withdrawn and reinstated amounts by their own days.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table subscriptions alter column amount type bigint`.execute(db);
  await sql`alter table payments alter column amount type bigint`.execute(db);
  await sql`alter table payments alter column refunded_amount type bigint`.execute(db);

  await db.schema
    .alterTable('payments')
    .addColumn('dispute_status', 'text')
    .addColumn('disputed_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('dispute_withdrawn_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .alterTable('daily_revenue')
    .addColumn('refunds', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('disputes_opened', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('disputed_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('dispute_withdrawn_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('dispute_reinstated_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('refunds')
    .addColumn('refund_id', 'text', (c) => c.primaryKey())
    .addColumn('payment_key', 'text', (c) => c.notNull())
    .addColumn('charge_id', 'text')
    .addColumn('payment_intent_id', 'text')
    .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount >= 0`))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('failure_reason', 'text')
    .addColumn('counted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('refunded_at', 'timestamptz', (c) => c.notNull())
    .addColumn('stripe_updated_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('refunds_payment_idx').on('refunds').column('payment_key').execute();
  await db.schema.createIndex('refunds_refunded_at_idx').on('refunds').column('refunded_at').execute();

  await db.schema
    .createTable('disputes')
    .addColumn('dispute_id', 'text', (c) => c.primaryKey())
    .addColumn('payment_key', 'text', (c) => c.notNull())
    .addColumn('charge_id', 'text')
    .addColumn('payment_intent_id', 'text')
    .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount >= 0`))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('evidence_due_by', 'timestamptz')
    .addColumn('opened_at', 'timestamptz', (c) => c.notNull())
    .addColumn('stripe_updated_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('disputes_payment_idx').on('disputes').column('payment_key').execute();
  await db.schema.createIndex('disputes_status_idx').on('disputes').columns(['status', 'opened_at']).execute();

  await db.schema
    .createTable('dispute_funds')
    .addColumn('balance_transaction_id', 'text', (c) => c.primaryKey())
    .addColumn('dispute_id', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('dispute_funds_dispute_idx').on('dispute_funds').column('dispute_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['dispute_funds', 'disputes', 'refunds']) await db.schema.dropTable(table).ifExists().execute();
  await db.schema
    .alterTable('daily_revenue')
    .dropColumn('refunds')
    .dropColumn('disputes_opened')
    .dropColumn('disputed_amount')
    .dropColumn('dispute_withdrawn_amount')
    .dropColumn('dispute_reinstated_amount')
    .execute();
  await db.schema.alterTable('payments').dropColumn('dispute_status').dropColumn('disputed_amount').dropColumn('dispute_withdrawn_amount').execute();
  // Narrowing back fails loudly if an amount no longer fits, rather than truncating money.
  await sql`alter table payments alter column refunded_amount type integer`.execute(db);
  await sql`alter table payments alter column amount type integer`.execute(db);
  await sql`alter table subscriptions alter column amount type integer`.execute(db);
}
