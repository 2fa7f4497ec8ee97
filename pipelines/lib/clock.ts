/**
 * Time for the steps' waits: real in an entry, fake in tests (a wait of an hour runs in
 * milliseconds and a timeout is reached on purpose). Steps never call setTimeout or Date.now.
 */
export interface StepClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: StepClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A clock whose sleeps advance time at once (tests). */
export function fakeClock(start = Date.parse('2026-11-29T10:00:00Z')): StepClock & { slept: number[] } {
  let now = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}
