import type { Writable } from 'node:stream';
import type { Clock } from '../shared/clock';
import { CLOUDWATCH_METRICS, type CloudWatchMetricName } from '../shared/metric-names';
import { redact } from '../shared/redact';

/**
 * CloudWatch metrics without an agent: one JSON line per event in the Embedded Metric Format.
 * CloudWatch Logs (the ECS awslogs driver) extracts the metric from the line; the infra alarms
 * and the canary analysis read the same names from CLOUDWATCH_METRICS.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
export interface EmfLine {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }>;
  };
  [key: string]: unknown;
}

export interface EmfWriterOptions {
  /** The `Environment` dimension value (staging, production, ...). */
  environment: string;
  /** The `ServiceVersion` dimension value (config `version`: SERVICE_VERSION, else `dev`). */
  version: string;
  clock: Clock;
  /** Where lines go; stdout in the container (the awslogs driver ships it). */
  stream: Writable;
}

/**
 * Properties are searchable context in CloudWatch Logs, not dimensions. They go through the shared
 * redaction here, in the writer: these lines reach stdout without the logger, so nothing else would.
 */
type Properties = Record<string, string | number | boolean | null | undefined>;

export class EmfWriter {
  constructor(private readonly options: EmfWriterOptions) {}

  /** Writes one metric data point (Count 1 unless given); never throws. */
  count(name: CloudWatchMetricName, properties: Properties = {}, value = 1): void {
    const line: EmfLine = {
      _aws: {
        Timestamp: this.options.clock.now().getTime(),
        CloudWatchMetrics: [
          {
            Namespace: CLOUDWATCH_METRICS.namespace,
            // Two dimension sets, so CloudWatch stores each point twice: per environment (what the
            // alarms read, unchanged) and per environment and version (what the canary analysis
            // reads to tell a new version's failures from the old tasks').
            Dimensions: [[CLOUDWATCH_METRICS.dimension], [CLOUDWATCH_METRICS.dimension, CLOUDWATCH_METRICS.versionDimension]],
            Metrics: [{ Name: name, Unit: 'Count' }],
          },
        ],
      },
      ...(redact(definedOnly(properties)) as Properties),
      [CLOUDWATCH_METRICS.dimension]: this.options.environment,
      [CLOUDWATCH_METRICS.versionDimension]: this.options.version,
      [name]: value,
    };
    try {
      this.options.stream.write(`${JSON.stringify(line)}\n`);
    } catch {
      // Metrics are best effort; a closed stdout must not fail a payment.
    }
  }
}

function definedOnly(properties: Properties): Properties {
  const out: Properties = {};
  for (const [key, value] of Object.entries(properties)) if (value !== undefined) out[key] = value;
  return out;
}
