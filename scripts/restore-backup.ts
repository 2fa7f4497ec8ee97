/**
 * restore-backup: checks an export (`npm run backup`) and loads it into an empty database.
 *
 *   npm run restore-backup -- --file <path> --verify [--json]    checks only; touches no database
 *   npm run restore-backup -- --file <path> [--yes] [--json]     loads it into an empty database
 *
 * --verify recomputes the file's checksum against `<file>.sha256`, and every table's row count and
 * checksum against the export's trailer (a truncated file has none). Loading verifies first, then
 * needs a database on the export's migration whose tables are all empty (a forensic copy, a fresh
 * environment): it never merges into live data. One transaction; sequences follow the loaded ids.
 *
 * Touches: --verify reads the file only. Loading writes the database found as `npm run serve`
 * finds it (DATABASE_URL / DATABASE_HOST), else the local embedded one; NODE_ENV=production needs --yes.
 * Exit codes: 0 verified (or loaded); 1 the file does not verify, or the load failed; 2 wrong invocation.
 */
import { existsSync } from 'node:fs';
import { importExport, verifyExport } from '../service/ops/export';
import { parseFlags, runScript, type ScriptIo, UsageError } from './lib/cli';
import { connectDatabaseFromEnv, type DatabaseConnection } from './lib/database';

export { UsageError };

const USAGE = 'usage: npm run restore-backup -- --file <path> (--verify | [--yes]) [--json]';

export interface RestoreBackupArgs {
  file: string;
  verify: boolean;
  yes: boolean;
  json: boolean;
}

export function parseRestoreBackupArgs(argv: string[]): RestoreBackupArgs {
  const values = parseFlags(argv, { file: { type: 'string' }, verify: { type: 'boolean', default: false }, yes: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } });
  if (!values.file) throw new UsageError('--file is required');
  if (!existsSync(values.file)) throw new UsageError(`--file: no such file: ${values.file}`);
  if (values.verify && values.yes) throw new UsageError('--yes confirms a load; --verify loads nothing');
  return { file: values.file, verify: values.verify, yes: values.yes, json: values.json };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<DatabaseConnection> = {}): Promise<number> {
  return runScript<RestoreBackupArgs, DatabaseConnection>({
    name: 'restore-backup',
    usage: USAGE,
    argv,
    env,
    io,
    parse: parseRestoreBackupArgs,
    refuse: (args, e) => (!args.verify && e.NODE_ENV === 'production' && !args.yes ? 'NODE_ENV=production: loading writes the production database; re-run with --yes' : undefined),
    connect: connectDatabaseFromEnv,
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
      const loaded = await importExport(connection.db, args.file);
      const rows = Object.values(loaded).reduce((n, c) => n + c, 0);
      out(args.json ? `${JSON.stringify({ file: args.file, loaded })}\n` : `restore-backup: loaded ${rows} rows from ${args.file} into an empty database\n`);
      return 0;
    },
  });
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
