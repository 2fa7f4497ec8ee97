/**
 * A suite's process 'exit' listeners are removed when the suite ends. Jest reuses a worker process
 * for many suites; a listener added by code under test (each isolated load of @pulumi/pulumi adds
 * one for its promise-leak detector) keeps its whole module graph alive for the life of the
 * worker: a worker running the infra suites grew past 11 GB and was killed by the OOM killer.
 */
let before: Set<(...args: unknown[]) => void>;

beforeAll(() => {
  before = new Set(process.listeners('exit') as Array<(...args: unknown[]) => void>);
});

afterAll(() => {
  for (const listener of process.listeners('exit')) if (!before.has(listener as (...args: unknown[]) => void)) process.removeListener('exit', listener);
});
