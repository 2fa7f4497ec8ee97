import type { Store } from '../shared/store';

/**
 * When a drain gives the process to the acknowledgements (issue 15): the route and the intake say
 * what they see, the drain (pause.ts) asks how many customers it may apply side by side and
 * whether to wait before an event.
 */

/** Customers a drain applies side by side (each customer's events in Stripe order) when not pressed. */
export const DRAIN_LANES = 4;

/**
 * How hard this instance's acknowledgements are pressed, per 100 ms window, per store (i.e. per
 * app instance). It is pressed when more than BURST_PER_WINDOW deliveries were acknowledged in the
 * window (a burst of more than 500/s), or when the intake wrote SATURATED_BATCH deliveries or more
 * in one insert: they arrived faster than the previous insert committed, so acknowledgements are
 * queueing behind each other (a slower host reaches that well below 500/s). While it is pressed,
 * the acknowledgements (what Stripe's delivery timeout and retries depend on) get the process: a
 * drain applies one customer at a time instead of DRAIN_LANES and waits BURST_STEP_ASIDE_MS before
 * each event, about ten events a second, so a long burst never starves the ledger and what it
 * stored is applied at full speed once it ends. An instance pressed like that for minutes needs
 * more instances (the service's CPU target tracking adds them).
 */
const BURST_WINDOW_MS = 100;
const BURST_PER_WINDOW = 50;
const SATURATED_BATCH = 5;
export const BURST_STEP_ASIDE_MS = 100;
interface Pressure {
  window: number;
  count: number;
  batch: number;
  previous: { count: number; batch: number };
}
const pressures = new WeakMap<Store, Pressure>();

/** The store's pressure record, moved on to the window `now` falls in. */
function pressureAt(store: Store, now: number): Pressure {
  const window = Math.floor(now / BURST_WINDOW_MS);
  let pressure = pressures.get(store);
  if (!pressure) {
    pressure = { window, count: 0, batch: 0, previous: { count: 0, batch: 0 } };
    pressures.set(store, pressure);
  } else if (pressure.window !== window) {
    pressure.previous = pressure.window === window - 1 ? { count: pressure.count, batch: pressure.batch } : { count: 0, batch: 0 };
    pressure.window = window;
    pressure.count = 0;
    pressure.batch = 0;
  }
  return pressure;
}

/** Called by the route for every delivery it acknowledged. */
export function noteAcknowledged(store: Store, now = performance.now()): void {
  pressureAt(store, now).count++;
}

/** Called by the intake with the number of deliveries each insert wrote. */
export function noteIntakeBatch(store: Store, size: number, now = performance.now()): void {
  const pressure = pressureAt(store, now);
  pressure.batch = Math.max(pressure.batch, size);
}

/** Whether this instance's acknowledgements are pressed now (this window or the one before). */
export function inBurst(store: Store, now = performance.now()): boolean {
  if (!pressures.has(store)) return false;
  const { count, batch, previous } = pressureAt(store, now);
  return Math.max(count, previous.count) > BURST_PER_WINDOW || Math.max(batch, previous.batch) >= SATURATED_BATCH;
}

/** Customers a drain applies side by side now: one during a burst of deliveries, DRAIN_LANES otherwise. */
export function drainLanes(store: Store, now = performance.now()): number {
  return inBurst(store, now) ? 1 : DRAIN_LANES;
}
