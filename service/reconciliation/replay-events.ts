import type Stripe from 'stripe';
import { WEBHOOK_EVENTS } from '../shared/catalog';
import { errorMessage } from '../shared/errors';
import { stripeFailure } from '../shared/stripe-errors';
import { parseStripeEvent } from '../webhooks/event-schema';
import { isFinal, storedStatuses } from '../webhooks/inbox';
import { eventCustomer, inLanes } from '../webhooks/lanes';
import { readInvoicesOfIntents } from '../webhooks/payment-keys';
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
  /**
   * Subscription events whose state a later event of the same subscription in the same second (in
   * Stripe's order) carries newer: applied without writing it (their customer linked, as a stale
   * event is), included in `applied`.
   */
  superseded: number;
  dryRun: boolean;
  failures: Array<{ eventId: string; type: string; error: string }>;
}

/** Customers (or objects) replayed at once; each one's events stay in order. */
export const REPLAY_CONCURRENCY = 8;

/**
 * How far before `since` the invoice payments are read (readInvoicesOfIntents): a subscription's
 * invoice payment exists from its finalization, about an hour before the first attempt. A payment
 * intent whose invoice payment is older (a retry weeks later) is looked up on its own.
 */
export const INVOICE_PAYMENTS_LOOKBACK_SECONDS = 86_400;

/** Event types whose preparation asks which invoice a payment intent pays. */
const ASKS_FOR_INVOICES = /^(payment_intent|refund|charge)\./;

/**
 * Subscription events whose state a later event of the same subscription in the same second
 * replaces, each mapped to the last event of that second. `events` are oldest first, in Stripe's
 * order within a second. A live delivery cannot tell which of two same-second states is newer
 * (webhooks arrive in any order), so it re-reads the subscription from Stripe on a tie; a replay
 * lists the events in Stripe's order and knows: it writes the last state of each second, and the
 * others only link their customer (as a stale event does), a Stripe call and the subscription's
 * statements fewer each (issue 15: a checkout's `customer.subscription.created` and `.updated`
 * share their second).
 */
export function supersededSubscriptionEvents(events: readonly Stripe.Event[]): Map<string, string> {
  const last = new Map<string, string>();
  const superseded = new Map<string, string>();
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!;
    if (!event.type.startsWith('customer.subscription.')) continue;
    const key = `${(event.data.object as { id: string }).id}@${event.created}`;
    const newer = last.get(key);
    if (newer) superseded.set(event.id, newer);
    else last.set(key, event.id);
  }
  return superseded;
}

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

  // The shape check first, as live deliveries get it: it refuses what can never be applied and
  // strips characters PostgreSQL cannot store (a NUL in a customer's name), which would otherwise
  // fail the inbox insert on every replay. The text is what the inbox stores when it is clean.
  const checked: Array<{ event: Stripe.Event; refused?: unknown }> = [];
  for (const [i, event] of events.entries()) {
    try {
      const text = JSON.stringify(event);
      checked.push({ event: parseStripeEvent(JSON.parse(text), text) });
    } catch (err) {
      checked.push({ event, refused: err });
    }
    // A long replay shares its process with the acknowledgements: a turn for them every 500 events.
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
  }
  const applicable = checked.filter((c) => c.refused === undefined).map((c) => c.event);

  // What the inbox knows of them, read in batches instead of once per event (issue 15); a status
  // that changes meanwhile (another instance's drain) is re-checked under the claim's lock.
  const stored = await storedStatuses(deps.db, events.map((e) => e.id));
  const open = applicable.filter((e) => !isFinal(stored.get(e.id) ?? 'pending'));
  // What the pass can answer once instead of per event (issue 15): the customers' links (see
  // KnownLinks), the invoices of payment intents (one call per 100 instead of one per intent,
  // only when an event to apply asks), and which same-second subscription states are superseded.
  const replayDeps: WebhookDeps = {
    ...deps,
    links: await readLinks(deps.db, events.map(eventCustomer).filter((c): c is string => c !== undefined)),
    supersededBy: supersededSubscriptionEvents(applicable),
  };
  if (!options.dryRun && open.some((e) => ASKS_FOR_INVOICES.test(e.type))) {
    // Only a shortcut: if the listing fails, each payment intent is asked about on its own (and a
    // failure there fails that event, as it always did), rather than the whole replay.
    replayDeps.invoices = await readInvoicesOfIntents(deps.stripe, Math.floor(options.since.getTime() / 1000) - INVOICE_PAYMENTS_LOOKBACK_SECONDS).catch((err: unknown) => {
      deps.logger.warn('invoice payments not read in bulk; looking each payment intent up on its own', { error: errorMessage(err) });
      return undefined;
    });
  }
  const summary: ReplaySummary = { seen: 0, applied: 0, alreadyApplied: 0, failed: 0, unmatched: 0, superseded: 0, dryRun: options.dryRun === true, failures: [] };
  const replayOne = async ({ event, refused }: { event: Stripe.Event; refused?: unknown }) => {
    summary.seen++;
    const status = stored.get(event.id) ?? null;
    if (options.dryRun) {
      if (status !== null && isFinal(status)) summary.alreadyApplied++;
      else summary.applied++;
      return;
    }
    try {
      if (refused !== undefined) throw refused;
      const result = await processEvent(replayDeps, event, { storedStatus: status });
      if (result.outcome === 'duplicate') summary.alreadyApplied++;
      else summary.applied++;
      if (result.outcome === 'unmatched') summary.unmatched++;
      if (result.outcome === 'processed' && replayDeps.supersededBy?.has(event.id)) summary.superseded++;
    } catch (err) {
      summary.failed++;
      summary.failures.push({ eventId: event.id, type: event.type, error: errorMessage(err) });
    }
  };
  await inLanes(checked, (c) => c.event, REPLAY_CONCURRENCY, replayOne);
  // Failures in Stripe order, whatever lane finished first.
  const order = new Map(events.map((e, i) => [e.id, i]));
  summary.failures.sort((a, b) => (order.get(a.eventId) ?? 0) - (order.get(b.eventId) ?? 0));
  deps.logger.info('stripe events replayed', { ...summary, failures: summary.failures.length, since: options.since.toISOString() });
  return summary;
}
