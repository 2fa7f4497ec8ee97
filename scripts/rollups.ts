/**
 * rollups: compares the admin dashboard's rollups with the payment ledger, repairs them, or adds a
 * time zone to them (service/dashboard/rollup-check.ts says how each is safe on a live database).
 *
 *   npm run rollups -- --check [--json]          exit 0 when equal, 1 on any difference (listed)
 *   npm run rollups -- --rebuild [--json] [--yes] repairs what differs; a second run changes nothing
 *   npm run rollups -- --add-zone <IANA zone> [--yes]   the dashboard answers that zone from rollups
 *   npm run rollups -- --env staging|production --in-cluster (--check | --rebuild [--yes])
 *   npm run rollups -- --env local (--check | --rebuild) [--json] [--reason "…"] [--who <name>]
 *
 * --env local runs --check or --rebuild in the stack `npm start` runs (the environment over
 * env/local.env), through its admin API (`POST /api/admin/payments/ops/rollups`, audited with the
 * actor and the reason, a 5-minute token signed as `ops:<who>`): its service is the one process that
 * may open the embedded database, so `npm start` keeps running. --env staging|production without
 * --in-cluster is refused: nothing outside the cluster reaches their database.
 * --in-cluster runs --check or --rebuild where the database is: a one-off task of the service's own
 * task definition (scripts/lib/in-cluster.ts), its log lines streamed back, its exit code the command's.
 *
 * Touches: the service database only, found as `npm run serve` finds it (DATABASE_URL, or
 * DATABASE_HOST and the RDS parts, read through the service configuration), else the local stack's
 * embedded database (PGLITE_DIR, default .data/pglite: stop `npm start` first, an embedded database
 * has one process at a time). --check reads only. --rebuild and --add-zone write dashboard_rollups
 * (and rollup_zones) and refuse NODE_ENV=production without --yes.
 * Exit codes: 0 done (or equal); 1 differences found by --check, or a failure; 2 wrong invocation.
 */
import { addRollupZone, checkRollups, rebuildRollups, type RollupReport } from '../service/dashboard/rollup-check';
import { isTimeZone } from '../service/dashboard/query';
import { parseFlags, runScript, type ScriptIo, UsageError } from './lib/cli';
import { connectDatabaseFromEnv, type DatabaseConnection } from './lib/database';
import { type InClusterIo, runCommandInCluster } from './lib/in-cluster';
import { type LocalStackIo, localOpsApi } from './lib/local-stack';
import type { OpsApi } from './lib/ops-api';
import { parseWho } from './lib/ops-env';

export { UsageError };

const USAGE =
  'usage: npm run rollups -- (--check | --rebuild | --add-zone <IANA zone>) [--json] [--yes]   or   --env local (--check | --rebuild) [--json] [--reason "<why>"] [--who <name>]   or   --env staging|production --in-cluster (--check | --rebuild [--yes])';

export type RollupsArgs = { action: 'check' | 'rebuild'; json: boolean; yes: boolean } | { action: 'add-zone'; zone: string; json: boolean; yes: boolean };

export function parseRollupsArgs(argv: string[]): RollupsArgs {
  const values = parseFlags(argv, {
    check: { type: 'boolean', default: false },
    rebuild: { type: 'boolean', default: false },
    'add-zone': { type: 'string' },
    json: { type: 'boolean', default: false },
    yes: { type: 'boolean', default: false },
  });
  const chosen = [values.check && 'check', values.rebuild && 'rebuild', values['add-zone'] !== undefined && 'add-zone'].filter(Boolean);
  if (chosen.length !== 1) throw new UsageError('give exactly one of --check, --rebuild, --add-zone <zone>');
  if (values['add-zone'] !== undefined) {
    const zone = values['add-zone'];
    if (!isTimeZone(zone)) throw new UsageError(`--add-zone: not an IANA time zone: ${zone}`);
    return { action: 'add-zone', zone, json: values.json, yes: values.yes };
  }
  return { action: values.check ? 'check' : 'rebuild', json: values.json, yes: values.yes };
}

export type RollupsConnection = DatabaseConnection;

function describe(action: 'check' | 'rebuild', report: RollupReport): string {
  const lines = [`rollups ${action}: zones ${report.zones.join(', ')}; ${report.rowsCompared} rows compared; ${report.differences.length} ${action === 'check' ? 'differ' : 'repaired'}`];
  for (const d of report.differences.slice(0, 50)) {
    const columns = Object.entries(d.columns).map(([c, v]) => `${c} ${v.stored} -> ${v.ledger}`);
    lines.push(`  ${d.zone} ${d.day} ${d.currency} ${d.city === '' ? '(no city)' : d.city}: ${columns.join(', ')}`);
  }
  if (report.differences.length > 50) lines.push(`  ... and ${report.differences.length - 50} more (--json lists all)`);
  lines.push(`rollups ${action}: subscription and user rollups: ${report.peopleDifferences.length} rows ${action === 'check' ? 'differ' : 'repaired'}`);
  for (const d of report.peopleDifferences.slice(0, 50)) {
    const columns = Object.entries(d.columns).map(([c, v]) => `${c} ${v.stored} -> ${v.computed}`);
    lines.push(`  ${d.table} ${Object.values(d.key).join(' ')}: ${columns.join(', ')}`);
  }
  if (action === 'check' && report.differences.length + report.peopleDifferences.length > 0) lines.push('  repair: npm run rollups -- --rebuild');
  return `${lines.join('\n')}\n`;
}

/** `--env staging|production --in-cluster (--check | --rebuild [--yes])`. */
export function parseInClusterRollupsArgs(argv: string[]): { stack: 'staging' | 'production'; rebuild: boolean; yes: boolean } {
  const values = parseFlags(argv, {
    env: { type: 'string' },
    'in-cluster': { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    rebuild: { type: 'boolean', default: false },
    yes: { type: 'boolean', default: false },
  });
  if (values.env !== 'staging' && values.env !== 'production') throw new UsageError(`--in-cluster needs --env staging|production, got ${values.env ?? 'none'}`);
  if (values.check === values.rebuild) throw new UsageError('--in-cluster runs exactly one of --check, --rebuild');
  return { stack: values.env, rebuild: values.rebuild, yes: values.yes };
}

export interface LocalRollupsArgs {
  env: 'local' | 'staging' | 'production';
  mode: 'check' | 'rebuild';
  json: boolean;
  reason?: string;
  who: string;
}

/** `--env local (--check | --rebuild)`; a deployed stack without --in-cluster is a usage error saying what to add. */
export function parseLocalRollupsArgs(argv: string[], env: NodeJS.ProcessEnv = {}): LocalRollupsArgs {
  const values = parseFlags(argv, {
    env: { type: 'string' },
    check: { type: 'boolean', default: false },
    rebuild: { type: 'boolean', default: false },
    'add-zone': { type: 'string' },
    json: { type: 'boolean', default: false },
    yes: { type: 'boolean', default: false },
    reason: { type: 'string' },
    who: { type: 'string' },
  });
  if (values.env === 'staging' || values.env === 'production') {
    throw new UsageError(`--env ${values.env} needs --in-cluster: nothing outside the cluster (a laptop, a runner) reaches the ${values.env} database, so --check or --rebuild runs there as a one-off task`);
  }
  if (values.env !== 'local') throw new UsageError(`--env must be local, or staging|production with --in-cluster, got ${values.env ?? 'none'}`);
  if (values['add-zone'] !== undefined) throw new UsageError('--add-zone is not offered through the local service: stop npm start and run it without --env');
  if (values.check === values.rebuild) throw new UsageError('--env local runs exactly one of --check, --rebuild');
  const reason = values.reason?.trim();
  if (values.reason !== undefined && (!reason || reason.length > 200)) throw new UsageError('--reason must be 1-200 characters (it is audited)');
  return { env: 'local', mode: values.check ? 'check' : 'rebuild', json: values.json, ...(reason ? { reason } : {}), who: parseWho(values.who, env) };
}

/** `--env local`: --check or --rebuild in the `npm start` stack, through its admin API. */
function mainLocal(argv: string[], env: NodeJS.ProcessEnv, io: Pick<ScriptIo<never>, 'stdout' | 'stderr'> & LocalStackIo): Promise<number> {
  return runScript<LocalRollupsArgs, { api: OpsApi; close(): Promise<void> }>({
    name: 'rollups',
    usage: USAGE,
    argv,
    env,
    io: { ...(io.stdout ? { stdout: io.stdout } : {}), ...(io.stderr ? { stderr: io.stderr } : {}) },
    parse: (a) => parseLocalRollupsArgs(a, env),
    connect: async () => {
      const { api } = await localOpsApi(env, parseLocalRollupsArgs(argv, env).who, io);
      return { api, close: async () => undefined };
    },
    run: async (args, connection, out) => {
      const answer = await connection.api.call<RollupReport & { mode: 'check' | 'rebuild' }>('POST', '/api/admin/payments/ops/rollups', { mode: args.mode, ...(args.reason ? { reason: args.reason } : {}) });
      const { mode: _mode, ...report } = answer;
      out(args.json ? `${JSON.stringify({ action: args.mode, ...report })}\n` : describe(args.mode, report));
      return args.mode === 'check' && report.differences.length + report.peopleDifferences.length > 0 ? 1 : 0;
    },
  });
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<RollupsConnection> & { inCluster?: InClusterIo } & LocalStackIo = {}): Promise<number> {
  // --env without --in-cluster: the local stack (or a refusal saying to add --in-cluster).
  if (!argv.includes('--in-cluster') && argv.some((a) => a === '--env' || a.startsWith('--env='))) return mainLocal(argv, env, io);
  if (argv.includes('--in-cluster')) {
    return runCommandInCluster({
      name: 'rollups',
      usage: USAGE,
      argv,
      env,
      io: io.inCluster ?? {},
      parse: parseInClusterRollupsArgs,
      refuse: (args) => (args.rebuild && args.stack === 'production' && !args.yes ? '--rebuild writes the production database; run --check first, then re-run with --yes' : undefined),
      task: (args) => ({ task: 'rollups', args: [args.rebuild ? '--rebuild' : '--check'] }),
    });
  }
  return runScript({
    name: 'rollups',
    usage: USAGE,
    argv,
    env,
    io,
    parse: parseRollupsArgs,
    refuse: (args, e) =>
      args.action !== 'check' && e.NODE_ENV === 'production' && !args.yes
        ? `NODE_ENV=production: --${args.action} writes the production database; run --check first, then re-run with --yes`
        : undefined,
    connect: connectDatabaseFromEnv,
    run: async (args, connection, out) => {
      if (args.action === 'add-zone') {
        const added = await addRollupZone(connection.db, args.zone);
        out(args.json ? `${JSON.stringify({ zone: args.zone, added })}\n` : `rollups: ${args.zone} ${added ? 'added and filled from the ledger' : 'already has rollups; nothing changed'}\n`);
        return 0;
      }
      const report = args.action === 'check' ? await checkRollups(connection.db) : await rebuildRollups(connection.db);
      out(args.json ? `${JSON.stringify({ action: args.action, ...report })}\n` : describe(args.action, report));
      return args.action === 'check' && report.differences.length + report.peopleDifferences.length > 0 ? 1 : 0;
    },
  });
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
