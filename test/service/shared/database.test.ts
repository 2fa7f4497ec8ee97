import { Client } from 'pg';
import { sql } from 'kysely';
import { migrateToLatest } from '../../../service/shared/db';
import { createTestDatabase, type TestDatabase } from '../../support/database';

describe('database', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.close();
  });

  it('runs on the real PostgreSQL server when DATABASE_URL is set, else on embedded PGlite', async () => {
    if (process.env.DATABASE_URL) {
      expect(database.backend).toBe('postgres');
      // Seen from an independent connection: the suite's tables live on the real server.
      const client = new Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query("select count(*)::int as n from information_schema.tables where table_name = 'webhook_events'");
        expect(rows[0].n).toBe(1);
        const version = await client.query('select version() as v');
        expect(version.rows[0].v).toMatch(/^PostgreSQL \d+/);
      } finally {
        await client.end();
      }
    } else {
      expect(database.backend).toBe('pglite');
    }
  });

  it('re-running migrations applies nothing new', async () => {
    expect(await migrateToLatest(database.db)).toEqual([]);
  });

  it('allows one Stripe customer per user and one user per Stripe customer', async () => {
    await database.db.insertInto('users').values([{ id: 'u_a', email: null, city: null }, { id: 'u_b', email: null, city: null }]).execute();
    await database.db.insertInto('stripe_customers').values({ user_id: 'u_a', customer_id: 'cus_1' }).execute();
    await expect(database.db.insertInto('stripe_customers').values({ user_id: 'u_a', customer_id: 'cus_2' }).execute()).rejects.toThrow(/duplicate key|unique/i);
    await expect(database.db.insertInto('stripe_customers').values({ user_id: 'u_b', customer_id: 'cus_1' }).execute()).rejects.toThrow(/duplicate key|unique/i);
  });

  it('stores each webhook event id once', async () => {
    const row = {
      event_id: 'evt_dup',
      type: 'invoice.paid',
      api_version: null,
      livemode: false,
      stripe_created_at: new Date(),
      payload: '{}',
      status: 'processed',
      last_error: null,
      processed_at: null,
      duration_ms: null,
    };
    await database.db.insertInto('webhook_events').values(row).execute();
    await expect(database.db.insertInto('webhook_events').values(row).execute()).rejects.toThrow(/duplicate key|unique/i);
  });

  it('refuses negative payment amounts', async () => {
    await expect(
      database.db
        .insertInto('payments')
        .values({
          payment_key: 'in_neg',
          user_id: null,
          customer_id: null,
          invoice_id: 'in_neg',
          payment_intent_id: null,
          subscription_id: null,
          amount: -1,
          currency: 'eur',
          status: 'succeeded',
          failure_code: null,
          failure_message: null,
          occurred_at: new Date(),
          stripe_updated_at: 1,
        })
        .execute(),
    ).rejects.toThrow(/check constraint/i);
  });

  it('keeps the indexes the dashboard and webhooks query by', async () => {
    const { rows } = await sql<{ indexname: string }>`select indexname from pg_indexes where schemaname = current_schema()`.execute(database.db);
    const names = rows.map((r) => r.indexname);
    expect(names).toEqual(
      expect.arrayContaining(['payments_occurred_status_idx', 'webhook_events_status_created_idx', 'webhook_events_received_idx', 'subscriptions_user_idx']),
    );
  });
});
