/**
 * rollups: compares the admin dashboard's rollups with the payment ledger, repairs them, or adds a
 * time zone to them (service/dashboard/rollup-check.ts says how each is safe on a live database).
 *
 *   npm run rollups -- --check [--json]          exit 0 when equal, 1 on any difference (listed)
 *   npm run rollups -- --rebuild [--json] [--yes] repairs what differs; a second run changes nothing
 *   npm run rollups -- --add-zone <IANA zone> [--yes]   the dashboard answers that zone from rollups
 *   npm run rollups -- --env staging|production --in-cluster (--check | --rebuild [--yes])
 *
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

export { UsageError };

const USAGE = 'usage: npm run rollups -- (--check | --rebuild | --add-zone <IANA zone>) [--json] [--yes]   or   --env staging|production --in-cluster (--check | --rebuild [--yes])';

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

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<RollupsConnection> & { inCluster?: InClusterIo } = {}): Promise<number> {
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
