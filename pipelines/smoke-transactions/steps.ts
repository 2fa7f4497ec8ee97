import type { ReportRow } from '../../scripts/lib/report';
import type { StepClock } from '../lib/clock';

/**
 * How the smoke program times and reports each of its steps: one report row per step with its
 * duration, and a failure that says what happened and what the on-call engineer checks, so the
 * step's summary can be read on its own in the job log.
 */
export class SmokeFailure extends Error {
  override readonly name = 'SmokeFailure';
  constructor(
    message: string,
    /** What the on-call engineer checks (a place in Stripe, a runbook, a command). */
    readonly check: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface StepRecord {
  name: string;
  ok: boolean;
  ms: number;
}

export class StepLog {
  readonly rows: ReportRow[] = [];
  constructor(private readonly clock: StepClock) {}

  /**
   * Runs one step and records its row. A SmokeFailure keeps its message and check; any other
   * error (Stripe or the network refusing) is reported with `check` as what to look at.
   */
  async run<T>(name: string, check: string, body: () => Promise<{ found: string; value: T }>): Promise<T> {
    const started = this.clock.now();
    try {
      const { found, value } = await body();
      this.rows.push({ name, ok: true, found, durationMs: this.clock.now() - started });
      return value;
    } catch (error) {
      const failure = error instanceof SmokeFailure ? error : new SmokeFailure(describe(error), check, { cause: error });
      this.rows.push({ name, ok: false, found: failure.message, fix: failure.check, durationMs: this.clock.now() - started });
      throw new StepFailed(name, failure);
    }
  }

  /** The `steps` output: what the release summary shows per step. */
  records(): StepRecord[] {
    return this.rows.map((r) => ({ name: r.name, ok: r.ok, ms: Math.round(r.durationMs ?? 0) }));
  }
}

/** A step that failed: its row is already recorded; the sequence stops here. */
export class StepFailed extends Error {
  override readonly name = 'StepFailed';
  constructor(
    readonly step: string,
    readonly failure: SmokeFailure,
  ) {
    super(`${step}: ${failure.message}`);
  }

  /** The sentence on-call reads first: the step, what happened, what to check. */
  sentence(): string {
    return `step "${this.step}" failed: ${this.failure.message}: ${this.failure.check}`;
  }
}

export const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export interface PollOptions {
  clock: StepClock;
  timeoutMs: number;
  pollMs: number;
}

/**
 * Polls until `probe` returns a value (not undefined) or the timeout passes. A probe that throws is
 * a missed poll (a deploy's brief 502, a dropped connection), not the end of the wait; its message
 * is kept for the timeout's report. Every wait is bounded by the step's timeout_seconds.
 */
export async function pollUntil<T>(options: PollOptions, probe: () => Promise<T | undefined>): Promise<{ value: T } | { value: undefined; lastError?: string }> {
  const deadline = options.clock.now() + options.timeoutMs;
  let lastError: string | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return { value };
      lastError = undefined;
    } catch (error) {
      lastError = describe(error);
    }
    if (options.clock.now() >= deadline) return { value: undefined, ...(lastError ? { lastError } : {}) };
    await options.clock.sleep(Math.max(1, Math.min(options.pollMs, deadline - options.clock.now())));
  }
}

/** "60 s" for a timeout in milliseconds. */
export const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;
