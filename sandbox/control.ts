import type Stripe from 'stripe';
import type { Engine } from './engine';
import type { DeliveryAttempt, DeliveryFaults, DeliveryFilter } from './events/delivery';
import type { IdempotencyStore } from './http/idempotency';
import { advanceClock } from './billing/renewals';
import { completeCheckoutSession } from './billing/checkout-completion';
import { closeDisputeAs, openDispute } from './resources/disputes';
import { failRefund } from './resources/refunds';

/**
 * In-process access to the sandbox's test controls; the HTTP control API under `/_sandbox/`
 * exposes the same operations with the same semantics.
 */
export interface SandboxControl {
  /** Forgets every object, event, delivery, fault and idempotency key; the clock returns to real time. */
  reset(): void;
  /** The sandbox clock, unix seconds (real time plus every advance). */
  now(): number;
  /** Moves the clock forward and processes renewals and period-end cancellations it crossed. */
  advanceClock(seconds: number): Promise<{ now: number; processed: number }>;
  /** Does what the customer does on the hosted page; rejects with a Stripe-shaped error on a decline. */
  completeCheckoutSession(id: string, paymentMethod: string): Promise<Stripe.Checkout.Session>;
  /**
   * Opens a chargeback on a paid charge as the card network would (`charge.dispute.created`, then
   * `charge.dispute.funds_withdrawn`); evidence is due in 7 days. Default reason `fraudulent`,
   * default amount what is left unrefunded on the charge.
   */
  openDispute(chargeId: string, options?: { reason?: string; amount?: number }): Promise<Stripe.Dispute>;
  /** Decides an open dispute: `won` reinstates the funds (`funds_reinstated`), both emit `charge.dispute.closed`. */
  closeDispute(disputeId: string, outcome: 'won' | 'lost'): Promise<Stripe.Dispute>;
  /** Makes a refund fail after the fact (`refund.updated`, `refund.failed`, `charge.refund.updated`). */
  failRefund(refundId: string, failureReason?: string): Promise<Stripe.Refund>;
  /**
   * Keeps new objects out of search results for this many sandbox seconds, as Stripe's search
   * index lags writes; 0 turns the lag off (the default, restored by `reset`).
   */
  setSearchIndexLag(seconds: number): void;
  /**
   * Makes every API request (`/v1/...`) wait this many milliseconds before it is answered, as Stripe
   * does on a bad day; 0 turns it off (the default, restored by `reset`). Webhook delivery and the
   * control routes are not delayed.
   */
  setApiLatency(ms: number): void;
  setFaults(faults: DeliveryFaults): void;
  clearFaults(): void;
  /** The attempt log, oldest first. */
  deliveries(filter?: DeliveryFilter): DeliveryAttempt[];
  /** Resolves once nothing is queued, in flight or awaiting a retry; rejects after `timeoutMs`. */
  waitForDeliveries(timeoutMs?: number): Promise<void>;
  pauseDeliveries(): void;
  resumeDeliveries(): void;
}

export function createControl(engine: Engine, idempotency: IdempotencyStore): SandboxControl {
  return {
    reset() {
      engine.reset();
      idempotency.clear();
    },
    now: () => engine.now(),
    async advanceClock(seconds) {
      const { processed } = advanceClock(engine, seconds);
      engine.events.flush();
      return { now: engine.now(), processed };
    },
    async completeCheckoutSession(id, paymentMethod) {
      try {
        return structuredClone(completeCheckoutSession(engine, id, paymentMethod));
      } finally {
        engine.events.flush();
      }
    },
    openDispute: async (chargeId, options) => emitting(engine, () => openDispute(engine, chargeId, options)),
    closeDispute: async (disputeId, outcome) => emitting(engine, () => closeDisputeAs(engine, disputeId, outcome)),
    failRefund: async (refundId, failureReason) => emitting(engine, () => failRefund(engine, refundId, failureReason)),
    setSearchIndexLag(seconds) {
      if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError(`search index lag must be a non-negative number of seconds (got ${seconds})`);
      engine.searchIndexLagSeconds = seconds;
    },
    setApiLatency(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`API latency must be a non-negative number of milliseconds (got ${ms})`);
      engine.apiLatencyMs = ms;
    },
    setFaults: (faults) => engine.delivery.setFaults(faults),
    clearFaults: () => engine.delivery.clearFaults(),
    deliveries: (filter) => engine.delivery.deliveries(filter),
    waitForDeliveries(timeoutMs) {
      engine.events.flush();
      return engine.delivery.waitIdle(timeoutMs);
    },
    pauseDeliveries: () => engine.delivery.pause(),
    resumeDeliveries: () => engine.delivery.resume(),
  };
}

/** Runs a control action and hands its events to delivery at once, returning a copy of the object. */
function emitting<T>(engine: Engine, action: () => T): T {
  try {
    return structuredClone(action());
  } finally {
    engine.events.flush();
  }
}
