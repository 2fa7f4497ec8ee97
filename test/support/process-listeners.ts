/**
 * Process 'exit' and 'beforeExit' listeners left by code under test pin their module graphs in a
 * reused jest worker (each isolated load of @pulumi/pulumi adds one for its promise-leak detector;
 * a worker running the infra suites grew past 11 GB and was killed by the OOM killer).
 */
type Listener = (...args: unknown[]) => void;
export type ListenerSnapshot = ReadonlySet<Listener>;

const listenersOf = (): Listener[] => [...(process.listeners('exit') as Listener[]), ...(process.listeners('beforeExit') as Listener[])];

/** The exit and beforeExit listeners registered now. */
export function snapshotExitListeners(): ListenerSnapshot {
  return new Set(listenersOf());
}

/** Removes every exit and beforeExit listener added since `snapshot`. */
export function dropExitListenersSince(snapshot: ListenerSnapshot): void {
  for (const listener of process.listeners('exit') as Listener[]) if (!snapshot.has(listener)) process.removeListener('exit', listener);
  for (const listener of process.listeners('beforeExit') as Listener[]) if (!snapshot.has(listener)) process.removeListener('beforeExit', listener);
}
