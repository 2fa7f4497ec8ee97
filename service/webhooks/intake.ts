import { CompiledQuery } from 'kysely';
import type Stripe from 'stripe';
import type { Database } from '../shared/db';
import { FINAL_STATUSES, type InboxStatus, newInboxRow } from './inbox';

/**
 * Acknowledging a delivery means making it durable, nothing more: the verified event is inserted
 * `pending` (or found already) and the route answers 2xx; a drain applies it right after, through
 * the one exactly-once path (processor.ts). Applying never runs inside an acknowledgement, so
 * neither Stripe's latency, nor a user's row lock, nor the effects' round trips reach Stripe's
 * delivery timeout, and a burst is acknowledged as fast as PostgreSQL commits (issue 15).
 *
 * Group commit: deliveries that arrive while an insert is in flight are written together by the
 * next one, one statement and one commit for the lot. At a trickle each delivery is its own insert
 * (no added wait); under a burst the batch grows with the load. Written here rather than with a
 * batching library: DataLoader and its kind batch what arrives within one tick, whereas a commit
 * takes milliseconds and the batch worth having is what arrived meanwhile.
 */

/** Rows in one insert at most (a burst beyond this is written in several, one after another). */
export const INTAKE_MAX_BATCH = 200;

export interface IntakeResult {
  /** The inbox status after this delivery: `pending` (to be applied by a drain) or a final one (applied already). */
  status: InboxStatus;
  /** True when a drain has work from it: stored new, still pending, or a failed event armed again. */
  pending: boolean;
}

interface Waiting {
  event: Stripe.Event;
  resolve: (result: IntakeResult) => void;
  reject: (err: unknown) => void;
}

export interface Intake {
  accept(event: Stripe.Event): Promise<IntakeResult>;
}

/** The inbox columns an acknowledgement writes, in the order of newInboxRow's values. */
const INSERT_COLUMNS = ['event_id', 'type', 'api_version', 'livemode', 'stripe_created_at', 'payload', 'status'] as const;

/** The batch insert's text per number of rows, built once each (at most INTAKE_MAX_BATCH of them). */
const insertTexts = new Map<number, string>();

/**
 * One statement for a batch of distinct events: a new event is stored pending; a redelivery of an
 * applied one is counted (`duplicate_deliveries`) and keeps its status; a redelivery of a failed
 * one (Stripe's retry after a 5xx) is pending again, with no retry time of the service's own.
 *
 * Its text is built once per batch size and sent as it is (issue 15): compiling the same insert
 * through the query builder for every batch cost the process about 0.3 ms a statement, as much
 * as everything else an acknowledgement does when deliveries trickle in one by one.
 */
function insertText(rows: number): string {
  let text = insertTexts.get(rows);
  if (text === undefined) {
    const width = INSERT_COLUMNS.length;
    const values = Array.from({ length: rows }, (_, r) => `(${INSERT_COLUMNS.map((_, c) => `$${r * width + c + 1}`).join(', ')})`);
    const final = FINAL_STATUSES.map((s) => `'${s}'`).join(', ');
    text =
      `insert into "webhook_events" (${INSERT_COLUMNS.map((c) => `"${c}"`).join(', ')}) values ${values.join(', ')} ` +
      `on conflict ("event_id") do update set ` +
      `"status" = case when webhook_events.status = 'failed' then 'pending' else webhook_events.status end, ` +
      `"retry_at" = case when webhook_events.status = 'failed' then null else webhook_events.retry_at end, ` +
      `"duplicate_deliveries" = webhook_events.duplicate_deliveries + case when webhook_events.status in (${final}) then 1 else 0 end ` +
      `returning "event_id", "status"`;
    insertTexts.set(rows, text);
  }
  return text;
}

async function insertBatch(db: Database, events: Stripe.Event[]): Promise<Map<string, IntakeResult>> {
  const parameters: unknown[] = [];
  for (const event of events) {
    const row = newInboxRow(event, 'pending');
    for (const column of INSERT_COLUMNS) parameters.push(row[column]);
  }
  const { rows } = await db.executeQuery<{ event_id: string; status: string }>(CompiledQuery.raw(insertText(events.length), parameters));
  return new Map(rows.map((row) => [row.event_id, { status: row.status as InboxStatus, pending: row.status === 'pending' }]));
}

/** PostgreSQL refused a value (data exception, class 22, or a constraint, class 23), not the connection or the server. */
function refusedData(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

/** The route's intake; `onBatch` hears how many deliveries each insert writes (the drain's pressure signal). */
export function createIntake(db: Database, maxBatch = INTAKE_MAX_BATCH, onBatch: (size: number) => void = () => undefined): Intake {
  let queue: Waiting[] = [];
  let writing = false;

  /** Writes what waits, batch after batch, until nothing does; one writer per intake. */
  async function write(): Promise<void> {
    writing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, maxBatch);
        queue = queue.slice(batch.length);
        onBatch(batch.length);
        await settle(batch);
      }
    } finally {
      writing = false;
    }
  }

  async function settle(batch: Waiting[]): Promise<void> {
    // One row per event id: ON CONFLICT cannot touch a row twice in one statement, and two
    // deliveries of one event in the same batch get the same answer.
    const byId = new Map<string, Waiting[]>();
    for (const waiting of batch) {
      const same = byId.get(waiting.event.id);
      if (same) same.push(waiting);
      else byId.set(waiting.event.id, [waiting]);
    }
    const distinct = [...byId.values()];
    try {
      const results = await insertBatch(
        db,
        distinct.map((same) => same[0]!.event),
      );
      for (const same of distinct) {
        const result = results.get(same[0]!.event.id);
        for (const waiting of same) {
          if (result) waiting.resolve(result);
          else waiting.reject(new Error(`inbox insert returned no row for ${same[0]!.event.id}`));
        }
      }
    } catch (err) {
      if (distinct.length === 1 || !refusedData(err)) {
        for (const waiting of batch) waiting.reject(err);
        return;
      }
      // One event the database refuses must not fail the deliveries it shared a statement with:
      // each is written on its own (Stripe retries only the ones that fail again).
      for (const same of distinct) await settle(same);
    }
  }

  return {
    accept(event) {
      return new Promise<IntakeResult>((resolve, reject) => {
        queue.push({ event, resolve, reject });
        if (!writing) void write();
      });
    },
  };
}
