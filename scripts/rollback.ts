/**
 * rollback: makes payments safe while a bad release is undone, losing nothing.
 *
 *   npm run rollback -- --env local|staging|production --reason "…" [--scope stripe|app|both]
 *                       [--disable-endpoint] [--maintenance-ttl 3600] [--notify] [--yes] [--json] [--who <name>]
 *
 * Steps, in order, each idempotent (a second run resumes the first: same marker, nothing doubled),
 * each printed with its duration:
 *   1. rollback marker: time, actor, reason (what `npm run restore` replays from and closes);
 *   2. pause webhook processing: deliveries are still verified, stored and answered 2xx, so Stripe
 *      stops retrying and nothing is lost (scope stripe|both);
 *   3. maintenance on: checkout and portal answer 503 with Retry-After (scope stripe|both);
 *   4. backup: locally the service writes an export of its database (service/ops/export.ts); in
 *      AWS an RDS snapshot `<instance>-rollback-<marker>` (an external database: run
 *      `npm run backup` where it is);
 *   5. only with --disable-endpoint: the Stripe endpoint disabled (Stripe does not resend events
 *      created while it is disabled: `npm run restore` replays them from the Events API);
 *   6. notify: with --notify, the service sends the `rollback_started` alert (SNS in AWS) and the
 *      reason becomes the status message users see; without it they see a generic message.
 * --scope app (the pipeline's application rollback) records the marker and the backup and leaves
 * Stripe and payments alone.
 *
 * Touches: the service's admin API over HTTPS (a 5-minute admin token it signs as `ops:<who>`),
 * the Stripe endpoint (--disable-endpoint), RDS (a snapshot, AWS). Production needs --yes or a
 * confirmation typed at a terminal.
 * Exit codes: 0 every step ok; 1 a step failed (the rest still ran where they could; run again to
 * resume); 2 wrong invocation or no confirmation.
 */
import { CreateDBSnapshotCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import type Stripe from 'stripe';
import { WEBHOOK_EVENTS } from '../service/shared/catalog';
import { SDK_API_VERSION } from '../service/shared/stripe-client';
import { servingEndpoint, serviceUrlOf } from '../infra/stripe/webhook-endpoint-rules';
import { parseFlags, runAsEntry, runScript, type ScriptIo, UsageError } from './lib/cli';
import { OpsApi } from './lib/ops-api';
import { type OpsEnvDeps, type OpsEnvName, opsToken, type OpsTarget, parseOpsEnv, parseWho, resolveOpsTarget, stripeFor } from './lib/ops-env';
import { formatDuration, printReport, type ReportRow } from './lib/report';

export { UsageError };

const USAGE =
  'usage: npm run rollback -- --env local|staging|production --reason "<why>" [--scope stripe|app|both] [--disable-endpoint] [--maintenance-ttl <60-86400 s, default 3600>] [--notify] [--yes] [--json] [--who <name>]';

/** What users read on the status endpoint when the reason is not for them (no --notify). */
export const GENERIC_STATUS_MESSAGE = 'Payments are briefly unavailable while we fix a problem. Please try again in a few minutes.';

export interface RollbackArgs {
  env: OpsEnvName;
  reason: string;
  scope: 'stripe' | 'app' | 'both';
  disableEndpoint: boolean;
  maintenanceTtl: number;
  notify: boolean;
  yes: boolean;
  json: boolean;
  who: string;
}

export function parseRollbackArgs(argv: string[], env: NodeJS.ProcessEnv = {}): RollbackArgs {
  const values = parseFlags(argv, {
    env: { type: 'string' },
    reason: { type: 'string' },
    scope: { type: 'string', default: 'both' },
    'disable-endpoint': { type: 'boolean', default: false },
    'maintenance-ttl': { type: 'string', default: '3600' },
    notify: { type: 'boolean', default: false },
    yes: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    who: { type: 'string' },
  });
  const target = parseOpsEnv(values.env);
  const reason = values.reason?.trim();
  if (!reason || reason.length > 200) throw new UsageError('--reason is required: 1-200 characters saying why (it is audited)');
  if (!['stripe', 'app', 'both'].includes(values.scope)) throw new UsageError(`--scope must be stripe, app or both, got ${values.scope}`);
  const ttl = Number(values['maintenance-ttl']);
  if (!/^\d+$/.test(values['maintenance-ttl']) || ttl < 60 || ttl > 86_400) throw new UsageError('--maintenance-ttl must be 60-86400 seconds');
  if (values['disable-endpoint'] && values.scope === 'app') throw new UsageError('--disable-endpoint changes Stripe: not with --scope app');
  const who = parseWho(values.who, env);
  return {
    env: target,
    reason,
    scope: values.scope as RollbackArgs['scope'],
    disableEndpoint: values['disable-endpoint'],
    maintenanceTtl: ttl,
    notify: values.notify,
    yes: values.yes,
    json: values.json,
    who,
  };
}

interface Marker {
  id: number;
  openedAt: string;
  details: Record<string, unknown>;
}

export interface RollbackConnection {
  target: OpsTarget;
  api: OpsApi;
  stripe: Stripe;
  rds?: RDSClient;
  close(): Promise<void>;
}

export interface RollbackResult {
  rows: ReportRow[];
  markerId?: number;
  /** From the trigger to "maintenance on and processing paused" (the ≤ 5 s target). */
  triggerToSafeMs?: number;
}

export async function rollback(args: RollbackArgs, c: RollbackConnection, started = performance.now()): Promise<RollbackResult> {
  const rows: ReportRow[] = [];
  const result: RollbackResult = { rows };
  const step = async (name: string, work: () => Promise<string>, fix: string): Promise<boolean> => {
    const t0 = performance.now();
    try {
      rows.push({ name, ok: true, found: await work(), durationMs: performance.now() - t0 });
      return true;
    } catch (error) {
      rows.push({ name, ok: false, found: (error as Error).message, fix, durationMs: performance.now() - t0 });
      return false;
    }
  };
  const payments = args.scope !== 'app';

  let marker: Marker | undefined;
  let notified = false;
  const opened = await step(
    'rollback marker',
    async () => {
      const answer = await c.api.call<{ marker: Marker; created: boolean; notified: boolean }>('POST', '/api/admin/payments/ops/rollback-marker', { reason: args.reason, scope: args.scope, notify: args.notify });
      marker = answer.marker;
      notified = answer.notified;
      result.markerId = marker.id;
      return answer.created ? `#${marker.id} opened at ${marker.openedAt}` : `#${marker.id} already open since ${marker.openedAt}: resuming it`;
    },
    'the service must answer its admin API: check /health/ready and the JWT secret; nothing else was done',
  );
  if (!opened || !marker) return result;
  const current = marker;

  if (payments) {
    await step('pause webhook processing', async () => {
      const state = await c.api.call<{ alreadyPaused: boolean; since: string }>('POST', '/api/admin/payments/webhooks/pause', { reason: `rollback #${current.id}: ${args.reason}` });
      return state.alreadyPaused ? `already paused since ${state.since}` : 'paused: deliveries are stored and acknowledged';
    }, 'POST /api/admin/payments/webhooks/pause by hand, or set the stripe:webhooks:paused key in Redis');
    await step('maintenance on', async () => {
      const state = await c.api.call<{ until?: string }>('POST', '/api/admin/payments/maintenance', { reason: args.notify ? args.reason : GENERIC_STATUS_MESSAGE, ttlSeconds: args.maintenanceTtl });
      return `checkout and portal answer 503 until ${state.until ?? 'switched off'}`;
    }, 'POST /api/admin/payments/maintenance by hand');
    if (rows.slice(1, 3).every((r) => r.ok)) result.triggerToSafeMs = performance.now() - started;
  }

  await step('backup', async () => {
    if (typeof current.details.backup === 'string') return `already taken: ${current.details.backup}`;
    const taken = await backup(c, current);
    await c.api.call('PATCH', '/api/admin/payments/ops/rollback-marker', { details: taken.details });
    return taken.found;
  }, c.target.env === 'local' ? 'start the local stack with npm start (it enables the service\'s backups), or run npm run backup with DATABASE_URL' : 'check the caller may rds:CreateDBSnapshot; with an external database run npm run backup where the database is');

  if (args.disableEndpoint) {
    await step('disable endpoint', async () => {
      const endpoint = await findEndpoint(c);
      if (endpoint.status === 'disabled') return `${endpoint.id} already disabled`;
      await c.stripe.webhookEndpoints.update(endpoint.id, { disabled: true });
      await c.api.call('PATCH', '/api/admin/payments/ops/rollback-marker', { details: { endpointDisabled: endpoint.id } });
      return `${endpoint.id} disabled: npm run restore re-enables it and replays what Stripe did not send`;
    }, 'disable it in the Stripe Dashboard, then record it: npm run restore re-enables only what the marker names');
  }

  rows.push({
    name: 'notify',
    ok: true,
    found: args.notify ? (notified ? 'rollback_started alert sent; users see the reason as the status message' : 'not sent: this run resumed an open rollback (only its start pages), or alerts are off') : 'not asked (--notify): users see a generic status message',
  });
  return result;
}

async function backup(c: RollbackConnection, marker: Marker): Promise<{ found: string; details: Record<string, string> }> {
  if (c.target.env === 'local') {
    const taken = await c.api.call<{ file: string; sha256: string; rows: number; bytes: number }>('POST', '/api/admin/payments/ops/backup', {});
    return { found: `${taken.file} (${taken.rows} rows, sha256 ${taken.sha256.slice(0, 12)}…)`, details: { backup: taken.file, backupSha256: taken.sha256 } };
  }
  const instance = c.target.aws?.databaseInstanceIdentifier;
  if (!instance || !c.rds) throw new Error('this stack has no RDS instance (external database): its backup is npm run backup where the database is');
  const id = `${instance}-rollback-${marker.id}`;
  try {
    await c.rds.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: instance, DBSnapshotIdentifier: id, Tags: [{ Key: 'rollback-marker', Value: String(marker.id) }] }));
  } catch (error) {
    if ((error as { name?: string }).name !== 'DBSnapshotAlreadyExistsFault') throw error;
  }
  const described = await c.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
  const status = described.DBSnapshots?.[0]?.Status ?? 'unknown';
  return { found: `RDS snapshot ${id} (${status}; it completes in the background)`, details: { backup: `rds-snapshot:${id}` } };
}

async function findEndpoint(c: RollbackConnection): Promise<Stripe.WebhookEndpoint> {
  if (c.target.stripe.endpointId) return c.stripe.webhookEndpoints.retrieve(c.target.stripe.endpointId);
  const all: Stripe.WebhookEndpoint[] = [];
  for await (const e of c.stripe.webhookEndpoints.list({ limit: 100 })) all.push(e);
  const url = serviceUrlOf(c.target.webhookUrl);
  const endpoint = servingEndpoint(all.filter((e) => serviceUrlOf(e.url) === url), { apiVersion: SDK_API_VERSION, events: WEBHOOK_EVENTS });
  if (!endpoint) throw new Error(`no Stripe endpoint for ${url}`);
  return endpoint;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<RollbackConnection> & { opsEnv?: Omit<OpsEnvDeps, 'env'>; rds?: (region: string) => RDSClient } = {}): Promise<number> {
  const started = performance.now();
  let parsed: RollbackArgs | undefined;
  return runScript<RollbackArgs, RollbackConnection>({
    name: 'rollback',
    usage: USAGE,
    argv,
    env,
    io,
    parse: (a) => (parsed = parseRollbackArgs(a, env)),
    refuse: (args) => (args.env === 'production' && !args.yes ? 'a production rollback needs --yes (or a confirmation typed at a terminal)' : undefined),
    connect: async () => {
      const target = await resolveOpsTarget(parsed!.env, { env, ...io.opsEnv });
      const api = new OpsApi(target.serviceUrl, await opsToken(target, parsed!.who));
      const stripe = stripeFor(target, 2);
      const rds = target.aws ? (io.rds?.(target.aws.region) ?? new RDSClient({ region: target.aws.region })) : undefined;
      return { target, api, stripe, ...(rds ? { rds } : {}), close: async () => rds?.destroy() };
    },
    run: async (args, connection, out) => {
      const result = await rollback(args, connection, started);
      const title = `rollback --env ${args.env} --scope ${args.scope}${result.markerId ? ` (marker #${result.markerId})` : ''}`;
      await printReport(result.rows, { title, json: args.json, out, env, extra: { markerId: result.markerId, triggerToSafeMs: result.triggerToSafeMs } });
      if (!args.json) {
        if (result.triggerToSafeMs !== undefined) out(`maintenance on and processing paused ${formatDuration(result.triggerToSafeMs)} after the trigger (target 5 s)\n`);
        out(`undo with: npm run restore -- --env ${args.env}${args.env === 'production' ? ' --yes' : ''}\n`);
      }
      return result.rows.every((r) => r.ok) ? 0 : 1;
    },
  });
}

if (require.main === module) {
  runAsEntry(main, (argv) => {
    const args = parseRollbackArgs(argv, process.env);
    return args.env === 'production' && !args.yes ? `This rolls back PRODUCTION payments (${args.scope}).` : undefined;
  });
}
