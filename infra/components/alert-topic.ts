import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface AlertTopicArgs {
  /** Where alarms and the service's own alerts go (STRIPE_ALERT_EMAIL). */
  email: string;
  tags: Record<string, string>;
}

/**
 * The SNS topic every alarm notifies and the service publishes payment alerts to. Created before
 * the service (the task role and ALERT_SNS_TOPIC_ARN need it) and before the alarms.
 * The email subscription stays pending until someone clicks the confirmation mail (docs/infra.md).
 */
export class AlertTopic extends pulumi.ComponentResource {
  public readonly topicArn: pulumi.Output<string>;

  constructor(name: string, args: AlertTopicArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:alarms:AlertTopic', name, {}, opts);
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(args.email)) throw new Error(`AlertTopic: email must be an email address, got ${args.email}`);
    // No `alias/aws/sns` encryption: CloudWatch alarms cannot publish to a topic under the AWS-managed
    // key (its key policy does not admit cloudwatch.amazonaws.com). Alert texts carry no secrets.
    const topic = new aws.sns.Topic(`${name}-topic`, { tags: args.tags }, { parent: this });
    new aws.sns.TopicSubscription(`${name}-email`, { topic: topic.arn, protocol: 'email', endpoint: args.email }, { parent: this });
    this.topicArn = topic.arn;
    this.registerOutputs({ topicArn: this.topicArn });
  }
}
