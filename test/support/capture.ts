import { Writable } from 'node:stream';

export interface CapturedLines<T = Record<string, unknown>> {
  stream: Writable;
  /** The raw text written so far. */
  text(): string;
  /** Every non-empty line written so far, parsed as JSON. */
  lines(): T[];
}

/**
 * An in-memory writable for line-oriented JSON output (EMF metric lines, logs): what a suite
 * injects instead of stdout, so the output is asserted on and never printed into the test run.
 */
export function captureLines<T = Record<string, unknown>>(): CapturedLines<T> {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  const text = () => chunks.join('');
  return {
    stream,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as T),
  };
}
