import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface AlertTopicArgs {
  /** Where alarms and the service's own alerts go (STRIPE_ALERT_EMAIL). */
  email: string;
  /** Customer-managed key whose policy lets CloudWatch and EventBridge publish (Encryption). */
  kmsKeyArn: pulumi.Input<string>;
  tags: Record<string, string>;
}

/**
 * The SNS topic every alarm notifies, EventBridge rules forward deployment events to, and the
 * service publishes payment alerts to. Encrypted with the stack's own KMS key: the AWS-managed
 * `alias/aws/sns` key would silently drop every alarm (its policy cannot admit CloudWatch).
 * The email subscription stays pending until someone clicks the confirmation mail (docs/infra.md).
 */
export class AlertTopic extends pulumi.ComponentResource {
  public readonly topicArn: pulumi.Output<string>;

  constructor(name: string, args: AlertTopicArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:alarms:AlertTopic', name, {}, opts);
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(args.email)) throw new Error(`AlertTopic: email must be an email address, got ${args.email}`);
    const parent = { parent: this };
    const topic = new aws.sns.Topic(`${name}-topic`, { name: `${name}-alerts`, kmsMasterKeyId: args.kmsKeyArn, tags: args.tags }, parent);
    const account = aws.getCallerIdentityOutput({}, parent).accountId;
    // A topic policy replaces the default one: keep the owner's rights, add EventBridge. CloudWatch
    // alarms of this account publish as the account, which the owner statement covers.
    new aws.sns.TopicPolicy(`${name}-policy`, {
      arn: topic.arn,
      policy: pulumi.all([topic.arn, account]).apply(([arn, accountId]) => JSON.stringify(topicPolicy(arn, accountId))),
    }, parent);
    new aws.sns.TopicSubscription(`${name}-email`, { topic: topic.arn, protocol: 'email', endpoint: args.email }, parent);
    this.topicArn = topic.arn;
    this.registerOutputs({ topicArn: this.topicArn });
  }
}

export function topicPolicy(topicArn: string, accountId: string): { Version: string; Statement: Record<string, unknown>[] } {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'OwnerAccount',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: ['sns:Publish', 'sns:Subscribe', 'sns:GetTopicAttributes', 'sns:SetTopicAttributes', 'sns:ListSubscriptionsByTopic', 'sns:DeleteTopic'],
        Resource: topicArn,
        Condition: { StringEquals: { 'AWS:SourceOwner': accountId } },
      },
      {
        Sid: 'CloudWatchAlarmsPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: topicArn,
        Condition: { StringEquals: { 'aws:SourceAccount': accountId } },
      },
      {
        Sid: 'EventBridgePublish',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: topicArn,
        Condition: { StringEquals: { 'aws:SourceAccount': accountId } },
      },
    ],
  };
}
