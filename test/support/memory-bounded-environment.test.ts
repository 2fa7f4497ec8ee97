import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The jest environment of this repository replaces a worker whose resident memory is above its
 * limit after a suite, as jest does for a large heap only. Four suites that each keep 300 MB
 * outside the V8 heap (as a PGlite suite's WebAssembly memory stays behind) run in a real jest with
 * two workers: over the limit, each suite gets a fresh worker process; with a limit they never
 * reach, the two workers run all four.
 */
jest.setTimeout(300_000);

const run = promisify(execFile);
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'upiik-rss-'));
  for (const name of ['a', 'b', 'c', 'd']) {
    // Kept on a core module, which every suite of a worker shares, so it outlives the suite (as the
    // leaked PGlite memory does) and is outside the heap (a Buffer's bytes are not heapUsed).
    writeFileSync(
      join(dir, `${name}.test.js`),
      `const os = require('node:os');
(os.__retained ??= []).push(Buffer.alloc(300 * 1024 * 1024, 1));
test('${name}', () => { require('node:fs').appendFileSync(process.env.PIDS_FILE, process.pid + '\\n'); });
`,
    );
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function workerPids(limitMb: number): Promise<string[]> {
  const pidsFile = join(dir, `pids-${limitMb}`);
  const config = {
    rootDir: dir,
    testEnvironment: join(__dirname, 'memory-bounded-environment.js'),
    transform: {},
    maxWorkers: 2,
    workerIdleMemoryLimit: '2GB',
  };
  const { stderr } = await run(process.execPath, [join(process.cwd(), 'node_modules/jest/bin/jest.js'), '--config', JSON.stringify(config), '--ci'], {
    env: { ...process.env, PIDS_FILE: pidsFile, UPIIK_JEST_WORKER_RSS_LIMIT_MB: String(limitMb) },
  });
  // The environment's 'message' listener must not keep a finished worker's IPC channel open.
  expect(stderr).not.toContain('failed to exit gracefully');
  return readFileSync(pidsFile, 'utf8').trim().split('\n');
}

test('a worker above the resident limit after a suite is replaced before the next one', async () => {
  const pids = await workerPids(250);
  // jest may already have handed the next suite to a worker it then replaces: that suite runs
  // again in the new worker, so a pid can be one more, but no worker ever runs a second suite.
  expect(pids.length).toBeGreaterThanOrEqual(4);
  expect(new Set(pids).size).toBe(pids.length);
});

test('below the limit, jest keeps its workers', async () => {
  const pids = await workerPids(100_000);
  expect(pids).toHaveLength(4);
  expect(new Set(pids).size).toBeLessThanOrEqual(2);
});
