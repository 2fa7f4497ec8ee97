import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { AppError } from '../../../service/shared/errors';
import { createStore, isRedisStore, type Store } from '../../../service/shared/store';

/**
 * One suite, every backend: memory always, Redis when REDIS_URL is set (CI). Time moves through
 * `advance`: an injected clock for memory, real sleeps for Redis.
 */
const REDIS_URL = process.env.REDIS_URL;
const runPrefix = `test:store:${process.pid}:${randomUUID()}:`;

interface Backend {
  name: 'memory' | 'redis';
  create(testPrefix: string): Promise<Store>;
  advance(ms: number): Promise<void>;
}

let fakeNow = Date.UTC(2030, 0, 1);
const backends: Backend[] = [
  {
    name: 'memory',
    create: () => createStore({ now: () => fakeNow }),
    advance: async (ms) => {
      fakeNow += ms;
    },
  },
];
if (REDIS_URL) {
  backends.push({
    name: 'redis',
    create: (testPrefix) => createStore({ redisUrl: REDIS_URL, keyPrefix: testPrefix }),
    advance: (ms) => sleep(ms),
  });
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Deletes every key a test wrote, through a connection that does not apply the prefix. */
async function deleteKeysWithPrefix(prefix: string): Promise<void> {
  if (!REDIS_URL) return;
  const raw = new Redis(REDIS_URL, { lazyConnect: true });
  try {
    await raw.connect();
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await raw.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    raw.disconnect();
  }
}

afterAll(() => deleteKeysWithPrefix(runPrefix));

test('uses the backend the environment selects (Redis when REDIS_URL is set)', async () => {
  const prefix = `${runPrefix}which:`;
  const store = await createStore({ redisUrl: REDIS_URL, keyPrefix: prefix });
  try {
    await store.set('probe', 'seen');
    if (!REDIS_URL) {
      expect(store.backend).toBe('memory');
      expect(isRedisStore(store)).toBe(false);
      return;
    }
    expect(store.backend).toBe('redis');
    expect(isRedisStore(store)).toBe(true);
    const raw = new Redis(REDIS_URL, { lazyConnect: true });
    try {
      await raw.connect();
      expect(await raw.get(`${prefix}probe`)).toBe('seen');
    } finally {
      raw.disconnect();
    }
  } finally {
    await store.close();
  }
});

test('fails at startup with a message naming REDIS_URL, without the credentials, when Redis is unreachable', async () => {
  const started = Date.now();
  const attempt = createStore({ redisUrl: 'redis://:hunter2-auth-token@127.0.0.1:1', keyPrefix: runPrefix });
  await expect(attempt).rejects.toThrow(/REDIS_URL: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  await expect(attempt).rejects.not.toThrow(/hunter2/);
  // It gives up (startup limit 5 s) instead of retrying forever; the bound is generous for a loaded machine.
  expect(Date.now() - started).toBeLessThan(20_000);
});

describe.each(backends)('$name store', (backend) => {
  let store: Store;
  let testPrefix: string;

  beforeEach(async () => {
    testPrefix = `${runPrefix}${randomUUID()}:`;
    store = await backend.create(testPrefix);
  });

  afterEach(async () => {
    await store.close();
    await deleteKeysWithPrefix(testPrefix);
  });

  test('reports its backend', () => {
    expect(store.backend).toBe(backend.name);
  });

  test('answers ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  test('gets, overwrites and deletes values', async () => {
    expect(await store.get('flag')).toBeNull();
    await store.set('flag', 'on');
    await store.set('flag', 'off');
    expect(await store.get('flag')).toBe('off');
    expect(await store.ttlSeconds('flag')).toBeNull();
    expect(await store.del('flag')).toBe(true);
    expect(await store.del('flag')).toBe(false);
    expect(await store.get('flag')).toBeNull();
  });

  test('expires a value after its TTL and reports the remaining seconds before that', async () => {
    await store.set('maintenance', '{"until":"later"}', { ttlSeconds: 1 });
    expect(await store.ttlSeconds('maintenance')).toBe(1);
    await backend.advance(1_100);
    expect(await store.get('maintenance')).toBeNull();
    expect(await store.ttlSeconds('maintenance')).toBeNull();
  });

  test('set without a TTL clears an earlier expiry', async () => {
    await store.set('paused', '1', { ttlSeconds: 60 });
    expect(await store.ttlSeconds('paused')).toBe(60);
    await store.set('paused', '1');
    expect(await store.ttlSeconds('paused')).toBeNull();
  });

  test('setIfAbsent sets only when the key is missing, and again once it expired', async () => {
    expect(await store.setIfAbsent('once', 'first', 200)).toBe(true);
    expect(await store.setIfAbsent('once', 'second', 200)).toBe(false);
    expect(await store.get('once')).toBe('first');
    await backend.advance(250);
    expect(await store.setIfAbsent('once', 'third', 200)).toBe(true);
    expect(await store.get('once')).toBe('third');
  });

  test('increments within a fixed window and starts over after it', async () => {
    const first = await store.increment('hits', 300);
    expect(first.count).toBe(1);
    expect(first.resetInMs).toBeGreaterThan(0);
    expect(first.resetInMs).toBeLessThanOrEqual(300);
    expect((await store.increment('hits', 300)).count).toBe(2);
    const third = await store.increment('hits', 300);
    expect(third.count).toBe(3);
    // The window is fixed: later hits do not push the reset further out.
    expect(third.resetInMs).toBeLessThanOrEqual(first.resetInMs);
    await backend.advance(350);
    expect((await store.increment('hits', 300)).count).toBe(1);
  });

  test('counts every one of many concurrent increments exactly once', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => store.increment('burst', 60_000)));
    expect(results.map((r) => r.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  test('gives a counter found without expiry a window', async () => {
    await store.set('legacy', '7');
    const result = await store.increment('legacy', 5_000);
    expect(result.count).toBe(8);
    expect(result.resetInMs).toBeGreaterThan(0);
    expect(await store.ttlSeconds('legacy')).toBe(5);
  });

  describe('withLock', () => {
    /** Read-modify-write with a yield in between: loses updates unless callers are serialized. */
    const bump = async () => {
      const current = Number((await store.get('counter')) ?? '0');
      await sleep(1);
      await store.set('counter', String(current + 1));
    };

    test('the unlocked read-modify-write used below does lose updates (control)', async () => {
      await Promise.all(Array.from({ length: 20 }, bump));
      expect(Number(await store.get('counter'))).toBeLessThan(20);
    });

    test('serializes 20 concurrent holders so no update is lost', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.withLock('counter', { ttlMs: 5_000, waitMs: 10_000 }, async () => (await bump(), i))),
      );
      expect(Number(await store.get('counter'))).toBe(20);
      expect(results.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    test('releases the lock when fn throws, and passes the error through', async () => {
      const boom = new Error('boom');
      await expect(store.withLock('job', { ttlMs: 5_000, waitMs: 0 }, () => Promise.reject(boom))).rejects.toBe(boom);
      await expect(store.withLock('job', { ttlMs: 5_000, waitMs: 0 }, async () => 'free')).resolves.toBe('free');
    });

    test('does not collide with a data key of the same name', async () => {
      await store.set('customer:u_1', 'data');
      await expect(store.withLock('customer:u_1', { ttlMs: 5_000, waitMs: 0 }, async () => store.get('customer:u_1'))).resolves.toBe('data');
    });

    test('throws a 503 lock_timeout after waiting waitMs for a held lock', async () => {
      const holding = deferred();
      const finish = deferred();
      const holder = store.withLock('job', { ttlMs: 10_000, waitMs: 0 }, async () => {
        holding.resolve();
        await finish.promise;
      });
      await holding.promise;
      const started = performance.now();
      const error = await store.withLock('job', { ttlMs: 10_000, waitMs: 80 }, async () => 'never').catch((e: unknown) => e);
      const waited = performance.now() - started;
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ status: 503, code: 'lock_timeout' });
      expect(waited).toBeGreaterThanOrEqual(75);
      // Gave up after waitMs, not after the holder's 10 s TTL (generous for a loaded machine).
      expect(waited).toBeLessThan(9_000);
      finish.resolve();
      await holder;
    });

    test('a holder whose lock expired does not release the next holder’s lock', async () => {
      const aHolding = deferred();
      const aFinish = deferred();
      const a = store.withLock('job', { ttlMs: 200, waitMs: 0 }, async () => {
        aHolding.resolve();
        await aFinish.promise;
        return 'a';
      });
      await aHolding.promise;
      await backend.advance(300); // A is still running, but its lock has expired.

      const b = store.withLock('job', { ttlMs: 10_000, waitMs: 0 }, async () => {
        aFinish.resolve();
        await expect(a).resolves.toBe('a'); // A finishes and tries to release while B holds.
        await expect(store.withLock('job', { ttlMs: 10_000, waitMs: 50 }, async () => 'c')).rejects.toMatchObject({
          code: 'lock_timeout',
        });
        return 'b';
      });
      await expect(b).resolves.toBe('b');
      // B released its own lock normally.
      await expect(store.withLock('job', { ttlMs: 10_000, waitMs: 0 }, async () => 'd')).resolves.toBe('d');
    });
  });

  test('rejects non-positive TTLs and windows instead of storing keys that never expire', async () => {
    await expect(store.set('k', 'v', { ttlSeconds: 0 })).rejects.toThrow(RangeError);
    await expect(store.setIfAbsent('k', 'v', -1)).rejects.toThrow(RangeError);
    await expect(store.increment('k', Number.NaN)).rejects.toThrow(RangeError);
    expect(await store.get('k')).toBeNull();
  });
});
