import { type Kysely, sql } from 'kysely';

/**
 * The admin dashboard's data (service/dashboard/rollups.ts says what the rollups count).
 *
 * - users.is_internal: users every figure leaves out (the release pipeline's smoke-test users).
 * - refunds.user_id, disputes.user_id: whose money a refund or dispute is, recorded with it (a
 *   refund can arrive before its payment row); backfilled from their payment rows.
 * - rollup_zones: the time zones whose business days have rollups (Europe/Paris and UTC).
 * - dashboard_rollups: one row per zone, day, currency and city; backfilled from the ledger here,
 *   in the migration's transaction, so it starts equal to the ledger.
 * - subscriptions.started_at: when the subscription started in Stripe (`start_date`), for the new
 *   subscriptions of a period (created_at is when this service first recorded it); backfilled from
 *   created_at.
 * - subscription_days and user_days: the subscription and user figures by day
 *   (service/dashboard/people-rollups.ts), backfilled here too.
 *
 * The backfill is written out here rather than imported: a migration must keep doing what it did
 * when it shipped, whatever the rollups module becomes (a later change of definition ships its own
 * migration, or `npm run rollups -- --rebuild`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('is_internal', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
  await db.schema.alterTable('refunds').addColumn('user_id', 'text').execute();
  await db.schema.alterTable('disputes').addColumn('user_id', 'text').execute();
  await sql`update refunds r set user_id = p.user_id from payments p where p.payment_key = r.payment_key`.execute(db);
  await sql`update disputes d set user_id = p.user_id from payments p where p.payment_key = d.payment_key`.execute(db);
  await db.schema.createIndex('refunds_user_idx').on('refunds').column('user_id').execute();
  await db.schema.createIndex('disputes_user_idx').on('disputes').column('user_id').execute();
  await db.schema.alterTable('subscriptions').addColumn('started_at', 'timestamptz').execute();
  await sql`update subscriptions set started_at = created_at`.execute(db);
  await db.schema.createIndex('subscriptions_started_idx').on('subscriptions').column('started_at').execute();
  await db.schema.createIndex('subscriptions_canceled_idx').on('subscriptions').column('canceled_at').execute();

  await db.schema
    .createTable('rollup_zones')
    .addColumn('zone', 'text', (c) => c.primaryKey())
    .addColumn('added_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`insert into rollup_zones (zone) values ('Europe/Paris'), ('UTC')`.execute(db);

  await db.schema
    .createTable('dashboard_rollups')
    .addColumn('zone', 'text', (c) => c.notNull())
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('city', 'text', (c) => c.notNull())
    .addColumn('gross_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('payments_succeeded', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('payments_failed', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('refunded_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('refunds', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('disputes_opened', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('disputed_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('dispute_withdrawn_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('dispute_reinstated_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('dashboard_rollups_pk', ['zone', 'day', 'currency', 'city'])
    .execute();

  await sql`
    insert into dashboard_rollups (zone, day, currency, city, gross_amount, payments_succeeded, payments_failed, refunded_amount, refunds,
      disputes_opened, disputed_amount, dispute_withdrawn_amount, dispute_reinstated_amount)
    select z.zone, (m.at at time zone z.zone)::date, m.currency, coalesce(u.city, ''),
      sum(m.g), sum(m.ps), sum(m.pf), sum(m.ra), sum(m.rc), sum(m.dopen), sum(m.damt), sum(m.dw), sum(m.dr)
    from (
      select p.user_id, p.currency, p.occurred_at as at, p.amount as g, 1 as ps, 0 as pf, 0 as ra, 0 as rc, 0 as dopen, 0 as damt, 0 as dw, 0 as dr
        from payments p where p.status in ('succeeded', 'partially_refunded', 'refunded')
      union all
      select p.user_id, p.currency, a.occurred_at, 0, 0, 1, 0, 0, 0, 0, 0, 0
        from payment_attempts a join payments p on p.payment_key = a.payment_key where a.outcome = 'failed'
      union all
      select r.user_id, r.currency, r.refunded_at, 0, 0, 0, r.amount, 1, 0, 0, 0, 0 from refunds r where r.counted
      union all
      select d.user_id, d.currency, d.opened_at, 0, 0, 0, 0, 0, 1, d.amount, 0, 0 from disputes d
      union all
      select d.user_id, f.currency, f.occurred_at, 0, 0, 0, 0, 0, 0, 0, greatest(-f.amount, 0), greatest(f.amount, 0)
        from dispute_funds f join disputes d on d.dispute_id = f.dispute_id
    ) m
    cross join rollup_zones z
    left join users u on u.id = m.user_id
    where not coalesce(u.is_internal, false)
    group by 1, 2, 3, 4`.execute(db);

  // Subscriptions and users by day (service/dashboard/people-rollups.ts): what the dashboard's
  // subscription and user figures read instead of scanning those tables.
  await db.schema
    .createTable('subscription_days')
    .addColumn('zone', 'text', (c) => c.notNull())
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('plan', 'text', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('started', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('started_mrr12', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('ended', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('ended_mrr12', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('canceled', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('premium', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('premium_mrr12', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('subscription_days_pk', ['zone', 'day', 'plan', 'currency'])
    .execute();
  await db.schema
    .createTable('user_days')
    .addColumn('zone', 'text', (c) => c.notNull())
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('signups', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('user_days_pk', ['zone', 'day'])
    .execute();
  const mrr12 = sql`(coalesce(s.amount, 0) * case s.interval when 'month' then 12 when 'week' then 52 when 'day' then 365 else 1 end)`;
  const premium = sql`(s.status in ('active', 'trialing'))`;
  const started = sql`s.started_at is not null and s.status not in ('incomplete', 'incomplete_expired')`;
  await sql`
    insert into subscription_days (zone, day, plan, currency, started, started_mrr12, ended, ended_mrr12, canceled, premium, premium_mrr12)
    select z.zone, (m.at at time zone z.zone)::date, m.plan, m.currency, sum(m.a), sum(m.b), sum(m.c), sum(m.d), sum(m.e), sum(m.f), sum(m.g)
    from (
      select s.user_id, s.started_at as at, s.plan, lower(coalesce(s.currency, 'eur')) as currency, 1 as a, ${mrr12} as b, 0 as c, 0 as d, 0 as e,
          case when ${premium} then 1 else 0 end as f, case when ${premium} then ${mrr12} else 0 end as g
        from subscriptions s where ${started}
      union all
      select s.user_id, s.ended_at, s.plan, lower(coalesce(s.currency, 'eur')), 0, 0, 1, ${mrr12}, 0, 0, 0 from subscriptions s where ${started} and s.ended_at is not null
      union all
      select s.user_id, s.canceled_at, s.plan, lower(coalesce(s.currency, 'eur')), 0, 0, 0, 0, 1, 0, 0 from subscriptions s where ${started} and s.canceled_at is not null
    ) m
    cross join rollup_zones z
    left join users u on u.id = m.user_id
    where not coalesce(u.is_internal, false)
    group by 1, 2, 3, 4`.execute(db);
  await sql`
    insert into user_days (zone, day, signups)
    select z.zone, (u.created_at at time zone z.zone)::date, count(*) from users u cross join rollup_zones z where not u.is_internal group by 1, 2`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('user_days').ifExists().execute();
  await db.schema.dropTable('subscription_days').ifExists().execute();
  await db.schema.dropTable('dashboard_rollups').ifExists().execute();
  await db.schema.dropTable('rollup_zones').ifExists().execute();
  await db.schema.dropIndex('subscriptions_canceled_idx').ifExists().execute();
  await db.schema.alterTable('subscriptions').dropColumn('started_at').execute();
  await db.schema.alterTable('disputes').dropColumn('user_id').execute();
  await db.schema.alterTable('refunds').dropColumn('user_id').execute();
  await db.schema.alterTable('users').dropColumn('is_internal').execute();
}
