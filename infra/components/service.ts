import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import { containerDefinitionsJson } from '../container';
import type { DeploymentStrategy } from '../settings';

export interface PaymentsServiceArgs {
  image: string;
  containerPort: number;
  cpu: number;
  memory: number;
  desiredCount: number;
  minCount: number;
  maxCount: number;
  logRetentionDays: number;
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  /** Plain environment: never a secret (the policies check names and values). */
  environment: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Variable name -> secret ARN; the execution role may read exactly these. */
  secretArns: Record<string, pulumi.Input<string>>;
  alertTopicArn: pulumi.Input<string>;
  loadBalancer: {
    primaryTargetGroupArn: pulumi.Input<string>;
    alternateTargetGroupArn: pulumi.Input<string>;
    productionListenerRuleArn: pulumi.Input<string>;
    trafficShiftRoleArn: pulumi.Input<string>;
    /** `app/<alb>/<id>/targetgroup/<tg>/<id>` for request-count scaling. */
    requestCountLabel: pulumi.Input<string>;
  };
  deployment: { strategy: DeploymentStrategy; canaryPercent: number; canaryBakeMinutes: number; bakeMinutes: number; rollbackAlarmNames: string[] };
  tags: Record<string, string>;
}

const assumeEcsTasks = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/**
 * The payments service on ECS Fargate: cluster with Container Insights, task definition whose
 * secrets come only through `valueFrom`, least-privilege roles, private subnets behind the ALB,
 * CPU and request-count autoscaling, and deployments that roll back on their own (circuit breaker
 * plus CloudWatch alarms), as a canary where the stack asks for one.
 */
export class PaymentsService extends pulumi.ComponentResource {
  public readonly clusterName: pulumi.Output<string>;
  public readonly serviceName: pulumi.Output<string>;
  public readonly logGroupName: pulumi.Output<string>;
  public readonly taskDefinitionArn: pulumi.Output<string>;

  constructor(name: string, args: PaymentsServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:service:PaymentsService', name, {}, opts);
    if (args.minCount > args.desiredCount || args.desiredCount > args.maxCount)
      throw new Error(`PaymentsService: need minCount <= desiredCount <= maxCount, got ${args.minCount}/${args.desiredCount}/${args.maxCount}`);
    if (args.logRetentionDays <= 0) throw new Error('PaymentsService: logRetentionDays must be positive');
    if (args.deployment.rollbackAlarmNames.length === 0) throw new Error('PaymentsService: deployment.rollbackAlarmNames must name at least one alarm');
    const parent = { parent: this };
    const region = aws.getRegionOutput({}, parent).region;

    const cluster = new aws.ecs.Cluster(`${name}-cluster`, { settings: [{ name: 'containerInsights', value: 'enabled' }], tags: args.tags }, parent);
    const logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, { retentionInDays: args.logRetentionDays, tags: args.tags }, parent);

    const executionRole = new aws.iam.Role(`${name}-execution-role`, { assumeRolePolicy: assumeEcsTasks, tags: args.tags }, parent);
    new aws.iam.RolePolicyAttachment(`${name}-execution-ecr-logs`, {
      role: executionRole.name,
      policyArn: 'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy',
    }, parent);
    new aws.iam.RolePolicy(`${name}-execution-secrets`, {
      role: executionRole.name,
      policy: pulumi.all(Object.values(args.secretArns)).apply((arns) => JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [...arns].sort() }],
      })),
    }, parent);

    const taskRole = new aws.iam.Role(`${name}-task-role`, { assumeRolePolicy: assumeEcsTasks, tags: args.tags }, parent);
    new aws.iam.RolePolicy(`${name}-task-publish-alerts`, {
      role: taskRole.name,
      policy: pulumi.output(args.alertTopicArn).apply((arn) => JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['sns:Publish'], Resource: [arn] }],
      })),
    }, parent);

    const containerName = 'payments';
    const taskDefinition = new aws.ecs.TaskDefinition(`${name}-task`, {
      family: name,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(args.cpu),
      memory: String(args.memory),
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' },
      executionRoleArn: executionRole.arn,
      taskRoleArn: taskRole.arn,
      containerDefinitions: pulumi
        .all([pulumi.output(args.environment), pulumi.output(args.secretArns), logGroup.name, region])
        .apply(([environment, secrets, logGroupName, regionName]) =>
          containerDefinitionsJson({
            name: containerName, image: args.image, port: args.containerPort, logGroup: logGroupName, region: regionName, environment, secrets,
          }),
        ),
      tags: args.tags,
    }, parent);

    const canary = args.deployment.strategy === 'CANARY';
    const service = new aws.ecs.Service(`${name}-service`, {
      cluster: cluster.arn,
      taskDefinition: taskDefinition.arn,
      launchType: 'FARGATE',
      desiredCount: args.desiredCount,
      healthCheckGracePeriodSeconds: 60,
      propagateTags: 'SERVICE',
      // Private subnets, no public IP, the ALB-only group: the ALB is the one proxy the service trusts.
      networkConfiguration: { subnets: args.privateSubnetIds, securityGroups: [args.securityGroupId], assignPublicIp: false },
      loadBalancers: [{
        containerName,
        containerPort: args.containerPort,
        targetGroupArn: args.loadBalancer.primaryTargetGroupArn,
        ...(canary ? { advancedConfiguration: {
          alternateTargetGroupArn: args.loadBalancer.alternateTargetGroupArn,
          productionListenerRule: args.loadBalancer.productionListenerRuleArn,
          roleArn: args.loadBalancer.trafficShiftRoleArn,
        } } : {}),
      }],
      deploymentController: { type: 'ECS' },
      deploymentConfiguration: canary
        ? {
            strategy: 'CANARY',
            canaryConfiguration: { canaryPercent: args.deployment.canaryPercent, canaryBakeTimeInMinutes: String(args.deployment.canaryBakeMinutes) },
            bakeTimeInMinutes: String(args.deployment.bakeMinutes),
          }
        : { strategy: 'ROLLING' },
      deploymentMinimumHealthyPercent: 100,
      deploymentMaximumPercent: 200,
      deploymentCircuitBreaker: { enable: true, rollback: true },
      alarms: { enable: true, rollback: true, alarmNames: args.deployment.rollbackAlarmNames },
      waitForSteadyState: true,
      tags: args.tags,
      // Autoscaling owns the running count after the first deploy.
    }, { parent: this, ignoreChanges: ['desiredCount'] });

    const target = new aws.appautoscaling.Target(`${name}-scaling`, {
      serviceNamespace: 'ecs',
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: pulumi.interpolate`service/${cluster.name}/${service.name}`,
      minCapacity: args.minCount,
      maxCapacity: args.maxCount,
    }, parent);
    const track = (role: string, metric: string, targetValue: number, resourceLabel?: pulumi.Input<string>) =>
      new aws.appautoscaling.Policy(`${name}-scale-${role}`, {
        policyType: 'TargetTrackingScaling',
        serviceNamespace: target.serviceNamespace,
        scalableDimension: target.scalableDimension,
        resourceId: target.resourceId,
        targetTrackingScalingPolicyConfiguration: {
          targetValue,
          predefinedMetricSpecification: { predefinedMetricType: metric, resourceLabel },
          scaleInCooldown: 300,
          scaleOutCooldown: 60,
        },
      }, parent);
    track('cpu', 'ECSServiceAverageCPUUtilization', 60);
    track('requests', 'ALBRequestCountPerTarget', 500, args.loadBalancer.requestCountLabel);

    this.clusterName = cluster.name;
    this.serviceName = service.name;
    this.logGroupName = logGroup.name;
    this.taskDefinitionArn = taskDefinition.arn;
    this.registerOutputs({
      clusterName: this.clusterName,
      serviceName: this.serviceName,
      logGroupName: this.logGroupName,
      taskDefinitionArn: this.taskDefinitionArn,
    });
  }
}
