/**
 * The CloudWatch metrics the service emits as Embedded Metric Format log lines. The infra alarms
 * (metric math over these) and the service import this one constant, so a rename cannot split them.
 */
export const CLOUDWATCH_METRICS = {
  namespace: 'Upiik/Payments',
  dimension: 'Environment',
  names: {
    paymentSucceeded: 'PaymentSucceeded',
    paymentFailed: 'PaymentFailed',
    webhookProcessed: 'WebhookProcessed',
    webhookFailed: 'WebhookFailed',
    checkoutCreated: 'CheckoutCreated',
  },
} as const;

export type CloudWatchMetricName = (typeof CLOUDWATCH_METRICS.names)[keyof typeof CLOUDWATCH_METRICS.names];
