/**
 * What every benchmark file shares with `npm run bench` (run.ts): which results were asked for, and
 * one way to hand a result back. Each result is `{name, ...figures, target, pass}`; the runner
 * collects them from the file named by BENCH_RESULTS (one JSON object per line) and prints the table
 * or, with `--json`, `{machine, date, results}`.
 */
import { appendFileSync } from 'node:fs';
import os from 'node:os';

export interface BenchResult {
  name: string;
  /** The target in words, e.g. "ratio >= 0.5 and p99 <= 25 ms". */
  target: string;
  pass: boolean;
  /** Figures: numbers (rounded by the reporter), or a short note. */
  [figure: string]: string | number | boolean;
}

/** Names selected by `npm run bench -- <name>...` (BENCH_ONLY, comma-separated); every name when unset. */
export function wanted(name: string): boolean {
  const only = process.env.BENCH_ONLY;
  return !only || only.split(',').includes(name);
}

const round = (value: number): number => (Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 100) / 100);

/** Prints the result and hands it to the runner. */
export function report(result: BenchResult): void {
  const rounded = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v])) as BenchResult;
  const figures = Object.entries(rounded)
    .filter(([k]) => !['name', 'target', 'pass'].includes(k))
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
  console.log(`${rounded.pass ? 'PASS' : 'FAIL'} ${rounded.name}: ${figures} (target: ${rounded.target})`);
  if (process.env.BENCH_RESULTS) appendFileSync(process.env.BENCH_RESULTS, `${JSON.stringify(rounded)}\n`);
}

/** The machine a run measured: the figures mean nothing without it. */
export function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

/** Nearest-rank percentile of already sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
