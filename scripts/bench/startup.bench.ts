/**
 * What a new task costs when ECS scales out or a canary starts, laid out as the image lays it out
 * (Dockerfile): the production install (`npm ci --omit=dev`) and the compiled build (`npm run
 * build`) side by side in a scratch directory, nothing else.
 * - `production-deps`: the size of that node_modules (what the image pulls beyond the base), target
 *   <= 60 MB (10^6 bytes, file contents).
 * - `ready`: `node dist/service/main.js` from there, on real PostgreSQL (a migrated database, as
 *   after the deploy's migration), until `/health/ready` answers 200: the median of 3 starts,
 *   target <= 1.5 s. Running from that directory also proves the build needs nothing the
 *   production install leaves out.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateToLatest, openDatabase } from '../../service/shared/db';
import { report, wanted } from './report';
import { databaseServer, freePort, freshDatabase, serviceEnv, startProcess } from './support';

const ROOT = join(__dirname, '..', '..');
const STARTS = 3;

function bytesUnder(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) total += bytesUnder(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

async function main(): Promise<void> {
  if (!wanted('production-deps') && !wanted('ready')) return;
  const dir = mkdtempSync(join(tmpdir(), 'upiik-bench-image-'));
  try {
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    console.error('npm ci --omit=dev (as the image does) ...');
    execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    const megabytes = bytesUnder(join(dir, 'node_modules')) / 1e6;
    const largest = readdirSync(join(dir, 'node_modules'))
      .filter((n) => !n.startsWith('.'))
      .flatMap((n) => (n.startsWith('@') ? readdirSync(join(dir, 'node_modules', n)).map((m) => `${n}/${m}`) : [n]))
      .map((n) => ({ n, mb: bytesUnder(join(dir, 'node_modules', n)) / 1e6 }))
      .sort((a, b) => b.mb - a.mb)
      .slice(0, 3)
      .map(({ n, mb }) => `${n} ${mb.toFixed(1)}`)
      .join(', ');
    if (wanted('production-deps')) report({ name: 'production-deps', megabytes, largest, target: 'production node_modules <= 60 MB', pass: megabytes <= 60 });
    if (!wanted('ready')) return;

    console.error('npm run build ...');
    execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    const database = await freshDatabase(databaseServer(), 'ready');
    try {
      const handle = await openDatabase({ url: database.url, poolMax: 1 });
      await migrateToLatest(handle.db);
      await handle.close();
      const times: number[] = [];
      for (let i = 0; i < STARTS; i++) {
        const port = await freePort();
        const service = await startProcess({
          args: ['dist/service/main.js'],
          cwd: dir,
          port,
          readyPath: '/health/ready',
          env: { PATH: process.env.PATH, ...serviceEnv({ port, databaseUrl: database.url, stripe: { apiBase: 'http://127.0.0.1:9', webhookSecret: 'whsec_bench', prices: { monthly: 'price_bench_monthly', yearly: 'price_bench_yearly' } } }) },
        });
        times.push(service.readyMs);
        await service.stop();
      }
      times.sort((a, b) => a - b);
      const seconds = times[Math.floor(times.length / 2)]! / 1000;
      report({ name: 'ready', seconds, starts: STARTS, slowestSeconds: times[times.length - 1]! / 1000, store: process.env.REDIS_URL ? 'redis' : 'in-process', target: 'compiled build on PostgreSQL, start to /health/ready 200 <= 1.5 s (median)', pass: seconds <= 1.5 });
    } finally {
      await database.drop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
