import { sql } from 'kysely';
import type { Database } from '../shared/db';
import { toNumber } from '../shared/db';

/**
 * Payment health from the durable ledger (payments, webhook_events), so every instance reports the
 * same numbers, they survive restarts, and the rates recover as the window slides past an incident.
 */
export type HealthStatus = 'healthy' | 'degraded' | 'critical';

/** The seed's thresholds: a rate strictly above `degraded` degrades, strictly above `critical` is critical. */
export const HEALTH_THRESHOLDS = {
  paymentFailure: { degraded: 0.1, critical: 0.25 },
  webhookFailure: { degraded: 0.05, critical: 0.15 },
} as const;

/** No webhook for this long means Stripe stopped talking to us (or the endpoint is disabled). */
export const RECENT_ACTIVITY_MS = 24 * 3600 * 1000;

export interface HealthOptions {
  now: Date;
  windowMs: number;
  /** Below this many samples in the window a rate is reported but cannot degrade the status. */
  minSample: number;
  /** Webhook failures in the window that this process saw but the inbox could not record (merged into the webhook failure rate). */
  unrecordedWebhookFailures?: number;
}

export interface RateReport {
  /** Samples in the window (payment attempts: successes plus failed attempts; or webhook events that finished processing). */
  total: number;
  failed: number;
  /** failed / total, 0 when there are no samples; rounded to 4 decimals. */
  rate: number;
  status: HealthStatus;
  /** True when `total` is under the minimum sample: the rate is shown but does not count. */
  sampleTooSmall: boolean;
  thresholds: { degraded: number; critical: number };
}

export interface PaymentHealth {
  status: HealthStatus;
  checkedAt: string;
  /** Lifetime totals (the seed's fields). */
  metrics: {
    totalPayments: number;
    /** Paid and kept: status `succeeded` (a refunded payment is not a success any more). */
    successfulPayments: number;
    /** Paid, then refunded in full / in part. */
    refundedPayments: number;
    partiallyRefundedPayments: number;
    /** Payments whose final state is failed (e.g. a subscription left past_due). */
    failedPayments: number;
    /** Every declined attempt, including those later retried successfully. */
    failedPaymentAttempts: number;
    webhookEvents: number;
    failedWebhooks: number;
    unmatchedWebhooks: number;
    lastPaymentAt: string | null;
    lastWebhookAt: string | null;
    /** Refunds that count (not failed or canceled). */
    refunds: number;
    disputes: DisputeCounts;
  };
  window: {
    durationMs: number;
    from: string;
    minSample: number;
    paymentFailure: RateReport;
    webhookFailure: RateReport;
    /** Refunds created and disputes opened within the window (Stripe time). */
    refunds: number;
    disputesOpened: number;
  };
  hasRecentActivity: boolean;
  /** Why the status is not healthy, for humans and for the alert text. */
  reasons: string[];
}

export interface DisputeCounts {
  total: number;
  /** Not decided yet (needs a response or under review, inquiries and appeals included). */
  open: number;
  /** Waiting for our evidence: someone must act before `nextEvidenceDueBy`. */
  needingResponse: number;
  won: number;
  lost: number;
  /** Earliest evidence deadline among disputes needing a response. */
  nextEvidenceDueBy: string | null;
}

/** Dispute statuses (Stripe.Dispute.Status) by what they ask of us. */
export const DISPUTE_NEEDS_RESPONSE = ['needs_response', 'warning_needs_response', 'appeal_needs_response'];
export const DISPUTE_OPEN = [...DISPUTE_NEEDS_RESPONSE, 'under_review', 'warning_under_review', 'appeal_under_review'];

/** Webhook outcomes that count in the failure rate: finished ones (not pending), failed or not. */
const FINISHED_WEBHOOK_STATUSES = ['processed', 'failed', 'ignored', 'unmatched'];
/**
 * Payments whose charge went through. The failure RATE counts attempts, and a refunded payment's
 * attempt succeeded (a refund is not a decline: counting it as neither would let a wave of refunds
 * raise the failure rate). The lifetime COUNTS keep them apart: successfulPayments is only what was
 * paid and kept.
 */
const CHARGED_PAYMENT_STATUSES = ['succeeded', 'refunded', 'partially_refunded'];

const asDate = (value: unknown): Date | null => (value === null || value === undefined ? null : value instanceof Date ? value : new Date(String(value)));

export async function computePaymentHealth(db: Database, options: HealthOptions): Promise<PaymentHealth> {
  const from = new Date(options.now.getTime() - options.windowMs);
  const [payments, failedAttempts, webhooks, refunds, disputes] = await Promise.all([
    db
      .selectFrom('payments')
      .select([
        sql<string>`count(*)`.as('total'),
        sql<string>`count(*) filter (where status = 'succeeded')`.as('successful'),
        sql<string>`count(*) filter (where status = 'refunded')`.as('refunded'),
        sql<string>`count(*) filter (where status = 'partially_refunded')`.as('partiallyRefunded'),
        sql<string>`count(*) filter (where status = 'failed')`.as('failed'),
        sql<string>`count(*) filter (where occurred_at > ${from} and status in (${sql.join(CHARGED_PAYMENT_STATUSES)}))`.as('windowSucceeded'),
        sql<Date | string | null>`max(occurred_at)`.as('last'),
      ])
      .executeTakeFirstOrThrow(),
    // Failures are counted per attempt, not per payment row: a payment whose first two charges were
    // declined and whose third succeeded is one success and two failures, so a decline storm shows
    // in the rate even when retries later succeed.
    db
      .selectFrom('payment_attempts')
      .select([sql<string>`count(*)`.as('total'), sql<string>`count(*) filter (where occurred_at > ${from})`.as('window')])
      .where('outcome', '=', 'failed')
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('webhook_events')
      .select([
        sql<string>`count(*)`.as('total'),
        sql<string>`count(*) filter (where status = 'failed')`.as('failed'),
        sql<string>`count(*) filter (where status = 'unmatched')`.as('unmatched'),
        sql<string>`count(*) filter (where received_at > ${from} and status in (${sql.join(FINISHED_WEBHOOK_STATUSES)}))`.as('windowTotal'),
        sql<string>`count(*) filter (where received_at > ${from} and status = 'failed')`.as('windowFailed'),
        sql<Date | string | null>`max(received_at)`.as('last'),
      ])
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('refunds')
      .select([sql<string>`count(*)`.as('total'), sql<string>`count(*) filter (where refunded_at > ${from})`.as('window')])
      .where('counted', '=', true)
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('disputes')
      .select([
        sql<string>`count(*)`.as('total'),
        sql<string>`count(*) filter (where status in (${sql.join(DISPUTE_OPEN)}))`.as('open'),
        sql<string>`count(*) filter (where status in (${sql.join(DISPUTE_NEEDS_RESPONSE)}))`.as('needingResponse'),
        sql<string>`count(*) filter (where status = 'won')`.as('won'),
        sql<string>`count(*) filter (where status = 'lost')`.as('lost'),
        sql<string>`count(*) filter (where opened_at > ${from})`.as('window'),
        sql<Date | string | null>`min(evidence_due_by) filter (where status in (${sql.join(DISPUTE_NEEDS_RESPONSE)}))`.as('nextDue'),
      ])
      .executeTakeFirstOrThrow(),
  ]);

  const windowFailedAttempts = toNumber(failedAttempts.window);
  const paymentFailure = rateReport(
    toNumber(payments.windowSucceeded) + windowFailedAttempts,
    windowFailedAttempts,
    HEALTH_THRESHOLDS.paymentFailure,
    options.minSample,
  );
  // Failures the inbox could not record (the database itself failed) are known only in memory.
  const unrecorded = options.unrecordedWebhookFailures ?? 0;
  const webhookFailure = rateReport(toNumber(webhooks.windowTotal) + unrecorded, toNumber(webhooks.windowFailed) + unrecorded, HEALTH_THRESHOLDS.webhookFailure, options.minSample);
  const lastPayment = asDate(payments.last);
  const lastWebhook = asDate(webhooks.last);

  const reasons: string[] = [];
  for (const [label, report] of [['payment failure rate', paymentFailure], ['webhook failure rate', webhookFailure]] as const) {
    if (report.status !== 'healthy') {
      const limit = report.status === 'critical' ? report.thresholds.critical : report.thresholds.degraded;
      reasons.push(`${label} ${percent(report.rate)} is above ${percent(limit)} (${report.failed} of ${report.total} in the last ${Math.round(options.windowMs / 60_000)} min)`);
    }
  }

  return {
    status: worst(paymentFailure.status, webhookFailure.status),
    checkedAt: options.now.toISOString(),
    metrics: {
      totalPayments: toNumber(payments.total),
      successfulPayments: toNumber(payments.successful),
      refundedPayments: toNumber(payments.refunded),
      partiallyRefundedPayments: toNumber(payments.partiallyRefunded),
      failedPayments: toNumber(payments.failed),
      failedPaymentAttempts: toNumber(failedAttempts.total),
      webhookEvents: toNumber(webhooks.total),
      failedWebhooks: toNumber(webhooks.failed),
      unmatchedWebhooks: toNumber(webhooks.unmatched),
      lastPaymentAt: lastPayment?.toISOString() ?? null,
      lastWebhookAt: lastWebhook?.toISOString() ?? null,
      refunds: toNumber(refunds.total),
      disputes: {
        total: toNumber(disputes.total),
        open: toNumber(disputes.open),
        needingResponse: toNumber(disputes.needingResponse),
        won: toNumber(disputes.won),
        lost: toNumber(disputes.lost),
        nextEvidenceDueBy: asDate(disputes.nextDue)?.toISOString() ?? null,
      },
    },
    window: {
      durationMs: options.windowMs,
      from: from.toISOString(),
      minSample: options.minSample,
      paymentFailure,
      webhookFailure,
      refunds: toNumber(refunds.window),
      disputesOpened: toNumber(disputes.window),
    },
    hasRecentActivity: lastWebhook !== null && options.now.getTime() - lastWebhook.getTime() <= RECENT_ACTIVITY_MS,
    reasons,
  };
}

export function rateReport(total: number, failed: number, thresholds: { degraded: number; critical: number }, minSample: number): RateReport {
  const rate = total === 0 ? 0 : failed / total;
  const sampleTooSmall = total < minSample;
  const status: HealthStatus = sampleTooSmall ? 'healthy' : rate > thresholds.critical ? 'critical' : rate > thresholds.degraded ? 'degraded' : 'healthy';
  return { total, failed, rate: Math.round(rate * 10_000) / 10_000, status, sampleTooSmall, thresholds: { ...thresholds } };
}

const ORDER: Record<HealthStatus, number> = { healthy: 0, degraded: 1, critical: 2 };
const worst = (a: HealthStatus, b: HealthStatus): HealthStatus => (ORDER[a] >= ORDER[b] ? a : b);
const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;
