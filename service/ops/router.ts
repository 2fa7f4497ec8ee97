import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Router } from 'express';
import { sql } from 'kysely';
import { z } from 'zod';
import { noQueryParameters } from '../http';
import { readMaintenance } from '../maintenance';
import { type AuthConfig, currentUser, requireRole, requireUser } from '../security';
import { recordAudit } from '../shared/audit';
import type { Clock } from '../shared/clock';
import type { Config } from '../shared/config';
import type { Database } from '../shared/db';
import { AppError, badRequest, conflict } from '../shared/errors';
import type { AlertDispatcher } from '../monitoring/alerts/dispatcher';
import { type Logger, requestContext } from '../shared/logger';
import { redactString } from '../shared/redact';
import type { Store } from '../shared/store';
import { pauseWebhookProcessing, readWebhookPause, resumeWebhookProcessing, type WebhookDeps } from '../webhooks';
import { checkRollups, rebuildRollups } from '../dashboard/rollup-check';
import { replayEvents } from '../reconciliation';
import { exportPaymentTables } from './export';
import { closeRollbackMarker, lastMarker, openMarker, openRollbackMarker, recordMarkerDetails } from './markers';

export interface OpsRouterDeps extends WebhookDeps {
  db: Database;
  store: Store;
  clock: Clock;
  config: Config;
  logger: Logger;
  /** Where `notify` sends the rollback alert (SNS in AWS, the log or a file locally). */
  alerts?: AlertDispatcher;
}

/** What an operator typed: stored and logged redacted, never empty. */
const reason = z.string().trim().min(1).max(200).transform(redactString);
/** What a step reports about itself (an endpoint id, a backup's checksum): small, flat values. */
const details = z.record(z.string().min(1).max(64), z.union([z.string().max(2000), z.number(), z.boolean(), z.null()])).refine((d) => Object.keys(d).length <= 32, 'at most 32 keys');

const pauseBody = z.object({ reason }).strict();
const resumeBody = z.object({ reason: reason.optional() }).strict();
const openMarkerBody = z.object({ reason, scope: z.enum(['app', 'stripe', 'both']), details: details.optional(), notify: z.boolean().optional() }).strict();
const markerDetailsBody = z.object({ details }).strict();
const closeMarkerBody = z.object({ summary: details }).strict();
const backupBody = z.object({}).strict();
/** Event types as Stripe names them; Stripe filters at most 20 per listing. */
const eventTypes = z.array(z.string().regex(/^[a-z_]+(\.[a-z_]+)+$/)).min(1).max(20);
const replayBody = z.object({ since: z.iso.datetime({ offset: true }), dryRun: z.boolean().optional(), types: eventTypes.optional() }).strict();
const rollupsBody = z.object({ mode: z.enum(['check', 'rebuild']), reason: reason.optional() }).strict();
const inboxCheckBody = z.object({ eventIds: z.array(z.string().regex(/^evt_[A-Za-z0-9_]{1,200}$/)).min(1).max(1000) }).strict();
/** Stripe keeps events 30 days. */
const EVENTS_KEPT_MS = 30 * 86_400_000;

function parse<T>(schema: z.ZodType<T>, body: unknown, shape: string): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw badRequest(`Body must be ${shape} (${issue.path.join('.') || 'body'}: ${issue.message})`, 'invalid_body');
  }
  return parsed.data;
}

/** Webhook inbox figures for on-call: what waits (paused or deferred) and what failed. */
async function inboxFigures(db: Database) {
  const row = await db
    .selectFrom('webhook_events')
    .select([
      sql<string>`count(*) filter (where status = 'pending')`.as('pending'),
      sql<string>`count(*) filter (where status = 'failed')`.as('failed'),
      sql<Date | null>`min(stripe_created_at) filter (where status = 'pending')`.as('oldest_pending'),
    ])
    .executeTakeFirstOrThrow();
  return { pendingEvents: Number(row.pending), failedEvents: Number(row.failed), oldestPendingCreatedAt: row.oldest_pending ? new Date(row.oldest_pending).toISOString() : null };
}

/**
 * The operational surface the rollback and restore commands drive over HTTPS (a runner cannot
 * reach the database or Redis): `GET /ops` (state at a glance), `POST /webhooks/pause` and
 * `/resume` (resume drains what was stored, in Stripe order), and the rollback marker
 * (`POST /ops/rollback-marker`, `PATCH` to record a step, `POST /ops/rollback-marker/close`); and
 * the database work of the `--env local` commands, which only the service may do while it holds an
 * embedded database (`/ops/backup`, `/ops/replay`, `/ops/rollups`).
 * Admin role; every change is audited with its actor and reason.
 */
export function opsRouter(deps: OpsRouterDeps): Router {
  const router = Router();
  const auth: AuthConfig = deps.config.auth;
  const admin = [requireUser(auth), requireRole('admin'), noQueryParameters()];
  const audit = async (actor: string, action: string, target: string, auditDetails: Record<string, unknown>) => {
    await recordAudit(deps.db, { actor, action, target, details: auditDetails, requestId: requestContext.getStore()?.requestId ?? null });
  };

  router.get('/ops', ...admin, async (_req, res) => {
    const [maintenance, pause, inbox, open, last] = await Promise.all([
      readMaintenance(deps.store, deps.clock.now()),
      readWebhookPause(deps.store),
      inboxFigures(deps.db),
      openMarker(deps.db),
      lastMarker(deps.db),
    ]);
    res.json({
      service: { version: deps.config.version, environment: deps.config.env, stripeMode: deps.config.stripe.mode },
      maintenance,
      webhooks: { ...pause, ...inbox },
      rollback: { open, last },
    });
  });

  router.post('/webhooks/pause', ...admin, async (req, res) => {
    const body = parse(pauseBody, req.body, '{"reason": string (1-200 chars)}');
    const actor = currentUser(res).id;
    const before = await readWebhookPause(deps.store);
    // Pausing again keeps the first pause (its reason and since): a rollback that resumes is not a new pause.
    const state = before.paused ? before : await pauseWebhookProcessing(deps.store, { reason: body.reason, now: deps.clock.now() });
    await audit(actor, 'webhooks.pause', 'payments:webhooks', { reason: body.reason, alreadyPaused: before.paused });
    deps.logger.warn('webhook processing paused', { actor, reason: body.reason, alreadyPaused: before.paused });
    res.json({ ...state, alreadyPaused: before.paused });
  });

  router.post('/webhooks/resume', ...admin, async (req, res) => {
    const body = parse(resumeBody, req.body, '{"reason"?: string (1-200 chars)}');
    const actor = currentUser(res).id;
    const before = await readWebhookPause(deps.store);
    const drain = await resumeWebhookProcessing(deps);
    const after = await inboxFigures(deps.db);
    await audit(actor, 'webhooks.resume', 'payments:webhooks', { reason: body.reason ?? null, wasPaused: before.paused, drain });
    deps.logger.warn('webhook processing resumed', { actor, reason: body.reason, wasPaused: before.paused, ...drain });
    res.json({ paused: false, wasPaused: before.paused, drain, ...after });
  });

  router.post('/ops/rollback-marker', ...admin, async (req, res) => {
    const body = parse(openMarkerBody, req.body, '{"reason": string (1-200 chars), "scope": "app" | "stripe" | "both", "details"?: {key: string | number | boolean | null}, "notify"?: boolean}');
    const actor = currentUser(res).id;
    const { marker, created } = await openRollbackMarker(deps.db, { scope: body.scope, reason: body.reason, actor, details: body.details });
    await audit(actor, created ? 'rollback.marker.open' : 'rollback.marker.resume', `ops_marker:${marker.id}`, { reason: body.reason, scope: body.scope });
    deps.logger.warn(created ? 'rollback marker opened' : 'rollback marker already open: resuming it', { actor, markerId: marker.id, reason: body.reason, scope: marker.scope });
    // On-call hears of a rollback once, when it starts (a resumed run does not page again).
    const notified = created && body.notify === true && deps.alerts?.enabled === true;
    if (notified) {
      deps.alerts!.notify('rollback_started', {
        message: `Rollback ${marker.id} (${marker.scope}) started by ${actor}: ${marker.reason}`,
        details: { markerId: marker.id, scope: marker.scope, reason: marker.reason, actor, openedAt: marker.openedAt },
      });
    }
    res.status(created ? 201 : 200).json({ marker, created, notified });
  });

  // Local stacks only (OPS_BACKUP_DIR): the service is the one process that may open its embedded
  // database, so a rollback's backup of it is written here. Deployed stacks take an RDS snapshot.
  router.post('/ops/backup', ...admin, async (req, res) => {
    parse(backupBody, req.body, '{} (no options)');
    const dir = deps.config.opsBackupDir;
    if (!dir) throw new AppError('This service writes no backups: take an RDS snapshot (npm run rollback does), or run npm run backup where the database is', { code: 'backups_not_enabled', status: 501 });
    const actor = currentUser(res).id;
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `payments-${deps.clock.now().toISOString().replace(/[:.]/g, '-')}.jsonl.gz`);
    const summary = await exportPaymentTables(deps.db, file, deps.clock.now());
    const rows = Object.values(summary.tables).reduce((n, t) => n + t.rows, 0);
    await audit(actor, 'ops.backup', 'payments:database', { file, sha256: summary.sha256, rows });
    res.status(201).json({ ...summary, rows });
  });

  // Replays Stripe's events since a time through the idempotent path (a restore after a disabled
  // endpoint): runs in the service, which reaches the database wherever it is.
  router.post('/ops/replay', ...admin, async (req, res) => {
    const body = parse(replayBody, req.body, '{"since": ISO time within the last 30 days, "dryRun"?: boolean, "types"?: [event type (1-20)]}');
    const actor = currentUser(res).id;
    const since = new Date(body.since);
    const now = deps.clock.now().getTime();
    if (since.getTime() > now || since.getTime() < now - EVENTS_KEPT_MS) throw badRequest('since must be within the last 30 days (Stripe keeps events 30 days)', 'invalid_since');
    const summary = await replayEvents(deps, { since, dryRun: body.dryRun === true, ...(body.types ? { types: body.types } : {}) });
    await audit(actor, 'ops.replay', 'payments:webhooks', { since: since.toISOString(), types: body.types ?? null, ...summary, failures: summary.failures.length });
    res.json(summary);
  });

  // Compares the dashboard's rollups with the ledger (`check`, read only) or repairs what differs
  // (`rebuild`): `npm run rollups -- --env local`, run by the one process that may open an embedded database.
  router.post('/ops/rollups', ...admin, async (req, res) => {
    const body = parse(rollupsBody, req.body, '{"mode": "check" | "rebuild", "reason"?: string (1-200 chars)}');
    const actor = currentUser(res).id;
    const report = body.mode === 'check' ? await checkRollups(deps.db) : await rebuildRollups(deps.db);
    await audit(actor, `ops.rollups.${body.mode}`, 'payments:rollups', {
      reason: body.reason ?? null,
      rowsCompared: report.rowsCompared,
      differences: report.differences.length,
      peopleDifferences: report.peopleDifferences.length,
    });
    if (body.mode === 'rebuild') deps.logger.warn('rollups rebuilt', { actor, reason: body.reason, repaired: report.differences.length + report.peopleDifferences.length });
    res.json({ mode: body.mode, ...report });
  });

  // Which of these Stripe event ids the inbox lacks, and which it holds but has not finished (a
  // restore's proof that nothing since the marker was lost).
  router.post('/ops/inbox-check', ...admin, async (req, res) => {
    const body = parse(inboxCheckBody, req.body, '{"eventIds": [evt_… (1-1000)]}');
    const rows = await deps.db.selectFrom('webhook_events').select(['event_id', 'status']).where('event_id', 'in', body.eventIds).execute();
    const status = new Map(rows.map((r) => [r.event_id, r.status]));
    res.json({
      checked: body.eventIds.length,
      missing: body.eventIds.filter((id) => !status.has(id)),
      unfinished: rows.filter((r) => r.status === 'pending' || r.status === 'failed').map((r) => ({ eventId: r.event_id, status: r.status })),
    });
  });

  router.patch('/ops/rollback-marker', ...admin, async (req, res) => {
    const body = parse(markerDetailsBody, req.body, '{"details": {key: string | number | boolean | null}}');
    const actor = currentUser(res).id;
    const marker = await recordMarkerDetails(deps.db, body.details);
    if (!marker) throw conflict('No rollback marker is open', 'no_open_rollback_marker');
    await audit(actor, 'rollback.marker.step', `ops_marker:${marker.id}`, body.details);
    res.json({ marker });
  });

  router.post('/ops/rollback-marker/close', ...admin, async (req, res) => {
    const body = parse(closeMarkerBody, req.body, '{"summary": {key: string | number | boolean | null}}');
    const actor = currentUser(res).id;
    const marker = await closeRollbackMarker(deps.db, { actor, summary: body.summary });
    if (!marker) throw conflict('No rollback marker is open', 'no_open_rollback_marker');
    await audit(actor, 'rollback.marker.close', `ops_marker:${marker.id}`, body.summary);
    deps.logger.warn('rollback marker closed', { actor, markerId: marker.id });
    res.json({ marker });
  });

  return router;
}
