import { sql } from 'kysely';
import type Stripe from 'stripe';
import type { Database, WebhookEventRow } from '../shared/db';
import { redactString } from '../shared/redact';
import { eventJson } from './event-schema';

/**
 * Data access for the webhook inbox (`webhook_events`): one row per Stripe event id, carrying the
 * outcome, attempts and timing that the monitoring capability reads as durable metrics.
 */

export type InboxStatus = 'pending' | 'processed' | 'failed' | 'ignored' | 'unmatched';

/** Statuses after which an event is never applied again. */
export type FinalStatus = 'processed' | 'ignored' | 'unmatched';
export const FINAL_STATUSES: readonly FinalStatus[] = ['processed', 'ignored', 'unmatched'];

export function isFinal(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

/** The inbox row of a verified event as it is first stored. */
export function newInboxRow(event: Stripe.Event, status: InboxStatus) {
  return {
    event_id: event.id,
    type: event.type,
    api_version: event.api_version ?? null,
    livemode: event.livemode,
    stripe_created_at: new Date(event.created * 1000),
    payload: eventJson(event),
    status,
  };
}

/** Stores a verified event for later (processing paused). A failed event becomes pending again. */
export async function storePending(db: Database, event: Stripe.Event): Promise<{ stored: boolean; status: string }> {
  await db
    .insertInto('webhook_events')
    .values(newInboxRow(event, 'pending'))
    .onConflict((oc) => oc.column('event_id').doUpdateSet({ status: 'pending', retry_at: null }).where('webhook_events.status', '=', 'failed'))
    .execute();
  const row = await db.selectFrom('webhook_events').select('status').where('event_id', '=', event.id).executeTakeFirstOrThrow();
  return { stored: row.status === 'pending', status: row.status };
}

/**
 * Records the outcome as the last statement of the transaction that applied the event, and says
 * whether that transaction is the one that applies it: false when the row is final already
 * (another transaction applied the event and committed), and the caller rolls back.
 *
 * The inbox row is the last lock the transaction takes. A concurrent application of the same event
 * (two instances' drains, a replay beside a drain) runs its effects too, waits for this row while
 * the first one holds it (its effects also wait on the first one's user and ledger locks), then
 * reads the committed row (PostgreSQL re-checks the condition on the row version it waited for),
 * finds it final and rolls back: applied once. One statement per event where a claim at the start
 * was a second one (a round trip: issue 15), and no lock is taken before the effects' own, so the
 * lock order stays the effects' order.
 *
 * `stored`: the caller read a stored row (the drain's page, a replay's batch read), so the row is
 * updated; otherwise it is inserted with its outcome, or an unfinished row stored meanwhile (an
 * acknowledgement racing a replay) updated. A stored row found neither unfinished nor final (were
 * it ever removed) falls through to the insert.
 *
 * `asyncCommit`: the transaction commits without waiting for the WAL flush (see processEvent).
 * PostgreSQL reads `synchronous_commit` when the transaction commits, so setting it here,
 * transaction-local, in the statement that runs anyway, saves the round trip a `set local` of its
 * own would cost every drained event.
 */
export async function settleEvent(
  trx: Database,
  event: Stripe.Event,
  outcome: { status: FinalStatus; durationMs: number; error?: string | null },
  options: { stored?: boolean; asyncCommit?: boolean } = {},
): Promise<boolean> {
  const result = {
    status: outcome.status,
    last_error: storedError(outcome.error),
    processed_at: sql<Date>`clock_timestamp()`,
    duration_ms: Math.round(outcome.durationMs),
    retry_at: null,
  };
  const again = { ...result, attempts: sql<number>`webhook_events.attempts + 1` };
  const returned = options.asyncCommit ? sql<string>`set_config('synchronous_commit', 'off', true)` : sql<string>`event_id`;
  if (options.stored) {
    const updated = await trx
      .updateTable('webhook_events')
      .set(again)
      .where('event_id', '=', event.id)
      .where('status', 'not in', [...FINAL_STATUSES])
      .returning(returned.as('settled'))
      .executeTakeFirst();
    if (updated) return true;
  }
  const inserted = await trx
    .insertInto('webhook_events')
    .values({ ...newInboxRow(event, outcome.status), ...result, attempts: 1 })
    .onConflict((oc) =>
      oc
        .column('event_id')
        .doUpdateSet(again)
        .where('webhook_events.status', 'not in', [...FINAL_STATUSES]),
    )
    .returning(returned.as('settled'))
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function countDuplicate(trx: Database, eventId: string): Promise<void> {
  await trx
    .updateTable('webhook_events')
    .set({ duplicate_deliveries: sql`duplicate_deliveries + 1` })
    .where('event_id', '=', eventId)
    .execute();
}

/**
 * Error text as the inbox keeps it: redacted before it is cut (a cut can split a secret into a
 * piece no rule recognises), without the NUL characters a text column refuses.
 */
function storedError(error: string | null | undefined): string | null {
  if (error === null || error === undefined) return null;
  return redactString(error).replace(/\0/g, '\uFFFD').slice(0, 2000);
}

/** The service's retries of what it acknowledged: 10 s after the first failure, doubling, at most hourly. */
const RETRY_FIRST_SECONDS = 10;
const RETRY_MAX_SECONDS = 3600;
/** After this long since it was received, the service stops retrying (as Stripe stops after three days). */
const RETRY_GIVE_UP = '3 days';

/**
 * Records a failure outside the rolled-back transaction. An event another delivery applied
 * meanwhile keeps its final status. `retry: 'service'` for an event the service acknowledged before
 * applying it (Stripe will not redeliver it): the row gets its next attempt time (`retry_at`),
 * backing off with its attempts, until three days after it was received. `'stripe'`: a live
 * delivery answered 5xx, which Stripe retries. Says whether the row now records the failure: false
 * when it is final (the event was applied, by another delivery, while this one failed).
 */
export async function recordFailure(db: Database, event: Stripe.Event, error: string, durationMs: number, retry: 'stripe' | 'service' = 'stripe'): Promise<boolean> {
  const lastError = storedError(error);
  const retryAt =
    retry === 'service'
      ? sql<Date | null>`case when webhook_events.received_at > now() - ${RETRY_GIVE_UP}::interval
          then now() + make_interval(secs => least(${RETRY_MAX_SECONDS}, ${RETRY_FIRST_SECONDS} * power(2, least(webhook_events.attempts, 20)))) end`
      : null;
  const row = await db
    .insertInto('webhook_events')
    .values({ ...newInboxRow(event, 'failed'), attempts: 1, last_error: lastError, duration_ms: Math.round(durationMs), retry_at: retry === 'service' ? sql`now() + make_interval(secs => ${RETRY_FIRST_SECONDS})` : null })
    .onConflict((oc) =>
      oc
        .column('event_id')
        .doUpdateSet({ status: 'failed', attempts: sql`webhook_events.attempts + 1`, last_error: lastError, duration_ms: Math.round(durationMs), retry_at: retryAt })
        .where('webhook_events.status', 'not in', [...FINAL_STATUSES]),
    )
    .returning('event_id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Ids read per statement by storedStatuses. */
const STATUS_BATCH = 1000;

/** The inbox status of each of these events that is stored (absent ids: not stored). */
export async function storedStatuses(db: Database, eventIds: readonly string[]): Promise<Map<string, string>> {
  const statuses = new Map<string, string>();
  for (let i = 0; i < eventIds.length; i += STATUS_BATCH) {
    const rows = await db.selectFrom('webhook_events').select(['event_id', 'status']).where('event_id', 'in', eventIds.slice(i, i + STATUS_BATCH)).execute();
    for (const row of rows) statuses.set(row.event_id, row.status);
  }
  return statuses;
}

export async function findEvent(db: Database, eventId: string): Promise<WebhookEventRow | undefined> {
  return db.selectFrom('webhook_events').selectAll().where('event_id', '=', eventId).executeTakeFirst();
}

/**
 * What the service applies on its own, in Stripe order (the drain's order): pending events, and
 * failed ones it acknowledged whose retry time has come. Uses the (status, stripe_created_at) index
 * and the partial retry index.
 */
export async function listDue(db: Database, limit: number, after?: { createdAt: Date; eventId: string }): Promise<WebhookEventRow[]> {
  let query = db
    .selectFrom('webhook_events')
    .selectAll()
    .where((eb) => eb.or([eb('status', '=', 'pending'), eb.and([eb('status', '=', 'failed'), eb('retry_at', '<=', sql<Date>`now()`)])]));
  if (after) {
    query = query.where((eb) =>
      eb.or([
        eb('stripe_created_at', '>', after.createdAt),
        eb.and([eb('stripe_created_at', '=', after.createdAt), eb('event_id', '>', after.eventId)]),
      ]),
    );
  }
  return query.orderBy('stripe_created_at').orderBy('event_id').limit(limit).execute();
}
