import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { serviceUnavailable } from '../errors';
import { assertPositive } from './types';

/** The two primitives a backend provides; the waiting policy is shared so both behave alike. */
export interface LockPrimitives {
  tryAcquire(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Deletes the lock only when it still holds `token`. */
  release(key: string, token: string): Promise<void>;
}

const MIN_SLEEP_MS = 5;
const MAX_SLEEP_MS = 50;

/**
 * Acquire, run, release. Waiting uses the real monotonic clock (not an injected one), because it
 * is about how long a caller is kept waiting; expiry is the backend's business.
 */
export async function runWithLock<T>(
  primitives: LockPrimitives,
  key: string,
  options: { ttlMs: number; waitMs: number },
  fn: () => Promise<T>,
): Promise<T> {
  assertPositive('ttlMs', options.ttlMs);
  if (!Number.isFinite(options.waitMs) || options.waitMs < 0) {
    throw new RangeError(`waitMs must be zero or a positive number of milliseconds, got ${options.waitMs}`);
  }
  const token = randomUUID();
  const deadline = performance.now() + options.waitMs;
  let attempt = 0;
  while (!(await primitives.tryAcquire(key, token, options.ttlMs))) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      throw serviceUnavailable(`Timed out after ${options.waitMs} ms waiting for lock "${key}"`, 'lock_timeout', undefined, 1);
    }
    // Jittered, slowly growing sleeps so contenders do not retry in lockstep.
    const ceiling = Math.min(MAX_SLEEP_MS, MIN_SLEEP_MS * 2 ** Math.min(attempt, 4));
    attempt += 1;
    await sleep(Math.min(remaining, MIN_SLEEP_MS + Math.random() * ceiling));
  }
  try {
    return await fn();
  } finally {
    await primitives.release(key, token);
  }
}
