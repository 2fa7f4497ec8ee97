import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../../service/shared/db';
import { LOCAL_ENV_FILE } from '../issue-token';
import { OpsApi } from './ops-api';
import { type OpsEnvDeps, opsToken, type OpsTarget, resolveOpsTarget } from './ops-env';

/**
 * The database commands' `--env local`: the stack `npm start` runs, read the way `npm start` reads
 * it (the environment over env/local.env). While it runs, its service is the one process that may
 * open the embedded database, so work on the database goes through its admin API (`localOpsApi`);
 * loading a backup is the one thing done to the database at rest, with the stack stopped.
 */
const ROOT = join(__dirname, '..', '..');

export interface LocalStackIo {
  /** env/local.env (tests pass their own). */
  opsEnv?: Omit<OpsEnvDeps, 'env'>;
}

/** `npm start`'s view of a setting: the environment (when not empty) over env/local.env. */
function localSettings(env: NodeJS.ProcessEnv, localEnvFile = LOCAL_ENV_FILE): (key: string) => string | undefined {
  const file = existsSync(localEnvFile) ? parseDotenv(readFileSync(localEnvFile)) : {};
  return (key) => env[key] || file[key] || undefined;
}

/** The local stack's admin API with a 5-minute ops token signed as `ops:<who>`. */
export async function localOpsApi(env: NodeJS.ProcessEnv, who: string, io: LocalStackIo = {}, timeoutMs = 300_000): Promise<{ target: OpsTarget; api: OpsApi }> {
  const target = await resolveOpsTarget('local', { env, ...io.opsEnv });
  return { target, api: new OpsApi(target.serviceUrl, await opsToken(target, who), fetch, timeoutMs) };
}

/** The local service's URL (PORT as `npm start` reads it). */
export function localServiceUrl(env: NodeJS.ProcessEnv, io: LocalStackIo = {}): string {
  return `http://127.0.0.1:${Number(localSettings(env, io.opsEnv?.localEnvFile)('PORT') ?? 3000)}`;
}

/** True when something answers HTTP on the local stack's port (then its database is in use). */
export async function localStackAnswers(serviceUrl: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    await fetch(`${serviceUrl}/health/live`, { signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}

/** Where the local stack keeps its database: DATABASE_URL, else its PGlite directory (PGLITE_DIR, default .data/pglite, under the repository). */
export function localDatabaseLocation(env: NodeJS.ProcessEnv, io: LocalStackIo = {}): { url: string } | { pgliteDir: string } {
  const pick = localSettings(env, io.opsEnv?.localEnvFile);
  const url = pick('DATABASE_URL');
  return url ? { url } : { pgliteDir: resolve(ROOT, pick('PGLITE_DIR') ?? '.data/pglite') };
}

/** Opens the local stack's database at rest (stop `npm start` first), migrated to the latest schema as the service would. */
export async function openLocalDatabase(env: NodeJS.ProcessEnv, io: LocalStackIo = {}): Promise<DatabaseHandle> {
  const handle = await openDatabase({ ...localDatabaseLocation(env, io), poolMax: 2 });
  try {
    await migrateToLatest(handle.db);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  return handle;
}

/** Where the local service writes its backups (OPS_BACKUP_DIR; `npm start` sets .data/backups). */
export function localBackupDir(env: NodeJS.ProcessEnv, io: LocalStackIo = {}): string {
  return resolve(ROOT, localSettings(env, io.opsEnv?.localEnvFile)('OPS_BACKUP_DIR') ?? join('.data', 'backups'));
}

/** The newest export in the local backup directory, if any. */
export function newestLocalBackup(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl.gz'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs || (a < b ? 1 : -1));
  return files[0];
}
