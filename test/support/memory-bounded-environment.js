const { TestEnvironment } = require('jest-environment-node');

/**
 * jest's node environment, in a worker that jest also recycles when its resident memory grows.
 *
 * jest replaces a worker whose memory after a suite is above `workerIdleMemoryLimit`, but the
 * figure it asks the worker for is the V8 heap only (jest-worker answers with
 * `process.memoryUsage().heapUsed`). A suite on embedded PGlite keeps its database in WebAssembly
 * memory, outside the heap, and jest's ESM mode (`--experimental-vm-modules`, which PGlite's own
 * dynamic imports need) never frees a finished suite's module graph (jestjs/jest#14605, open): each
 * PGlite suite left about 250 MB resident behind while the heap grew by 25 MB, so a worker reached
 * 12 GB within one `npm test` and the kernel's OOM killer took it.
 *
 * So when jest asks, a worker above RSS_LIMIT resident answers with a figure above any limit, and
 * jest replaces it between suites as it does for a large heap. This module is loaded once per worker
 * (the environment runs outside the suites' sandboxes); the answer is changed only for jest's own
 * question, for the length of that one message, not for anything else that reads memory usage.
 */
// Two workers of 4 GB plus one suite's growth each stay well inside the 24 GB machine. The variable
// is for this mechanism's own test (test/support/memory-bounded-environment.test.ts).
const RSS_LIMIT = Number(process.env.UPIIK_JEST_WORKER_RSS_LIMIT_MB ?? 4096) * 1024 ** 2;
/** jest-worker's CHILD_MESSAGE_MEM_USAGE (build/types: not exported by the package). */
const CHILD_MESSAGE_MEM_USAGE = 3;
const installed = Symbol.for('upiik.rss-memory-report');

if (process.send && !process[installed]) {
  process[installed] = true;
  // Before jest-worker's own listener, which answers synchronously in the same emit.
  const answerMemoryUsage = (message) => {
    if (!Array.isArray(message) || message[0] !== CHILD_MESSAGE_MEM_USAGE) return;
    const real = process.memoryUsage;
    const { rss } = real.call(process);
    if (rss <= RSS_LIMIT) return;
    // Above any workerIdleMemoryLimit: jest compares the answer with its heap limit, not with ours.
    process.memoryUsage = Object.assign(() => ({ ...real.call(process), heapUsed: Number.MAX_SAFE_INTEGER }), { rss: real.rss });
    // Microtasks run only once every listener of this message has returned.
    queueMicrotask(() => {
      process.memoryUsage = real;
    });
  };
  process.prependListener('message', answerMemoryUsage);
  // Node keeps a child's IPC channel referenced while the process has any 'message' listener. When
  // jest ends a worker, jest-worker removes its own listener and waits for the process to exit by
  // itself; left behind, this one would keep the worker alive until jest force-exits it ("A worker
  // process has failed to exit gracefully"), after every run. So it goes with jest-worker's.
  process.on('removeListener', function releaseWithJestWorker(event) {
    if (event !== 'message' || process.listeners('message').some((listener) => listener !== answerMemoryUsage)) return;
    process.removeListener('removeListener', releaseWithJestWorker);
    process.removeListener('message', answerMemoryUsage);
  });
}

module.exports = TestEnvironment;
