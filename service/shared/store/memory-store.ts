import { runWithLock, type LockPrimitives } from './lock';
import { assertPositive, lockKey, type Store } from './types';

interface Entry {
  value: string;
  /** Absolute time in ms on the store's clock; undefined = never expires. */
  expiresAt: number | undefined;
}

const SWEEP_INTERVAL_MS = 30_000;

/**
 * In-process store for a fresh clone and single-process runs: a Map with expiries, checked lazily
 * on every read and swept periodically so abandoned keys (rate-limit windows) do not pile up.
 * Same semantics as the Redis store; not shared between processes, so never use it with more
 * than one instance.
 */
export class MemoryStore implements Store {
  readonly backend = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  private readonly lock: LockPrimitives = {
    tryAcquire: async (key, token, ttlMs) => this.setIfAbsent(lockKey(key), token, ttlMs),
    release: async (key, token) => {
      if (this.read(lockKey(key))?.value === token) this.entries.delete(lockKey(key));
    },
  };

  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  async get(key: string): Promise<string | null> {
    this.assertOpen();
    return this.read(key)?.value ?? null;
  }

  async set(key: string, value: string, options: { ttlSeconds?: number } = {}): Promise<void> {
    this.assertOpen();
    let expiresAt: number | undefined;
    if (options.ttlSeconds !== undefined) {
      assertPositive('ttlSeconds', options.ttlSeconds);
      expiresAt = this.now() + Math.ceil(options.ttlSeconds * 1000);
    }
    this.entries.set(key, { value, expiresAt });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    assertPositive('ttlMs', ttlMs);
    if (this.read(key)) return false;
    this.entries.set(key, { value, expiresAt: this.now() + Math.ceil(ttlMs) });
    return true;
  }

  async del(key: string): Promise<boolean> {
    this.assertOpen();
    const existed = this.read(key) !== undefined;
    this.entries.delete(key);
    return existed;
  }

  async ttlSeconds(key: string): Promise<number | null> {
    this.assertOpen();
    const entry = this.read(key);
    if (entry?.expiresAt === undefined) return null;
    return Math.ceil((entry.expiresAt - this.now()) / 1000);
  }

  async increment(key: string, windowMs: number): Promise<{ count: number; resetInMs: number }> {
    this.assertOpen();
    assertPositive('windowMs', windowMs);
    const now = this.now();
    const entry = this.read(key);
    let count = 1;
    if (entry) {
      count = Number(entry.value) + 1;
      // Same failure as Redis INCR on a non-integer value, so callers see one behaviour.
      if (!Number.isSafeInteger(count)) throw new Error(`ERR value is not an integer or out of range (key "${key}")`);
    }
    // A counter without expiry (set by something else) gets one, as the Redis script does.
    const expiresAt = entry?.expiresAt ?? now + Math.ceil(windowMs);
    this.entries.set(key, { value: String(count), expiresAt });
    return { count, resetInMs: expiresAt - now };
  }

  withLock<T>(key: string, options: { ttlMs: number; waitMs: number }, fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    return runWithLock(this.lock, key, options, fn);
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.entries.clear();
  }

  /** The live entry for key, deleting it when it has expired. */
  private read(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.entries.delete(key);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('Store is closed');
  }
}
