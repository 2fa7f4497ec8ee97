import Redis from 'ioredis';
import { dependencyFailed } from '../errors';
import { runWithLock, type LockPrimitives } from './lock';
import { assertPositive, lockKey, type RedisStore as RedisStoreContract } from './types';

/** How long startup may take to reach Redis before the process gives up with a clear message. */
const STARTUP_TIMEOUT_MS = 5_000;
/** Reconnect attempts allowed during startup; after a first `ready`, ioredis reconnects forever with backoff. */
const STARTUP_RETRIES = 2;

// INCR and the window's expiry in one round trip, so a crash between them cannot leave a counter
// that never resets. A counter found without expiry gets one.
const INCREMENT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`;

// Compare-and-delete: only the holder of the token may release the lock.
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Socket errors (ECONNREFUSED, ETIMEDOUT, TLS) and server replies (WRONGPASS) say why; client-side queue errors do not. */
function isInformative(error: Error): boolean {
  return typeof (error as NodeJS.ErrnoException).code === 'string' || error.name === 'ReplyError';
}

type ScriptedRedis = Redis & {
  storeIncrement(key: string, windowMs: number): Promise<[number, number]>;
  storeReleaseLock(key: string, token: string): Promise<number>;
};

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  onError?: (error: Error) => void;
}

/** The URL without credentials, for messages and logs (the ElastiCache auth token sits in it). */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}`;
  } catch {
    return '(unparseable URL)';
  }
}

export class RedisBackedStore implements RedisStoreContract {
  readonly backend = 'redis' as const;
  private closed = false;
  private readonly lock: LockPrimitives = {
    tryAcquire: (key, token, ttlMs) => this.setIfAbsent(lockKey(key), token, ttlMs),
    release: async (key, token) => {
      // A failed release is not the caller's failure: the lock expires on its own after ttlMs.
      await this.scripted.storeReleaseLock(lockKey(key), token).catch((error: unknown) => this.reportError(error));
    },
  };

  private constructor(
    readonly redis: Redis,
    private readonly onError: ((error: Error) => void) | undefined,
  ) {}

  private get scripted(): ScriptedRedis {
    return this.redis as ScriptedRedis;
  }

  /**
   * Connects and waits until Redis answers. Fails within a few seconds with a message naming
   * REDIS_URL instead of reconnecting forever, so a misconfigured task stops at boot.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisBackedStore> {
    let started = false;
    let lastError: Error | undefined;
    const redis = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      lazyConnect: true,
      connectTimeout: 3_000,
      // ioredis arms this timer when disconnecting; it outlives an already closed socket.
      disconnectTimeout: 500,
      commandTimeout: 2_000,
      maxRetriesPerRequest: 2,
      // Fail fast while disconnected: a request should get a 5xx, not wait in a queue.
      enableOfflineQueue: false,
      // ioredis only switches TLS on for a lower-case `rediss://`; be explicit.
      ...(/^rediss:/i.test(options.url) ? { tls: {} } : {}),
      retryStrategy: (attempt) => {
        if (!started) return attempt <= STARTUP_RETRIES ? 250 * attempt : null;
        return Math.min(100 * 2 ** attempt, 3_000);
      },
    });
    redis.defineCommand('storeIncrement', { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
    redis.defineCommand('storeReleaseLock', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
    const store = new RedisBackedStore(redis, options.onError);
    redis.on('error', (error: Error) => {
      if (started) store.reportError(error);
      else if (!lastError || isInformative(error)) lastError = error;
    });

    let timer: NodeJS.Timeout | undefined;
    let onReady: (() => void) | undefined;
    let onEnd: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        onReady = resolve;
        onEnd = () => reject(lastError && isInformative(lastError) ? lastError : new Error('the connection closed before Redis answered'));
        redis.once('ready', onReady);
        redis.once('end', onEnd);
        timer = setTimeout(() => reject(lastError && isInformative(lastError) ? lastError : new Error(`no answer within ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS);
        // connect() rejects on the first failed attempt; 'end' tells when retries are exhausted.
        redis.connect().catch(() => undefined);
      });
      await redis.ping();
    } catch (error) {
      // Once retries are exhausted the socket is already gone; disconnecting again would arm
      // ioredis's 2 s destroy timer on a closed stream and keep the process alive for nothing.
      if (redis.status !== 'end') redis.disconnect();
      throw new Error(
        `REDIS_URL: cannot reach Redis at ${describeRedisUrl(options.url)} (${(error as Error).message}). ` +
          'Check REDIS_URL (rediss:// for TLS, auth token in the URL) or unset it to use the in-process store.',
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
      if (onReady) redis.off('ready', onReady);
      if (onEnd) redis.off('end', onEnd);
    }
    started = true;
    return store;
  }

  async get(key: string): Promise<string | null> {
    return this.command(() => this.redis.get(key));
  }

  async set(key: string, value: string, options: { ttlSeconds?: number } = {}): Promise<void> {
    if (options.ttlSeconds === undefined) {
      await this.command(() => this.redis.set(key, value));
      return;
    }
    assertPositive('ttlSeconds', options.ttlSeconds);
    const ttlMs = Math.ceil(options.ttlSeconds * 1000);
    await this.command(() => this.redis.set(key, value, 'PX', ttlMs));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    assertPositive('ttlMs', ttlMs);
    const reply = await this.command(() => this.redis.set(key, value, 'PX', Math.ceil(ttlMs), 'NX'));
    return reply === 'OK';
  }

  async del(key: string): Promise<boolean> {
    return (await this.command(() => this.redis.del(key))) > 0;
  }

  async ttlSeconds(key: string): Promise<number | null> {
    const ms = await this.command(() => this.redis.pttl(key));
    // -2: missing, -1: no expiry.
    return ms < 0 ? null : Math.ceil(ms / 1000);
  }

  async increment(key: string, windowMs: number): Promise<{ count: number; resetInMs: number }> {
    assertPositive('windowMs', windowMs);
    const [count, resetInMs] = await this.command(() => this.scripted.storeIncrement(key, Math.ceil(windowMs)));
    return { count, resetInMs };
  }

  withLock<T>(key: string, options: { ttlMs: number; waitMs: number }, fn: () => Promise<T>): Promise<T> {
    return runWithLock(this.lock, key, options, fn);
  }

  async ping(): Promise<void> {
    await this.command(() => this.redis.ping());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.redis.quit();
    } catch {
      // Already disconnected: nothing left to flush.
      this.redis.disconnect();
    }
  }

  /** Redis failures become a 502 `redis_unavailable`, so webhook callers retry and on-call sees which dependency failed. */
  private async command<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw dependencyFailed('redis', error);
    }
  }

  private reportError(error: unknown): void {
    this.onError?.(error instanceof Error ? error : new Error(String(error)));
  }
}
