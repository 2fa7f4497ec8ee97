import { sql } from 'kysely';
import type Stripe from 'stripe';
import type { Database, WebhookEventRow } from '../shared/db';
import { redactString } from '../shared/redact';

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

function newRow(event: Stripe.Event, status: InboxStatus) {
  return {
    event_id: event.id,
    type: event.type,
    api_version: event.api_version ?? null,
    livemode: event.livemode,
    stripe_created_at: new Date(event.created * 1000),
    payload: JSON.stringify(event),
    status,
  };
}

/**
 * Inserts the event as pending unless it is known, then locks its row for this transaction.
 * A concurrent transaction inserting the same id waits on the unique index until this one ends,
 * so two deliveries of one event can never both see it unapplied.
 */
export async function claimEvent(trx: Database, event: Stripe.Event): Promise<{ status: string; attempts: number }> {
  await trx.insertInto('webhook_events').values(newRow(event, 'pending')).onConflict((oc) => oc.column('event_id').doNothing()).execute();
  const row = await trx
    .selectFrom('webhook_events')
    .select(['status', 'attempts'])
    .where('event_id', '=', event.id)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return row;
}

/** Stores a verified event for later (processing paused). A failed event becomes pending again. */
export async function storePending(db: Database, event: Stripe.Event): Promise<{ stored: boolean; status: string }> {
  await db
    .insertInto('webhook_events')
    .values(newRow(event, 'pending'))
    .onConflict((oc) => oc.column('event_id').doUpdateSet({ status: 'pending' }).where('webhook_events.status', '=', 'failed'))
    .execute();
  const row = await db.selectFrom('webhook_events').select('status').where('event_id', '=', event.id).executeTakeFirstOrThrow();
  return { stored: row.status === 'pending', status: row.status };
}

export async function markOutcome(
  trx: Database,
  eventId: string,
  outcome: { status: InboxStatus; durationMs: number; error?: string | null },
): Promise<void> {
  await trx
    .updateTable('webhook_events')
    .set({
      status: outcome.status,
      attempts: sql`attempts + 1`,
      last_error: storedError(outcome.error),
      processed_at: sql`clock_timestamp()`,
      duration_ms: Math.round(outcome.durationMs),
    })
    .where('event_id', '=', eventId)
    .execute();
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

/**
 * Records a failure outside the rolled-back transaction. An event another delivery applied
 * meanwhile keeps its final status.
 */
export async function recordFailure(db: Database, event: Stripe.Event, error: string, durationMs: number): Promise<void> {
  const lastError = storedError(error);
  await db
    .insertInto('webhook_events')
    .values({ ...newRow(event, 'failed'), attempts: 1, last_error: lastError, duration_ms: Math.round(durationMs) })
    .onConflict((oc) =>
      oc
        .column('event_id')
        .doUpdateSet({ status: 'failed', attempts: sql`webhook_events.attempts + 1`, last_error: lastError, duration_ms: Math.round(durationMs) })
        .where('webhook_events.status', 'not in', [...FINAL_STATUSES]),
    )
    .execute();
}

export async function findEvent(db: Database, eventId: string): Promise<WebhookEventRow | undefined> {
  return db.selectFrom('webhook_events').selectAll().where('event_id', '=', eventId).executeTakeFirst();
}

/** Pending events in Stripe order (the drain's order); uses the (status, stripe_created_at) index. */
export async function listPending(db: Database, limit: number, after?: { createdAt: Date; eventId: string }): Promise<WebhookEventRow[]> {
  let query = db.selectFrom('webhook_events').selectAll().where('status', '=', 'pending');
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
