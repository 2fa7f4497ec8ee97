/**
 * The CloudWatch metrics the service emits as Embedded Metric Format log lines. The infra alarms
 * (metric math over these), the canary analysis and the service import this one constant, so a
 * rename cannot split them.
 */
export const CLOUDWATCH_METRICS = {
  namespace: 'Upiik/Payments',
  /** Every line's first dimension set is this alone: what the alarms read. */
  dimension: 'Environment',
  /**
   * Second dimension set, [Environment, ServiceVersion] (SERVICE_VERSION): during a canary the new
   * tasks' payment and webhook outcomes can be told from the old tasks' (pipelines/canary-analysis).
   */
  versionDimension: 'ServiceVersion',
  names: {
    paymentSucceeded: 'PaymentSucceeded',
    paymentFailed: 'PaymentFailed',
    webhookProcessed: 'WebhookProcessed',
    webhookFailed: 'WebhookFailed',
    checkoutCreated: 'CheckoutCreated',
  },
} as const;

export type CloudWatchMetricName = (typeof CLOUDWATCH_METRICS.names)[keyof typeof CLOUDWATCH_METRICS.names];
