import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface DeploymentEventsArgs {
  environment: string;
  /** Long-format service ARN (`arn:aws:ecs:<region>:<account>:service/<cluster>/<service>`), as in the events' `resources`. */
  serviceArn: pulumi.Input<string>;
  /**
   * The alert topic. Its topic policy must let `events.amazonaws.com` publish (and, if the topic has
   * a customer-managed key, the key policy must let EventBridge use it); the AlertTopic owns both.
   */
  alertTopicArn: pulumi.Input<string>;
  /** Full https URL of runbooks/ecs-deployment-failed.md as on-call browses it. */
  runbookUrl: string;
  tags: Record<string, string>;
}

export const DEPLOYMENT_EVENT_TYPE = 'ECS Deployment State Change';

/**
 * The ECS deployment state change events worth waking someone for, for one service. ECS sends only
 * SERVICE_DEPLOYMENT_IN_PROGRESS / _COMPLETED / _FAILED (ECS developer guide, "service deployment
 * state change events"): a failure is FAILED, and a rollback is an IN_PROGRESS whose reason says
 * it is rolling back ("ECS deployment circuit breaker: rolling back to deploymentId ...").
 */
export function deploymentEventPattern(serviceArn: string): object {
  return {
    source: ['aws.ecs'],
    'detail-type': [DEPLOYMENT_EVENT_TYPE],
    resources: [serviceArn],
    detail: {
      $or: [
        { eventName: ['SERVICE_DEPLOYMENT_FAILED'] },
        { eventName: ['SERVICE_DEPLOYMENT_IN_PROGRESS'], reason: [{ wildcard: '*rolling back*' }] },
      ],
    },
  };
}

/** A short-format ARN (`service/<name>`) never matches the events' `resources`: the rule would stay silent. */
export function longServiceArn(arn: string): string {
  if (!/^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service\/[^/]+\/[^/]+$/.test(arn))
    throw new Error(`DeploymentEvents: serviceArn must be a long-format ECS service ARN (…:service/<cluster>/<service>), got "${arn}"`);
  return arn;
}

/** The SNS message: a JSON string template (quotes included), placeholders filled by EventBridge. */
export function alertTemplate(environment: string, serviceName: string, runbookUrl: string): string {
  return JSON.stringify(
    `[${environment}] ECS deployment <eventName> at <time> for service ${serviceName}. ` +
    `Deployment <deploymentId>: <reason> ` +
    `Runbook: ${runbookUrl}`,
  );
}

/**
 * An EventBridge rule on the payments service's failed and rolled-back deployments, publishing a
 * readable message with the runbook link to the alert topic: a rollback ECS does by itself (circuit
 * breaker, deployment alarms) would otherwise only show in the ECS console.
 */
export class DeploymentEvents extends pulumi.ComponentResource {
  public readonly ruleName: pulumi.Output<string>;
  public readonly ruleArn: pulumi.Output<string>;

  constructor(name: string, args: DeploymentEventsArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before super(): a half-registered component would leave the engine a dangling resource.
    if (!/^[a-z][a-z0-9-]*$/.test(args.environment ?? '')) throw new Error(`DeploymentEvents: environment must be a stack name like staging, got "${args.environment}"`);
    if (!/^https:\/\/\S+\.md$/.test(args.runbookUrl ?? '')) throw new Error(`DeploymentEvents: runbookUrl must be the https:// URL of a runbook page (.md), got "${args.runbookUrl}"`);
    super('upiik:alarms:DeploymentEvents', name, {}, opts);
    const parent = { parent: this };

    const serviceArn = pulumi.output(args.serviceArn).apply(longServiceArn);
    const rule = new aws.cloudwatch.EventRule(`${name}-deploy-events`, {
      description: `Failed or rolled-back deployments of the payments service (${args.environment})`,
      eventPattern: serviceArn.apply((arn) => JSON.stringify(deploymentEventPattern(arn))),
      tags: args.tags,
    }, parent);

    new aws.cloudwatch.EventTarget(`${name}-deploy-events-alert`, {
      rule: rule.name,
      arn: args.alertTopicArn,
      inputTransformer: {
        inputPaths: {
          eventName: '$.detail.eventName',
          reason: '$.detail.reason',
          deploymentId: '$.detail.deploymentId',
          time: '$.time',
        },
        inputTemplate: serviceArn.apply((arn) => alertTemplate(args.environment, arn.split('/').slice(-2).join('/'), args.runbookUrl)),
      },
      // An alert a day late is noise; EventBridge's default keeps retrying for 24 h.
      retryPolicy: { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 20 },
    }, parent);

    this.ruleName = rule.name;
    this.ruleArn = rule.arn;
    this.registerOutputs({ ruleName: this.ruleName, ruleArn: this.ruleArn });
  }
}
