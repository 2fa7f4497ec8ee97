import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import { CLOUDWATCH_METRICS } from '../../service/shared/metric-names';
import { ALARMS, AlarmKey, alarmName } from '../alarm-catalog';

export interface AlarmsArgs {
  /** `upiik-payments-<environment>`: alarm names are `<prefix>-<slug>`. */
  prefix: string;
  environment: string;
  alertTopicArn: pulumi.Input<string>;
  /** Base URL of the runbooks/ folder as browsed by on-call (e.g. the repository on GitHub). */
  runbookBaseUrl: string;
  albArnSuffix: pulumi.Input<string>;
  targetGroupArnSuffix: pulumi.Input<string>;
  clusterName: pulumi.Input<string>;
  serviceName: pulumi.Input<string>;
  redisReplicationGroupId: pulumi.Input<string>;
  tags: Record<string, string>;
}

type Query = aws.types.input.cloudwatch.MetricAlarmMetricQuery;
type Spec = Omit<aws.cloudwatch.MetricAlarmArgs, 'name' | 'alarmDescription' | 'alarmActions' | 'okActions'>;

/**
 * CloudWatch alarms, each notifying the alert topic on ALARM and OK and linking its runbook page.
 * Payment and webhook rates are metric math over the service's EMF metrics (CLOUDWATCH_METRICS).
 */
export class Alarms extends pulumi.ComponentResource {
  public readonly alarmNames: pulumi.Output<string[]>;

  constructor(name: string, args: AlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:alarms:Alarms', name, {}, opts);
    if (!/^https:\/\//.test(args.runbookBaseUrl)) throw new Error('Alarms: runbookBaseUrl must be an https:// URL');
    const alb = { LoadBalancer: args.albArnSuffix };
    const app = { [CLOUDWATCH_METRICS.dimension]: args.environment };
    const metric = (id: string, namespace: string, metricName: string, stat: string, dimensions: Record<string, pulumi.Input<string>>, period = 300): Query =>
      ({ id, returnData: false, metric: { namespace, metricName, stat, period, dimensions } });
    const expression = (id: string, expr: string, label: string): Query => ({ id, expression: expr, label, returnData: true });
    const rate = (failed: string, succeeded: string): Query[] => [
      metric('failed', CLOUDWATCH_METRICS.namespace, failed, 'Sum', app),
      metric('ok', CLOUDWATCH_METRICS.namespace, succeeded, 'Sum', app),
      // Below 5 attempts in the window a single failure is noise, not a rate.
      expression('rate', 'IF((failed + ok) >= 5, 100 * failed / (failed + ok), 0)', 'failure %'),
    ];
    const n = CLOUDWATCH_METRICS.names;
    const redis = { ReplicationGroupId: args.redisReplicationGroupId };

    const specs: Record<AlarmKey, Spec> = {
      alb5xxRate: {
        metricQueries: [
          metric('elb5xx', 'AWS/ApplicationELB', 'HTTPCode_ELB_5XX_Count', 'Sum', alb, 60),
          metric('target5xx', 'AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count', 'Sum', alb, 60),
          metric('requests', 'AWS/ApplicationELB', 'RequestCount', 'Sum', alb, 60),
          expression('rate', 'IF(requests >= 20, 100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / requests, 0)', '5xx %'),
        ],
        comparisonOperator: 'GreaterThanThreshold', threshold: 5, evaluationPeriods: 3, datapointsToAlarm: 2, treatMissingData: 'notBreaching',
      },
      targetP99Latency: {
        namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', extendedStatistic: 'p99', dimensions: alb, period: 60,
        comparisonOperator: 'GreaterThanThreshold', threshold: 2, evaluationPeriods: 5, datapointsToAlarm: 3, treatMissingData: 'notBreaching',
      },
      unhealthyHosts: {
        namespace: 'AWS/ApplicationELB', metricName: 'UnHealthyHostCount', statistic: 'Maximum', period: 60,
        dimensions: { LoadBalancer: args.albArnSuffix, TargetGroup: args.targetGroupArnSuffix },
        comparisonOperator: 'GreaterThanOrEqualToThreshold', threshold: 1, evaluationPeriods: 5, datapointsToAlarm: 3, treatMissingData: 'notBreaching',
      },
      runningTasksBelowDesired: {
        metricQueries: [
          metric('running', 'ECS/ContainerInsights', 'RunningTaskCount', 'Minimum', { ClusterName: args.clusterName, ServiceName: args.serviceName }, 60),
          metric('desired', 'ECS/ContainerInsights', 'DesiredTaskCount', 'Maximum', { ClusterName: args.clusterName, ServiceName: args.serviceName }, 60),
          expression('missing', 'desired - running', 'tasks missing'),
        ],
        comparisonOperator: 'GreaterThanOrEqualToThreshold', threshold: 1, evaluationPeriods: 10, datapointsToAlarm: 8, treatMissingData: 'breaching',
      },
      paymentFailureRate: {
        metricQueries: rate(n.paymentFailed, n.paymentSucceeded),
        comparisonOperator: 'GreaterThanThreshold', threshold: 20, evaluationPeriods: 2, datapointsToAlarm: 2, treatMissingData: 'notBreaching',
      },
      webhookFailureRate: {
        metricQueries: rate(n.webhookFailed, n.webhookProcessed),
        comparisonOperator: 'GreaterThanThreshold', threshold: 5, evaluationPeriods: 2, datapointsToAlarm: 2, treatMissingData: 'notBreaching',
      },
      noWebhookActivity: {
        // 24 one-hour periods with no processed webhook; missing data is exactly the symptom.
        namespace: CLOUDWATCH_METRICS.namespace, metricName: n.webhookProcessed, statistic: 'Sum', dimensions: app, period: 3600,
        comparisonOperator: 'LessThanThreshold', threshold: 1, evaluationPeriods: 24, datapointsToAlarm: 24, treatMissingData: 'breaching',
      },
      redisCpu: {
        namespace: 'AWS/ElastiCache', metricName: 'EngineCPUUtilization', statistic: 'Average', dimensions: redis, period: 300,
        comparisonOperator: 'GreaterThanThreshold', threshold: 75, evaluationPeriods: 3, treatMissingData: 'notBreaching',
      },
      redisMemory: {
        namespace: 'AWS/ElastiCache', metricName: 'DatabaseMemoryUsagePercentage', statistic: 'Maximum', dimensions: redis, period: 300,
        comparisonOperator: 'GreaterThanThreshold', threshold: 80, evaluationPeriods: 3, treatMissingData: 'notBreaching',
      },
      redisEvictions: {
        namespace: 'AWS/ElastiCache', metricName: 'Evictions', statistic: 'Sum', dimensions: redis, period: 300,
        comparisonOperator: 'GreaterThanThreshold', threshold: 0, evaluationPeriods: 1, treatMissingData: 'notBreaching',
      },
    };

    const names: pulumi.Output<string>[] = [];
    for (const key of Object.keys(ALARMS) as AlarmKey[]) {
      const { slug, summary } = ALARMS[key];
      const alarm = new aws.cloudwatch.MetricAlarm(`${name}-${slug}`, {
        ...specs[key],
        name: alarmName(args.prefix, key),
        alarmDescription: `${summary} (${args.environment}). Runbook: ${args.runbookBaseUrl}/${slug}.md`,
        alarmActions: [args.alertTopicArn],
        okActions: [args.alertTopicArn],
        tags: args.tags,
      }, { parent: this });
      names.push(alarm.name);
    }
    this.alarmNames = pulumi.all(names);
    this.registerOutputs({ alarmNames: this.alarmNames });
  }
}
