import type Stripe from 'stripe';
import type { Config } from './shared/config';
import { type DatabaseHandle, migrateToLatest, openDatabase } from './shared/db';
import { errorMessage } from './shared/errors';
import type { Logger } from './shared/logger';
import { createStore, type Store } from './shared/store';
import { createStripeClient } from './shared/stripe-client';

export interface ServiceDependencies {
  database: DatabaseHandle;
  store: Store;
  stripe: Stripe;
  /** Closes the pool and the store; safe to call once the users of both have stopped. */
  close(): Promise<void>;
}

/**
 * Opens what the service talks to, from configuration: the database (migrated to the latest
 * schema), the store and the Stripe client. Shared by the service and the operational commands
 * so they connect exactly alike. Nothing is left open when it fails part-way.
 */
export async function connectDependencies(config: Config, logger: Logger, options: { poolMax?: number } = {}): Promise<ServiceDependencies> {
  const database = await openDatabase({
    url: config.database.url,
    parts: config.database.parts,
    pgliteDir: config.database.pgliteDir,
    poolMax: options.poolMax,
    // A restart or failover drops connections; the pool replaces them and the affected requests answer 5xx.
    onConnectionError: (err) => logger.warn('database connection lost; the pool will open a new one', { error: errorMessage(err), code: (err as NodeJS.ErrnoException).code }),
    // RDS rotates the password: the login is read from its secret at run time (parts mode only).
    onCredentialsEvent: (event) => {
      if (event.type === 'read-failed') logger.error('could not read the database credentials secret', { error: errorMessage(event.error) });
      else if (event.type === 'refresh-skipped') logger.warn('database refused the login; credentials secret not re-read yet', { retryInMs: event.retryInMs });
      else logger.info('database credentials read', { changed: event.changed, generation: event.generation });
    },
  });
  let store: Store | undefined;
  try {
    const applied = await migrateToLatest(database.db);
    logger.info('database ready', { backend: database.backend, migrationsApplied: applied });
    store = await createStore({
      redisUrl: config.redis.url,
      onError: (err) => logger.error('redis connection error', { error: err }),
    });
    logger.info('store ready', { backend: store.backend });
  } catch (err) {
    await store?.close().catch(() => undefined);
    await database.close().catch(() => undefined);
    throw err;
  }
  const stripe = createStripeClient({ secretKey: config.stripe.secretKey, apiVersion: config.stripe.apiVersion, apiBase: config.stripe.apiBase });
  const openStore = store;
  return {
    database,
    store: openStore,
    stripe,
    close: async () => {
      await Promise.allSettled([database.close(), openStore.close()]);
    },
  };
}
