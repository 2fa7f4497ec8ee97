import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../../service/shared/db';
import { createTestDatabase, type TestDatabase } from './database';
import { type CuttableProxy, startProxy } from './tcp-proxy';

/**
 * A database a fault suite can take away from a service without touching the shared server: the
 * service's pool talks to it through a TCP proxy the suite can cut or hold. On the real server
 * (DATABASE_URL) it is the suite's own database, whose backends can also be terminated with
 * pg_terminate_backend (57P01, what a restart or RDS failover sends). On the embedded default it is
 * PGlite served over TCP by @electric-sql/pglite-socket, so the real `pg` pool is exercised either
 * way; PGlite has a single backend, so "terminate" is the proxy reset there.
 */
export interface ProxiedDatabase {
  /** What the service uses: a pg pool through the proxy. */
  service: DatabaseHandle;
  /** Direct connection for assertions. */
  direct: DatabaseHandle;
  proxy: CuttableProxy;
  backend: 'postgres' | 'pglite-socket';
  /** Connection errors the service's pool reported (the process must survive every one). */
  connectionErrors: Error[];
  /** Terminates the service's backends the way a restart does; returns how many were killed. */
  terminateBackends(): Promise<number>;
  close(): Promise<void>;
}

export async function openProxiedDatabase(): Promise<ProxiedDatabase> {
  const connectionErrors: Error[] = [];
  const onConnectionError = (error: Error) => connectionErrors.push(error);
  if (process.env.DATABASE_URL) {
    const own: TestDatabase = await createTestDatabase({ poolMax: 2 });
    const url = new URL(own.url!);
    const proxy = await startProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const proxied = new URL(url.toString());
    proxied.hostname = proxy.host;
    proxied.port = String(proxy.port);
    const service = await openDatabase({ url: proxied.toString(), poolMax: 4, onConnectionError });
    return {
      service,
      direct: own,
      proxy,
      backend: 'postgres',
      connectionErrors,
      terminateBackends: async () => {
        // From a separate connection, only this suite's database, never the caller itself.
        const admin = new Client({ connectionString: own.url });
        await admin.connect();
        try {
          const result = await admin.query(
            "select pg_terminate_backend(pid) as killed from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
          );
          return result.rows.filter((r: { killed: boolean }) => r.killed).length;
        } finally {
          await admin.end();
        }
      },
      close: async () => {
        await service.close();
        await proxy.close();
        await own.close();
      },
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const templatePath = process.env.UPIIK_PGLITE_TEMPLATE;
  const pglite = templatePath ? await PGlite.create({ loadDataDir: new Blob([readFileSync(templatePath)]) }) : await PGlite.create();
  const server = new PGLiteSocketServer({ db: pglite, port: 0, host: '127.0.0.1', maxConnections: 16 });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  const base = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const direct = await openDatabase({ url: base, poolMax: 1 });
  if (!templatePath) await migrateToLatest(direct.db);
  const proxy = await startProxy({ host: '127.0.0.1', port });
  // One connection: PGlite is one backend session, so transactions from several connections would
  // interleave inside it (one's COMMIT ending another's work); the drain's lanes then share it.
  const service = await openDatabase({ url: `postgres://postgres@${proxy.host}:${proxy.port}/postgres`, poolMax: 1, onConnectionError });
  return {
    service,
    direct,
    proxy,
    backend: 'pglite-socket',
    connectionErrors,
    terminateBackends: async () => {
      const open = proxy.open;
      proxy.cut();
      proxy.restore();
      return open;
    },
    close: async () => {
      await service.close();
      await direct.close();
      await proxy.close();
      await server.stop();
      await pglite.close();
    },
  };
}
