/**
 * backup: a consistent export of the payment database to a file, with its checksum beside it.
 *
 *   npm run backup -- [--file <path>] [--json]
 *   npm run backup -- --env local [--json] [--who <name>]
 *
 * Every table read in one REPEATABLE READ, READ ONLY transaction (service/ops/export.ts says the
 * format), written gzip'd with mode 0600 to --file (default .data/backups/payments-<time>.jsonl.gz)
 * and `<file>.sha256`. `npm run restore-backup -- --file <path> --verify` checks it.
 *
 * Touches: reads the service database, found as `npm run serve` finds it (DATABASE_URL, or
 * DATABASE_HOST and the RDS parts), else the local stack's embedded database (stop `npm start`
 * first). Writes only the two files. In AWS the rollback takes an RDS snapshot instead; this runs
 * where the database is (locally, or as a one-off task in the cluster).
 * --env local: the stack `npm start` runs (the environment over env/local.env) writes the export
 * itself, through its admin API (`POST /api/admin/payments/ops/backup`, audited, a 5-minute token
 * signed as `ops:<who>`), into its OPS_BACKUP_DIR (`npm start` sets .data/backups): its service is
 * the one process that may open the embedded database. --env staging|production is refused: nothing
 * outside the cluster reaches their database; `npm run rollback` takes an RDS snapshot there.
 * Exit codes: 0 written; 1 a failure (a partial file is removed); 2 wrong invocation.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { exportPaymentTables } from '../service/ops/export';
import { parseFlags, runScript, type ScriptIo, UsageError } from './lib/cli';
import { connectDatabaseFromEnv, type DatabaseConnection } from './lib/database';
import { type LocalStackIo, localOpsApi } from './lib/local-stack';
import type { OpsApi } from './lib/ops-api';
import { parseWho } from './lib/ops-env';
import { formatDuration } from './lib/report';

export { UsageError };

const USAGE = 'usage: npm run backup -- [--file <path, default .data/backups/payments-<time>.jsonl.gz>] [--json]   or   --env local [--json] [--who <name>]';
export const BACKUP_DIR = join(__dirname, '..', '.data', 'backups');

export interface BackupArgs {
  file: string;
  json: boolean;
  /** --env: local goes through the `npm start` stack's admin API; staging|production are refused. */
  env?: 'local' | 'staging' | 'production';
  who?: string;
}

export function parseBackupArgs(argv: string[], now: Date = new Date(), env: NodeJS.ProcessEnv = {}): BackupArgs {
  const values = parseFlags(argv, { file: { type: 'string' }, json: { type: 'boolean', default: false }, env: { type: 'string' }, who: { type: 'string' } });
  if (values.env !== undefined && !['local', 'staging', 'production'].includes(values.env)) throw new UsageError(`--env must be local, staging or production, got ${values.env}`);
  if (values.env === 'local' && values.file !== undefined) throw new UsageError('--env local: the local service names the file (under its OPS_BACKUP_DIR, .data/backups with npm start); --file is for a run without --env');
  if (values.who !== undefined && values.env !== 'local') throw new UsageError('--who names the ops token\'s actor: only with --env local');
  const file = values.file ?? join(BACKUP_DIR, `payments-${now.toISOString().replace(/[:.]/g, '-')}.jsonl.gz`);
  if (!file.endsWith('.gz')) throw new UsageError('--file must end in .gz (the export is gzip\'d)');
  return {
    file,
    json: values.json,
    ...(values.env ? { env: values.env as BackupArgs['env'] } : {}),
    ...(values.env === 'local' ? { who: parseWho(values.who, env) } : {}),
  };
}

/** Why a deployed stack's backup is not this command's (exit 2), and what to run instead. */
export function deployedBackupRefusal(stack: 'staging' | 'production'): string {
  return (
    `--env ${stack}: nothing outside the cluster reaches the ${stack} database, and its service writes no backups. ` +
    `Take an RDS snapshot with \`npm run rollback -- --env ${stack} --scope app --reason "<why>"${stack === 'production' ? ' --yes' : ''}\`: ` +
    'it opens a rollback marker (close it with `npm run restore`) and snapshots the RDS instance as <instance>-rollback-<marker id> (it completes in the background); ' +
    '--scope app leaves webhooks, maintenance and Stripe alone. A stack on an external database (no RDS instance) has no snapshot: run `npm run backup` where that database is'
  );
}

interface BackupAnswer {
  file: string;
  sha256: string;
  bytes: number;
  migration: string;
  tables: Record<string, { rows: number }>;
}

function describe(summary: BackupAnswer, rows: number, took: number, json: boolean): string {
  if (json) return `${JSON.stringify({ ...summary, rows, durationMs: Math.round(took) })}\n`;
  return (
    `backup: ${summary.file} (${summary.bytes} bytes, ${rows} rows in ${Object.keys(summary.tables).length} tables, migration ${summary.migration}, ${formatDuration(took)})\n` +
    `  sha256 ${summary.sha256} (in ${summary.file}.sha256)\n` +
    `  check it: npm run restore-backup -- --file ${summary.file} --verify\n`
  );
}

/** `--env local` (and the refusals of the deployed stacks). */
function mainWithEnv(argv: string[], env: NodeJS.ProcessEnv, io: Pick<ScriptIo<never>, 'stdout' | 'stderr'> & LocalStackIo): Promise<number> {
  return runScript<BackupArgs, { api: OpsApi; close(): Promise<void> }>({
    name: 'backup',
    usage: USAGE,
    argv,
    env,
    io: { ...(io.stdout ? { stdout: io.stdout } : {}), ...(io.stderr ? { stderr: io.stderr } : {}) },
    parse: (a) => parseBackupArgs(a, new Date(), env),
    refuse: (args) => (args.env === 'staging' || args.env === 'production' ? deployedBackupRefusal(args.env) : undefined),
    connect: async () => {
      const { api } = await localOpsApi(env, parseBackupArgs(argv, new Date(), env).who!, io);
      return { api, close: async () => undefined };
    },
    run: async (args, connection, out) => {
      const started = performance.now();
      const answer = await connection.api.call<BackupAnswer & { rows: number }>('POST', '/api/admin/payments/ops/backup', {});
      const { rows, ...summary } = answer;
      out(describe(summary, rows, performance.now() - started, args.json));
      return 0;
    },
  });
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<DatabaseConnection> & LocalStackIo = {}): Promise<number> {
  if (argv.some((a) => a === '--env' || a.startsWith('--env='))) return mainWithEnv(argv, env, io);
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
      out(describe(summary, rows, performance.now() - started, args.json));
      return 0;
    },
  });
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
