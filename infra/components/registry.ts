import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface RegistryArgs {
  /** Repository name, e.g. `upiik-payments-staging` (lower case, ECR's name rules). */
  repositoryName: string;
  /**
   * Tagged images kept (newest by push time); older ones expire. Must cover every image a stack may
   * still run or roll back to: one image per merge, so keep comfortably more than a release cycle.
   */
  keepTaggedImages: number;
  /** Untagged images (superseded manifests, failed multi-arch pushes) expire after this many days. */
  untaggedExpiryDays: number;
  /** Customer-managed KMS key (ARN); unset = the AWS-managed `aws/ecr` key. Fixed at creation. */
  kmsKeyArn?: pulumi.Input<string>;
  tags: Record<string, string>;
}

// ECR repository names: 2-256 chars, lower case, optional namespaces separated by '/'.
const REPOSITORY_NAME = /^(?=.{2,256}$)[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;

/**
 * The stack's ECR repository: immutable tags (tag = commit, a tag never moves, the pipeline deploys
 * by digest), a vulnerability scan on every push, KMS encryption, and a lifecycle policy so old
 * images do not pile up.
 */
export class Registry extends pulumi.ComponentResource {
  public readonly repositoryUrl: pulumi.Output<string>;
  public readonly repositoryArn: pulumi.Output<string>;
  public readonly repositoryName: pulumi.Output<string>;

  constructor(name: string, args: RegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before super(): a half-registered component would leave the engine a dangling resource.
    validate(args);
    super('upiik:registry:Registry', name, {}, opts);
    const parent = { parent: this };

    const repository = new aws.ecr.Repository(`${name}-repo`, {
      name: args.repositoryName,
      imageTagMutability: 'IMMUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfigurations: [{ encryptionType: 'KMS', kmsKey: args.kmsKeyArn }],
      // A repository holding images is never deleted by a stray `pulumi destroy`.
      forceDelete: false,
      tags: args.tags,
    }, parent);

    new aws.ecr.LifecyclePolicy(`${name}-lifecycle`, {
      repository: repository.name,
      policy: JSON.stringify(lifecyclePolicy(args.keepTaggedImages, args.untaggedExpiryDays)),
    }, parent);

    this.repositoryUrl = repository.repositoryUrl;
    this.repositoryArn = repository.arn;
    this.repositoryName = repository.name;
    this.registerOutputs({ repositoryUrl: this.repositoryUrl, repositoryArn: this.repositoryArn, repositoryName: this.repositoryName });
  }
}

/**
 * ECR lifecycle rules (AWS "Lifecycle policy properties"): lower rulePriority is evaluated first;
 * `tagged` needs a tagPatternList (or prefix list), `untagged` must have none; `*` matches every tag.
 */
export function lifecyclePolicy(keepTaggedImages: number, untaggedExpiryDays: number): { rules: object[] } {
  return {
    rules: [
      {
        rulePriority: 1,
        description: `Expire untagged images ${untaggedExpiryDays} days after push`,
        selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: untaggedExpiryDays },
        action: { type: 'expire' },
      },
      {
        rulePriority: 2,
        description: `Keep the ${keepTaggedImages} most recently pushed tagged images`,
        selection: { tagStatus: 'tagged', tagPatternList: ['*'], countType: 'imageCountMoreThan', countNumber: keepTaggedImages },
        action: { type: 'expire' },
      },
    ],
  };
}

function validate(args: RegistryArgs): void {
  const fail = (arg: string, rule: string): never => {
    throw new Error(`Registry: ${arg} ${rule}`);
  };
  if (!REPOSITORY_NAME.test(args.repositoryName)) fail('repositoryName', `must be a valid ECR repository name (lower case letters, digits, . _ - /), got "${args.repositoryName}"`);
  if (!Number.isInteger(args.keepTaggedImages) || args.keepTaggedImages < 10 || args.keepTaggedImages > 1000)
    fail('keepTaggedImages', `must be an integer from 10 to 1000 (fewer risks expiring the image a stack rolls back to), got ${args.keepTaggedImages}`);
  if (!Number.isInteger(args.untaggedExpiryDays) || args.untaggedExpiryDays < 1 || args.untaggedExpiryDays > 90)
    fail('untaggedExpiryDays', `must be an integer from 1 to 90, got ${args.untaggedExpiryDays}`);
}
