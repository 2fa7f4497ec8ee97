import { CLOUDWATCH_METRICS } from '../shared/metric-names';
import type { DisputeOpened, PaymentObserver } from '../shared/observer';
import { redactString } from '../shared/redact';
import type { AlertDispatcher } from './alerts/dispatcher';
import type { EmfWriter } from './emf';
import type { PaymentMetrics } from './metrics';
import type { UnrecordedWebhookFailures } from './unrecorded-failures';

const { names } = CLOUDWATCH_METRICS;

/**
 * The real PaymentObserver: each event feeds Prometheus, one EMF line, and (for failures) the
 * alert dispatcher. Everything is in-memory or fire-and-forget; nothing here throws or awaits.
 */
export class MonitoringObserver implements PaymentObserver {
  constructor(
    private readonly metrics: PaymentMetrics,
    private readonly emf: EmfWriter,
    private readonly alerts: AlertDispatcher,
    /** Where failures the inbox could not record are kept for health (and the clock they are timed by). */
    private readonly unrecorded?: { failures: UnrecordedWebhookFailures; now: () => Date },
  ) {}

  webhookHandled(event: Parameters<PaymentObserver['webhookHandled']>[0]): void {
    guard(() => {
      const labels = { type: event.type, outcome: event.outcome };
      this.metrics.webhookEvents.inc(labels);
      if (Number.isFinite(event.durationMs) && event.durationMs >= 0) this.metrics.webhookDuration.observe(labels, event.durationMs / 1000);
      if (event.outcome === 'failed') {
        this.emf.count(names.webhookFailed, { eventType: event.type, eventId: event.eventId, ...(event.unrecorded ? { recorded: false } : {}) });
        this.alerts.record('webhook_failure', { lastEventId: event.eventId, lastEventType: event.type, lastError: truncate(event.error, 300) });
        if (event.unrecorded) {
          // The database failed: health cannot read this one from the inbox, so it is kept here.
          this.unrecorded?.failures.record(this.unrecorded.now());
          this.metrics.webhookFailuresUnrecorded.inc({ type: event.type });
          this.alerts.record('database_unavailable', { lastEventId: event.eventId, lastEventType: event.type, lastError: truncate(event.error, 300) });
        }
      } else if (event.outcome !== 'pending' && event.outcome !== 'duplicate') {
        // Processed, ignored and unmatched events were all handled: Stripe got its 2xx.
        this.emf.count(names.webhookProcessed, { eventType: event.type, outcome: event.outcome });
      }
      if (event.outcome === 'unmatched') this.alerts.record('unmatched_webhook', { lastEventId: event.eventId, lastEventType: event.type });
    });
  }

  paymentRecorded(payment: Parameters<PaymentObserver['paymentRecorded']>[0]): void {
    guard(() => {
      this.metrics.payments.inc({ outcome: payment.outcome });
      if (payment.outcome === 'succeeded') {
        this.emf.count(names.paymentSucceeded, { currency: payment.currency, amount: payment.amount });
      } else if (payment.outcome === 'failed') {
        this.emf.count(names.paymentFailed, { currency: payment.currency, amount: payment.amount, failureCode: payment.failureCode ?? null });
        this.alerts.record('payment_failure', { lastFailureCode: payment.failureCode ?? null, lastAmount: payment.amount, lastCurrency: payment.currency });
      }
    });
  }

  disputeOpened(dispute: DisputeOpened): void {
    guard(() => {
      this.metrics.payments.inc({ outcome: 'disputed' });
      const amount = formatMinor(dispute.amount, dispute.currency);
      const due = dispute.evidenceDueBy ? `Evidence is due by ${dispute.evidenceDueBy}.` : 'Stripe gave no evidence deadline.';
      this.alerts.notify('dispute_opened', {
        message: `Dispute ${dispute.disputeId} (${dispute.reason}, ${amount}) on payment ${dispute.paymentKey}. ${due} Respond in the Stripe Dashboard before then or it is lost.`,
        details: {
          disputeId: dispute.disputeId,
          paymentKey: dispute.paymentKey,
          userId: dispute.userId,
          amount: dispute.amount,
          currency: dispute.currency,
          reason: dispute.reason,
          status: dispute.status,
          evidenceDueBy: dispute.evidenceDueBy,
        },
      });
    });
  }

  checkoutCreated(checkout: Parameters<PaymentObserver['checkoutCreated']>[0]): void {
    guard(() => {
      this.metrics.checkoutSessions.inc({ plan: checkout.plan });
      this.emf.count(names.checkoutCreated, { plan: checkout.plan });
    });
  }
}

/** Redacted before it is cut: a cut can split a secret or a card number into a piece no rule recognises. */
function truncate(text: string | undefined, max: number): string | undefined {
  return text === undefined ? undefined : redactString(text).slice(0, max);
}

/** Currencies Stripe counts in whole units (no minor unit). */
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);

/** "4.00 EUR" from 400 and "eur"; "500 JPY" from 500 and "jpy". */
export function formatMinor(amount: number, currency: string): string {
  const code = currency.toLowerCase();
  return `${ZERO_DECIMAL.has(code) ? String(amount) : (amount / 100).toFixed(2)} ${code.toUpperCase()}`;
}

/** Observability must never break the flow it observes. */
function guard(fn: () => void): void {
  try {
    fn();
  } catch {
    // Deliberately swallowed: a metrics bug must not fail a payment or a webhook.
  }
}

/** Calls several observers (e.g. monitoring plus a test's recorder), each isolated from the others. */
export function fanOutObserver(observers: PaymentObserver[]): PaymentObserver {
  return {
    webhookHandled: (e) => observers.forEach((o) => guard(() => o.webhookHandled(e))),
    paymentRecorded: (p) => observers.forEach((o) => guard(() => o.paymentRecorded(p))),
    checkoutCreated: (c) => observers.forEach((o) => guard(() => o.checkoutCreated(c))),
    disputeOpened: (d) => observers.forEach((o) => guard(() => o.disputeOpened?.(d))),
  };
}
