import { mkdirSync } from 'node:fs';
import { type Dialect, Kysely, Migrator, PostgresDialect, type PostgresPool, sql } from 'kysely';
import { Pool, type PoolConfig, types as pgTypes } from 'pg';
import { connectingWithFreshCredentials, createCredentialedPool, type DatabaseServerParts, verifiedTls } from './credentialed-pool';
import { type CredentialsEvent, type DatabaseCredentialsSource, SecretsManagerCredentials } from './credentials';
import { migrationProvider } from './migrations';
import { type DatabaseSchema, parseInt8 } from './schema';

export * from './schema';
export { type DatabaseServerParts, isRefusedLogin } from './credentialed-pool';
export { type CredentialsEvent, type DatabaseCredentials, DatabaseCredentialsError, type DatabaseCredentialsSource, SecretsManagerCredentials } from './credentials';

export type Database = Kysely<DatabaseSchema>;

export interface DatabaseHandle {
  db: Database;
  /** Which engine answered: the real server (`DATABASE_URL` or `DATABASE_HOST`) or embedded PGlite. */
  backend: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres:// URL of a real server; unset (and no `parts`) = embedded PGlite. */
  url?: string;
  /**
   * A real server given as parts (AWS with RDS): TLS verified against `parts.caFile`, the login
   * read from the RDS-managed secret at run time and re-read when the server refuses it (rotation).
   */
  parts?: DatabaseServerParts;
  /** With `parts`: where the login comes from (default: Secrets Manager, `parts.credentialsArn`). */
  credentials?: DatabaseCredentialsSource;
  /** With `parts` and the default source: told about secret reads, failures and held-back refreshes. */
  onCredentialsEvent?: (event: CredentialsEvent) => void;
  /** Directory for a file-backed PGlite; unset = in memory (tests). */
  pgliteDir?: string;
  poolMax?: number;
  /** A PGlite data-directory dump to start from (tests: a migrated template loads in ~0.5 s instead of ~3 s). */
  pgliteTemplate?: Blob;
  /**
   * Told about connections the server dropped (restart, failover, `pg_terminate_backend`), whether
   * the connection was idle in the pool or checked out; wire the logger here. The pool replaces
   * such connections by itself; the query that was using one fails and its request answers 5xx.
   */
  onConnectionError?: (error: Error) => void;
}

/**
 * Opens the database. The same Kysely code and the same migrations serve both engines; PGlite is
 * real Postgres compiled to WASM, serialised behind one connection by the dialect.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (options.url && options.parts) throw new Error('openDatabase: give url or parts, not both');
  if (options.url || options.parts) {
    const { pool, connectThrough } = options.parts ? credentialedPool(options.parts, options) : { pool: new Pool({ ...poolTuning(options), connectionString: options.url }), connectThrough: undefined };
    watchConnectionErrors(pool, options.onConnectionError);
    const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool: connectThrough ?? pool }) });
    return { db, backend: 'postgres', close: () => db.destroy() };
  }
  const { pglite, db } = await openPglite(options);
  const close = async () => {
    await db.destroy();
    // Kysely only closes the engine if a query ever initialised its driver; an unused PGlite would
    // otherwise stay open and keep the process alive.
    if (!pglite.closed) await pglite.close();
  };
  return { db, backend: 'pglite', close };
}

/** The same pool behaviour whichever way the server is given. */
function poolTuning(options: OpenDatabaseOptions): PoolConfig {
  return {
    max: options.poolMax ?? 10,
    // int8 (money, counts, Stripe times) as exact numbers, the same on both engines.
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === pgTypes.builtins.INT8 && format !== 'binary' ? parseInt8 : pgTypes.getTypeParser(oid, format))) as typeof pgTypes.getTypeParser },
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A failover that silently drops packets (no reset) leaves sockets that look alive: TCP
    // keepalive lets the kernel find them dead instead of never.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

/** The pool for `parts` and what Kysely connects through (re-reading the secret on a refused login). */
function credentialedPool(parts: DatabaseServerParts, options: OpenDatabaseOptions): { pool: Pool; connectThrough: PostgresPool } {
  const tls = verifiedTls(parts.caFile);
  const credentials = options.credentials ?? new SecretsManagerCredentials({ secretArn: parts.credentialsArn, onEvent: options.onCredentialsEvent });
  const pool = createCredentialedPool(poolTuning(options), parts, credentials, tls);
  return { pool, connectThrough: connectingWithFreshCredentials(pool, credentials) };
}

/**
 * A server-terminated connection (57P01 admin shutdown, ECONNRESET) makes `pg` emit `error`: on the
 * pool for an idle client, on the client itself when it is checked out but between queries (e.g.
 * a transaction waiting on its caller). An `error` event without a listener is an uncaught
 * exception, so an RDS failover would kill every instance at once. Both get a listener here; the
 * broken client is not queryable any more, so the pool discards it on release and opens a new one
 * for the next query (nothing to reconnect by hand).
 */
export function watchConnectionErrors(pool: Pool, onError: ((error: Error) => void) | undefined): void {
  const report = (error: Error) => {
    try {
      onError?.(error);
    } catch {
      // Reporting must never be what crashes the process.
    }
  };
  pool.on('error', report);
  pool.on('connect', (client) => {
    client.on('error', report);
  });
}

/** PGlite reads int8 as a number or a BigInt by size; parseInt8 makes it an exact number or an error. */
const INT8_PARSERS = { 20: (text: string) => parseInt8(text) };

/**
 * The embedded engine and its dialect, imported only when a database has no server: they are
 * development dependencies (26 MB of WASM the production install and the image leave out; issue 15).
 */
async function loadPglite() {
  try {
    // (The dynamic import resolves the ESM build; the dialect is typed against the CJS one.)
    const [{ PGlite }, { PGliteDialect }] = await Promise.all([import('@electric-sql/pglite'), import('kysely-pglite-dialect')]);
    return { PGlite, PGliteDialect };
  } catch (error) {
    throw new Error(
      'No database server is configured (DATABASE_URL or DATABASE_HOST) and the embedded PGlite engine is not installed: it is a development dependency, absent from production installs. Set DATABASE_URL, or run `npm ci` with development dependencies for the embedded default.',
      { cause: error },
    );
  }
}

async function openPglite(options: OpenDatabaseOptions) {
  const { PGlite, PGliteDialect } = await loadPglite();
  if (options.pgliteDir) mkdirSync(options.pgliteDir, { recursive: true });
  const pglite = options.pgliteDir
    ? new PGlite(options.pgliteDir, { parsers: INT8_PARSERS })
    : new PGlite(options.pgliteTemplate ? { loadDataDir: options.pgliteTemplate, parsers: INT8_PARSERS } : { parsers: INT8_PARSERS });
  await pglite.waitReady;
  // The dynamic import types the dialect against kysely's ESM build; at run time it is the same class.
  const dialect = new PGliteDialect(pglite as unknown as ConstructorParameters<typeof PGliteDialect>[0]) as unknown as Dialect;
  const db = new Kysely<DatabaseSchema>({ dialect });
  return { pglite, db };
}

/** A migrated, empty in-memory database as a data-directory dump (the test template). */
export async function buildPgliteTemplate(): Promise<Blob> {
  const { pglite, db } = await openPglite({});
  try {
    await migrateToLatest(db);
    return await pglite.dumpDataDir('none');
  } finally {
    await db.destroy();
  }
}

export class MigrationError extends Error {}

/** Applies pending migrations; safe to run from several instances at once (Kysely takes a lock). */
export async function migrateToLatest(db: Database): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new MigrationError(`Database migration failed${failed ? ` at ${failed.migrationName}` : ''}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Cheap liveness probe for /health/ready. */
export async function pingDatabase(db: Database): Promise<void> {
  await sql`select 1`.execute(db);
}
