/**
 * restore: undoes `npm run rollback`, and proves nothing was lost.
 *
 *   npm run restore -- --env local|staging|production [--yes] [--json] [--who <name>]
 *
 * Steps, in order, each idempotent (run again after a failure):
 *   1. the open rollback marker (from `GET /api/admin/payments/ops`);
 *   2. re-enable the Stripe endpoint, if the rollback disabled it (the marker says which);
 *   3. replay every Stripe event since the marker (minus 5 minutes for clocks) through the
 *      idempotent path: what Stripe never sent while the endpoint was disabled comes back, what was
 *      applied is counted and skipped;
 *   4. resume webhook processing: what was stored while paused is drained, in Stripe order;
 *   5. maintenance off;
 *   6. `stripe:validate` (every row must pass);
 *   7. every Stripe event id since the marker is in the inbox and finished (0 missing, or the
 *      failure names them);
 *   8. the marker closed, with the counts.
 * Prints replayed / already applied / drained / failed counts.
 *
 * Touches: the service's admin API over HTTPS (a 5-minute admin token it signs as `ops:<who>`; the
 * replay runs in the service, which reaches the database), the Stripe endpoint (re-enabled) and
 * the Events API (read). Production needs --yes or a confirmation typed at a terminal.
 * Exit codes: 0 restored with nothing missing; 1 a step failed or events are missing; 2 wrong
 * invocation or no confirmation.
 */
import type Stripe from 'stripe';
import { WEBHOOK_EVENTS } from '../service/shared/catalog';
import { parseFlags, runAsEntry, runScript, type ScriptIo, UsageError } from './lib/cli';
import { OpsApi } from './lib/ops-api';
import { type OpsEnvDeps, type OpsEnvName, opsToken, type OpsTarget, parseOpsEnv, parseWho, resolveOpsTarget, stripeFor } from './lib/ops-env';
import { printReport, type ReportRow } from './lib/report';
import { validateStripe } from './stripe-validate';

export { UsageError };

const USAGE = 'usage: npm run restore -- --env local|staging|production [--yes] [--json] [--who <name>]';
/** Events a little older than the marker are replayed too: the service's and Stripe's clocks differ. */
export const REPLAY_MARGIN_SECONDS = 300;

export interface RestoreArgs {
  env: OpsEnvName;
  yes: boolean;
  json: boolean;
  who: string;
}

export function parseRestoreArgs(argv: string[], env: NodeJS.ProcessEnv = {}): RestoreArgs {
  const values = parseFlags(argv, { env: { type: 'string' }, yes: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, who: { type: 'string' } });
  const who = parseWho(values.who, env);
  return { env: parseOpsEnv(values.env), yes: values.yes, json: values.json, who };
}

export interface RestoreConnection {
  target: OpsTarget;
  api: OpsApi;
  stripe: Stripe;
  close(): Promise<void>;
}

interface Marker {
  id: number;
  openedAt: string;
  details: Record<string, unknown>;
}
interface ReplaySummary {
  seen: number;
  applied: number;
  alreadyApplied: number;
  failed: number;
  failures: Array<{ eventId: string; error: string }>;
}
interface DrainSummary {
  seen: number;
  applied: number;
  alreadyApplied: number;
  failed: number;
}

export interface RestoreResult {
  rows: ReportRow[];
  markerId?: number;
  counts: { replayed: number; alreadyApplied: number; drained: number; failed: number; missing: number };
}

export async function restore(args: RestoreArgs, c: RestoreConnection): Promise<RestoreResult> {
  const rows: ReportRow[] = [];
  const counts = { replayed: 0, alreadyApplied: 0, drained: 0, failed: 0, missing: 0 };
  const result: RestoreResult = { rows, counts };
  const step = async (name: string, work: () => Promise<string | { ok: false; found: string }>, fix: string): Promise<boolean> => {
    const t0 = performance.now();
    try {
      const done = await work();
      if (typeof done === 'string') rows.push({ name, ok: true, found: done, durationMs: performance.now() - t0 });
      else rows.push({ name, ok: false, found: done.found, fix, durationMs: performance.now() - t0 });
      return typeof done === 'string';
    } catch (error) {
      rows.push({ name, ok: false, found: (error as Error).message, fix, durationMs: performance.now() - t0 });
      return false;
    }
  };

  let marker: Marker | null = null;
  const found = await step('rollback marker', async () => {
    const ops = await c.api.call<{ rollback: { open: Marker | null; last: Marker | null } }>('GET', '/api/admin/payments/ops');
    marker = ops.rollback.open;
    if (marker) result.markerId = marker.id;
    return marker ? `#${marker.id} open since ${marker.openedAt}` : `none open${ops.rollback.last ? ` (#${ops.rollback.last.id} already restored)` : ''}: finishing what is left`;
  }, 'the service must answer its admin API: check /health/ready and the JWT secret');
  if (!found) return result;
  const open = marker as Marker | null;
  const since = open ? new Date(new Date(open.openedAt).getTime() - REPLAY_MARGIN_SECONDS * 1000) : undefined;

  const disabled = typeof open?.details.endpointDisabled === 'string' ? open.details.endpointDisabled : undefined;
  if (disabled) {
    await step('re-enable endpoint', async () => {
      const endpoint = await c.stripe.webhookEndpoints.retrieve(disabled);
      if (endpoint.status === 'enabled') return `${disabled} already enabled`;
      await c.stripe.webhookEndpoints.update(disabled, { disabled: false });
      return `${disabled} enabled: Stripe delivers new events again`;
    }, 'enable it in the Stripe Dashboard and run again');
  }

  if (since) {
    await step('replay events', async () => {
      const summary = await c.api.call<ReplaySummary>('POST', '/api/admin/payments/ops/replay', { since: since.toISOString() });
      counts.replayed = summary.applied;
      counts.alreadyApplied = summary.alreadyApplied;
      counts.failed += summary.failed;
      const text = `${summary.seen} events since ${since.toISOString()}: ${summary.applied} applied, ${summary.alreadyApplied} already applied, ${summary.failed} failed`;
      return summary.failed === 0 ? text : { ok: false, found: `${text} (${summary.failures.slice(0, 5).map((f) => `${f.eventId}: ${f.error}`).join('; ')})` };
    }, 'see the failures (a bug, or a dependency down): fix, then run npm run restore again (applied events are skipped). A marker older than 30 days is past what Stripe keeps: reconcile each user with POST /api/admin/payments/users/:id/sync');
  }

  await step('resume webhook processing', async () => {
    const answer = await c.api.call<{ wasPaused: boolean; drain: DrainSummary; pendingEvents: number }>('POST', '/api/admin/payments/webhooks/resume', { reason: open ? `restore of rollback #${open.id}` : 'restore' });
    counts.drained = answer.drain.applied;
    counts.alreadyApplied += answer.drain.alreadyApplied;
    counts.failed += answer.drain.failed;
    const text = `${answer.wasPaused ? 'resumed' : 'was not paused'}; drained ${answer.drain.seen} stored: ${answer.drain.applied} applied, ${answer.drain.alreadyApplied} already applied, ${answer.drain.failed} failed; ${answer.pendingEvents} still pending`;
    return answer.drain.failed === 0 && answer.pendingEvents === 0 ? text : { ok: false, found: text };
  }, 'failed events stay failed for Stripe\'s retries; see GET /api/admin/payments/ops and the service logs, then run again');

  await step('maintenance off', async () => {
    const answer = await c.api.call<{ wasEnabled: boolean }>('DELETE', '/api/admin/payments/maintenance');
    return answer.wasEnabled ? 'off: checkout and portal open' : 'was already off';
  }, 'DELETE /api/admin/payments/maintenance by hand');

  await step('stripe:validate', async () => {
    const checks = await validateStripe(c.target, { stripe: c.stripe, fetch }, `restore-${open?.id ?? 'none'}`);
    const failed = checks.filter((r) => !r.ok);
    return failed.length === 0 ? `all ${checks.length} checks ok` : { ok: false, found: `failed: ${failed.map((r) => `${r.name} (${r.found})`).join('; ')}` };
  }, 'npm run stripe:validate -- --env <env> shows each failed check with its fix');

  if (since) {
    await step('nothing missing', async () => {
      const ids: string[] = [];
      for await (const event of c.stripe.events.list({ created: { gte: Math.floor(since.getTime() / 1000) }, types: [...WEBHOOK_EVENTS], limit: 100 })) ids.push(event.id);
      const missing: string[] = [];
      const unfinished: string[] = [];
      for (let i = 0; i < ids.length; i += 1000) {
        const answer = await c.api.call<{ missing: string[]; unfinished: Array<{ eventId: string; status: string }> }>('POST', '/api/admin/payments/ops/inbox-check', { eventIds: ids.slice(i, i + 1000) });
        missing.push(...answer.missing);
        unfinished.push(...answer.unfinished.map((u) => `${u.eventId} (${u.status})`));
      }
      counts.missing = missing.length;
      if (ids.length === 0) return 'no Stripe events since the marker';
      if (missing.length + unfinished.length === 0) return `all ${ids.length} Stripe events since the marker are in the inbox and applied`;
      return { ok: false, found: [missing.length && `${missing.length} missing: ${missing.slice(0, 20).join(', ')}`, unfinished.length && `${unfinished.length} not applied: ${unfinished.slice(0, 20).join(', ')}`].filter(Boolean).join('; ') };
    }, 'run npm run restore again (it replays); if they stay missing, npm run replay-events -- --since <marker time> where the database is');
  }

  if (open && rows.every((r) => r.ok)) {
    await step('close marker', async () => {
      await c.api.call('POST', '/api/admin/payments/ops/rollback-marker/close', { summary: { ...counts } });
      return `#${open.id} closed`;
    }, 'POST /api/admin/payments/ops/rollback-marker/close by hand');
  }
  return result;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<RestoreConnection> & { opsEnv?: Omit<OpsEnvDeps, 'env'> } = {}): Promise<number> {
  let parsed: RestoreArgs | undefined;
  return runScript<RestoreArgs, RestoreConnection>({
    name: 'restore',
    usage: USAGE,
    argv,
    env,
    io,
    parse: (a) => (parsed = parseRestoreArgs(a, env)),
    refuse: (args) => (args.env === 'production' && !args.yes ? 'a production restore needs --yes (or a confirmation typed at a terminal)' : undefined),
    connect: async () => {
      const target = await resolveOpsTarget(parsed!.env, { env, ...io.opsEnv });
      // The replay of a long outage runs inside one request: a generous bound.
      const api = new OpsApi(target.serviceUrl, await opsToken(target, parsed!.who), fetch, 300_000);
      const stripe = stripeFor(target, 2);
      return { target, api, stripe, close: async () => undefined };
    },
    run: async (args, connection, out) => {
      const result = await restore(args, connection);
      const ok = result.rows.every((r) => r.ok);
      const title = `restore --env ${args.env}${result.markerId ? ` (marker #${result.markerId})` : ''}`;
      await printReport(result.rows, { title, json: args.json, out, env, extra: { markerId: result.markerId, counts: result.counts } });
      if (!args.json) {
        const n = result.counts;
        out(`replayed ${n.replayed} · already applied ${n.alreadyApplied} · drained ${n.drained} · failed ${n.failed} · missing ${n.missing}\n`);
      }
      return ok ? 0 : 1;
    },
  });
}

if (require.main === module) {
  runAsEntry(main, (argv) => {
    const args = parseRestoreArgs(argv, process.env);
    return args.env === 'production' && !args.yes ? 'This restores PRODUCTION payments.' : undefined;
  });
}
