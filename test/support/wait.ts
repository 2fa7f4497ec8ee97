/**
 * Waiting in tests: for a condition or an event, never for a fixed time. A loaded machine (CI
 * runners, 2 cores shared by several jest workers) makes everything slower; the bounds below only
 * decide when a wait that will never end is reported, so they are generous on purpose. The jest
 * `testTimeout` (jest.config.js) is the outermost bound and is larger than any of these.
 */

/** Outer bound for anything that settles on its own: webhook deliveries, alerts, a process starting. */
export const SETTLE_MS = 150_000;

/** jest's per-test bound (kept in jest.config.js, repeated here for tests that need a larger one). */
export const TEST_TIMEOUT_MS = 300_000;

export interface WaitOptions {
  /** Give up after this long (default SETTLE_MS). */
  timeoutMs?: number;
  /** Pause between probes (default 25 ms). */
  intervalMs?: number;
  /** What is being waited for, for the error message. */
  what?: string;
}

/**
 * Probes until it returns something other than undefined/false/null, and returns that. Rejects with
 * `what` and the last probe error if the bound passes first.
 */
export async function waitUntil<T>(probe: () => T | Promise<T>, options: WaitOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const { timeoutMs = SETTLE_MS, intervalMs = 25, what = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `: last probe failed with ${lastError.message}` : '';
      throw new Error(`${what} not reached within ${timeoutMs} ms${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves with the first chunk of `stream` output (accumulated) that matches `pattern`. */
export function waitForOutput(
  stream: NodeJS.ReadableStream,
  pattern: RegExp,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<RegExpExecArray> {
  const { timeoutMs = SETTLE_MS, what = String(pattern) } = options;
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString();
      const match = pattern.exec(text);
      if (match) {
        cleanup();
        resolve(match);
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`stream ended before ${what}; output: ${text.slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} not seen within ${timeoutMs} ms; output: ${text.slice(-2000)}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
  });
}
