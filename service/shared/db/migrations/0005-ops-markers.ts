import { type Kysely, sql } from 'kysely';

/**
 * Rollback markers: when a rollback started, who started it, why and what it did (the steps of
 * `npm run rollback` record what they changed: the endpoint they disabled, the backup they took),
 * and when the restore closed it. `npm run restore` replays every Stripe event since the open
 * marker. At most one marker of a kind is open at a time, so a rollback run twice resumes the first.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('ops_markers')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('rollback')`))
    .addColumn('scope', 'text', (c) => c.notNull().check(sql`scope in ('app', 'stripe', 'both')`))
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('opened_by', 'text', (c) => c.notNull())
    .addColumn('opened_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('closed_by', 'text')
    .addColumn('closed_at', 'timestamptz')
    .addColumn('close_summary', 'jsonb')
    .execute();
  await sql`create unique index ops_markers_one_open on ops_markers (kind) where closed_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('ops_markers').execute();
}
