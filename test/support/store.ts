import { randomBytes } from 'node:crypto';
import { createStore, type Store } from '../../service/shared/store';

/** Redis (with a key prefix unique to this suite) when REDIS_URL is set, the in-process store otherwise. */
export async function createTestStore(options: { keyPrefix?: string } = {}): Promise<Store> {
  return createStore({
    redisUrl: process.env.REDIS_URL,
    keyPrefix: options.keyPrefix ?? `upiik-test:${process.pid}:${randomBytes(4).toString('hex')}:`,
  });
}
