import { type Kysely, sql } from 'kysely';

/**
 * The payment ledger. Constraints carry the invariants the code relies on:
 * one Stripe customer per user (unique both ways), one inbox row per Stripe event id (webhook
 * dedup), one payment row per money movement (payment_key), one rollup row per day and currency.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text')
    .addColumn('city', 'text')
    .addColumn('is_premium', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('users_city_idx').on('users').column('city').execute();

  await db.schema
    .createTable('stripe_customers')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('restrict'))
    .addColumn('customer_id', 'text', (c) => c.notNull().unique())
    .addColumn('livemode', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('subscriptions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('price_id', 'text')
    .addColumn('plan', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('amount', 'integer')
    .addColumn('currency', 'text')
    .addColumn('interval', 'text')
    .addColumn('current_period_end', 'timestamptz')
    .addColumn('cancel_at_period_end', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('canceled_at', 'timestamptz')
    .addColumn('ended_at', 'timestamptz')
    .addColumn('stripe_updated_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('subscriptions_user_idx').on('subscriptions').column('user_id').execute();
  await db.schema.createIndex('subscriptions_status_created_idx').on('subscriptions').columns(['status', 'created_at']).execute();

  await db.schema
    .createTable('payments')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('payment_key', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'text', (c) => c.references('users.id'))
    .addColumn('customer_id', 'text')
    .addColumn('invoice_id', 'text')
    .addColumn('payment_intent_id', 'text')
    .addColumn('subscription_id', 'text')
    .addColumn('amount', 'integer', (c) => c.notNull().check(sql`amount >= 0`))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('failure_code', 'text')
    .addColumn('failure_message', 'text')
    .addColumn('refunded_amount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('stripe_updated_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('payments_user_idx').on('payments').column('user_id').execute();
  await db.schema.createIndex('payments_occurred_status_idx').on('payments').columns(['occurred_at', 'status']).execute();
  // A payment intent that pays an invoice is the same movement as that invoice: find it by either id.
  await db.schema.createIndex('payments_payment_intent_idx').on('payments').column('payment_intent_id').execute();
  await db.schema.createIndex('payments_invoice_idx').on('payments').column('invoice_id').execute();

  await db.schema
    .createTable('webhook_events')
    .addColumn('event_id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('api_version', 'text')
    .addColumn('livemode', 'boolean', (c) => c.notNull())
    .addColumn('stripe_created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('processed_at', 'timestamptz')
    .addColumn('duration_ms', 'integer')
    .execute();
  // Draining paused events in Stripe order, health rates over a window, per-type breakdowns.
  await db.schema.createIndex('webhook_events_status_created_idx').on('webhook_events').columns(['status', 'stripe_created_at']).execute();
  await db.schema.createIndex('webhook_events_received_idx').on('webhook_events').columns(['received_at', 'status']).execute();
  await db.schema.createIndex('webhook_events_type_idx').on('webhook_events').column('type').execute();

  await db.schema
    .createTable('daily_revenue')
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('gross_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('refunded_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('payments_succeeded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('payments_failed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('daily_revenue_pk', ['day', 'currency'])
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('request_id', 'text')
    .execute();
  await db.schema.createIndex('audit_log_at_idx').on('audit_log').column('at').execute();
  await db.schema.createIndex('audit_log_target_idx').on('audit_log').columns(['target', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['audit_log', 'daily_revenue', 'webhook_events', 'payments', 'subscriptions', 'stripe_customers', 'users']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
