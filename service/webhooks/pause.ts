import type Stripe from 'stripe';
import { errorMessage } from '../shared/errors';
import type { Store } from '../shared/store';
import { listDue } from './inbox';
import { processEvent, type WebhookDeps } from './processor';

/** Store key of the pause flag (the rollback tooling sets it; any value means paused). */
export const WEBHOOKS_PAUSED_KEY = 'stripe:webhooks:paused';

export interface PauseState {
  paused: boolean;
  reason?: string;
  since?: string;
}

/** While the flag is unreadable, how often (at most) the store is asked again so deferred events get drained. */
const RECOVERY_POLL_MAX_MS = 30_000;

/** Per store (i.e. per app instance): events deferred because the flag was unreadable, and the watcher that drains them. */
interface DeferredDeliveries {
  count: number;
  watcher?: NodeJS.Timeout;
}
const deferredByStore = new WeakMap<Store, DeferredDeliveries>();

function deferredOf(store: Store): DeferredDeliveries {
  let deferred = deferredByStore.get(store);
  if (!deferred) {
    deferred = { count: 0 };
    deferredByStore.set(store, deferred);
  }
  return deferred;
}

/** Reads the flag from the store; throws when the store does not answer. */
export async function isWebhookProcessingPaused(store: Store): Promise<boolean> {
  return (await store.get(WEBHOOKS_PAUSED_KEY)) !== null;
}

/**
 * What a verified delivery does now: `process` it, or `defer` it (store it pending, answer 2xx).
 * Every delivery reads the flag, so a pause set on any instance applies to every delivery that
 * starts after the set returned; deliveries already past this check finish (bounded by the request
 * time). Deferred while paused, and also while the flag cannot be read (Redis down): processing
 * during a pause nobody can see could break a rollback, and answering 5xx would have Stripe retry
 * every event for a flag that is almost never set. Storing is loss-free; what was deferred for that
 * reason is drained as soon as the store answers again (the next delivery, or a watcher).
 */
export async function webhookDeliveryMode(deps: WebhookDeps): Promise<'process' | 'defer'> {
  const deferred = deferredOf(deps.store);
  let paused: boolean;
  try {
    paused = await isWebhookProcessingPaused(deps.store);
  } catch (err) {
    deferred.count++;
    if (deferred.count === 1) deps.logger.warn('webhook pause flag unreadable: deliveries are stored and acknowledged, and drained once the store answers', { error: errorMessage(err) });
    watchForRecovery(deps, deferred, 250);
    return 'defer';
  }
  // Still paused: the resume drains them.
  if (!paused && deferred.count > 0) drainDeferred(deps, deferred);
  return paused ? 'defer' : 'process';
}

function drainDeferred(deps: WebhookDeps, deferred: DeferredDeliveries): void {
  const count = deferred.count;
  deferred.count = 0;
  clearTimeout(deferred.watcher);
  deferred.watcher = undefined;
  deps.logger.info('webhook pause flag readable again: draining deliveries stored meanwhile', { deferred: count });
  void drainPendingEvents(deps).catch((err: unknown) => {
    // Still pending in the inbox: the next deferral, resume or restart drains them.
    deferred.count += count;
    deps.logger.error('draining deferred webhooks failed', { error: errorMessage(err) });
    watchForRecovery(deps, deferred, 1_000);
  });
}

/** Polls the flag with backoff until it can be read; unref'd, so it never keeps a stopping process alive. */
function watchForRecovery(deps: WebhookDeps, deferred: DeferredDeliveries, delayMs: number): void {
  if (deferred.watcher) return;
  deferred.watcher = setTimeout(() => {
    deferred.watcher = undefined;
    isWebhookProcessingPaused(deps.store).then(
      (paused) => {
        if (!paused && deferred.count > 0) drainDeferred(deps, deferred);
      },
      () => watchForRecovery(deps, deferred, Math.min(delayMs * 2, RECOVERY_POLL_MAX_MS)),
    );
  }, delayMs);
  deferred.watcher.unref();
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
  /** True when the drain stopped because processing was paused again. */
  stoppedByPause: boolean;
}

const DRAIN_PAGE = 100;
/** One drain at a time per process; deliveries of the same event are still serialised by the inbox lock. */
const running = new WeakMap<Store, Promise<DrainSummary>>();

/**
 * Applies what the service acknowledged and has not applied yet, in Stripe order (created, then
 * event id), through the same path as live deliveries: pending events (stored while paused, deferred
 * because they needed Stripe, left by a crash) and failed ones of those whose retry time has come.
 * A failure gets its next retry time (Stripe will not redeliver these) and the drain goes on.
 * Stops early if processing is paused again.
 */
export function drainPendingEvents(deps: WebhookDeps): Promise<DrainSummary> {
  const current = running.get(deps.store);
  if (current) return current.then(() => drainPendingEvents(deps));
  const run = drain(deps).finally(() => running.delete(deps.store));
  running.set(deps.store, run);
  return run;
}

async function drain(deps: WebhookDeps): Promise<DrainSummary> {
  const summary: DrainSummary = { seen: 0, applied: 0, alreadyApplied: 0, failed: 0, stoppedByPause: false };
  let after: { createdAt: Date; eventId: string } | undefined;
  let rescanned = false;
  for (;;) {
    if (await isWebhookProcessingPaused(deps.store)) {
      summary.stoppedByPause = true;
      break;
    }
    let page = await listDue(deps.db, DRAIN_PAGE, after);
    if (page.length === 0 && after && !rescanned) {
      // Something stored while the cursor was past its position (a delivery that read the flag
      // just before the resume): one pass from the start picks it up.
      rescanned = true;
      after = undefined;
      page = await listDue(deps.db, DRAIN_PAGE);
    }
    if (page.length === 0) break;
    for (const row of page) {
      summary.seen++;
      const event = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as Stripe.Event;
      try {
        const result = await processEvent(deps, event, { acknowledged: true });
        if (result.outcome === 'duplicate') summary.alreadyApplied++;
        else summary.applied++;
      } catch (err) {
        summary.failed++;
        deps.logger.warn('pending webhook failed during drain', { eventId: row.event_id, error: errorMessage(err) });
      }
      after = { createdAt: row.stripe_created_at, eventId: row.event_id };
    }
  }
  if (summary.seen > 0) deps.logger.info('pending webhooks drained', { ...summary });
  return summary;
}

/** Per store: a drain asked for while one runs, so it runs once more after it (not once per request). */
const requested = new WeakMap<Store, Promise<DrainSummary>>();

/**
 * Asks for a drain soon without waiting for it: many deliveries deferred in a burst start one drain,
 * plus at most one more for what arrived while it ran. Failures are logged; the rows stay due and
 * the next request or the periodic sweep picks them up.
 */
export function requestDrain(deps: WebhookDeps): Promise<DrainSummary> {
  const queued = requested.get(deps.store);
  if (queued) return queued;
  const current = running.get(deps.store);
  const next = (current ? current.catch(() => undefined) : Promise.resolve()).then(() => {
    requested.delete(deps.store);
    return drainPendingEvents(deps);
  });
  requested.set(deps.store, next);
  next.catch((err: unknown) => deps.logger.warn('draining deferred webhooks failed; the sweep retries', { error: errorMessage(err) }));
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
 * time has come, anything pending a crash left) unless processing is paused or the flag cannot be
 * read (then the recovery watcher drains). Unref'd; `stop()` ends it.
 */
export function startDrainSweep(deps: WebhookDeps, intervalMs: number): { stop(): void } {
  const timer = setInterval(() => {
    isWebhookProcessingPaused(deps.store).then(
      (paused) => {
        if (!paused) void requestDrain(deps).catch(() => undefined);
      },
      () => undefined,
    );
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** Clears the pause flag and drains what arrived meanwhile. */
export async function resumeWebhookProcessing(deps: WebhookDeps): Promise<DrainSummary> {
  await deps.store.del(WEBHOOKS_PAUSED_KEY);
  return drainPendingEvents(deps);
}
