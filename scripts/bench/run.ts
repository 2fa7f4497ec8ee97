/**
 * `npm run bench [-- <name>...] [--json]`: runs the benchmarks, each file in its own tsx process one
 * after another (no benchmark warms up or slows down the next), and prints one table of every
 * result with its target. `--json` prints `{machine, date, results}` on stdout (the benchmarks'
 * own progress goes to stderr then) for the README's performance section. Exit 0 when every result
 * met its target, 1 when one did not or a benchmark failed, 2 for a wrong invocation.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type BenchResult, machine } from './report';

/** Every benchmark name, in run order, and the file that measures it. */
export const BENCHMARKS: Record<string, string> = {
  'webhook-ingest': 'ingest.bench.ts',
  'webhook-ingest-stripe-slow': 'ingest.bench.ts',
  'webhook-ingest-growth': 'ingest.bench.ts',
  ready: 'startup.bench.ts',
  'production-deps': 'startup.bench.ts',
  'replay-10k': 'ops.bench.ts',
  'rollback-trigger': 'ops.bench.ts',
  'dashboard-90d': 'dashboard.bench.ts',
  'sandbox-throughput': 'sandbox.bench.ts',
};

const USAGE = `usage: npm run bench [-- <name>...] [--json]
names: ${Object.keys(BENCHMARKS).join(', ')}`;

function main(argv: string[]): number {
  let parsed: { values: { json?: boolean; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  const unknown = parsed.positionals.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(`bench: unknown benchmark ${unknown.join(', ')}\n${USAGE}`);
    return 2;
  }
  const names = parsed.positionals.length > 0 ? parsed.positionals : Object.keys(BENCHMARKS);
  const files = [...new Set(names.map((n) => BENCHMARKS[n]!))];
  const json = parsed.values.json === true;
  const dir = mkdtempSync(join(tmpdir(), 'upiik-bench-'));
  const resultsFile = join(dir, 'results.jsonl');
  const date = new Date().toISOString();
  const failedFiles: string[] = [];
  try {
    for (const file of files) {
      console.error(`\n== ${file}`);
      const result = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, file)], {
        // With --json, stdout carries only the final document.
        stdio: ['ignore', json ? 2 : 'inherit', 'inherit'],
        env: { ...process.env, BENCH_ONLY: names.join(','), BENCH_RESULTS: resultsFile },
      });
      if (result.status !== 0) failedFiles.push(`${file} (exit ${result.status ?? result.signal})`);
    }
    let results: BenchResult[] = [];
    try {
      results = readFileSync(resultsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as BenchResult);
    } catch {
      // No benchmark reported anything.
    }
    const missing = names.filter((n) => !results.some((r) => r.name === n));
    if (json) {
      console.log(JSON.stringify({ machine: machine(), date, results, ...(missing.length ? { missing } : {}), ...(failedFiles.length ? { failed: failedFiles } : {}) }, null, 2));
    } else {
      console.log(`\n${'benchmark'.padEnd(28)} ${'result'.padEnd(6)} figures (target)`);
      for (const r of results) {
        const figures = Object.entries(r)
          .filter(([k]) => !['name', 'target', 'pass'].includes(k))
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(' ');
        console.log(`${r.name.padEnd(28)} ${(r.pass ? 'pass' : 'FAIL').padEnd(6)} ${figures} (${r.target})`);
      }
      for (const n of missing) console.log(`${n.padEnd(28)} ${'none'.padEnd(6)} no result (see its output above)`);
      for (const f of failedFiles) console.log(`failed: ${f}`);
    }
    return failedFiles.length > 0 || missing.length > 0 || results.some((r) => !r.pass) ? 1 : 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
