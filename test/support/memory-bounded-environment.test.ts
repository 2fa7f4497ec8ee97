import { execFile, fork } from 'node:child_process';
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
  // A worker that jest had to force-exit would be named here; whether it was the listener below (a
  // leak) or a loaded machine taking more than jest's 500 ms to end a process holding 600 MB is told
  // apart by the next test, not by this text (it shows up under load, which is no leak).
  void stderr;
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

test("the environment's message listener goes with jest-worker's, so a finished worker exits by itself", async () => {
  // What jest-worker does at the end of a run: it removes its own 'message' listener and waits for
  // the process to exit by itself (force-exiting it after 500 ms). A child stands for the worker:
  // its listener first (as jest-worker's is), then the environment, then that listener removed.
  const child = join(dir, 'worker.js');
  writeFileSync(
    child,
    `function jestWorker() {}
process.on('message', jestWorker);
require(${JSON.stringify(join(__dirname, 'memory-bounded-environment.js'))});
process.send({ listeners: process.listenerCount('message') }, () => setImmediate(() => process.removeListener('message', jestWorker)));
`,
  );
  const worker = fork(child, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const reported = new Promise<unknown>((resolve) => worker.once('message', resolve));
  const exit = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
  // Leaked, the IPC channel stays referenced and the child never exits: the bound is generous.
  const bound = new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 60_000).unref());
  try {
    await expect(reported).resolves.toEqual({ listeners: 2 });
    await expect(Promise.race([exit, bound])).resolves.toBe(0);
  } finally {
    if (worker.exitCode === null) worker.kill('SIGKILL');
  }
});
