import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { changedAttributes } from '../events/emit';
import { clone } from '../resources/common';
import { addInterval } from './periods';
import { createSubscriptionInvoice, finalizeInvoice, payInvoice } from './invoices';
import { chargeablePaymentMethod, setStatus } from './subscriptions';

const BILLABLE: Stripe.Subscription.Status[] = ['active', 'past_due', 'trialing'];

/**
 * Moves the sandbox clock forward and works through every period boundary it crossed, oldest
 * first, each at its own timestamp: several periods in one advance renew in order.
 */
export function advanceClock(engine: Engine, seconds: number): { processed: number } {
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error('advanceClock needs a non-negative number of seconds');
  engine.clock.advance(Math.floor(seconds));
  const target = engine.now();
  let processed = 0;
  for (;;) {
    const next = nextBoundary(engine, target);
    if (!next) break;
    engine.clock.at(next.at, () => processBoundary(engine, next.sub, next.at));
    // Each boundary is its own batch of events, delivered in order.
    engine.events.flush();
    processed++;
  }
  return { processed };
}

function periodEnd(sub: Stripe.Subscription): number {
  return Math.min(...sub.items.data.map((i) => i.current_period_end));
}

function nextBoundary(engine: Engine, target: number): { sub: Stripe.Subscription; at: number } | undefined {
  let best: { sub: Stripe.Subscription; at: number } | undefined;
  for (const sub of engine.state.subscriptions.values()) {
    if (!BILLABLE.includes(sub.status)) continue;
    const end = periodEnd(sub);
    const at = sub.cancel_at !== null && sub.cancel_at < end ? sub.cancel_at : end;
    if (at <= target && (!best || at < best.at)) best = { sub, at };
  }
  return best;
}

function processBoundary(engine: Engine, sub: Stripe.Subscription, at: number): void {
  if (sub.cancel_at_period_end || (sub.cancel_at !== null && sub.cancel_at <= at)) {
    endSubscription(engine, sub, at, 'cancellation_requested');
    return;
  }
  const before = clone(sub);
  for (const item of sub.items.data) {
    item.current_period_start = item.current_period_end;
    item.current_period_end = addInterval(item.current_period_start, item.price.recurring?.interval ?? 'month', item.price.recurring?.interval_count ?? 1);
  }
  const first = sub.items.data[0] as Stripe.SubscriptionItem;
  const invoice = createSubscriptionInvoice(engine, sub, 'subscription_cycle', { start: before.items.data[0]?.current_period_start ?? at, end: first.current_period_start });
  sub.latest_invoice = invoice.id;
  engine.events.emit('customer.subscription.updated', sub, changedAttributes(before, sub));
  finalizeInvoice(engine, invoice);
  const outcome = payInvoice(engine, invoice, chargeablePaymentMethod(engine, sub), true);
  setStatus(engine, sub, outcome.result === 'succeeded' ? 'active' : 'past_due');
}

/** Ends a subscription now (API cancel) or at a boundary, emitting `customer.subscription.deleted`. */
export function endSubscription(engine: Engine, sub: Stripe.Subscription, at: number, reason: Stripe.Subscription.CancellationDetails.Reason): void {
  sub.status = 'canceled';
  sub.ended_at = at;
  sub.canceled_at = sub.canceled_at ?? at;
  sub.cancellation_details = { ...(sub.cancellation_details ?? { comment: null, feedback: null, feedback_option: null }), reason };
  engine.events.emit('customer.subscription.deleted', sub);
}
