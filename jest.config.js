/** @type {import('jest').Config} */
module.exports = {
  // jest's node environment, in workers also recycled by resident size (PGlite's memory is outside the heap).
  // An absolute path, not <rootDir>: Stryker's jest runner resolves the environment without expanding it.
  testEnvironment: require.resolve('./test/support/memory-bounded-environment.js'),
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // swc strips types only; `npm run typecheck` is the type gate.
  transform: { '^.+\\.(ts|js|mjs)$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  // ESM-only dependencies are compiled to CommonJS for jest (the service loads them with import()).
  transformIgnorePatterns: ['/node_modules/(?!(jose|@actions|p-map)/)'],
  // @actions/* 3.x export only an `import` condition, which jest's CommonJS resolver does not try:
  // their entry files are named here (and compiled to CommonJS above). Outside jest, import() loads them.
  moduleNameMapper: {
    '^@actions/(core|exec|io)$': '<rootDir>/node_modules/@actions/$1/lib/$1.js',
    '^@actions/http-client$': '<rootDir>/node_modules/@actions/http-client/lib/index.js',
    '^@actions/(http-client|io)/lib/(.*)$': '<rootDir>/node_modules/@actions/$1/lib/$2.js',
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Fails a suite whose code under test prints JSON lines (EMF, logs) to stdout.
  // Drops the process 'exit' listeners a suite added (they pin module graphs in a reused worker).
  setupFilesAfterEnv: ['<rootDir>/test/support/clean-output.ts', '<rootDir>/test/support/release-exit-listeners.ts'],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  maxWorkers: 2,
  // A worker above this heap after a suite is replaced by a fresh one: the infra suites load @pulumi/aws
  // once per program run, and two workers near 12 GB each exhausted the 24 GB machine. The heap is
  // all jest measures; test/support/memory-bounded-environment.js adds the resident size (PGlite).
  workerIdleMemoryLimit: '2GB',
  // An outer bound only: waits inside tests are event-driven (test/support/wait.ts) with their own
  // generous bounds, so a loaded machine makes the suite slower, not red.
  testTimeout: 300_000,
  // Each suite starts its own servers; a leaked handle should fail loudly, not hang CI.
  forceExit: false,
  // How long an ending worker may take to exit by itself before jest kills it and prints "A worker
  // process has failed to exit gracefully" (jest's default: 500 ms). Probed at that moment, an
  // ending worker holds only its stdio pipes and IPC channel and normally exits within 1 ms; the
  // message still appeared on loaded runs (two jest workers beside mutation runs or a second suite
  // on two cores), where a worker with a 1-2 GB heap needs longer than 500 ms to be scheduled,
  // receive the end message and tear down. A handle that really leaks still keeps a worker alive
  // past this bound and is still reported.
  workerGracefulExitTimeout: 15_000,
  detectOpenHandles: false,
};
