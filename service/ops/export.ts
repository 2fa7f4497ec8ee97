import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { sql } from 'kysely';
import type { Database } from '../shared/db';

/**
 * A consistent export of the payment database: every table, read in one REPEATABLE READ, READ ONLY
 * transaction (one snapshot: a webhook committing meanwhile is either wholly in it or wholly not),
 * written as gzip'd JSON lines:
 *
 *   {"format":"upiik-payments-export","version":1,"createdAt":…,"migration":…}
 *   {"t":"users","r":{…}}                       one line per row, PostgreSQL's own row_to_json
 *   …
 *   {"end":true,"tables":{"users":{"rows":2,"sha256":"…"},…}}
 *
 * with `<file>.sha256` beside it (sha256sum format). The trailer's per-table counts and checksums,
 * and the sidecar's checksum of the whole file, are what `--verify` recomputes; a truncated file
 * has no trailer. Rows are PostgreSQL's JSON of the row, and an import turns them back with
 * json_populate_recordset, so every type (bigint, timestamptz, jsonb) round-trips exactly.
 */
export const EXPORT_FORMAT = 'upiik-payments-export';
export const EXPORT_VERSION = 1;

/** Every table, parents first (an import inserts in this order). A test checks none is missing. */
export const EXPORT_TABLES = [
  'users',
  'stripe_customers',
  'subscriptions',
  'payments',
  'payment_attempts',
  'refunds',
  'disputes',
  'dispute_funds',
  'webhook_events',
  'daily_revenue',
  'rollup_zones',
  'dashboard_rollups',
  'subscription_days',
  'user_days',
  'audit_log',
  'ops_markers',
] as const;
export type ExportTable = (typeof EXPORT_TABLES)[number];

/** Tables a migrated, otherwise empty database already has rows in (0004 seeds the rollup zones). */
const SEEDED_BY_MIGRATIONS: readonly ExportTable[] = ['rollup_zones'];

export interface ExportSummary {
  file: string;
  sha256: string;
  bytes: number;
  migration: string;
  tables: Record<string, { rows: number; sha256: string }>;
}

const PAGE = 2000;

async function primaryKey(db: Database, table: string): Promise<string[]> {
  const { rows } = await sql<{ attname: string }>`
    select a.attname from pg_index i
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
    where i.indrelid = ${table}::regclass and i.indisprimary
    order by array_position(i.indkey::int2[], a.attnum)`.execute(db);
  return rows.map((r) => r.attname);
}

/** The latest migration applied: an export is only imported into a database on the same one. */
async function latestMigration(db: Database): Promise<string> {
  const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name desc limit 1`.execute(db);
  return rows[0]?.name ?? 'none';
}

export async function exportPaymentTables(db: Database, file: string, now: Date = new Date()): Promise<ExportSummary> {
  const tables: ExportSummary['tables'] = {};
  let migration = 'none';
  const gzip = createGzip();
  const written = pipeline(gzip, createWriteStream(file, { mode: 0o600 }));
  const write = (line: string) =>
    new Promise<void>((resolve, reject) => {
      if (gzip.write(`${line}\n`)) resolve();
      else gzip.once('drain', resolve).once('error', reject);
    });
  try {
    await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        migration = await latestMigration(trx);
        await write(JSON.stringify({ format: EXPORT_FORMAT, version: EXPORT_VERSION, createdAt: now.toISOString(), migration }));
        for (const table of EXPORT_TABLES) {
          const order = (await primaryKey(trx, table)).map((c) => sql.ref(c));
          const hash = createHash('sha256');
          let rows = 0;
          for (let offset = 0; ; offset += PAGE) {
            const page = await sql<{ j: string }>`select row_to_json(x)::text as j from (select * from ${sql.table(table)} order by ${sql.join(order)} limit ${PAGE} offset ${offset}) x`.execute(trx);
            for (const { j } of page.rows) {
              const line = `{"t":"${table}","r":${j}}`;
              hash.update(`${line}\n`);
              await write(line);
              rows++;
            }
            if (page.rows.length < PAGE) break;
          }
          tables[table] = { rows, sha256: hash.digest('hex') };
        }
        await write(JSON.stringify({ end: true, tables }));
      });
    gzip.end();
    await written;
  } catch (error) {
    gzip.destroy();
    await written.catch(() => undefined);
    throw error;
  }
  const sha256 = await fileSha256(file);
  writeFileSync(`${file}.sha256`, `${sha256}  ${basename(file)}\n`, { mode: 0o600 });
  const bytes = statSync(file).size;
  return { file, sha256, bytes, migration, tables };
}

export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

export interface VerifyResult {
  ok: boolean;
  problems: string[];
  migration?: string;
  createdAt?: string;
  tables: Record<string, { rows: number; sha256: string }>;
}

/** Reads an export line by line (the caller's handler sees each row); throws on a malformed line. */
async function readExport(file: string, onRow?: (table: string, rowJson: string) => Promise<void>) {
  const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
  let header: { format?: string; version?: number; createdAt?: string; migration?: string } | undefined;
  let trailer: { tables: VerifyResult['tables'] } | undefined;
  const counted: Record<string, { rows: number; hash: ReturnType<typeof createHash> }> = {};
  for await (const line of lines) {
    if (!header) {
      header = JSON.parse(line) as typeof header;
      continue;
    }
    if (trailer) throw new Error('content after the trailer');
    const match = /^\{"t":"([a-z_]+)","r":(.*)\}$/.exec(line);
    if (match) {
      const table = match[1]!;
      const entry = (counted[table] ??= { rows: 0, hash: createHash('sha256') });
      entry.rows++;
      entry.hash.update(`${line}\n`);
      await onRow?.(table, match[2]!);
      continue;
    }
    const parsed = JSON.parse(line) as { end?: boolean; tables?: VerifyResult['tables'] };
    if (parsed.end !== true || !parsed.tables) throw new Error(`unexpected line: ${line.slice(0, 80)}`);
    trailer = { tables: parsed.tables };
  }
  return { header, trailer, counted: Object.fromEntries(Object.entries(counted).map(([t, c]) => [t, { rows: c.rows, sha256: c.hash.digest('hex') }])) };
}

/** Checks an export without touching any database: the sidecar checksum, the header, every table's row count and checksum, the trailer. */
export async function verifyExport(file: string): Promise<VerifyResult> {
  const problems: string[] = [];
  try {
    const sidecar = readFileSync(`${file}.sha256`, 'utf8').trim().split(/\s+/)[0];
    const actual = await fileSha256(file);
    if (sidecar !== actual) problems.push(`file checksum ${actual} differs from ${file}.sha256 (${sidecar}): the file changed after it was written`);
  } catch (error) {
    problems.push(`no readable checksum file ${file}.sha256: ${(error as Error).message}`);
  }
  let read: Awaited<ReturnType<typeof readExport>>;
  try {
    read = await readExport(file);
  } catch (error) {
    return { ok: false, problems: [...problems, `unreadable: ${(error as Error).message}`], tables: {} };
  }
  const { header, trailer, counted } = read;
  if (header?.format !== EXPORT_FORMAT || header.version !== EXPORT_VERSION) problems.push(`not an ${EXPORT_FORMAT} v${EXPORT_VERSION} file`);
  if (!trailer) problems.push('no trailer: the file is truncated (the export did not finish)');
  else {
    for (const table of EXPORT_TABLES) {
      const want = trailer.tables[table];
      const got = counted[table] ?? { rows: 0, sha256: createHash('sha256').digest('hex') };
      if (!want) problems.push(`${table}: missing from the trailer`);
      else if (want.rows !== got.rows) problems.push(`${table}: ${got.rows} rows, the trailer says ${want.rows}`);
      else if (want.sha256 !== got.sha256) problems.push(`${table}: rows differ from their checksum`);
    }
  }
  return { ok: problems.length === 0, problems, ...(header?.migration ? { migration: header.migration } : {}), ...(header?.createdAt ? { createdAt: header.createdAt } : {}), tables: trailer?.tables ?? counted };
}

/**
 * Loads a verified export into a database on the same migration whose tables are all empty (a
 * forensic copy, a fresh environment): one transaction, parents first, then every sequence moved
 * past the ids it loaded. Refuses a database that holds any row: it never merges into live data.
 */
export async function importExport(db: Database, file: string): Promise<Record<string, number>> {
  const verified = await verifyExport(file);
  if (!verified.ok) throw new Error(`the export does not verify: ${verified.problems.join('; ')}`);
  const migration = await latestMigration(db);
  if (verified.migration !== migration) throw new Error(`the export is of migration ${verified.migration}, this database is on ${migration}: migrate to the same version first`);
  return db.transaction().execute(async (trx) => {
    for (const table of EXPORT_TABLES) {
      if (SEEDED_BY_MIGRATIONS.includes(table)) continue;
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(trx);
      if (rows[0]!.n > 0) throw new Error(`${table} holds ${rows[0]!.n} rows: an export is only loaded into an empty database`);
    }
    // What the migrations put in a new database is replaced by what the export holds.
    for (const table of SEEDED_BY_MIGRATIONS) await sql`delete from ${sql.table(table)}`.execute(trx);
    const loaded: Record<string, number> = Object.fromEntries(EXPORT_TABLES.map((t) => [t, 0]));
    let batch: { table: string; rows: string[] } = { table: '', rows: [] };
    const flush = async () => {
      if (batch.rows.length === 0) return;
      await sql`insert into ${sql.table(batch.table)} select * from json_populate_recordset(null::${sql.table(batch.table)}, ${`[${batch.rows.join(',')}]`}::json)`.execute(trx);
      loaded[batch.table]! += batch.rows.length;
      batch = { table: '', rows: [] };
    };
    await readExport(file, async (table, rowJson) => {
      if (batch.table !== table || batch.rows.length >= 500) await flush();
      batch.table = table;
      batch.rows.push(rowJson);
    });
    await flush();
    // Serial columns: the next id follows the loaded ones.
    const { rows: serials } = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and column_default like 'nextval(%'`.execute(trx);
    for (const s of serials) {
      await sql`select setval(pg_get_serial_sequence(${s.table_name}, ${s.column_name}), coalesce((select max(${sql.ref(s.column_name)}) from ${sql.table(s.table_name)}), 0) + 1, false)`.execute(trx);
    }
    return loaded;
  });
}

/** For tests and tools: the export's rows as parsed objects, per table. */
export async function readExportRows(file: string): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  await readExport(file, async (table, rowJson) => {
    (out[table] ??= []).push(JSON.parse(rowJson));
  });
  return out;
}

