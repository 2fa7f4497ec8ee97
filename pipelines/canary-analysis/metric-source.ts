/**
 * Where the canary analysis reads its numbers. The verdict (verdict.ts) only sees SideFigures, so
 * the same decision runs over CloudWatch in AWS (cloudwatch-metric-source.ts) and over the
 * service's own `/metrics` and `/api/payments/health` in the local release rehearsal.
 */

/** The new version (the canary's tasks) or the version it replaces (the old tasks). */
export type Side = 'candidate' | 'stable';

/** A closed-open time range: points at or after `start` and before `end`. */
export interface MetricWindow {
  start: Date;
  end: Date;
}

/** What one side did over a window. Counts are totals over the window; absent data is 0. */
export interface SideFigures {
  /** Requests the side's tasks answered (ALB RequestCount of its target group). */
  requests: number;
  /** Of those, answered 5xx by the tasks themselves (HTTPCode_Target_5XX_Count). */
  errors5xx: number;
  /** p99 response time in milliseconds; null when the window has no request to measure. */
  p99Ms: number | null;
  /** Payment outcomes recorded by the side's version (succeeded + failed). */
  paymentAttempts: number;
  paymentFailures: number;
  /** Webhook deliveries handled by the side's version (processed + failed). */
  webhookDeliveries: number;
  webhookFailures: number;
}

export interface MetricSource {
  /** The side's figures over the window; throws when the source cannot answer. */
  read(side: Side, window: MetricWindow): Promise<SideFigures>;
}

/**
 * The source answered, but not with a complete reading this time (a partial or internally failed
 * query): the poll is missed and the next one tries again, like a throttled call.
 */
export class MetricsNotReadyError extends Error {
  override readonly name = 'MetricsNotReadyError';
}
