/** What on-call receives. One shape for every sink (SNS email, log, file, test capture). */
export const ALERT_TYPES = {
  payment_failure: { severity: 'high', title: 'Payments are failing', runbook: 'runbooks/payment-failure-rate.md' },
  webhook_failure: { severity: 'medium', title: 'Stripe webhook events are failing', runbook: 'runbooks/webhook-failure-rate.md' },
  status_critical: { severity: 'critical', title: 'Payment health is critical', runbook: 'runbooks/payment-health-critical.md' },
  no_recent_activity: { severity: 'medium', title: 'No Stripe webhook received in 24 hours', runbook: 'runbooks/no-webhook-activity.md' },
  database_unavailable: { severity: 'critical', title: 'Webhook events fail because the payments database is unavailable', runbook: 'runbooks/database-unavailable.md' },
  unmatched_webhook: { severity: 'medium', title: 'Stripe webhook events match no Upiik user', runbook: 'runbooks/unmatched-webhook-events.md' },
  dispute_opened: { severity: 'high', title: 'A customer disputed a payment (evidence has a deadline)', runbook: 'runbooks/dispute-opened.md' },
  rollback_started: { severity: 'high', title: 'A payments rollback started', runbook: 'runbooks/rollback.md' },
} as const;

export type AlertType = keyof typeof ALERT_TYPES;
export type AlertSeverity = (typeof ALERT_TYPES)[AlertType]['severity'];

export interface Alert {
  type: AlertType;
  severity: AlertSeverity;
  title: string;
  /** One or two sentences a human reads first. */
  message: string;
  /** How many occurrences this alert stands for (since the previous alert of its type). */
  count: number;
  environment: string;
  /** ISO time the alert was raised. */
  at: string;
  /** Throttle window: no other alert of this type goes out within it. */
  windowMs: number;
  details?: Record<string, unknown>;
}

export interface AlertSink {
  /** For logs: which sink failed. */
  readonly name: string;
  /** Resolves once delivered; rejects when delivery failed (the dispatcher logs and retries once). */
  send(alert: Alert): Promise<void>;
}
