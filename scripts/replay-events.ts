/**
 * replay-events: re-applies Stripe events from the Events API (`/v1/events`, last 30 days) through
 * the webhook handler's idempotent path — how events missed while the endpoint was disabled or
 * failing come back. Already applied events are counted and skipped.
 *
 *   npm run replay-events -- --since 2026-11-01T00:00:00Z [--types invoice.payment_failed,...] [--dry-run] [--json] [--yes]
 *   npm run replay-events -- --env staging|production --in-cluster --since … [--types …] [--dry-run] [--yes]
 *   npm run replay-events -- --env local --since … [--types …] [--dry-run] [--json] [--who <name>]
 *
 * --env local runs the replay in the stack `npm start` runs (the environment over env/local.env, as
 * `npm start` reads them), through its admin API (`POST /api/admin/payments/ops/replay`, audited)
 * with a 5-minute admin token signed as `ops:<who>`: its service is the one process that may open
 * the embedded database. --env staging|production without --in-cluster is refused: nothing outside
 * the cluster reaches their database.
 * --in-cluster runs the replay where the database is: a one-off task of the service's own task
 * definition (ECS RunTask, its private subnets and security group, the stack's outputs) whose log
 * lines are streamed back; the exit code is the task's.
 *
 * Touches: reads the service configuration from the environment (as `npm run serve` does), reads
 * Stripe events with STRIPE_SECRET_KEY, and writes the service database (webhook inbox, payments,
 * subscriptions, revenue rollup) unless --dry-run. Refuses NODE_ENV=production without --yes.
 * Exit codes: 0 all events applied or already applied; 1 some event failed (or a dependency did);
 * 2 wrong invocation.
 */
import { connectDependencies } from '../service/dependencies';
import { replayEvents, type ReplaySummary } from '../service/reconciliation';
import { loadConfig } from '../service/shared/config';
import { createLogger } from '../service/shared/logger';
import { redact } from '../service/shared/redact';
import { noopObserver } from '../service/shared/observer';
import type { WebhookDeps } from '../service/webhooks';
import { parseFlags, runScript, type ScriptIo, UsageError } from './lib/cli';
import { type InClusterIo, runCommandInCluster } from './lib/in-cluster';
import { type LocalStackIo, localOpsApi } from './lib/local-stack';
import type { OpsApi } from './lib/ops-api';
import { parseWho } from './lib/ops-env';

export { UsageError };

const USAGE = 'usage: npm run replay-events -- [--env local [--who <name>] | --env staging|production --in-cluster] --since <ISO time> [--types a,b] [--dry-run] [--json] [--yes]';
const THIRTY_DAYS_MS = 30 * 86_400_000;

export interface ReplayArgs {
  since: Date;
  types?: string[];
  dryRun: boolean;
  json: boolean;
  yes: boolean;
  /** --env staging|production --in-cluster: run as a one-off task in that stack's cluster. */
  inCluster?: 'staging' | 'production';
  /** --env local: run in the `npm start` stack through its admin API, as `ops:<who>`. */
  local?: { who: string };
}

export function parseReplayArgs(argv: string[], now = new Date(), env: NodeJS.ProcessEnv = {}): ReplayArgs {
  const values = parseFlags(argv, {
    since: { type: 'string' },
    types: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    yes: { type: 'boolean', default: false },
    env: { type: 'string' },
    'in-cluster': { type: 'boolean', default: false },
    who: { type: 'string' },
  });
  if (values.env === 'local' && values['in-cluster']) throw new UsageError('--in-cluster is for --env staging|production; --env local runs the replay in the npm start stack');
  if ((values.env === 'staging' || values.env === 'production') && !values['in-cluster']) {
    throw new UsageError(`--env ${values.env} needs --in-cluster: nothing outside the cluster (a laptop, a runner) reaches the ${values.env} database, so the replay runs there as a one-off task`);
  }
  if (values.who !== undefined && values.env !== 'local') throw new UsageError('--who names the ops token\'s actor: only with --env local');
  if (values.env !== 'local' && values['in-cluster'] !== (values.env !== undefined)) throw new UsageError('--in-cluster and --env staging|production go together (without them the replay runs here, against DATABASE_URL)');
  if (values.env !== undefined && values.env !== 'local' && values.env !== 'staging' && values.env !== 'production') throw new UsageError(`--env must be local, or staging|production with --in-cluster, got ${values.env}`);
  if (values.since === undefined) throw new UsageError('--since is required (an ISO time, e.g. 2026-11-01T00:00:00Z)');
  const since = new Date(values.since);
  if (!/^\d{4}-\d{2}-\d{2}/.test(values.since) || Number.isNaN(since.getTime())) throw new UsageError(`--since is not an ISO time: ${values.since}`);
  if (since.getTime() > now.getTime()) throw new UsageError('--since is in the future');
  if (now.getTime() - since.getTime() > THIRTY_DAYS_MS) {
    throw new UsageError('--since is more than 30 days ago: Stripe keeps events for 30 days; use reconciliation (sync) for older state');
  }
  let types: string[] | undefined;
  if (values.types !== undefined) {
    types = values.types.split(',').map((t) => t.trim()).filter((t) => t !== '');
    if (types.length === 0 || types.length > 20) throw new UsageError('--types takes 1 to 20 comma-separated event types');
    const bad = types.find((t) => !/^[a-z_]+(\.[a-z_]+)+$/.test(t));
    if (bad) throw new UsageError(`--types: not an event type: ${bad}`);
  }
  const where = values.env === 'local' ? { local: { who: parseWho(values.who, env) } } : values.env ? { inCluster: values.env as 'staging' | 'production' } : {};
  return { since, types, dryRun: values['dry-run'], json: values.json, yes: values.yes, ...where };
}

export interface ReplayConnection {
  deps: WebhookDeps;
  close(): Promise<void>;
}

/** Wires the service's own parts from configuration, like `npm run serve`. */
async function connectFromEnv(env: NodeJS.ProcessEnv): Promise<ReplayConnection> {
  const config = loadConfig(env);
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, environment: config.env });
  const { database, store, stripe, close } = await connectDependencies(config, logger, { poolMax: 2 });
  return {
    deps: { db: database.db, stripe, store, config, logger, observer: noopObserver },
    close,
  };
}

function describe(summary: ReplaySummary): string {
  const notes = [
    ...(summary.unmatched ? [`${summary.unmatched} unmatched: no Upiik user`] : []),
    // A service from before the count answers without it.
    ...(summary.superseded ? [`${summary.superseded} superseded by a later state of their subscription in the same second`] : []),
  ];
  const lines = [
    `replay-events${summary.dryRun ? ' (dry run: nothing written)' : ''}:`,
    `  seen            ${summary.seen}`,
    `  ${summary.dryRun ? 'would apply' : 'applied    '}     ${summary.applied}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
    `  already applied ${summary.alreadyApplied}`,
    `  failed          ${summary.failed}`,
    ...summary.failures.map((f) => `    ${f.eventId} ${f.type}: ${f.error}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The replay as a one-off task in the stack's cluster, its log lines streamed to `out`. */
function mainInCluster(argv: string[], env: NodeJS.ProcessEnv, io: InClusterIo): Promise<number> {
  return runCommandInCluster({
    name: 'replay-events',
    usage: USAGE,
    argv,
    env,
    io,
    parse: (a) => {
      const args = parseReplayArgs(a);
      return { ...args, stack: args.inCluster! };
    },
    refuse: (args) => (args.inCluster === 'production' && !args.yes && !args.dryRun ? 'this writes the production database; re-run with --yes (or --dry-run first)' : undefined),
    task: (args) => ({ task: 'replay', args: ['--since', args.since.toISOString(), ...(args.types ? ['--types', args.types.join(',')] : []), ...(args.dryRun ? ['--dry-run'] : [])] }),
  });
}

/** Answers the output as the local run would print it (failure messages redacted). */
function report(summary: ReplaySummary, json: boolean, out: (s: string) => void): number {
  const safe = redact(summary) as ReplaySummary;
  out(json ? `${JSON.stringify(safe)}\n` : describe(safe));
  return safe.failed > 0 ? 1 : 0;
}

/** `--env local`: the replay runs in the `npm start` stack, through its admin API. */
function mainLocal(argv: string[], env: NodeJS.ProcessEnv, io: Pick<ScriptIo<never>, 'stdout' | 'stderr'> & LocalStackIo): Promise<number> {
  return runScript<ReplayArgs, { api: OpsApi; close(): Promise<void> }>({
    name: 'replay-events',
    usage: USAGE,
    argv,
    env,
    io: { ...(io.stdout ? { stdout: io.stdout } : {}), ...(io.stderr ? { stderr: io.stderr } : {}) },
    parse: (a) => parseReplayArgs(a, new Date(), env),
    connect: async () => {
      const args = parseReplayArgs(argv, new Date(), env);
      // A long outage's replay runs inside one request: a generous bound.
      const { api } = await localOpsApi(env, args.local!.who, io);
      return { api, close: async () => undefined };
    },
    run: async (args, connection, out) => {
      const summary = await connection.api.call<ReplaySummary>('POST', '/api/admin/payments/ops/replay', {
        since: args.since.toISOString(),
        dryRun: args.dryRun,
        ...(args.types ? { types: args.types } : {}),
      });
      return report(summary, args.json, out);
    },
  });
}

/** Whether the command line asks for `--env local` (the parser then validates it all). */
const asksLocal = (argv: string[]) => argv.some((a, i) => a === '--env=local' || (a === '--env' && argv[i + 1] === 'local'));

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<ReplayConnection> & { inCluster?: InClusterIo } & LocalStackIo = {}): Promise<number> {
  if (asksLocal(argv)) return mainLocal(argv, env, io);
  if (argv.includes('--in-cluster')) return mainInCluster(argv, env, io.inCluster ?? {});
  return runScript({
    name: 'replay-events',
    usage: USAGE,
    argv,
    env,
    io,
    parse: (a) => parseReplayArgs(a),
    refuse: (args, e) =>
      e.NODE_ENV === 'production' && !args.yes && !args.dryRun ? 'NODE_ENV=production: this writes the production database; re-run with --yes (or --dry-run first)' : undefined,
    connect: connectFromEnv,
    run: async (args, connection, out) => {
      // Failure messages in the summary quote database and Stripe errors: redacted before printing.
      return report(await replayEvents(connection.deps, { since: args.since, types: args.types, dryRun: args.dryRun }), args.json, out);
    },
  });
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
