import type { Database } from './db';
import { redact, redactString } from './redact';

/** One admin action, rollback or restore, as the audit log keeps it. */
export interface AuditEntry {
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  requestId: string | null;
}

/**
 * The only writer of `audit_log`. Details are stored as redacted jsonb: they carry what admins
 * typed (a maintenance reason) and what Stripe returned, and the audit log outlives every log
 * retention. NUL characters, which jsonb refuses, are replaced rather than failing the action.
 */
export async function recordAudit(db: Database, entry: AuditEntry): Promise<void> {
  const details = JSON.stringify(redact(entry.details), (_key, value: unknown) => (typeof value === 'string' ? value.replace(/\0/g, '\uFFFD') : value));
  await db
    .insertInto('audit_log')
    .values({
      actor: redactString(entry.actor),
      action: entry.action,
      target: entry.target === null ? null : redactString(entry.target),
      details,
      request_id: entry.requestId,
    })
    .execute();
}
