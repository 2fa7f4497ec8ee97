import { join } from 'node:path';
import { connectDependencies } from '../../service/dependencies';
import { type Database, migrateToLatest, openDatabase } from '../../service/shared/db';
import { loadConfig } from '../../service/shared/config';
import { createLogger } from '../../service/shared/logger';

export const LOCAL_PGLITE_DIR = join(__dirname, '..', '..', '.data', 'pglite');

export interface DatabaseConnection {
  db: Database;
  close(): Promise<void>;
}

/**
 * The service's database as `npm run serve` opens it (DATABASE_URL, or DATABASE_HOST and the RDS
 * parts, read through the service configuration); without one configured, the local stack's
 * embedded database (PGLITE_DIR, default .data/pglite: stop `npm start` first, an embedded
 * database has one process at a time). Where the scripts that need the database run: locally, or
 * as a one-off task in the cluster.
 */
export async function connectDatabaseFromEnv(env: NodeJS.ProcessEnv): Promise<DatabaseConnection> {
  if (env.DATABASE_URL || env.DATABASE_HOST) {
    const config = loadConfig(env);
    const logger = createLogger({ level: 'warn', environment: config.env });
    const { database, close } = await connectDependencies(config, logger, { poolMax: 2 });
    return { db: database.db, close };
  }
  const handle = await openDatabase({ pgliteDir: env.PGLITE_DIR || LOCAL_PGLITE_DIR });
  await migrateToLatest(handle.db);
  return { db: handle.db, close: () => handle.close() };
}
