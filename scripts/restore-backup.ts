/**
 * restore-backup: checks an export (`npm run backup`) and loads it into an empty database.
 *
 *   npm run restore-backup -- --file <path> --verify [--json]    checks only; touches no database
 *   npm run restore-backup -- --file <path> [--yes] [--json]     loads it into an empty database
 *   npm run restore-backup -- --env local [--file <path>] (--verify | --yes) [--json]
 *
 * --verify recomputes the file's checksum against `<file>.sha256`, and every table's row count and
 * checksum against the export's trailer (a truncated file has none). Loading verifies first, then
 * needs a database on the export's migration whose tables are all empty (a forensic copy, a fresh
 * environment): it never merges into live data. One transaction; sequences follow the loaded ids.
 *
 * Touches: --verify reads the file only. Loading writes the database found as `npm run serve`
 * finds it (DATABASE_URL / DATABASE_HOST), else the local embedded one; NODE_ENV=production needs --yes.
 * --env local: the file defaults to the newest export in the local stack's backup directory
 * (OPS_BACKUP_DIR, .data/backups with `npm start`); loading targets the database `npm start` uses,
 * at rest (DATABASE_URL, else its PGLITE_DIR, default .data/pglite, the environment over
 * env/local.env) and is refused while the local stack answers on its PORT (stop `npm start` first:
 * an embedded database has one process at a time). --env staging|production is refused: their
 * databases are restored from an RDS snapshot, not from this file.
 * Exit codes: 0 verified (or loaded); 1 the file does not verify, or the load failed; 2 wrong invocation.
 */
import { existsSync } from 'node:fs';
import { importExport, verifyExport } from '../service/ops/export';
import { parseFlags, runScript, type ScriptIo, UsageError } from './lib/cli';
import { connectDatabaseFromEnv, type DatabaseConnection } from './lib/database';
import { type LocalStackIo, localBackupDir, localDatabaseLocation, localServiceUrl, localStackAnswers, newestLocalBackup, openLocalDatabase } from './lib/local-stack';

export { UsageError };

const USAGE = 'usage: npm run restore-backup -- --file <path> (--verify | [--yes]) [--json]   or   --env local [--file <path, default the newest in .data/backups>] (--verify | --yes) [--json]';

export interface RestoreBackupArgs {
  file: string;
  verify: boolean;
  yes: boolean;
  json: boolean;
  /** --env: local loads into the `npm start` stack's database at rest; staging|production are refused. */
  env?: 'local' | 'staging' | 'production';
}

export function parseRestoreBackupArgs(argv: string[], env: NodeJS.ProcessEnv = {}, io: LocalStackIo = {}): RestoreBackupArgs {
  const values = parseFlags(argv, {
    file: { type: 'string' },
    verify: { type: 'boolean', default: false },
    yes: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    env: { type: 'string' },
  });
  if (values.env !== undefined && !['local', 'staging', 'production'].includes(values.env)) throw new UsageError(`--env must be local, staging or production, got ${values.env}`);
  if (values.verify && values.yes) throw new UsageError('--yes confirms a load; --verify loads nothing');
  const where = values.env ? { env: values.env as RestoreBackupArgs['env'] } : {};
  // A deployed stack is refused before anything else is asked of the invocation.
  if (values.env === 'staging' || values.env === 'production') return { file: values.file ?? '', verify: values.verify, yes: values.yes, json: values.json, ...where };
  if (values.env === 'local' && !values.verify && !values.yes) throw new UsageError('--env local: give --verify (checks the file) or --yes (loads it into the local database)');
  let file = values.file;
  if (!file && values.env === 'local') {
    const dir = localBackupDir(env, io);
    file = newestLocalBackup(dir);
    if (!file) throw new UsageError(`--file not given and no export in ${dir}: take one with npm run backup -- --env local`);
  }
  if (!file) throw new UsageError('--file is required');
  if (!existsSync(file)) throw new UsageError(`--file: no such file: ${file}`);
  return { file, verify: values.verify, yes: values.yes, json: values.json, ...where };
}

/** Why a deployed stack's database is not loaded from an export here (exit 2), and what to do instead. */
export function deployedRestoreRefusal(stack: 'staging' | 'production'): string {
  return (
    `--env ${stack}: nothing outside the cluster reaches the ${stack} database, and it is never loaded from an export. ` +
    "Restore an RDS snapshot instead (the rollback's is <instance>-rollback-<marker id>): it becomes a new instance that the stack must be pointed at, an infrastructure change (runbooks/restore.md, \"Restoring the database itself\"). " +
    `To undo a rollback, which restores no data (it replays what Stripe sent meanwhile): npm run restore -- --env ${stack}`
  );
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<DatabaseConnection> & LocalStackIo = {}): Promise<number> {
  const local = argv.some((a) => a === '--env=local') || argv.some((a, i) => a === '--env' && argv[i + 1] === 'local');
  let stackUrl: string | undefined;
  if (local) {
    // Loading opens the database at rest: refused while the local stack (its one owner) runs.
    let loads = false;
    try {
      loads = !parseRestoreBackupArgs(argv, env, io).verify;
    } catch {
      // A wrong invocation: reported below with the usage.
    }
    const url = localServiceUrl(env, io);
    if (loads && (await localStackAnswers(url))) stackUrl = url;
  }
  return runScript<RestoreBackupArgs, DatabaseConnection>({
    name: 'restore-backup',
    usage: USAGE,
    argv,
    env,
    io,
    parse: (a) => parseRestoreBackupArgs(a, env, io),
    refuse: (args, e) => {
      if (args.env === 'staging' || args.env === 'production') return deployedRestoreRefusal(args.env);
      if (stackUrl) return `the local stack answers on ${stackUrl}: stop npm start first (its service holds the database this would load into)`;
      return !args.verify && !args.env && e.NODE_ENV === 'production' && !args.yes ? 'NODE_ENV=production: loading writes the production database; re-run with --yes' : undefined;
    },
    connect: async (e) => (local ? openLocalDatabase(e, io) : connectDatabaseFromEnv(e)),
    // --verify touches no database.
    needsConnection: (args) => !args.verify,
    run: async (args, connection, out) => {
      if (args.verify) {
        const result = await verifyExport(args.file);
        const rows = Object.values(result.tables).reduce((n, t) => n + t.rows, 0);
        if (args.json) out(`${JSON.stringify({ file: args.file, ...result })}\n`);
        else if (result.ok) out(`restore-backup: ${args.file} verifies: checksum, ${Object.keys(result.tables).length} tables, ${rows} rows (migration ${result.migration}, taken ${result.createdAt})\n`);
        else out(`restore-backup: ${args.file} does NOT verify:\n${result.problems.map((p) => `  ${p}`).join('\n')}\n`);
        return result.ok ? 0 : 1;
      }
      let loaded;
      try {
        loaded = await importExport(connection.db, args.file);
      } catch (error) {
        let hint = '';
        if (args.env === 'local' && /only loaded into an empty database/.test((error as Error).message)) {
          const where = localDatabaseLocation(env, io);
          hint = `: move the local database aside first (${'pgliteDir' in where ? where.pgliteDir : 'the DATABASE_URL database'}), or point PGLITE_DIR / DATABASE_URL at an empty one`;
        }
        throw new Error(`${(error as Error).message}${hint}`, { cause: error });
      }
      const rows = Object.values(loaded).reduce((n, c) => n + c, 0);
      out(args.json ? `${JSON.stringify({ file: args.file, loaded })}\n` : `restore-backup: loaded ${rows} rows from ${args.file} into an empty database${args.env === 'local' ? ' (the local stack\'s: start it with npm start)' : ''}\n`);
      return 0;
    },
  });
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
