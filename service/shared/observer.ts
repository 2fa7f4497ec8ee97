/**
 * Hooks through which the payment flows report what happened. Durable truth lives in the database
 * (webhook_events, payments); these hooks feed the per-process views of it: Prometheus metrics,
 * CloudWatch EMF lines and alerts (the monitoring capability implements them). Implementations
 * must never throw or block: they are called on the request path.
 */
export type WebhookOutcome = 'processed' | 'duplicate' | 'failed' | 'unmatched' | 'ignored' | 'pending';

/** A dispute (chargeback) seen for the first time: it has an evidence deadline, so on-call hears of it. */
export interface DisputeOpened {
  kind: 'dispute_opened';
  disputeId: string;
  /** The payment row it disputes (invoice id or payment intent id). */
  paymentKey: string;
  amount: number;
  currency: string;
  reason: string;
  status: string;
  /** ISO time evidence is due (`evidence_details.due_by`), null when Stripe gives none (e.g. closed). */
  evidenceDueBy: string | null;
  userId: string | null;
}

export interface PaymentObserver {
  /**
   * `unrecorded`: a failure the inbox could not record either (the database itself failed), so
   * only the in-process views (health's merge, metrics, alerts) know about it.
   */
  webhookHandled(event: { eventId: string; type: string; outcome: WebhookOutcome; durationMs: number; error?: string; unrecorded?: boolean }): void;
  paymentRecorded(payment: { outcome: 'succeeded' | 'failed' | 'refunded'; amount: number; currency: string; failureCode?: string | null; userId?: string | null }): void;
  checkoutCreated(checkout: { plan: string; userId: string }): void;
  /** Once per dispute, after the transaction that first recorded it committed. */
  disputeOpened?(dispute: DisputeOpened): void;
}

export const noopObserver: PaymentObserver = {
  webhookHandled: () => undefined,
  paymentRecorded: () => undefined,
  checkoutCreated: () => undefined,
};
