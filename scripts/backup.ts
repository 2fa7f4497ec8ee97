/**
 * backup: a consistent export of the payment database to a file, with its checksum beside it.
 *
 *   npm run backup -- [--file <path>] [--json]
 *
 * Every table read in one REPEATABLE READ, READ ONLY transaction (service/ops/export.ts says the
 * format), written gzip'd with mode 0600 to --file (default .data/backups/payments-<time>.jsonl.gz)
 * and `<file>.sha256`. `npm run restore-backup -- --file <path> --verify` checks it.
 *
 * Touches: reads the service database, found as `npm run serve` finds it (DATABASE_URL, or
 * DATABASE_HOST and the RDS parts), else the local stack's embedded database (stop `npm start`
 * first). Writes only the two files. In AWS the rollback takes an RDS snapshot instead; this runs
 * where the database is (locally, or as a one-off task in the cluster).
 * Exit codes: 0 written; 1 a failure (a partial file is removed); 2 wrong invocation.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { exportPaymentTables } from '../service/ops/export';
import { parseFlags, runScript, type ScriptIo, UsageError } from './lib/cli';
import { connectDatabaseFromEnv, type DatabaseConnection } from './lib/database';
import { formatDuration } from './lib/report';

export { UsageError };

const USAGE = 'usage: npm run backup -- [--file <path, default .data/backups/payments-<time>.jsonl.gz>] [--json]';
export const BACKUP_DIR = join(__dirname, '..', '.data', 'backups');

export interface BackupArgs {
  file: string;
  json: boolean;
}

export function parseBackupArgs(argv: string[], now: Date = new Date()): BackupArgs {
  const values = parseFlags(argv, { file: { type: 'string' }, json: { type: 'boolean', default: false } });
  const file = values.file ?? join(BACKUP_DIR, `payments-${now.toISOString().replace(/[:.]/g, '-')}.jsonl.gz`);
  if (!file.endsWith('.gz')) throw new UsageError('--file must end in .gz (the export is gzip\'d)');
  return { file, json: values.json };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<DatabaseConnection> = {}): Promise<number> {
  return runScript({
    name: 'backup',
    usage: USAGE,
    argv,
    env,
    io,
    parse: (a) => parseBackupArgs(a),
    connect: connectDatabaseFromEnv,
    run: async (args, connection, out) => {
      const started = performance.now();
      mkdirSync(dirname(args.file), { recursive: true });
      let summary;
      try {
        summary = await exportPaymentTables(connection.db, args.file);
      } catch (error) {
        rmSync(args.file, { force: true });
        rmSync(`${args.file}.sha256`, { force: true });
        throw error;
      }
      const rows = Object.values(summary.tables).reduce((n, t) => n + t.rows, 0);
      const took = performance.now() - started;
      if (args.json) out(`${JSON.stringify({ ...summary, rows, durationMs: Math.round(took) })}\n`);
      else {
        out(
          `backup: ${summary.file} (${summary.bytes} bytes, ${rows} rows in ${Object.keys(summary.tables).length} tables, migration ${summary.migration}, ${formatDuration(took)})\n` +
            `  sha256 ${summary.sha256} (in ${summary.file}.sha256)\n` +
            `  check it: npm run restore-backup -- --file ${summary.file} --verify\n`,
        );
      }
      return 0;
    },
  });
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
