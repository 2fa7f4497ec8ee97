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
export const FINAL_STATUSES: readonly InboxStatus[] = ['processed', 'ignored', 'unmatched'];

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

/**
 * Inserts the event as pending unless it is known, then locks its row for this transaction.
 * A concurrent transaction inserting the same id waits on the unique index until this one ends,
 * so two deliveries of one event can never both see it unapplied. A row this statement inserted is
 * this transaction's until it ends (nobody else sees it, and an insert of the same id waits), so it
 * needs no second statement to lock it: one round trip for a new event, two for a known one.
 */
export async function claimEvent(trx: Database, event: Stripe.Event, options: { stored?: boolean } = {}): Promise<{ status: string; attempts: number }> {
  const lock = () => trx.selectFrom('webhook_events').select(['status', 'attempts']).where('event_id', '=', event.id).forUpdate().executeTakeFirst();
  // Stored already (the drain's events): lock it; inserted only if it is, after all, not there.
  if (options.stored) {
    const row = await lock();
    if (row) return row;
  }
  const inserted = await trx
    .insertInto('webhook_events')
    .values(newInboxRow(event, 'pending'))
    .onConflict((oc) => oc.column('event_id').doNothing())
    .returning(['status', 'attempts'])
    .executeTakeFirst();
  if (inserted) return inserted;
  const row = await lock();
  if (!row) throw new Error(`inbox row of ${event.id} vanished while it was claimed`);
  return row;
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
 * Records the outcome in the claiming transaction. `asyncCommit`: that transaction commits without
 * waiting for the WAL flush (see processEvent). PostgreSQL reads `synchronous_commit` when the
 * transaction commits, so setting it here, transaction-local, in the statement that runs anyway,
 * saves the round trip a `set local` of its own would cost every drained event.
 */
export async function markOutcome(
  trx: Database,
  eventId: string,
  outcome: { status: InboxStatus; durationMs: number; error?: string | null },
  options: { asyncCommit?: boolean } = {},
): Promise<void> {
  const query = trx
    .updateTable('webhook_events')
    .set({
      status: outcome.status,
      attempts: sql`attempts + 1`,
      last_error: storedError(outcome.error),
      processed_at: sql`clock_timestamp()`,
      duration_ms: Math.round(outcome.durationMs),
      retry_at: null,
    })
    .where('event_id', '=', eventId);
  if (options.asyncCommit) await query.returning(sql<string>`set_config('synchronous_commit', 'off', true)`.as('synchronous_commit')).execute();
  else await query.execute();
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
 * delivery answered 5xx, which Stripe retries.
 */
export async function recordFailure(db: Database, event: Stripe.Event, error: string, durationMs: number, retry: 'stripe' | 'service' = 'stripe'): Promise<void> {
  const lastError = storedError(error);
  const retryAt =
    retry === 'service'
      ? sql<Date | null>`case when webhook_events.received_at > now() - ${RETRY_GIVE_UP}::interval
          then now() + make_interval(secs => least(${RETRY_MAX_SECONDS}, ${RETRY_FIRST_SECONDS} * power(2, least(webhook_events.attempts, 20)))) end`
      : null;
  await db
    .insertInto('webhook_events')
    .values({ ...newInboxRow(event, 'failed'), attempts: 1, last_error: lastError, duration_ms: Math.round(durationMs), retry_at: retry === 'service' ? sql`now() + make_interval(secs => ${RETRY_FIRST_SECONDS})` : null })
    .onConflict((oc) =>
      oc
        .column('event_id')
        .doUpdateSet({ status: 'failed', attempts: sql`webhook_events.attempts + 1`, last_error: lastError, duration_ms: Math.round(durationMs), retry_at: retryAt })
        .where('webhook_events.status', 'not in', [...FINAL_STATUSES]),
    )
    .execute();
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
