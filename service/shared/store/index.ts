import { MemoryStore } from './memory-store';
import { RedisBackedStore } from './redis-store';
import { DEFAULT_KEY_PREFIX, type RedisStore, type Store, type StoreOptions } from './types';

export type { RedisStore, Store, StoreOptions } from './types';
export { describeRedisUrl } from './redis-store';
export { FailoverStore } from './failover-store';

/**
 * Redis when `redisUrl` is set (connected and answering before this resolves, or a clear error
 * naming REDIS_URL within a few seconds); the in-process store otherwise.
 */
export async function createStore(options: StoreOptions): Promise<Store> {
  if (options.redisUrl) {
    return RedisBackedStore.connect({
      url: options.redisUrl,
      keyPrefix: options.keyPrefix ?? DEFAULT_KEY_PREFIX,
      onError: options.onError,
    });
  }
  return new MemoryStore({ now: options.now });
}

/** Narrows to the Redis store, e.g. to hand its client to rate-limit-redis. */
export function isRedisStore(store: Store): store is RedisStore {
  return store.backend === 'redis' && 'redis' in store;
}
