import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { EXPORT_TABLES, exportPaymentTables, fileSha256, importExport, readExportRows, verifyExport } from '../../service/ops/export';
import { main as backup } from '../../scripts/backup';
import { main as restoreBackup } from '../../scripts/restore-backup';
import { openDatabase } from '../../service/shared/db';
import { createTestDatabase } from '../support/database';
import type { TestService } from '../support/service';
import { settleDeliveries, startWebhookService, subscribe } from '../service/webhooks/support';

/**
 * backup and restore-backup on a database filled by real checkouts and webhooks: the export holds
 * every table, verifies, detects a changed, truncated or re-checksummed file, and loads into an
 * empty database as an exact copy (exporting the copy gives the same per-table checksums).
 */
jest.setTimeout(300_000);

let svc: TestService;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'upiik-backup-'));
  // As npm start runs it: the service writes backups (--env local goes through it).
  svc = await startWebhookService({ env: { OPS_BACKUP_DIR: join(dir, 'service-backups') } });
  for (const user of ['u_backup_1', 'u_backup_2']) await subscribe(svc, user);
  await settleDeliveries(svc);
  await svc.database.db.insertInto('ops_markers').values({ kind: 'rollback', scope: 'app', reason: 'backup test', opened_by: 'ops:test', details: JSON.stringify({ note: 'é ✓ "quoted"' }) }).execute();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await svc?.close();
});

const connection = () => ({ db: svc.database.db, close: async () => undefined });
async function run(command: typeof backup, argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const code = await command(argv, env, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), connect: async () => connection() });
  return { code, stdout, stderr };
}
const count = async (db: typeof svc.database.db, table: string) => (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(db)).rows[0]!.n;

test('every table of the database is exported (a new table must join EXPORT_TABLES)', async () => {
  const { rows } = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' and table_name not like 'kysely_%'`.execute(svc.database.db);
  expect(rows.map((r) => r.table_name).sort()).toEqual([...EXPORT_TABLES].sort());
});

test('npm run backup: the file and its checksum, mode 0600, every row; it verifies', async () => {
  const file = join(dir, 'one.jsonl.gz');
  const { code, stdout, stderr } = await run(backup, ['--file', file, '--json']);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  const summary = JSON.parse(stdout) as { sha256: string; tables: Record<string, { rows: number }>; rows: number };
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(`${summary.sha256}  one.jsonl.gz\n`);
  expect(summary.sha256).toBe(await fileSha256(file));
  for (const table of EXPORT_TABLES) expect(summary.tables[table]?.rows).toBe(await count(svc.database.db, table));
  expect(summary.tables.payments!.rows).toBeGreaterThanOrEqual(2);
  expect(summary.tables.webhook_events!.rows).toBeGreaterThan(5);

  const verified = await run(restoreBackup, ['--file', file, '--verify']);
  expect(verified.code).toBe(0);
  expect(verified.stdout).toMatch(/verifies: checksum, 16 tables, \d+ rows \(migration 0006-webhook-retries, taken /);
});

describe('a file that changed after it was written does not verify', () => {
  let file: string;
  let lines: string[];
  beforeAll(async () => {
    file = join(dir, 'base.jsonl.gz');
    await exportPaymentTables(svc.database.db, file);
    lines = gunzipSync(readFileSync(file)).toString('utf8').trimEnd().split('\n');
  });
  const rewrite = async (name: string, content: string[], withChecksum: boolean, level = 6) => {
    const copy = join(dir, name);
    writeFileSync(copy, gzipSync(`${content.join('\n')}\n`, { level }));
    writeFileSync(`${copy}.sha256`, withChecksum ? `${await fileSha256(copy)}  ${name}\n` : readFileSync(`${file}.sha256`));
    return copy;
  };

  test('a row edited, with the file checksum recomputed to match: its table fails its checksum', async () => {
    const index = lines.findIndex((l) => l.startsWith('{"t":"payments"'));
    const edited = [...lines];
    edited[index] = edited[index]!.replace(/"amount":(\d+)/, (_m, n: string) => `"amount":${Number(n) + 1}`);
    expect(edited[index]).not.toBe(lines[index]);
    const result = await verifyExport(await rewrite('edited.jsonl.gz', edited, true));
    expect(result.problems).toEqual(['payments: rows differ from their checksum']);
    const cli = await run(restoreBackup, ['--file', join(dir, 'edited.jsonl.gz'), '--verify']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('does NOT verify:\n  payments: rows differ from their checksum');
  });

  test('a row dropped: the count differs; the trailer dropped: truncated; the bytes changed: the file checksum', async () => {
    const dropped = lines.filter((_l, i) => i !== lines.findIndex((l) => l.startsWith('{"t":"users"')));
    expect((await verifyExport(await rewrite('dropped.jsonl.gz', dropped, true))).problems).toEqual([expect.stringMatching(/^users: \d+ rows, the trailer says \d+$/)]);
    expect((await verifyExport(await rewrite('truncated.jsonl.gz', lines.slice(0, -1), true))).problems).toEqual(['no trailer: the file is truncated (the export did not finish)']);
    // The same rows compressed differently: only the file's own checksum tells.
    expect((await verifyExport(await rewrite('rezipped.jsonl.gz', lines, false, 1))).problems).toEqual([expect.stringMatching(/^file checksum [0-9a-f]{64} differs from .*rezipped\.jsonl\.gz\.sha256/)]);
  });
});

test('loads into an empty database as an exact copy, sequences past the loaded ids; never into one that holds rows', async () => {
  const file = join(dir, 'copy-source.jsonl.gz');
  const source = await exportPaymentTables(svc.database.db, file);
  const target = await createTestDatabase();
  try {
    const loaded = await run(restoreBackup, ['--file', file, '--json'], {});
    // (the command's database is the suite's own here: it holds rows, so it refuses)
    expect(loaded.code).toBe(1);
    expect(loaded.stderr).toMatch(/holds \d+ rows: an export is only loaded into an empty database/);

    const counts = await importExport(target.db, file);
    expect(counts).toEqual(Object.fromEntries(Object.entries(source.tables).map(([t, v]) => [t, v.rows])));
    const copy = await exportPaymentTables(target.db, join(dir, 'copy.jsonl.gz'));
    expect(copy.tables).toEqual(source.tables);
    expect((await readExportRows(join(dir, 'copy.jsonl.gz'))).ops_markers).toEqual([expect.objectContaining({ details: { note: 'é ✓ "quoted"' } })]);
    // The next marker gets a new id (a closed one: the loaded marker is still open).
    const next = await target.db.insertInto('ops_markers').values({ kind: 'rollback', scope: 'app', reason: 'after load', opened_by: 'ops:test', closed_at: new Date(), closed_by: 'x' }).returning('id').executeTakeFirstOrThrow();
    expect(Number(next.id)).toBeGreaterThan(Number(source.tables.ops_markers!.rows));
    await expect(importExport(target.db, file)).rejects.toThrow(/users holds \d+ rows/);
  } finally {
    await target.close();
  }
});

test('wrong invocations are exit 2; production loads need --yes', async () => {
  expect((await run(restoreBackup, ['--verify'])).code).toBe(2);
  expect((await run(restoreBackup, ['--file', join(dir, 'nope.gz'), '--verify'])).code).toBe(2);
  expect((await run(backup, ['--file', join(dir, 'x.json')])).code).toBe(2);
  const refused = await run(restoreBackup, ['--file', join(dir, 'one.jsonl.gz')], { NODE_ENV: 'production' });
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('re-run with --yes');
});

describe('--env', () => {
  /** The environment `npm start` would read, pointing at this suite's running service; no env/local.env. */
  const localEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PORT: new URL(svc.url).port,
    SANDBOX_PORT: new URL(svc.sandbox.url).port,
    STRIPE_SECRET_KEY: 'sk_test_backup',
    AUTH_JWT_SECRET: svc.config.auth.secret,
    OPS_BACKUP_DIR: join(dir, 'service-backups'),
    USER: 'oncall',
    ...extra,
  });
  // No connect: --env local never opens a database by itself (restore-backup's load is the one at rest).
  async function runLocal(command: typeof backup, argv: string[], env: NodeJS.ProcessEnv = localEnv()) {
    let stdout = '';
    let stderr = '';
    const code = await command(argv, env, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), opsEnv: { localEnvFile: join(dir, 'no-such.env') } });
    return { code, stdout, stderr };
  }
  const closedPort = async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return String(port);
  };

  test('backup --env local: the running service writes the export; the file, rows and sha256 as without --env; audited as ops:<who>', async () => {
    const { code, stdout, stderr } = await runLocal(backup, ['--env', 'local']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const [, file, rows] = /^backup: (\S+) \(\d+ bytes, (\d+) rows in 16 tables, migration 0006-webhook-retries, [^)]+\)\n {2}sha256 ([0-9a-f]{64}) \(in \S+\.sha256\)\n {2}check it: npm run restore-backup -- --file \S+ --verify\n$/.exec(stdout) ?? [];
    expect(file!.startsWith(`${join(dir, 'service-backups')}/payments-`)).toBe(true);
    expect(existsSync(file!)).toBe(true);
    expect(Number(rows)).toBeGreaterThan(10);
    const audited = await svc.database.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'ops.backup').execute();
    expect(audited).toEqual([{ actor: 'ops:oncall', details: expect.objectContaining({ file, rows: Number(rows) }) }]);

    // restore-backup --env local --verify finds the newest export in the local backup directory by itself.
    const verified = await runLocal(restoreBackup, ['--env', 'local', '--verify']);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toBe(`restore-backup: ${file} verifies: checksum, 16 tables, ${rows} rows (migration 0006-webhook-retries, taken ${verified.stdout.match(/taken (\S+)\)/)![1]})\n`);
  });

  test('restore-backup --env local --yes: refused while the local stack answers on its port; loaded into its database at rest once stopped', async () => {
    const file = join(dir, 'local-load.jsonl.gz');
    const source = await exportPaymentTables(svc.database.db, file);
    const running = await runLocal(restoreBackup, ['--env', 'local', '--file', file, '--yes']);
    expect(running.code).toBe(2);
    expect(running.stderr).toContain(`the local stack answers on http://127.0.0.1:${new URL(svc.url).port}: stop npm start first`);

    // Stopped: the database npm start would use (DATABASE_URL on the real server, else its PGlite directory).
    const target = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    const pgliteDir = join(dir, 'local-pglite');
    try {
      const where = target ? { DATABASE_URL: target.url } : { PGLITE_DIR: pgliteDir };
      const loaded = await runLocal(restoreBackup, ['--env', 'local', '--file', file, '--yes', '--json'], localEnv({ PORT: await closedPort(), ...where }));
      expect({ code: loaded.code, stderr: loaded.stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(loaded.stdout).loaded).toEqual(Object.fromEntries(Object.entries(source.tables).map(([t, v]) => [t, v.rows])));
      const handle = target ?? (await openDatabase({ pgliteDir }));
      try {
        expect(await count(handle.db, 'payments')).toBe(source.tables.payments!.rows);
        expect(await count(handle.db, 'webhook_events')).toBe(source.tables.webhook_events!.rows);
      } finally {
        if (!target) await handle.close();
      }
      // A second load meets a database that holds rows: refused, saying what to do.
      const again = await runLocal(restoreBackup, ['--env', 'local', '--file', file, '--yes'], localEnv({ PORT: await closedPort(), ...where }));
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/only loaded into an empty database: move the local database aside first/);
    } finally {
      await target?.close();
    }
  });

  test('refusals are exit 2 with what to do instead', async () => {
    const staging = await runLocal(backup, ['--env', 'staging']);
    expect(staging.code).toBe(2);
    expect(staging.stderr).toContain('npm run rollback -- --env staging --scope app --reason');
    expect(staging.stderr).toContain('<instance>-rollback-<marker id>');
    const production = await runLocal(restoreBackup, ['--env', 'production', '--file', join(dir, 'one.jsonl.gz'), '--yes']);
    expect(production.code).toBe(2);
    expect(production.stderr).toContain('Restore an RDS snapshot instead');
    expect(production.stderr).toContain('runbooks/restore.md');
    expect((await runLocal(backup, ['--env', 'local', '--file', join(dir, 'x.jsonl.gz')])).code).toBe(2);
    const neither = await runLocal(restoreBackup, ['--env', 'local']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('give --verify');
  });
});
