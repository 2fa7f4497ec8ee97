import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import { CLOUDWATCH_METRICS } from '../../service/shared/metric-names';
import { ALARMS, AlarmKey, DEPLOYMENT_ROLLBACK_ALARMS, alarmName, alarmsFor } from '../alarm-catalog';

export interface AlarmsArgs {
  /** `upiik-payments-<environment>`: alarm names are `<prefix>-<slug>`. */
  prefix: string;
  environment: string;
  alertTopicArn: pulumi.Input<string>;
  /** Base URL of the runbooks/ folder as browsed by on-call (e.g. the repository on GitHub). */
  runbookBaseUrl: string;
  albArnSuffix: pulumi.Input<string>;
  /** ARN suffixes of every target group tasks can sit in: a canary moves them between the two. */
  targetGroupArnSuffixes: pulumi.Input<string>[];
  clusterName: pulumi.Input<string>;
  serviceName: pulumi.Input<string>;
  /**
   * ElastiCache member cluster ids (`<group>-001`, `<group>-002`, ...): host and engine metrics are
   * published per member (`CacheClusterId`), never per replication group.
   */
  redisMemberClusterIds: pulumi.Input<string>[];
  tags: Record<string, string>;
}

type Query = aws.types.input.cloudwatch.MetricAlarmMetricQuery;
type Spec = Omit<aws.cloudwatch.MetricAlarmArgs, 'name' | 'alarmDescription' | 'alarmActions' | 'okActions'>;

/** Fewer attempts than this in a window is noise, not a rate (3 declines out of 4 are not an incident). */
export const MIN_RATE_ATTEMPTS = 5;

/**
 * CloudWatch alarms, each notifying the alert topic on ALARM and OK and linking its runbook page.
 * Payment and webhook rates are metric math over the service's EMF metrics (CLOUDWATCH_METRICS).
 * Every `treatMissingData` below is chosen per alarm; the comment next to it says why.
 */
export class Alarms extends pulumi.ComponentResource {
  public readonly alarmNames: pulumi.Output<string[]>;
  /** Names of the alarms that roll an ECS deployment back, read from the alarm resources. */
  public readonly rollbackAlarmNames: pulumi.Output<string[]>;
  /** The rollback alarm resources, for `dependsOn` (the ECS service must not exist before them). */
  public readonly rollbackAlarms: aws.cloudwatch.MetricAlarm[];

  constructor(name: string, args: AlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:alarms:Alarms', name, {}, opts);
    if (!/^https:\/\//.test(args.runbookBaseUrl)) throw new Error('Alarms: runbookBaseUrl must be an https:// URL');
    if (args.targetGroupArnSuffixes.length === 0) throw new Error('Alarms: targetGroupArnSuffixes needs at least one target group');
    if (args.redisMemberClusterIds.length === 0) throw new Error('Alarms: redisMemberClusterIds needs at least one member cluster');
    const specs = alarmSpecs(args);

    const names: pulumi.Output<string>[] = [];
    const created = new Map<AlarmKey, aws.cloudwatch.MetricAlarm>();
    for (const key of alarmsFor(args.environment)) {
      const { slug, summary } = ALARMS[key];
      const alarm = new aws.cloudwatch.MetricAlarm(`${name}-${slug}`, {
        ...specs[key],
        name: alarmName(args.prefix, key),
        alarmDescription: `${summary} (${args.environment}). Runbook: ${args.runbookBaseUrl}/${slug}.md`,
        alarmActions: [args.alertTopicArn],
        okActions: [args.alertTopicArn],
        tags: args.tags,
      }, { parent: this });
      created.set(key, alarm);
      names.push(alarm.name);
    }
    this.rollbackAlarms = DEPLOYMENT_ROLLBACK_ALARMS.map((key) => {
      const alarm = created.get(key);
      if (!alarm) throw new Error(`Alarms: rollback alarm ${key} is not created in ${args.environment}`);
      return alarm;
    });
    this.alarmNames = pulumi.all(names);
    this.rollbackAlarmNames = pulumi.all(this.rollbackAlarms.map((a) => a.name));
    this.registerOutputs({ alarmNames: this.alarmNames, rollbackAlarmNames: this.rollbackAlarmNames });
  }
}

const metric = (id: string, namespace: string, metricName: string, stat: string, dimensions: Record<string, pulumi.Input<string>>, period = 300): Query =>
  ({ id, returnData: false, metric: { namespace, metricName, stat, period, dimensions } });
const expression = (id: string, expr: string, label: string, returnData = true): Query => ({ id, expression: expr, label, returnData });
/** One query per member (`<prefix>0`, `<prefix>1`, ...) and their ids, for MAX/SUM over the array. */
const perMember = (prefix: string, ids: pulumi.Input<string>[], make: (id: string, member: pulumi.Input<string>) => Query) => {
  const queries = ids.map((member, i) => make(`${prefix}${i}`, member));
  return { queries, ids: queries.map((q) => q.id as string) };
};

function alarmSpecs(args: AlarmsArgs): Record<AlarmKey, Spec> {
  const alb = { LoadBalancer: args.albArnSuffix };
  const app = { [CLOUDWATCH_METRICS.dimension]: args.environment };
  const n = CLOUDWATCH_METRICS.names;
  // The service's EMF counters are written only when an event happens: a window with successes and
  // no failure has no `failed` datapoint, and arithmetic on a missing datapoint is missing. So each
  // counter is FILLed with 0 before the ratio, or 100% failures (no success at all) would produce
  // no rate and never alarm.
  const rate = (failed: string, succeeded: string): Query[] => [
    metric('failed', CLOUDWATCH_METRICS.namespace, failed, 'Sum', app),
    metric('succeeded', CLOUDWATCH_METRICS.namespace, succeeded, 'Sum', app),
    expression('f', 'FILL(failed, 0)', 'failed', false),
    expression('s', 'FILL(succeeded, 0)', 'succeeded', false),
    expression('rate', `IF(f + s >= ${MIN_RATE_ATTEMPTS}, 100 * f / (f + s), 0)`, 'failure %'),
  ];
  const tgs = perMember('unhealthy', args.targetGroupArnSuffixes, (id, tg) =>
    metric(id, 'AWS/ApplicationELB', 'UnHealthyHostCount', 'Maximum', { LoadBalancer: args.albArnSuffix, TargetGroup: tg }, 60));
  const redis = (prefix: string, metricName: string, stat: string) =>
    perMember(prefix, args.redisMemberClusterIds, (id, member) => metric(id, 'AWS/ElastiCache', metricName, stat, { CacheClusterId: member }));
  const cpu = redis('cpu', 'EngineCPUUtilization', 'Average');
  const memory = redis('memory', 'DatabaseMemoryUsagePercentage', 'Maximum');
  const evictions = redis('evictions', 'Evictions', 'Sum');
  const filled = (ids: string[]) => ids.map((id) => `FILL(${id}, 0)`).join(', ');

  return {
    alb5xxRate: {
      metricQueries: [
        metric('elb5xx', 'AWS/ApplicationELB', 'HTTPCode_ELB_5XX_Count', 'Sum', alb, 60),
        metric('target5xx', 'AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count', 'Sum', alb, 60),
        metric('requests', 'AWS/ApplicationELB', 'RequestCount', 'Sum', alb, 60),
        expression('rate', 'IF(requests >= 20, 100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / requests, 0)', '5xx %'),
      ],
      // No requests in a minute: nothing failed.
      comparisonOperator: 'GreaterThanThreshold', threshold: 5, evaluationPeriods: 3, datapointsToAlarm: 2, treatMissingData: 'notBreaching',
    },
    targetP99Latency: {
      namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', extendedStatistic: 'p99', dimensions: alb, period: 60,
      // No requests: no latency to judge.
      comparisonOperator: 'GreaterThanThreshold', threshold: 2, evaluationPeriods: 5, datapointsToAlarm: 3, treatMissingData: 'notBreaching',
    },
    unhealthyHosts: {
      // Both target groups: during and after a canary the live tasks sit in whichever group ECS
      // moved them to. An empty group publishes nothing, hence FILL before the MAX.
      metricQueries: [...tgs.queries, expression('unhealthy', `MAX([${filled(tgs.ids)}])`, 'unhealthy targets')],
      comparisonOperator: 'GreaterThanOrEqualToThreshold', threshold: 1, evaluationPeriods: 5, datapointsToAlarm: 3, treatMissingData: 'notBreaching',
    },
    runningTasksBelowDesired: {
      metricQueries: [
        metric('running', 'ECS/ContainerInsights', 'RunningTaskCount', 'Minimum', { ClusterName: args.clusterName, ServiceName: args.serviceName }, 60),
        metric('desired', 'ECS/ContainerInsights', 'DesiredTaskCount', 'Maximum', { ClusterName: args.clusterName, ServiceName: args.serviceName }, 60),
        expression('missing', 'desired - running', 'tasks missing'),
      ],
      // Container Insights publishes every minute while the service exists; silence means it is gone.
      comparisonOperator: 'GreaterThanOrEqualToThreshold', threshold: 1, evaluationPeriods: 10, datapointsToAlarm: 8, treatMissingData: 'breaching',
    },
    paymentFailureRate: {
      metricQueries: rate(n.paymentFailed, n.paymentSucceeded),
      // No payment in the window (neither counter emitted): nothing is failing. Low volume is
      // handled by MIN_RATE_ATTEMPTS inside the math, not by missing data.
      comparisonOperator: 'GreaterThanThreshold', threshold: 20, evaluationPeriods: 2, datapointsToAlarm: 2, treatMissingData: 'notBreaching',
    },
    webhookFailureRate: {
      metricQueries: rate(n.webhookFailed, n.webhookProcessed),
      // As for payments: no webhook in the window is not a failure (no-webhook-activity covers silence).
      comparisonOperator: 'GreaterThanThreshold', threshold: 5, evaluationPeriods: 2, datapointsToAlarm: 2, treatMissingData: 'notBreaching',
    },
    noWebhookActivity: {
      metricQueries: [
        metric('processed', CLOUDWATCH_METRICS.namespace, n.webhookProcessed, 'Sum', app, 3600),
        expression('hourly', 'FILL(processed, 0)', 'webhooks processed per hour'),
      ],
      // 24 hours without one processed webhook. An hour without events has no datapoint (FILL
      // makes it 0 while the window holds any data); a whole day of silence leaves the math with
      // no datapoint at all, which is exactly the symptom: breaching.
      comparisonOperator: 'LessThanThreshold', threshold: 1, evaluationPeriods: 24, datapointsToAlarm: 24, treatMissingData: 'breaching',
    },
    redisCpu: {
      // The busiest node decides (the primary takes every write).
      metricQueries: [...cpu.queries, expression('cpu', `MAX([${cpu.ids.join(', ')}])`, 'engine CPU % (max over nodes)')],
      // A node that stops reporting is down: unhealthy-hosts (readiness checks Redis) pages for it.
      comparisonOperator: 'GreaterThanThreshold', threshold: 75, evaluationPeriods: 3, treatMissingData: 'notBreaching',
    },
    redisMemory: {
      metricQueries: [...memory.queries, expression('memory', `MAX([${memory.ids.join(', ')}])`, 'memory % (max over nodes)')],
      comparisonOperator: 'GreaterThanThreshold', threshold: 80, evaluationPeriods: 3, treatMissingData: 'notBreaching',
    },
    redisEvictions: {
      metricQueries: [...evictions.queries, expression('evictions', `SUM([${filled(evictions.ids)}])`, 'evictions (all nodes)')],
      // No datapoint: no evictions reported.
      comparisonOperator: 'GreaterThanThreshold', threshold: 0, evaluationPeriods: 1, treatMissingData: 'notBreaching',
    },
  };
}
