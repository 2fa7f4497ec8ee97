import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { EXPORT_TABLES, exportPaymentTables, fileSha256, importExport, readExportRows, verifyExport } from '../../service/ops/export';
import { main as backup } from '../../scripts/backup';
import { main as restoreBackup } from '../../scripts/restore-backup';
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
  svc = await startWebhookService();
  for (const user of ['u_backup_1', 'u_backup_2']) await subscribe(svc, user);
  await settleDeliveries(svc);
  await svc.database.db.insertInto('ops_markers').values({ kind: 'rollback', scope: 'app', reason: 'backup test', opened_by: 'ops:test', details: JSON.stringify({ note: 'é ✓ "quoted"' }) }).execute();
  dir = mkdtempSync(join(tmpdir(), 'upiik-backup-'));
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
  expect(verified.stdout).toMatch(/verifies: checksum, 16 tables, \d+ rows \(migration 0005-ops-markers, taken /);
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
