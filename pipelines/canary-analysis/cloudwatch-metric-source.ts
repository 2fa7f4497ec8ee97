import { GetMetricDataCommand, type CloudWatchClient, type MetricDataQuery, type MetricDataResult } from '@aws-sdk/client-cloudwatch';
import { CLOUDWATCH_METRICS } from '../../service/shared/metric-names';
import { MetricsNotReadyError, type MetricSource, type MetricWindow, type Side, type SideFigures } from './metric-source';

/** Where one side's traffic and outcomes are published. */
export interface SideTarget {
  /** ALB target group dimension value, `targetgroup/<name>/<id>`. */
  targetGroup: string;
  /** The side's SERVICE_VERSION: the EMF `ServiceVersion` dimension value. */
  version: string;
}

export interface CloudWatchMetricSourceOptions {
  /** ALB dimension value, `app/<name>/<id>`. */
  loadBalancer: string;
  /** The EMF `Environment` dimension value (the stack: staging, production). */
  environment: string;
  targets: Record<Side, SideTarget>;
}

const ALB_NAMESPACE = 'AWS/ApplicationELB';
const MINUTE_MS = 60_000;

/** Query ids (lowercase first letter, as GetMetricData requires) and what each reads. */
const Q = {
  requests: 'requests',
  errors5xx: 'target5xx',
  p99: 'p99',
  paymentSucceeded: 'paymentsucceeded',
  paymentFailed: 'paymentfailed',
  webhookProcessed: 'webhookprocessed',
  webhookFailed: 'webhookfailed',
} as const;

/**
 * The window as GetMetricData should see it: the start rounded down to the minute (CloudWatch
 * does so anyway; doing it here keeps the period honest), the end rounded up, and one period over
 * the whole window, so every query returns one datapoint whose Sum is the window's total and whose
 * p99 is the window's p99 (a mean of per-minute p99s would not be one).
 */
export function alignWindow(window: MetricWindow): { start: Date; end: Date; periodSeconds: number } {
  const start = Math.floor(window.start.getTime() / MINUTE_MS) * MINUTE_MS;
  const end = Math.max(start + MINUTE_MS, Math.ceil(window.end.getTime() / MINUTE_MS) * MINUTE_MS);
  return { start: new Date(start), end: new Date(end), periodSeconds: (end - start) / 1000 };
}

/**
 * One side's queries: the ALB's per-target-group metrics (the canary's tasks sit in one target
 * group, the old tasks in the other) and the service's EMF counters by [Environment, ServiceVersion].
 */
export function sideQueries(options: CloudWatchMetricSourceOptions, side: Side, periodSeconds: number): MetricDataQuery[] {
  const { targetGroup, version } = options.targets[side];
  const alb = [{ Name: 'LoadBalancer', Value: options.loadBalancer }, { Name: 'TargetGroup', Value: targetGroup }];
  const app = [{ Name: CLOUDWATCH_METRICS.dimension, Value: options.environment }, { Name: CLOUDWATCH_METRICS.versionDimension, Value: version }];
  const query = (Id: string, Namespace: string, MetricName: string, Stat: string, Dimensions: typeof alb): MetricDataQuery => ({
    Id,
    MetricStat: { Metric: { Namespace, MetricName, Dimensions }, Period: periodSeconds, Stat },
    ReturnData: true,
  });
  const n = CLOUDWATCH_METRICS.names;
  return [
    query(Q.requests, ALB_NAMESPACE, 'RequestCount', 'Sum', alb),
    query(Q.errors5xx, ALB_NAMESPACE, 'HTTPCode_Target_5XX_Count', 'Sum', alb),
    query(Q.p99, ALB_NAMESPACE, 'TargetResponseTime', 'p99', alb),
    query(Q.paymentSucceeded, CLOUDWATCH_METRICS.namespace, n.paymentSucceeded, 'Sum', app),
    query(Q.paymentFailed, CLOUDWATCH_METRICS.namespace, n.paymentFailed, 'Sum', app),
    query(Q.webhookProcessed, CLOUDWATCH_METRICS.namespace, n.webhookProcessed, 'Sum', app),
    query(Q.webhookFailed, CLOUDWATCH_METRICS.namespace, n.webhookFailed, 'Sum', app),
  ];
}

/** The canary's figures from CloudWatch (GetMetricData, every page). */
export class CloudWatchMetricSource implements MetricSource {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly options: CloudWatchMetricSourceOptions,
  ) {}

  async read(side: Side, window: MetricWindow): Promise<SideFigures> {
    const { start, end, periodSeconds } = alignWindow(window);
    const queries = sideQueries(this.options, side, periodSeconds);
    const values = new Map<string, number[]>(queries.map((q) => [q.Id!, []]));
    const status = new Map<string, MetricDataResult>();
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: start, EndTime: end, NextToken: nextToken }));
      for (const result of page.MetricDataResults ?? []) {
        if (!result.Id || !values.has(result.Id)) continue;
        values.get(result.Id)!.push(...(result.Values ?? []));
        status.set(result.Id, result);
      }
      nextToken = page.NextToken;
    } while (nextToken);

    for (const [id, result] of status) {
      const detail = (result.Messages ?? []).map((m) => `${m.Code ?? ''} ${m.Value ?? ''}`.trim()).join('; ');
      if (result.StatusCode === 'Forbidden')
        throw new Error(`GetMetricData refused ${side} query ${id} (Forbidden${detail ? `: ${detail}` : ''}): the role needs cloudwatch:GetMetricData`);
      // With no NextToken left, PartialData or InternalError means this reading is incomplete.
      if (result.StatusCode === 'InternalError' || result.StatusCode === 'PartialData')
        throw new MetricsNotReadyError(`GetMetricData answered ${result.StatusCode} for ${side} query ${id}${detail ? ` (${detail})` : ''}`);
    }

    const sum = (id: string) => (values.get(id) ?? []).reduce((total, v) => total + v, 0);
    const p99 = values.get(Q.p99) ?? [];
    const paymentFailures = sum(Q.paymentFailed);
    const webhookFailures = sum(Q.webhookFailed);
    return {
      requests: sum(Q.requests),
      errors5xx: sum(Q.errors5xx),
      // One period spans the window, so there is one datapoint; were there more (a window
      // CloudWatch split), the worst period's p99 is the conservative reading. Seconds -> ms.
      p99Ms: p99.length > 0 ? Math.max(...p99) * 1000 : null,
      paymentAttempts: sum(Q.paymentSucceeded) + paymentFailures,
      paymentFailures,
      webhookDeliveries: sum(Q.webhookProcessed) + webhookFailures,
      webhookFailures,
    };
  }
}
