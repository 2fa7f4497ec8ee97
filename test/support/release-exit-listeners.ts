/**
 * A suite's process 'exit' and 'beforeExit' listeners are removed when the suite ends. Jest reuses
 * a worker process for many suites; a listener added by code under test (each isolated load of
 * @pulumi/pulumi adds one for its promise-leak detector) keeps its whole module graph alive for the
 * life of the worker: a worker running the infra suites grew past 11 GB and was killed by the OOM
 * killer.
 */
const EVENTS = ['exit', 'beforeExit'] as const;
type Listener = (...args: unknown[]) => void;
const before = new Map<string, Set<Listener>>();

beforeAll(() => {
  for (const event of EVENTS) before.set(event, new Set(process.listeners(event) as Listener[]));
});

afterAll(() => {
  for (const event of EVENTS) {
    const kept = before.get(event) ?? new Set<Listener>();
    for (const listener of process.listeners(event) as Listener[]) if (!kept.has(listener)) process.removeListener(event, listener);
  }
});
