import type Redis from 'ioredis';

/**
 * Shared ephemeral state: maintenance and webhook-pause flags, rate-limit counters, short locks.
 * Redis in staging/production/CI, an in-process map on a fresh clone; both honour this contract
 * and are exercised by the same test suite.
 */
export interface Store {
  readonly backend: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /** Overwrites the value; without `ttlSeconds` the key no longer expires (like Redis SET). */
  set(key: string, value: string, options?: { ttlSeconds?: number }): Promise<void>;
  /** SET NX with expiry; true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** True when a key was deleted. */
  del(key: string): Promise<boolean>;
  /** Remaining TTL in whole seconds (rounded up), null when the key is missing or has no expiry. */
  ttlSeconds(key: string): Promise<number | null>;
  /** Atomic counter within a fixed window: returns the count after increment and ms until reset. */
  increment(key: string, windowMs: number): Promise<{ count: number; resetInMs: number }>;
  /**
   * Runs fn while holding a short lock. Release is token-checked, so a holder whose lock expired
   * never releases the next holder's lock. Waits up to `waitMs` (real time) retrying with small
   * jittered sleeps, then throws an AppError 503 with code `lock_timeout`.
   * `ttlMs` bounds how long a crashed holder can block others: keep fn well under it.
   */
  withLock<T>(key: string, options: { ttlMs: number; waitMs: number }, fn: () => Promise<T>): Promise<T>;
  /** Resolves when the backend answers; throws when it is unreachable (readiness probe). */
  ping(): Promise<void>;
  /** Releases connections and timers; safe to call twice. */
  close(): Promise<void>;
}

/** The Redis-backed store also exposes its client, e.g. for rate-limit-redis's `sendCommand`. */
export interface RedisStore extends Store {
  readonly backend: 'redis';
  /** Raw client; note that it applies the store's `keyPrefix` to every key it sends. */
  readonly redis: Redis;
}

export interface StoreOptions {
  /** `redis://` or `rediss://` (TLS, e.g. ElastiCache in-transit encryption; auth token in the URL). Unset = memory. */
  redisUrl?: string;
  /** Prepended to every key (Redis only has one keyspace per db; tests isolate runs by prefix). */
  keyPrefix?: string;
  /** Clock in ms for expiries; memory store only, so tests can move time forward. */
  now?: () => number;
  /** Called with connection errors after startup (ioredis reconnects by itself); wire the logger here. */
  onError?: (error: Error) => void;
}

export const DEFAULT_KEY_PREFIX = 'upiik-payments:';

/** Lock keys live in their own namespace so a lock never collides with a data key of the same name. */
export const lockKey = (key: string) => `lock:${key}`;

export function assertPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number of milliseconds or seconds, got ${value}`);
  }
}
