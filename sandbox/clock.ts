/**
 * The sandbox clock: real time plus an offset that only moves forward (advanceClock). Billing work
 * that happens "at" a period boundary runs inside `at(t, fn)` so objects and events created for
 * that boundary carry its timestamp, as they would on Stripe with a test clock.
 */
export class SandboxClock {
  private offsetSeconds = 0;
  private pinned: number | undefined;

  now(): number {
    return this.pinned ?? Math.floor(Date.now() / 1000) + this.offsetSeconds;
  }

  advance(seconds: number): void {
    this.offsetSeconds += seconds;
  }

  get offset(): number {
    return this.offsetSeconds;
  }

  set offset(value: number) {
    this.offsetSeconds = value;
  }

  at<T>(timestamp: number, fn: () => T): T {
    const previous = this.pinned;
    this.pinned = timestamp;
    try {
      return fn();
    } finally {
      this.pinned = previous;
    }
  }
}
