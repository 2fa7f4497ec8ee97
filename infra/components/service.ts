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
  /** Explicit ECS names: the rollback alarms exist before the service and watch these. */
  clusterName: string;
  serviceName: string;
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  /** Plain environment: never a secret (the policies check names and values). */
  environment: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Variable name -> secret ARN; the execution role may read exactly these. */
  secretArns: Record<string, pulumi.Input<string>>;
  /** Variable name -> current version id: a new value is a new task definition (tasks roll). */
  secretVersionIds: Record<string, pulumi.Input<string>>;
  /** The key the secrets are encrypted with; the execution role decrypts through Secrets Manager only. */
  kmsKeyArn: pulumi.Input<string>;
  alertTopicArn: pulumi.Input<string>;
  /**
   * The RDS-managed credentials secret the service reads itself (at start and after a refused login,
   * since RDS rotates it): the TASK role may read exactly this secret, and decrypt it through Secrets
   * Manager when a customer-managed key encrypts it. Unset with an external database (DATABASE_URL).
   */
  databaseCredentials?: { secretArn: pulumi.Input<string>; kmsKeyArn?: pulumi.Input<string> };
  loadBalancer: {
    primaryTargetGroupArn: pulumi.Input<string>;
    alternateTargetGroupArn: pulumi.Input<string>;
    productionListenerRuleArn: pulumi.Input<string>;
    trafficShiftRoleArn: pulumi.Input<string>;
    /** `app/<alb>/<id>/targetgroup/<tg>/<id>` of BOTH target groups: after a canary the alternate serves. */
    requestCountLabels: pulumi.Input<string>[];
  };
  deployment: {
    strategy: DeploymentStrategy; canaryPercent: number; canaryBakeMinutes: number; bakeMinutes: number;
    /** Names read from the alarm resources (not strings), so the alarms exist first. */
    rollbackAlarmNames: pulumi.Input<pulumi.Input<string>[]>;
  };
  /**
   * What must exist before the first task starts: secret versions (values), the cache, the load
   * balancer (its listener rule and traffic-shift role policy). The component's own `dependsOn`
   * does not reach its children, so this goes on the ECS service itself.
   */
  startAfter: pulumi.Input<pulumi.Resource>[];
  tags: Record<string, string>;
}

/**
 * How long `pulumi up` may wait for a deployment to reach steady state: the canary bake and the
 * bake after the full shift, plus tasks starting and passing health checks, plus a rollback if an
 * alarm fires late. The provider's default (20 minutes) is shorter than production's bakes.
 */
export function deploymentTimeoutMinutes(d: { canaryBakeMinutes: number; bakeMinutes: number }): number {
  const startAndHealth = 10;
  const rollbackMargin = 20;
  return d.canaryBakeMinutes + d.bakeMinutes + startAndHealth + rollbackMargin;
}

const assumeEcsTasks = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/**
 * The payments service on ECS Fargate: cluster with Container Insights, task definition whose
 * secrets come only through `valueFrom`, least-privilege roles, private subnets behind the ALB,
 * CPU and request-count autoscaling, and deployments that roll back on their own (CloudWatch
 * alarms, plus the circuit breaker on rolling deployments), as a canary where the stack asks.
 */
export class PaymentsService extends pulumi.ComponentResource {
  public readonly clusterName: pulumi.Output<string>;
  public readonly clusterArn: pulumi.Output<string>;
  public readonly serviceName: pulumi.Output<string>;
  public readonly logGroupName: pulumi.Output<string>;
  public readonly taskDefinitionArn: pulumi.Output<string>;
  public readonly taskDefinitionFamily: pulumi.Output<string>;
  /** Long-format ARN (`...:service/<cluster>/<service>`), as ECS events name the service. */
  public readonly serviceArn: pulumi.Output<string>;
  public readonly executionRoleArn: pulumi.Output<string>;
  public readonly taskRoleArn: pulumi.Output<string>;
  public readonly logGroupArn: pulumi.Output<string>;

  constructor(name: string, args: PaymentsServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:service:PaymentsService', name, {}, opts);
    if (args.minCount > args.desiredCount || args.desiredCount > args.maxCount)
      throw new Error(`PaymentsService: need minCount <= desiredCount <= maxCount, got ${args.minCount}/${args.desiredCount}/${args.maxCount}`);
    if (args.logRetentionDays <= 0) throw new Error('PaymentsService: logRetentionDays must be positive');
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(args.clusterName) || !/^[A-Za-z0-9_-]{1,255}$/.test(args.serviceName))
      throw new Error(`PaymentsService: clusterName and serviceName must be 1-255 letters, digits, - or _, got ${args.clusterName}/${args.serviceName}`);
    if (args.loadBalancer.requestCountLabels.length === 0) throw new Error('PaymentsService: loadBalancer.requestCountLabels must name the target groups');
    const parent = { parent: this };
    const region = aws.getRegionOutput({}, parent).region;

    const cluster = new aws.ecs.Cluster(`${name}-cluster`, { name: args.clusterName, settings: [{ name: 'containerInsights', value: 'enabled' }], tags: args.tags }, parent);
    const logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: `/ecs/${args.clusterName}/${args.serviceName}`, retentionInDays: args.logRetentionDays, tags: args.tags }, parent);

    const executionRole = new aws.iam.Role(`${name}-execution-role`, { assumeRolePolicy: assumeEcsTasks, tags: args.tags }, parent);
    const executionManaged = new aws.iam.RolePolicyAttachment(`${name}-execution-ecr-logs`, {
      role: executionRole.name,
      policyArn: 'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy',
    }, parent);
    const executionSecrets = new aws.iam.RolePolicy(`${name}-execution-secrets`, {
      role: executionRole.name,
      policy: pulumi.all([pulumi.all(Object.values(args.secretArns)), args.kmsKeyArn, region]).apply(([arns, keyArn, regionName]) => JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [...arns].sort() },
          // The key decrypts for Secrets Manager only: the role cannot use it on anything else.
          { Effect: 'Allow', Action: ['kms:Decrypt'], Resource: [keyArn], Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${regionName}.amazonaws.com` } } },
        ],
      })),
    }, parent);

    const taskRole = new aws.iam.Role(`${name}-task-role`, { assumeRolePolicy: assumeEcsTasks, tags: args.tags }, parent);
    const taskPolicy = new aws.iam.RolePolicy(`${name}-task-publish-alerts`, {
      role: taskRole.name,
      policy: pulumi.all([args.alertTopicArn, args.kmsKeyArn, region]).apply(([arn, keyArn, regionName]) => JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['sns:Publish'], Resource: [arn] },
          // Publishing to a KMS-encrypted topic needs a data key from the topic's key.
          { Effect: 'Allow', Action: ['kms:GenerateDataKey*', 'kms:Decrypt'], Resource: [keyArn], Condition: { StringEquals: { 'kms:ViaService': `sns.${regionName}.amazonaws.com` } } },
        ],
      })),
    }, parent);

    const taskPolicies = [taskPolicy, ...(args.databaseCredentials ? [databaseCredentialsPolicy(name, taskRole, args.databaseCredentials, region, this)] : [])];

    const containerName = 'payments';
    const taskDefinition = new aws.ecs.TaskDefinition(`${name}-task`, {
      family: args.clusterName,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(args.cpu),
      memory: String(args.memory),
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' },
      executionRoleArn: executionRole.arn,
      taskRoleArn: taskRole.arn,
      containerDefinitions: pulumi
        .all([pulumi.output(args.environment), pulumi.output(args.secretArns), pulumi.output(args.secretVersionIds), logGroup.name, region])
        .apply(([environment, secrets, secretVersions, logGroupName, regionName]) =>
          containerDefinitionsJson({
            name: containerName, image: args.image, port: args.containerPort, logGroup: logGroupName, region: regionName, environment, secrets, secretVersions,
          }),
        ),
      tags: args.tags,
      // Keep every revision registered when a release replaces it: ECS updates a service only to
      // an ACTIVE revision, so the rollback step (pipelines/app-rollback) and ECS's own rollback
      // need the previous one. Old revisions cost nothing; `aws ecs deregister-task-definition`
      // prunes them by hand.
      skipDestroy: true,
    }, parent);

    const canary = args.deployment.strategy === 'CANARY';
    const timeout = `${deploymentTimeoutMinutes(args.deployment)}m`;
    const service = new aws.ecs.Service(`${name}-service`, {
      name: args.serviceName,
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
      // The ECS API documents the circuit breaker for rolling updates only; a canary is failed and
      // rolled back by its alarms (docs/infra.md, "Deployments").
      ...(canary ? {} : { deploymentCircuitBreaker: { enable: true, rollback: true } }),
      alarms: { enable: true, rollback: true, alarmNames: args.deployment.rollbackAlarmNames },
      waitForSteadyState: true,
      // Ctrl-C (or a cancelled pipeline) during `pulumi up` rolls the deployment back instead of leaving it half-shifted.
      sigintRollback: true,
      tags: args.tags,
    }, {
      parent: this,
      // Autoscaling owns the running count after the first deploy.
      ignoreChanges: ['desiredCount'],
      customTimeouts: { create: timeout, update: timeout, delete: '20m' },
      dependsOn: [executionManaged, executionSecrets, ...taskPolicies, ...args.startAfter],
    });

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
    // One policy per target group: a canary leaves the alternate group serving all traffic, and
    // Application Auto Scaling scales out when any policy asks and in only when all agree, so the
    // idle group's policy never holds the count down (docs/infra.md, "Autoscaling").
    args.loadBalancer.requestCountLabels.forEach((label, i) => track(`requests-${i === 0 ? 'primary' : i === 1 ? 'alternate' : String(i)}`, 'ALBRequestCountPerTarget', 500, label));

    this.clusterName = cluster.name;
    this.clusterArn = cluster.arn;
    this.serviceName = service.name;
    this.logGroupName = logGroup.name;
    this.taskDefinitionArn = taskDefinition.arn;
    this.taskDefinitionFamily = taskDefinition.family;
    this.serviceArn = service.arn;
    this.executionRoleArn = executionRole.arn;
    this.taskRoleArn = taskRole.arn;
    this.logGroupArn = logGroup.arn;
    this.registerOutputs({
      clusterName: this.clusterName,
      clusterArn: this.clusterArn,
      serviceName: this.serviceName,
      logGroupName: this.logGroupName,
      taskDefinitionArn: this.taskDefinitionArn,
      taskDefinitionFamily: this.taskDefinitionFamily,
      serviceArn: this.serviceArn,
      executionRoleArn: this.executionRoleArn,
      taskRoleArn: this.taskRoleArn,
      logGroupArn: this.logGroupArn,
    });
  }
}

/**
 * The task role reads the one RDS-managed secret (GetSecretValue on exactly its ARN) and, when a
 * customer-managed key encrypts it, decrypts through Secrets Manager only.
 */
function databaseCredentialsPolicy(
  name: string, taskRole: aws.iam.Role, credentials: NonNullable<PaymentsServiceArgs['databaseCredentials']>,
  region: pulumi.Output<string>, parent: pulumi.Resource,
): aws.iam.RolePolicy {
  return new aws.iam.RolePolicy(`${name}-task-read-db-credentials`, {
    role: taskRole.name,
    policy: pulumi.all([credentials.secretArn, credentials.kmsKeyArn, region]).apply(([secretArn, keyArn, regionName]) => JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [secretArn] },
        ...(keyArn ? [{ Effect: 'Allow', Action: ['kms:Decrypt'], Resource: [keyArn], Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${regionName}.amazonaws.com` } } }] : []),
      ],
    })),
  }, { parent });
}
