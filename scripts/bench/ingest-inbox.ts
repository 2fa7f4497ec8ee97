/**
 * The inbox as the ingest benchmarks read and fill it, from their own connections: waiting for a
 * run's backlog to be applied, auditing that every acknowledged event was applied exactly once,
 * and filling history for the growth comparison.
 */
import { sql } from 'kysely';
import type Stripe from 'stripe';
import { openDatabase } from '../../service/shared/db';
import { SDK_API_VERSION } from '../../service/shared/stripe-client';
import { isFinal } from '../../service/webhooks/inbox';

/**
 * Waits until the service has applied every delivery it acknowledged (no `pending` row of this run
 * left: the acknowledgement only stores, drains apply), with a generous outer bound; returns how long
 * that took after the load stopped (the backlog a burst leaves).
 */
export async function applied(databaseUrl: string): Promise<number> {
  const handle = await openDatabase({ url: databaseUrl, poolMax: 1 });
  const started = performance.now();
  try {
    const deadline = Date.now() + 900_000;
    for (;;) {
      const row = await handle.db.selectFrom('webhook_events').select((eb) => eb.fn.countAll<string>().as('n')).where('event_id', 'like', 'evt_b%').where('status', '=', 'pending').executeTakeFirstOrThrow();
      if (Number(row.n) === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return (performance.now() - started) / 1000;
  } finally {
    await handle.close();
  }
}

/** Once the backlog is applied, checks every acknowledged id is in the inbox, final and applied once. */
export async function audit(databaseUrl: string, ids: Set<string>): Promise<{ lost: number; doubleApplied: number; notFinal: number }> {
  await applied(databaseUrl);
  const handle = await openDatabase({ url: databaseUrl, poolMax: 2 });
  try {
    const rows = await handle.db.selectFrom('webhook_events').select(['event_id', 'status', 'attempts']).where('event_id', 'like', 'evt_b%').execute();
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    let lost = 0;
    let doubleApplied = 0;
    let notFinal = 0;
    for (const id of ids) {
      const row = byId.get(id);
      if (!row) lost++;
      else if (!isFinal(row.status)) notFinal++;
      else if (row.attempts !== 1) doubleApplied++;
    }
    return { lost, doubleApplied, notFinal };
  } finally {
    await handle.close();
  }
}

/** Fills an inbox with processed history up to `rows` (a real event's payload, spread over 30 days); the rows it then holds. */
export async function fillInbox(url: string, rows: number, template: Stripe.Event): Promise<number> {
  const handle = await openDatabase({ url, poolMax: 2 });
  try {
    const count = async () => Number((await sql<{ n: string }>`select count(*) as n from webhook_events`.execute(handle.db)).rows[0]!.n);
    const have = await count();
    if (rows <= have) return have;
    const payload = JSON.stringify(template);
    await sql`
      insert into webhook_events (event_id, type, api_version, livemode, stripe_created_at, payload, status, attempts, processed_at, duration_ms, received_at)
      select 'evt_fill_' || g, 'invoice.payment_succeeded', ${SDK_API_VERSION}, false, now() - (g % 2592000) * interval '1 second', ${payload}, 'processed', 1,
        now() - (g % 2592000) * interval '1 second', 5, now() - (g % 2592000) * interval '1 second'
      from generate_series(${have + 1}::bigint, ${rows}::bigint) g`.execute(handle.db);
    // What a long-running inbox has had and a bulk fill has not: vacuumed and analysed (else
    // autovacuum starts on the freshly inserted gigabytes during the measurement), and the
    // fill's checkpoint finished (else the first write to each page after it logs the whole
    // page). Measured right after the fill, the acknowledgements paid for the fill, not for
    // the inbox's size (ratios 1.3 to 4.3 across runs). CHECKPOINT needs superuser or pg_checkpoint.
    await sql`vacuum (analyze) webhook_events`.execute(handle.db);
    await sql`checkpoint`.execute(handle.db).catch((error: unknown) => console.error(`no checkpoint after the fill: ${(error as Error).message}`));
    return await count();
  } finally {
    await handle.close();
  }
}
