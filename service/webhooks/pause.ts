import { setTimeout as delay } from 'node:timers/promises';
import type Stripe from 'stripe';
import { errorMessage } from '../shared/errors';
import { requestContext } from '../shared/logger';
import type { Store } from '../shared/store';
import type { WebhookEventRow } from '../shared/db';
import { listDue } from './inbox';
import { BURST_STEP_ASIDE_MS, drainLanes, inBurst } from './pressure';
import { eventCustomer, inLanes } from './lanes';
import { processEvent, type WebhookDeps } from './processor';
import { readLinks } from './users';

/** Store key of the pause flag (the rollback tooling sets it; any value means paused). */
export const WEBHOOKS_PAUSED_KEY = 'stripe:webhooks:paused';

export interface PauseState {
  paused: boolean;
  reason?: string;
  since?: string;
}

/** While the flag is unreadable, how often (at most) the store is asked again so stored events get applied. */
const RECOVERY_POLL_MAX_MS = 30_000;

/** Per store (i.e. per app instance): since when the flag has been unreadable, and the watcher that polls it. */
interface FlagOutage {
  since?: number;
  watcher?: NodeJS.Timeout;
}
const outages = new WeakMap<Store, FlagOutage>();

function outageOf(store: Store): FlagOutage {
  let outage = outages.get(store);
  if (!outage) {
    outage = {};
    outages.set(store, outage);
  }
  return outage;
}

/** Reads the flag from the store; throws when the store does not answer. */
export async function isWebhookProcessingPaused(store: Store): Promise<boolean> {
  return (await store.get(WEBHOOKS_PAUSED_KEY)) !== null;
}

/**
 * Whether a drain may apply events now. Deliveries never read the flag (they are stored and
 * acknowledged whatever it says); the drain reads it before every page, so a pause set on any
 * instance stops every drain within the page it is on. While the flag cannot be read (Redis down)
 * nothing is applied: applying during a pause nobody can see could break a rollback, and storing is
 * loss-free. Warned once per outage; a watcher polls the store and drains as soon as it answers.
 */
async function drainMode(deps: WebhookDeps): Promise<'run' | 'paused' | 'unreadable'> {
  const outage = outageOf(deps.store);
  let paused: boolean;
  try {
    paused = await isWebhookProcessingPaused(deps.store);
  } catch (err) {
    if (outage.since === undefined) {
      outage.since = Date.now();
      deps.logger.warn('webhook pause flag unreadable: deliveries are stored and acknowledged, and applied once the store answers', { error: errorMessage(err) });
    }
    watchForRecovery(deps, outage, 250);
    return 'unreadable';
  }
  if (outage.since !== undefined) {
    deps.logger.info('webhook pause flag readable again: applying deliveries stored meanwhile', { unreadableForMs: Date.now() - outage.since, paused });
    outage.since = undefined;
    clearTimeout(outage.watcher);
    outage.watcher = undefined;
  }
  return paused ? 'paused' : 'run';
}

/** Polls the flag with backoff until it can be read, then asks for a drain; unref'd, so it never keeps a stopping process alive. */
function watchForRecovery(deps: WebhookDeps, outage: FlagOutage, delayMs: number): void {
  if (outage.watcher) return;
  outage.watcher = setTimeout(() => {
    outage.watcher = undefined;
    isWebhookProcessingPaused(deps.store).then(
      () => void requestDrain(deps).catch(() => undefined),
      () => watchForRecovery(deps, outage, Math.min(delayMs * 2, RECOVERY_POLL_MAX_MS)),
    );
  }, delayMs);
  outage.watcher.unref();
}

export async function readWebhookPause(store: Store): Promise<PauseState> {
  const raw = await store.get(WEBHOOKS_PAUSED_KEY);
  if (raw === null) return { paused: false };
  try {
    const flag = JSON.parse(raw) as { reason?: string; since?: string };
    return { paused: true, ...(flag.reason ? { reason: flag.reason } : {}), ...(flag.since ? { since: flag.since } : {}) };
  } catch {
    // Set by hand (redis-cli SET stripe:webhooks:paused 1): still paused.
    return { paused: true };
  }
}

/**
 * Pauses webhook processing: deliveries are still verified and stored (pending) and answered 2xx.
 * No TTL by default: a pause ends only by `resumeWebhookProcessing`, which also drains.
 */
export async function pauseWebhookProcessing(store: Store, options: { reason?: string; now?: Date; ttlSeconds?: number } = {}): Promise<PauseState> {
  const flag = { reason: options.reason, since: (options.now ?? new Date()).toISOString() };
  await store.set(WEBHOOKS_PAUSED_KEY, JSON.stringify(flag), options.ttlSeconds ? { ttlSeconds: options.ttlSeconds } : {});
  return readWebhookPause(store);
}

export interface DrainSummary {
  seen: number;
  applied: number;
  alreadyApplied: number;
  failed: number;
  /** True when the drain stopped (or did not start) because processing is paused, or the pause flag could not be read. */
  stoppedByPause: boolean;
}

/** Events read per page; the pause flag is read again before each, so a pause stops a drain within one page. */
const DRAIN_PAGE = 50;
/** One drain at a time per process; deliveries of the same event are still serialised by the inbox lock. */
const running = new WeakMap<Store, Promise<DrainSummary>>();
/** Stores whose process is stopping: their drains end after the event they are on, and none start. */
const halted = new WeakSet<Store>();

/**
 * Applies what the service acknowledged and has not applied yet, in Stripe order (created, then
 * event id), through the one exactly-once path (processEvent): every delivery (the acknowledgement
 * only stores it), events left pending by a crash or stored while paused, and failed ones whose
 * retry time has come. A page's customers run side by side (pressure.ts: DRAIN_LANES, one while acknowledgements are pressed), each customer's events
 * in order. A failure gets its next retry time (Stripe will not redeliver what it got a 2xx for)
 * and the drain goes on. Stops early if processing is paused again.
 */
export function drainPendingEvents(deps: WebhookDeps): Promise<DrainSummary> {
  const current = running.get(deps.store);
  if (current) return current.then(() => drainPendingEvents(deps));
  const run = drain(deps).finally(() => running.delete(deps.store));
  running.set(deps.store, run);
  return run;
}

/** The event an inbox row holds (jsonb: an object from PostgreSQL, a string from some drivers). */
function storedEvent(row: WebhookEventRow): Stripe.Event {
  return (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as Stripe.Event;
}

async function drain(deps: WebhookDeps): Promise<DrainSummary> {
  const summary: DrainSummary = { seen: 0, applied: 0, alreadyApplied: 0, failed: 0, stoppedByPause: false };
  let after: { createdAt: Date; eventId: string } | undefined;
  let rescanned = false;
  // Events it waited before (a burst of deliveries): said in its summary line, so a slow ledger
  // during a burst is explained in the logs.
  let burstWaits = 0;
  // Customer links read once per drain, not once per event (see KnownLinks).
  const passDeps: WebhookDeps = { ...deps, links: new Map() };
  const applyOne = async (row: WebhookEventRow) => {
    if (inBurst(deps.store)) {
      burstWaits++;
      await delay(BURST_STEP_ASIDE_MS);
    }
    if (halted.has(deps.store)) return;
    summary.seen++;
    try {
      const result = await processEvent(passDeps, storedEvent(row), { acknowledged: true, storedStatus: row.status });
      if (result.outcome === 'duplicate') summary.alreadyApplied++;
      else summary.applied++;
    } catch (err) {
      summary.failed++;
      deps.logger.warn('pending webhook failed during drain', { eventId: row.event_id, error: errorMessage(err) });
    }
  };
  while (!halted.has(deps.store)) {
    if ((await drainMode(deps)) !== 'run') {
      summary.stoppedByPause = true;
      break;
    }
    let page = await listDue(deps.db, DRAIN_PAGE, after);
    if (page.length === 0 && after && !rescanned) {
      // Something stored behind the cursor while it ran (a redelivery of an older event, a
      // failed one falling due): one pass from the start picks it up; the next drain does the rest.
      rescanned = true;
      page = await listDue(deps.db, DRAIN_PAGE);
    }
    if (page.length === 0) break;
    await learnLinks(passDeps, page);
    await inLanes(page, storedEvent, drainLanes(deps.store), applyOne);
    const last = page[page.length - 1]!;
    after = { createdAt: last.stripe_created_at, eventId: last.event_id };
  }
  if (summary.seen > 0) deps.logger.info('pending webhooks drained', { ...summary, ...(burstWaits > 0 ? { burstWaits, burstWaitMs: burstWaits * BURST_STEP_ASIDE_MS } : {}) });
  return summary;
}

/**
 * Reads the links of a page's customers in one statement when two or more are not known yet (for
 * one, the event's own lookup is the same round trip). A failure here is left to the events: each
 * one looks its customer up itself and fails (and is retried) on its own.
 */
async function learnLinks(deps: WebhookDeps, page: readonly WebhookEventRow[]): Promise<void> {
  const links = deps.links!;
  const unknown = new Set(page.map((row) => eventCustomer(storedEvent(row))).filter((c): c is string => c !== undefined && !links.has(c)));
  if (unknown.size < 2) return;
  try {
    for (const [customer, user] of await readLinks(deps.db, unknown)) links.set(customer, user);
  } catch {
    // Left to the events (above).
  }
}

/**
 * For a stopping process: no drain starts any more, a running one ends after the events it is
 * applying (what it did not reach stays pending for the other instances' sweeps or the next start),
 * and this resolves when it has.
 */
export async function haltDrains(store: Store): Promise<void> {
  halted.add(store);
  await drainsSettled(store);
}

/** Per store: a drain asked for while one runs, so it runs once more after it (not once per request). */
const requested = new WeakMap<Store, Promise<DrainSummary>>();

/**
 * Asks for a drain soon without waiting for it: many deliveries deferred in a burst start one drain,
 * plus at most one more for what arrived while it ran. Failures are logged; the rows stay due and
 * the next request or the periodic sweep picks them up.
 */
export function requestDrain(deps: WebhookDeps): Promise<DrainSummary> {
  if (halted.has(deps.store)) return Promise.resolve({ seen: 0, applied: 0, alreadyApplied: 0, failed: 0, stoppedByPause: false });
  const queued = requested.get(deps.store);
  if (queued) return queued;
  const current = running.get(deps.store);
  const next = (current ? current.catch(() => undefined) : Promise.resolve()).then(() => {
    requested.delete(deps.store);
    // Outside the request that asked for it: the drain's log lines are not that request's.
    return requestContext.exit(() => drainPendingEvents(deps));
  });
  requested.set(deps.store, next);
  next.catch((err: unknown) => deps.logger.warn('draining stored webhooks failed; the sweep retries', { error: errorMessage(err) }));
  return next;
}

/** Resolves once no drain runs or is requested for this store (tests and shutdown wait on it). */
export async function drainsSettled(store: Store): Promise<void> {
  for (;;) {
    const pending = requested.get(store) ?? running.get(store);
    if (!pending) return;
    await pending.catch(() => undefined);
  }
}

/**
 * The periodic sweep every instance runs: applies what is due (retries of acknowledged events whose
 * time has come, anything pending a crash or another instance's stop left). The drain itself reads
 * the pause flag (paused or unreadable: nothing is applied). Unref'd; `stop()` ends it.
 */
export function startDrainSweep(deps: WebhookDeps, intervalMs: number): { stop(): void } {
  const timer = setInterval(() => void requestDrain(deps).catch(() => undefined), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** Clears the pause flag and drains what arrived meanwhile. */
export async function resumeWebhookProcessing(deps: WebhookDeps): Promise<DrainSummary> {
  await deps.store.del(WEBHOOKS_PAUSED_KEY);
  return drainPendingEvents(deps);
}
