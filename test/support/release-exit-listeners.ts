import { dropExitListenersSince, type ListenerSnapshot, snapshotExitListeners } from './process-listeners';

/**
 * A suite's process 'exit' and 'beforeExit' listeners are removed when the suite ends: jest reuses
 * a worker for many suites, and such a listener keeps its module graph alive for the life of the
 * worker (see process-listeners.ts).
 */
let before: ListenerSnapshot;

beforeAll(() => {
  before = snapshotExitListeners();
});

afterAll(() => {
  dropExitListenersSince(before);
});
