import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface EncryptionArgs {
  /** `alias/<aliasName>` names the key in the console and CLI. */
  aliasName: string;
  /** 7..30 days before a scheduled deletion completes. */
  deletionWindowInDays: number;
  tags: Record<string, string>;
}

/**
 * The stack's customer-managed KMS key, rotated yearly, for the Secrets Manager secrets, the
 * alert topic, the database (storage, Performance Insights, the RDS-managed master secret) and the
 * image repository (RDS and ECR use it through grants they create, allowed by the account statement). AWS-managed keys cannot be shared with CloudWatch or EventBridge (their policies
 * are fixed), which is why the topic needs this key and not `alias/aws/sns`.
 *
 * Key policy: the account administers it through IAM (so no statement here can lock everyone
 * out); CloudWatch alarms and EventBridge rules may only generate data keys and decrypt, which is
 * what publishing to an encrypted topic takes (SNS developer guide, "Enable compatibility between
 * event sources from AWS services and encrypted topics"). Who may decrypt the secrets is decided
 * by IAM policies with `kms:ViaService`, on the roles that read them (PaymentsService).
 */
export class Encryption extends pulumi.ComponentResource {
  public readonly keyArn: pulumi.Output<string>;
  public readonly keyId: pulumi.Output<string>;

  constructor(name: string, args: EncryptionArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:security:Encryption', name, {}, opts);
    if (!/^[a-zA-Z0-9/_-]+$/.test(args.aliasName) || args.aliasName.startsWith('aws/')) throw new Error(`Encryption: aliasName must be letters, digits, / _ - and not start with aws/, got ${args.aliasName}`);
    if (!Number.isInteger(args.deletionWindowInDays) || args.deletionWindowInDays < 7 || args.deletionWindowInDays > 30)
      throw new Error(`Encryption: deletionWindowInDays must be 7..30, got ${args.deletionWindowInDays}`);
    const parent = { parent: this };
    const account = aws.getCallerIdentityOutput({}, parent).accountId;
    const partition = aws.getPartitionOutput({}, parent).partition;

    const key = new aws.kms.Key(`${name}-key`, {
      description: `Secrets, alert topic, database and images of ${args.aliasName}`,
      enableKeyRotation: true,
      deletionWindowInDays: args.deletionWindowInDays,
      policy: pulumi.all([account, partition]).apply(([accountId, part]) => JSON.stringify(keyPolicy(accountId, part))),
      tags: args.tags,
    }, parent);
    new aws.kms.Alias(`${name}-alias`, { name: `alias/${args.aliasName}`, targetKeyId: key.keyId }, parent);

    this.keyArn = key.arn;
    this.keyId = key.keyId;
    this.registerOutputs({ keyArn: this.keyArn, keyId: this.keyId });
  }
}

/** The key policy as data (tests read it). */
export function keyPolicy(accountId: string, partition = 'aws'): { Version: string; Statement: Record<string, unknown>[] } {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AccountAdministersThroughIam',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Sid: 'AlarmsAndEventsPublishToEncryptedTopic',
        Effect: 'Allow',
        Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: '*',
      },
    ],
  };
}
