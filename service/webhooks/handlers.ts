import type Stripe from 'stripe';
import { upsertUser } from '../checkout/repository';
import type { Config } from '../shared/config';
import type { Database } from '../shared/db';
import { errorMessage } from '../shared/errors';
import type { DisputeOpened, PaymentObserver } from '../shared/observer';
import { isMissingInStripe, stripeFailure } from '../shared/stripe-errors';
import { type PaymentObservation, recordPayment } from './effects/payments';
import { customerIdOf, writeSubscription } from './effects/subscriptions';
import { ensureUserLinked, type KnownLinks, type ResolvedUser, resolveUser } from './users';
import { WEBHOOK_EVENTS } from '../shared/catalog';
import { invoiceForPaymentIntent, type KnownInvoices } from './payment-keys';
import { prepareChargeRefunded, prepareDispute, prepareRefund } from './refund-dispute-events';

export interface HandlerDeps {
  db: Database;
  stripe: Stripe;
  config: Config;
  /** Customer links a pass over many events already read (replay, drain page): see KnownLinks. */
  links?: KnownLinks;
  /** Payment intents' invoices a replay read in bulk: see KnownInvoices. */
  invoices?: KnownInvoices;
  /**
   * Subscription events a replay knows are superseded (event id -> the later event): see
   * supersededSubscriptionEvents in replay-events.ts. Live deliveries never have it.
   */
  supersededBy?: ReadonlyMap<string, string>;
}

/** A payment change to report to the observer once the transaction committed. */
export interface PaymentNotice {
  outcome: 'succeeded' | 'failed' | 'refunded';
  amount: number;
  currency: string;
  failureCode?: string | null;
  userId?: string | null;
}

/** What a committed event reports: payment outcomes, refunds counted, disputes opened. */
export type LedgerNotice = PaymentNotice | DisputeOpened;

/** Tells the observer what the committed transaction did. */
export function reportNotices(observer: PaymentObserver, notices: readonly LedgerNotice[]): void {
  for (const notice of notices) {
    if ('kind' in notice) observer.disputeOpened?.(notice);
    else observer.paymentRecorded(notice);
  }
}

/**
 * What an event will do, decided before the transaction: Stripe lookups (customer -> user,
 * payment intent -> invoice) happen here so the transaction holds its locks only for SQL.
 */
export type PreparedEvent =
  | { kind: 'ignored' }
  | { kind: 'unmatched'; reason: string }
  | { kind: 'apply'; apply: (trx: Database) => Promise<LedgerNotice[]> };

/** The endpoint subscribes to exactly the events this service handles (one list, in the catalog). */
export const HANDLED_EVENT_TYPES: readonly string[] = WEBHOOK_EVENTS;

export function isHandled(type: string): boolean {
  return HANDLED_EVENT_TYPES.includes(type);
}

const unmatched = (what: string, customerId: string | null): PreparedEvent => ({
  kind: 'unmatched',
  reason: `no Upiik user for ${what}${customerId ? ` (customer ${customerId} has no local link and no metadata.userId)` : ''}`,
});

/**
 * Prepares an event for its transaction. A Stripe lookup answering that an object the event names
 * does not exist in this account (an event of another account or mode, an id Stripe never had) can
 * never succeed on a retry: the event is recorded as unmatched (final, 2xx, counted and alerted as
 * unmatched) instead of a 5xx that Stripe would retry for three days. Every other failure is a
 * dependency failure and still throws (5xx, Stripe retries).
 */
export async function prepareEvent(deps: HandlerDeps, event: Stripe.Event): Promise<PreparedEvent> {
  try {
    return await prepareByType(deps, event);
  } catch (err) {
    if (!isMissingInStripe(err)) throw err;
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    return { kind: 'unmatched', reason: `Stripe has no object this ${event.type} event refers to: ${errorMessage(cause)}` };
  }
}

async function prepareByType(deps: HandlerDeps, event: Stripe.Event): Promise<PreparedEvent> {
  switch (event.type) {
    case 'checkout.session.completed':
      return prepareCheckout(deps, event.data.object);
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted':
      return prepareSubscription(deps, event, event.data.object);
    case 'invoice.payment_succeeded':
    case 'invoice.payment_failed':
      return prepareInvoice(deps, event, event.data.object);
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed':
      return preparePaymentIntent(deps, event, event.data.object);
    case 'setup_intent.succeeded':
      return prepareSetupIntent(deps, event.data.object);
    case 'refund.created':
    case 'refund.updated':
    case 'refund.failed':
      return prepareRefund(deps, event, event.data.object);
    case 'charge.refunded':
      return prepareChargeRefunded(deps, event, event.data.object);
    case 'charge.dispute.created':
    case 'charge.dispute.updated':
    case 'charge.dispute.closed':
    case 'charge.dispute.funds_withdrawn':
    case 'charge.dispute.funds_reinstated':
      return prepareDispute(deps, event, event.data.object);
    default:
      return { kind: 'ignored' };
  }
}

async function prepareCheckout(deps: HandlerDeps, session: Stripe.Checkout.Session): Promise<PreparedEvent> {
  const customerId = customerIdOf(session.customer);
  const email = session.customer_details?.email ?? session.customer_email ?? null;
  const user = await resolveUser(deps.db, deps.stripe, customerId, { userId: session.client_reference_id ?? session.metadata?.userId, email }, deps.links);
  if (!user) return unmatched(`checkout session ${session.id}`, customerId);
  return {
    kind: 'apply',
    apply: async (trx) => {
      await upsertUser(trx, { id: user.userId, email: email ?? undefined });
      await ensureUserLinked(trx, user);
      return [];
    },
  };
}

async function prepareSubscription(deps: HandlerDeps, event: Stripe.Event, sub: Stripe.Subscription): Promise<PreparedEvent> {
  const customerId = customerIdOf(sub.customer);
  const user = await resolveUser(deps.db, deps.stripe, customerId, { userId: sub.metadata?.userId }, deps.links);
  if (!user) return unmatched(`subscription ${sub.id}`, customerId);
  // A replay knows a later event of this subscription in the same second carries the newer state:
  // this one only links its customer, as a stale event does (no Stripe re-read, no write).
  if (deps.supersededBy?.has(event.id)) return { kind: 'apply', apply: async (trx) => (user.link ? await ensureUserLinked(trx, user) : undefined, []) };
  const snapshot = await subscriptionSnapshot(deps, sub, event.created);
  return {
    kind: 'apply',
    apply: async (trx) => {
      await ensureUserLinked(trx, user);
      await applySubscriptionSnapshot(trx, deps, { ...snapshot, userId: user.userId });
      return [];
    },
  };
}

/** A subscription state and the Stripe time (unix seconds) of the state it shows. */
export interface SubscriptionSnapshot {
  sub: Stripe.Subscription;
  stripeTime: number;
  /** Read from Stripe just now rather than carried by an event. */
  authoritative: boolean;
}

/**
 * Thrown inside the transaction when the snapshot tied with a row another delivery wrote after this
 * one looked (a same-second race): the transaction rolls back and the event is prepared again,
 * which re-fetches from Stripe outside any transaction.
 */
export class PrepareAgain extends Error {
  constructor(what: string) {
    super(`${what} changed while the event was being prepared; prepare it again`);
    this.name = 'PrepareAgain';
  }
}

/**
 * The snapshot an event should write, decided BEFORE the transaction: a Stripe call made inside it
 * would hold row locks and a pool connection for as long as Stripe takes. The event's own object
 * unless the stored row carries the same Stripe time: within one second the event alone cannot say
 * which state is newer (Stripe makes several changes a second), so the subscription is read again
 * from Stripe, and that snapshot carries the time Stripe served it, not the event's older time
 * (else an event created between the two would still look newer than the state already written).
 */
export async function subscriptionSnapshot(deps: HandlerDeps, sub: Stripe.Subscription, stripeTime: number): Promise<SubscriptionSnapshot> {
  const stored = await deps.db.selectFrom('subscriptions').select('stripe_updated_at').where('id', '=', sub.id).executeTakeFirst();
  if (!stored || Number(stored.stripe_updated_at) !== stripeTime) return { sub, stripeTime, authoritative: false };
  let fresh: Stripe.Response<Stripe.Subscription>;
  try {
    fresh = await deps.stripe.subscriptions.retrieve(sub.id);
  } catch (err) {
    throw stripeFailure(err, 'subscription re-fetch');
  }
  return { sub: fresh, stripeTime: Math.max(stripeTime, await stripeClockNow(deps.stripe, fresh.test_clock, servedAt(fresh.lastResponse?.headers))), authoritative: true };
}

/**
 * "Now" on the clock a Stripe object lives by: `served` (the second Stripe answered), unless the
 * object belongs to a test clock, whose objects and events are dated by the clock's frozen time (set
 * anywhere, also in the past): dated by real time, a snapshot would look newer than every event the
 * clock emits afterwards, and each of them would be ignored as stale.
 */
export async function stripeClockNow(stripe: Stripe, testClock: string | Stripe.TestHelpers.TestClock | null | undefined, served: number): Promise<number> {
  if (!testClock) return served;
  if (typeof testClock !== 'string') return testClock.frozen_time;
  try {
    return (await stripe.testHelpers.testClocks.retrieve(testClock)).frozen_time;
  } catch (err) {
    throw stripeFailure(err, 'test clock lookup');
  }
}

/** The second Stripe served a response (its `Date` header), 0 when absent or unreadable. */
export function servedAt(headers: Record<string, string | string[] | undefined> | undefined): number {
  const raw = headers?.date ?? headers?.Date;
  const value = Array.isArray(raw) ? raw[0] : raw;
  const ms = value ? Date.parse(value) : Number.NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

/**
 * Applies a snapshot through the ordering guard, inside the caller's transaction, with SQL only.
 * A non-authoritative snapshot that ties with the stored row (a concurrent delivery wrote it after
 * `subscriptionSnapshot` looked) throws PrepareAgain: the processor rolls back and re-prepares.
 */
export async function applySubscriptionSnapshot(
  trx: Database,
  deps: HandlerDeps,
  input: { sub: Stripe.Subscription; userId: string; stripeTime: number; authoritative?: boolean },
): Promise<void> {
  const prices = deps.config.stripe.prices;
  const result = await writeSubscription(trx, { ...input, authoritative: input.authoritative ?? false, prices });
  if (result === 'refetch') throw new PrepareAgain(`subscription ${input.sub.id}`);
}

/** The invoice's subscription (API 2026-10-28: under `parent.subscription_details`). */
export const subscriptionOfInvoice = (invoice: Stripe.Invoice): string | null =>
  customerIdOf(invoice.parent?.subscription_details?.subscription ?? null);

/** The observation an invoice payment outcome makes; shared with reconciliation. */
export function invoiceObservation(invoice: Stripe.Invoice, outcome: 'succeeded' | 'failed', stripeTime: number, user: ResolvedUser | undefined): PaymentObservation {
  const paidAt = invoice.status_transitions?.paid_at;
  return {
    paymentKey: invoice.id,
    invoiceId: invoice.id,
    subscriptionId: subscriptionOfInvoice(invoice),
    customerId: customerIdOf(invoice.customer),
    userId: user?.userId ?? null,
    amount: outcome === 'succeeded' ? invoice.amount_paid : invoice.amount_due,
    currency: invoice.currency,
    outcome,
    occurredAt: new Date((outcome === 'succeeded' && paidAt ? paidAt : stripeTime) * 1000),
    stripeTime,
    // attempt_count numbers the attempts of one invoice: a stable key per failed attempt.
    attemptKey: outcome === 'failed' ? `${invoice.id}#${invoice.attempt_count}` : null,
  };
}

async function prepareInvoice(deps: HandlerDeps, event: Stripe.Event, invoice: Stripe.Invoice): Promise<PreparedEvent> {
  const customerId = customerIdOf(invoice.customer);
  const user = await resolveUser(deps.db, deps.stripe, customerId, { userId: invoice.parent?.subscription_details?.metadata?.userId }, deps.links);
  if (!user) return unmatched(`invoice ${invoice.id}`, customerId);
  const outcome = event.type === 'invoice.payment_succeeded' ? 'succeeded' : 'failed';
  const observation = invoiceObservation(invoice, outcome, event.created, user);
  if (observation.amount <= 0) return { kind: 'apply', apply: async (trx) => (await ensureUserLinked(trx, user), []) };
  return { kind: 'apply', apply: async (trx) => recordWithNotice(trx, observation, user) };
}

async function recordWithNotice(trx: Database, observation: PaymentObservation, user: ResolvedUser | undefined): Promise<PaymentNotice[]> {
  if (user) await ensureUserLinked(trx, user);
  const result = await recordPayment(trx, observation);
  const notices: PaymentNotice[] = [];
  const base = { amount: observation.amount, currency: observation.currency, userId: observation.userId };
  if (result.succeeded) notices.push({ ...base, outcome: 'succeeded' });
  if (result.failedAttemptCounted) notices.push({ ...base, outcome: 'failed', failureCode: observation.failureCode });
  return notices;
}

async function preparePaymentIntent(deps: HandlerDeps, event: Stripe.Event, pi: Stripe.PaymentIntent): Promise<PreparedEvent> {
  const customerId = customerIdOf(pi.customer);
  const user = await resolveUser(deps.db, deps.stripe, customerId, { userId: pi.metadata?.userId }, deps.links);
  if (customerId && !user) return unmatched(`payment intent ${pi.id}`, customerId);
  const invoiceId = await invoiceForPaymentIntent(deps.stripe, pi.id, deps.invoices);
  const succeeded = event.type === 'payment_intent.succeeded';
  const error = pi.last_payment_error;
  const observation: PaymentObservation = {
    paymentKey: invoiceId ?? pi.id,
    invoiceId,
    paymentIntentId: pi.id,
    customerId,
    userId: user?.userId ?? null,
    amount: succeeded ? pi.amount_received || pi.amount : pi.amount,
    currency: pi.currency,
    outcome: succeeded ? 'succeeded' : 'failed',
    failureCode: succeeded ? null : (error?.code ?? error?.decline_code ?? null),
    failureMessage: succeeded ? null : (error?.message ?? null),
    occurredAt: new Date(event.created * 1000),
    stripeTime: event.created,
    // An invoice's attempts are counted by its invoice.payment_failed events (one per attempt);
    // a standalone intent's attempts by its charges.
    attemptKey: !succeeded && !invoiceId ? `${pi.id}#${customerIdOf(pi.latest_charge) ?? event.id}` : null,
  };
  return { kind: 'apply', apply: async (trx) => recordWithNotice(trx, observation, user) };
}

async function prepareSetupIntent(deps: HandlerDeps, si: Stripe.SetupIntent): Promise<PreparedEvent> {
  const customerId = customerIdOf(si.customer);
  if (!customerId) return { kind: 'apply', apply: async () => [] };
  const user = await resolveUser(deps.db, deps.stripe, customerId, { userId: si.metadata?.userId }, deps.links);
  if (!user) return unmatched(`setup intent ${si.id}`, customerId);
  // A saved card changes nothing local; the event only confirms who the customer is.
  return { kind: 'apply', apply: async (trx) => (await ensureUserLinked(trx, user), []) };
}
