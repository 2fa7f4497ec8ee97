import type Stripe from 'stripe';
import { WEBHOOK_EVENTS } from '../shared/catalog';
import { errorMessage } from '../shared/errors';
import { stripeFailure } from '../shared/stripe-errors';
import { parseStripeEvent } from '../webhooks/event-schema';
import { isFinal, storedStatuses } from '../webhooks/inbox';
import { eventCustomer, inLanes } from '../webhooks/lanes';
import { processEvent, type WebhookDeps } from '../webhooks/processor';
import { readLinks } from '../webhooks/users';

export interface ReplayOptions {
  /** Replay events created at or after this time (Stripe keeps 30 days). */
  since: Date;
  /** Event types (at most 20, Stripe's limit); default: the types the endpoint subscribes to. */
  types?: string[];
  /** Report what would be applied without writing anything. */
  dryRun?: boolean;
}

export interface ReplaySummary {
  seen: number;
  applied: number;
  alreadyApplied: number;
  failed: number;
  /** Applied as `unmatched` (no Upiik user): included in `applied`, alert-worthy. */
  unmatched: number;
  dryRun: boolean;
  failures: Array<{ eventId: string; type: string; error: string }>;
}

/** Customers (or objects) replayed at once; each one's events stay in order. */
export const REPLAY_CONCURRENCY = 8;

/**
 * Pages through `/v1/events` since a time and feeds each event, oldest first, through the same
 * idempotent path as live deliveries (not over HTTP): what was applied already is counted and
 * skipped. This is how events missed while an endpoint was disabled come back. Customers are
 * replayed REPLAY_CONCURRENCY at a time (p-map), each customer's events in Stripe order: a replay
 * of 10,000 events is bound by database round trips, not by one of them at a time (issue 15).
 * Runs regardless of the pause flag: it is an explicit operator action.
 */
export async function replayEvents(deps: WebhookDeps, options: ReplayOptions): Promise<ReplaySummary> {
  const types = options.types && options.types.length > 0 ? options.types : [...WEBHOOK_EVENTS];
  if (types.length > 20) throw new RangeError('types: Stripe filters at most 20 event types per listing');
  const events: Stripe.Event[] = [];
  try {
    for await (const event of deps.stripe.events.list({ created: { gte: Math.floor(options.since.getTime() / 1000) }, types, limit: 100 })) {
      events.push(event);
    }
  } catch (err) {
    throw stripeFailure(err, 'event listing');
  }
  // Stripe lists newest first; apply oldest first (a stable sort keeps Stripe's order within a second).
  events.reverse();
  events.sort((a, b) => a.created - b.created);

  // What the inbox knows of them, read in batches instead of once per event (issue 15); a status
  // that changes meanwhile (another instance's drain) is re-checked under the claim's lock.
  const stored = await storedStatuses(deps.db, events.map((e) => e.id));
  // And the customers' links, once for the whole replay (see KnownLinks).
  const replayDeps: WebhookDeps = { ...deps, links: await readLinks(deps.db, events.map(eventCustomer).filter((c): c is string => c !== undefined)) };
  const summary: ReplaySummary = { seen: 0, applied: 0, alreadyApplied: 0, failed: 0, unmatched: 0, dryRun: options.dryRun === true, failures: [] };
  const replayOne = async (event: Stripe.Event) => {
    summary.seen++;
    const status = stored.get(event.id) ?? null;
    if (options.dryRun) {
      if (status !== null && isFinal(status)) summary.alreadyApplied++;
      else summary.applied++;
      return;
    }
    try {
      // The same shape check as live deliveries: it refuses what can never be applied and strips
      // characters PostgreSQL cannot store (a NUL in a customer's name), which would otherwise
      // fail the inbox insert on every replay. The text is what the inbox stores when it is clean.
      const text = JSON.stringify(event);
      const result = await processEvent(replayDeps, parseStripeEvent(JSON.parse(text), text), { storedStatus: status });
      if (result.outcome === 'duplicate') summary.alreadyApplied++;
      else summary.applied++;
      if (result.outcome === 'unmatched') summary.unmatched++;
    } catch (err) {
      summary.failed++;
      summary.failures.push({ eventId: event.id, type: event.type, error: errorMessage(err) });
    }
  };
  await inLanes(events, (event) => event, REPLAY_CONCURRENCY, replayOne);
  // Failures in Stripe order, whatever lane finished first.
  const order = new Map(events.map((e, i) => [e.id, i]));
  summary.failures.sort((a, b) => (order.get(a.eventId) ?? 0) - (order.get(b.eventId) ?? 0));
  deps.logger.info('stripe events replayed', { ...summary, failures: summary.failures.length, since: options.since.toISOString() });
  return summary;
}
