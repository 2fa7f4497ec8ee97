import { sql } from 'kysely';
import type { Database } from '../shared/db';
import { redact } from '../shared/redact';

export type RollbackScope = 'app' | 'stripe' | 'both';

/** A rollback marker as the admin API shows it. */
export interface RollbackMarker {
  id: number;
  scope: RollbackScope;
  reason: string;
  openedBy: string;
  openedAt: string;
  /** What the rollback's steps recorded (the endpoint they disabled, the backup they took). */
  details: Record<string, unknown>;
  closedBy: string | null;
  closedAt: string | null;
  closeSummary: Record<string, unknown> | null;
}

const json = (value: unknown): Record<string, unknown> | null => (value === null || value === undefined ? null : ((typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>));

const COLUMNS = ['id', 'scope', 'reason', 'opened_by', 'opened_at', 'details', 'closed_by', 'closed_at', 'close_summary'] as const;

function toMarker(row: {
  id: string | number | bigint;
  scope: RollbackScope;
  reason: string;
  opened_by: string;
  opened_at: Date;
  details: unknown;
  closed_by: string | null;
  closed_at: Date | null;
  close_summary: unknown;
}): RollbackMarker {
  return {
    id: Number(row.id),
    scope: row.scope,
    reason: row.reason,
    openedBy: row.opened_by,
    openedAt: new Date(row.opened_at).toISOString(),
    details: json(row.details) ?? {},
    closedBy: row.closed_by,
    closedAt: row.closed_at === null ? null : new Date(row.closed_at).toISOString(),
    closeSummary: json(row.close_summary),
  };
}

/** What is stored is redacted: markers hold what operators typed and what the steps reported. */
const stored = (value: Record<string, unknown>): string => JSON.stringify(redact(value));

/** The open rollback marker, if a rollback has not been restored yet. */
export async function openMarker(db: Database): Promise<RollbackMarker | null> {
  const row = await db.selectFrom('ops_markers').select(COLUMNS).where('kind', '=', 'rollback').where('closed_at', 'is', null).executeTakeFirst();
  return row ? toMarker(row) : null;
}

/** The latest rollback marker, open or closed. */
export async function lastMarker(db: Database): Promise<RollbackMarker | null> {
  const row = await db.selectFrom('ops_markers').select(COLUMNS).where('kind', '=', 'rollback').orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row ? toMarker(row) : null;
}

/**
 * Opens a rollback marker, or returns the one already open (a rollback run again resumes the
 * first: its time is where the restore replays from). `created` says which.
 */
export async function openRollbackMarker(db: Database, input: { scope: RollbackScope; reason: string; actor: string; details?: Record<string, unknown> }): Promise<{ marker: RollbackMarker; created: boolean }> {
  const inserted = await db
    .insertInto('ops_markers')
    .values({ kind: 'rollback', scope: input.scope, reason: input.reason, opened_by: input.actor, details: stored(input.details ?? {}) })
    // The partial unique index (one open marker per kind) is the arbiter: a concurrent second
    // rollback gets the first one's marker.
    .onConflict((oc) => oc.column('kind').where('closed_at', 'is', null).doNothing())
    .returning(COLUMNS)
    .executeTakeFirst();
  if (inserted) return { marker: toMarker(inserted), created: true };
  const open = await openMarker(db);
  if (!open) throw new Error('rollback marker: neither created nor open (closed concurrently); try again');
  return { marker: open, created: false };
}

/** Adds what a rollback step did to the open marker (keys merged, later values win); null when none is open. */
export async function recordMarkerDetails(db: Database, details: Record<string, unknown>): Promise<RollbackMarker | null> {
  const row = await db
    .updateTable('ops_markers')
    .set({ details: sql<string>`details || ${stored(details)}::jsonb` })
    .where('kind', '=', 'rollback')
    .where('closed_at', 'is', null)
    .returning(COLUMNS)
    .executeTakeFirst();
  return row ? toMarker(row) : null;
}

/** Closes the open marker (the restore is done); null when none is open. */
export async function closeRollbackMarker(db: Database, input: { actor: string; summary: Record<string, unknown> }): Promise<RollbackMarker | null> {
  const row = await db
    .updateTable('ops_markers')
    .set({ closed_by: input.actor, closed_at: sql<Date>`now()`, close_summary: stored(input.summary) })
    .where('kind', '=', 'rollback')
    .where('closed_at', 'is', null)
    .returning(COLUMNS)
    .executeTakeFirst();
  return row ? toMarker(row) : null;
}
