/**
 * Hooks through which the payment flows report what happened. Durable truth lives in the database
 * (webhook_events, payments); these hooks feed the per-process views of it: Prometheus metrics,
 * CloudWatch EMF lines and alerts (the monitoring capability implements them). Implementations
 * must never throw or block: they are called on the request path.
 */
export type WebhookOutcome = 'processed' | 'duplicate' | 'failed' | 'unmatched' | 'ignored' | 'pending';

export interface PaymentObserver {
  webhookHandled(event: { eventId: string; type: string; outcome: WebhookOutcome; durationMs: number; error?: string }): void;
  paymentRecorded(payment: { outcome: 'succeeded' | 'failed' | 'refunded'; amount: number; currency: string; failureCode?: string | null; userId?: string | null }): void;
  checkoutCreated(checkout: { plan: string; userId: string }): void;
}

export const noopObserver: PaymentObserver = {
  webhookHandled: () => undefined,
  paymentRecorded: () => undefined,
  checkoutCreated: () => undefined,
};
