import { errorMessage } from '../errors';
import { MemoryStore } from './memory-store';
import type { Store } from './types';

/**
 * A store that keeps working in this process while the shared one (Redis) does not answer: each
 * operation goes to the primary and, when that fails, to a process-local MemoryStore. Only for state
 * whose loss costs precision, not correctness: alert throttle windows and occurrence counts (during
 * an outage each instance throttles on its own, so on-call may get one alert per instance instead of
 * none). Never for flags whose absence means something (webhook pause, maintenance): a local copy
 * would read "not set". Locks stay on the primary only; a lock that is not shared is no lock.
 */
export class FailoverStore implements Store {
  private readonly local = new MemoryStore();
  private failing = false;

  constructor(
    private readonly primary: Store,
    private readonly onChange: (failing: boolean, detail: string) => void = () => undefined,
  ) {}

  get backend(): Store['backend'] {
    return this.primary.backend;
  }

  get(key: string) {
    return this.either((s) => s.get(key));
  }

  set(key: string, value: string, options?: { ttlSeconds?: number }) {
    return this.either((s) => s.set(key, value, options));
  }

  setIfAbsent(key: string, value: string, ttlMs: number) {
    return this.either((s) => s.setIfAbsent(key, value, ttlMs));
  }

  del(key: string) {
    return this.either((s) => s.del(key));
  }

  ttlSeconds(key: string) {
    return this.either((s) => s.ttlSeconds(key));
  }

  increment(key: string, windowMs: number) {
    return this.either((s) => s.increment(key, windowMs));
  }

  withLock<T>(key: string, options: { ttlMs: number; waitMs: number }, fn: () => Promise<T>): Promise<T> {
    return this.primary.withLock(key, options, fn);
  }

  ping(): Promise<void> {
    return this.primary.ping();
  }

  /** Closes the local fallback only: the primary belongs to whoever passed it in. */
  close(): Promise<void> {
    return this.local.close();
  }

  private async either<T>(operation: (store: Store) => Promise<T>): Promise<T> {
    try {
      const result = await operation(this.primary);
      if (this.failing) {
        this.failing = false;
        this.onChange(false, 'the shared store answers again');
      }
      return result;
    } catch (error) {
      if (!this.failing) {
        this.failing = true;
        this.onChange(true, errorMessage(error));
      }
      return operation(this.local);
    }
  }
}
