import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../../service/shared/db';

export interface TestDatabase extends DatabaseHandle {
  /** The URL of this suite's own database on the real server (CI), undefined on PGlite. */
  url?: string;
}

/**
 * A fresh, migrated database for one suite: its own database on the real server when DATABASE_URL
 * is set (CI), else an in-memory PGlite. close() drops it.
 */
export async function createTestDatabase(options: { poolMax?: number } = {}): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const templatePath = process.env.UPIIK_PGLITE_TEMPLATE;
    const pgliteTemplate = templatePath ? new Blob([readFileSync(templatePath)]) : undefined;
    const handle = await openDatabase({ pgliteTemplate });
    if (!pgliteTemplate) await migrateToLatest(handle.db).catch(async (err: unknown) => {
      await handle.close().catch(() => undefined);
      throw err;
    });
    return handle;
  }
  const name = `upiik_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const drop = async () => {
    const cleanup = new Client({ connectionString: serverUrl });
    await cleanup.connect();
    try {
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await cleanup.end();
    }
  };
  const handle = await openDatabase({ url: url.toString(), poolMax: options.poolMax ?? 10 });
  try {
    await migrateToLatest(handle.db);
  } catch (err) {
    // An open pool would keep the jest worker from exiting.
    await handle.close().catch(() => undefined);
    await drop().catch(() => undefined);
    throw err;
  }
  return {
    ...handle,
    url: url.toString(),
    close: async () => {
      await handle.close();
      await drop();
    },
  };
}
