import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface LoadBalancerArgs {
  /**
   * Short physical-name stem, unique per stack in the account and region (e.g. `upiik-pay-staging`):
   * AWS limits ALB and target group names to 32 characters, so names are `<shortName>-alb`,
   * `<shortName>-primary`, `<shortName>-alternate` (at most 22 characters here).
   */
  shortName: string;
  vpcId: pulumi.Input<string>;
  /** The VPC's CIDR: the ALB may reach the container port inside the VPC and nowhere else. */
  vpcCidr: pulumi.Input<string>;
  publicSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  certificateArn: string;
  containerPort: number;
  /** Readiness route: database and Redis answer (the service's HTTP contract). */
  healthCheckPath: string;
  /** Refuse deletion of the ALB (production): a stray `pulumi destroy` cannot take the edge down. */
  deletionProtection: boolean;
  /** Days ALB access logs are kept in their S3 bucket before they expire. */
  accessLogRetentionDays: number;
  tags: Record<string, string>;
}

/** Names AWS accepts for an ALB or a target group: 1-32 alphanumerics or hyphens, no hyphen at either end. */
const ELB_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;
const MAX_SHORT_NAME = 32 - '-alternate'.length;
const ACCESS_LOG_PREFIX = 'alb';

/**
 * The HTTPS entry point: an internet-facing ALB (the only thing open to the world, on 80 and 443),
 * HTTP redirected to HTTPS, and two target groups (primary/alternate) behind one production
 * listener rule, so ECS can shift traffic between revisions for a canary. Also owns the tasks'
 * security group, reachable only from the ALB, because that pairing is what keeps tasks private.
 */
export class LoadBalancer extends pulumi.ComponentResource {
  public readonly albArn: pulumi.Output<string>;
  public readonly albArnSuffix: pulumi.Output<string>;
  public readonly dnsName: pulumi.Output<string>;
  public readonly primaryTargetGroupArn: pulumi.Output<string>;
  public readonly primaryTargetGroupArnSuffix: pulumi.Output<string>;
  public readonly alternateTargetGroupArn: pulumi.Output<string>;
  public readonly alternateTargetGroupArnSuffix: pulumi.Output<string>;
  /** S3 bucket receiving the ALB access logs (under `alb/AWSLogs/...`). */
  public readonly accessLogBucketName: pulumi.Output<string>;
  public readonly productionListenerRuleArn: pulumi.Output<string>;
  public readonly httpsListenerArn: pulumi.Output<string>;
  public readonly serviceSecurityGroupId: pulumi.Output<string>;
  /** Role ECS assumes to move traffic between the target groups during a canary. */
  public readonly trafficShiftRoleArn: pulumi.Output<string>;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:service:LoadBalancer', name, {}, opts);
    if (!args.certificateArn.startsWith('arn:')) throw new Error('LoadBalancer: certificateArn must be an ACM certificate ARN');
    if (args.shortName.length > MAX_SHORT_NAME || !ELB_NAME.test(args.shortName) || args.shortName.startsWith('internal-'))
      throw new Error(`LoadBalancer: shortName must be at most ${MAX_SHORT_NAME} letters, digits or inner hyphens, not starting with internal- (got ${args.shortName})`);
    if (!Number.isInteger(args.accessLogRetentionDays) || args.accessLogRetentionDays < 1)
      throw new Error(`LoadBalancer: accessLogRetentionDays must be a positive whole number of days, got ${args.accessLogRetentionDays}`);
    const parent = { parent: this };

    const albSg = new aws.ec2.SecurityGroup(`${name}-alb-sg`, {
      vpcId: args.vpcId,
      description: 'Internet-facing ALB: HTTPS, and HTTP only to redirect',
      ingress: [80, 443].map((port) => ({ protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: ['0.0.0.0/0'], ipv6CidrBlocks: ['::/0'] })),
      // Out only to the tasks' port inside the VPC (targets are task IPs in the private subnets).
      egress: [{ protocol: 'tcp', fromPort: args.containerPort, toPort: args.containerPort, cidrBlocks: [args.vpcCidr] }],
      // The no-world-ingress policy allows 80/443 only on groups marked as the internet edge.
      tags: { ...args.tags, Name: `${name}-alb-sg`, Exposure: 'internet' },
    }, parent);
    // The service trusts exactly one proxy hop (Express `trust proxy` = 1): the client address is
    // the X-Forwarded-For entry this ALB appends. The container port must stay reachable from the
    // ALB only; any other way in would let clients pick their own address (and per-IP limits).
    const serviceSg = new aws.ec2.SecurityGroup(`${name}-service-sg`, {
      vpcId: args.vpcId,
      description: 'Payments tasks: container port from the ALB only',
      ingress: [{ protocol: 'tcp', fromPort: args.containerPort, toPort: args.containerPort, securityGroups: [albSg.id] }],
      // Stripe, ECR, Secrets Manager, CloudWatch and the database are reached outbound.
      egress: [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
      tags: { ...args.tags, Name: `${name}-service-sg`, Exposure: 'private' },
    }, parent);

    const logs = accessLogBucket(this, name, args);
    // Explicit short names (not auto-names, which come out at 34-46 characters). The trade-off is
    // documented in docs/infra.md: a change that replaces a target group cannot create the new one
    // beside the old under the same name, and fails at that first step, before anything changed.
    const alb = new aws.lb.LoadBalancer(`${name}-alb`, {
      name: `${args.shortName}-alb`,
      loadBalancerType: 'application',
      internal: false,
      subnets: args.publicSubnetIds,
      securityGroups: [albSg.id],
      dropInvalidHeaderFields: true,
      enableDeletionProtection: args.deletionProtection,
      accessLogs: { bucket: logs.bucket.id, prefix: ACCESS_LOG_PREFIX, enabled: true },
      tags: args.tags,
      // ELB checks it may write to the bucket when access logs are turned on.
    }, { parent: this, dependsOn: logs.ready });

    const targetGroup = (role: string) =>
      new aws.lb.TargetGroup(`${name}-${role}-tg`, {
        name: `${args.shortName}-${role}`,
        vpcId: args.vpcId,
        port: args.containerPort,
        protocol: 'HTTP',
        targetType: 'ip',
        deregistrationDelay: 30,
        healthCheck: { path: args.healthCheckPath, matcher: '200', interval: 15, timeout: 5, healthyThreshold: 2, unhealthyThreshold: 3 },
        tags: { ...args.tags, Name: `${name}-${role}-tg` },
      }, parent);
    const primary = targetGroup('primary');
    const alternate = targetGroup('alternate');

    new aws.lb.Listener(`${name}-http`, {
      loadBalancerArn: alb.arn,
      port: 80,
      protocol: 'HTTP',
      defaultActions: [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }],
      tags: args.tags,
    }, parent);
    const https = new aws.lb.Listener(`${name}-https`, {
      loadBalancerArn: alb.arn,
      port: 443,
      protocol: 'HTTPS',
      sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      certificateArn: args.certificateArn,
      defaultActions: [{ type: 'fixed-response', fixedResponse: { contentType: 'application/json', statusCode: '404', messageBody: '{"error":{"code":"not_found","message":"Not found"}}' } }],
      tags: args.tags,
    }, parent);
    const rule = new aws.lb.ListenerRule(`${name}-production-rule`, {
      listenerArn: https.arn,
      priority: 100,
      conditions: [{ pathPattern: { values: ['/*'] } }],
      actions: [{ type: 'forward', forward: { targetGroups: [{ arn: primary.arn, weight: 100 }, { arn: alternate.arn, weight: 0 }] } }],
      tags: args.tags,
      // ECS rewrites the weights during every canary; Pulumi must not put them back.
    }, { parent: this, ignoreChanges: ['actions'] });

    const trafficShiftRole = new aws.iam.Role(`${name}-traffic-shift-role`, {
      description: 'Lets ECS shift ALB traffic between target groups during canary deployments',
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
      tags: args.tags,
    }, parent);
    new aws.iam.RolePolicyAttachment(`${name}-traffic-shift-policy`, {
      role: trafficShiftRole.name,
      policyArn: 'arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers',
    }, parent);

    this.albArn = alb.arn;
    this.albArnSuffix = alb.arnSuffix;
    this.dnsName = alb.dnsName;
    this.primaryTargetGroupArn = primary.arn;
    this.primaryTargetGroupArnSuffix = primary.arnSuffix;
    this.alternateTargetGroupArn = alternate.arn;
    this.alternateTargetGroupArnSuffix = alternate.arnSuffix;
    this.accessLogBucketName = logs.bucket.id;
    this.productionListenerRuleArn = rule.arn;
    this.httpsListenerArn = https.arn;
    this.serviceSecurityGroupId = serviceSg.id;
    this.trafficShiftRoleArn = trafficShiftRole.arn;
    this.registerOutputs({
      albArn: this.albArn,
      albArnSuffix: this.albArnSuffix,
      dnsName: this.dnsName,
      primaryTargetGroupArn: this.primaryTargetGroupArn,
      primaryTargetGroupArnSuffix: this.primaryTargetGroupArnSuffix,
      alternateTargetGroupArn: this.alternateTargetGroupArn,
      alternateTargetGroupArnSuffix: this.alternateTargetGroupArnSuffix,
      accessLogBucketName: this.accessLogBucketName,
      productionListenerRuleArn: this.productionListenerRuleArn,
      httpsListenerArn: this.httpsListenerArn,
      serviceSecurityGroupId: this.serviceSecurityGroupId,
      trafficShiftRoleArn: this.trafficShiftRoleArn,
    });
  }
}

/**
 * Elastic Load Balancing's log-delivery account per Region, for Regions opened before August 2022
 * (AWS: "Enable access logs for your Application Load Balancer", step 2). Newer Regions accept only
 * the log-delivery service principal, which the bucket policy always grants as well.
 */
export const ELB_LOG_ACCOUNTS: Readonly<Record<string, string>> = {
  'us-east-1': '127311923021', 'us-east-2': '033677994240', 'us-west-1': '027434742980', 'us-west-2': '797873946194',
  'af-south-1': '098369216593', 'ap-east-1': '754344448648', 'ap-south-1': '718504428378', 'ap-northeast-1': '582318560864',
  'ap-northeast-2': '600734575887', 'ap-northeast-3': '383597477331', 'ap-southeast-1': '114774131450', 'ap-southeast-2': '783225319266',
  'ap-southeast-3': '589379963580', 'ca-central-1': '985666609251', 'eu-central-1': '054676820928', 'eu-west-1': '156460612806',
  'eu-west-2': '652711504416', 'eu-west-3': '009996457667', 'eu-south-1': '635631232127', 'eu-north-1': '897822967062',
  'me-south-1': '076674570225', 'sa-east-1': '507241528517',
};

/** The bucket policy: ELB may put objects under `<prefix>/AWSLogs/`; nobody may use plain HTTP. */
export function accessLogBucketPolicy(bucketArn: string, region: string): string {
  const logs = `${bucketArn}/${ACCESS_LOG_PREFIX}/AWSLogs/*`;
  const legacyAccount = ELB_LOG_ACCOUNTS[region];
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'ElbLogDelivery', Effect: 'Allow', Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' }, Action: 's3:PutObject', Resource: logs },
      ...(legacyAccount
        ? [{ Sid: 'ElbLogDeliveryRegionalAccount', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${legacyAccount}:root` }, Action: 's3:PutObject', Resource: logs }]
        : []),
      {
        Sid: 'DenyInsecureTransport', Effect: 'Deny', Principal: '*', Action: 's3:*',
        Resource: [bucketArn, `${bucketArn}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ],
  });
}

/**
 * The private bucket ALB access logs land in: SSE-S3 (the only encryption ALB log delivery
 * supports), public access blocked, bucket-owner-enforced ownership (no ACLs), expiry after
 * accessLogRetentionDays, TLS-only bucket policy. `ready` is what the ALB must wait for.
 */
function accessLogBucket(parent: pulumi.Resource, name: string, args: LoadBalancerArgs) {
  const opts = { parent };
  const bucket = new aws.s3.Bucket(`${name}-alb-logs`, { forceDestroy: false, tags: { ...args.tags, Name: `${name}-alb-logs` } }, opts);
  const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-alb-logs-sse`, {
    bucket: bucket.id,
    rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
  }, opts);
  const publicAccess = new aws.s3.BucketPublicAccessBlock(`${name}-alb-logs-public-access`, {
    bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
  }, opts);
  const ownership = new aws.s3.BucketOwnershipControls(`${name}-alb-logs-ownership`, {
    bucket: bucket.id, rule: { objectOwnership: 'BucketOwnerEnforced' },
  }, opts);
  new aws.s3.BucketLifecycleConfiguration(`${name}-alb-logs-expiry`, {
    bucket: bucket.id,
    rules: [{
      id: 'expire-access-logs', status: 'Enabled', filter: { prefix: '' },
      expiration: { days: args.accessLogRetentionDays }, abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
    }],
  }, opts);
  const region = aws.getRegionOutput({}, opts).region;
  // After the public access block: S3 rejects concurrent policy and public-access-block writes.
  const policy = new aws.s3.BucketPolicy(`${name}-alb-logs-policy`, {
    bucket: bucket.id,
    policy: pulumi.all([bucket.arn, region]).apply(([arn, r]) => accessLogBucketPolicy(arn, r)),
  }, { parent, dependsOn: [publicAccess] });
  return { bucket, ready: [policy, encryption, ownership] };
}
