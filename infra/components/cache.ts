import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import * as random from '@pulumi/random';

export interface CacheArgs {
  vpcId: pulumi.Input<string>;
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** The only security group allowed to connect (the service's tasks). */
  clientSecurityGroupId: pulumi.Input<string>;
  nodeType: string;
  /** Two nodes in two AZs with automatic failover; required in production. */
  multiAz: boolean;
  tags: Record<string, string>;
}

const REDIS_PORT = 6379;

/**
 * ElastiCache Redis (rate limits, maintenance flag, webhook locks): TLS in transit, encrypted at
 * rest, an auth token from @pulumi/random, reachable only from the service's security group.
 */
export class Cache extends pulumi.ComponentResource {
  public readonly replicationGroupId: pulumi.Output<string>;
  /**
   * The member cache clusters, `<group>-001`, `<group>-002`, ...: ElastiCache publishes host and
   * engine metrics per member (`CacheClusterId`), so alarms watch these. Derived from the group id
   * and the node count (known before the group exists, so alarms need no apply on a list).
   */
  public readonly memberClusterIds: pulumi.Output<string>[];
  public readonly primaryEndpoint: pulumi.Output<string>;
  /** Secret outputs: never export them. */
  public readonly authToken: pulumi.Output<string>;
  public readonly redisUrl: pulumi.Output<string>;

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:cache:Cache', name, {}, opts);
    if (!/^cache\./.test(args.nodeType)) throw new Error(`Cache: nodeType must be an ElastiCache node type (cache.*), got ${args.nodeType}`);
    const parent = { parent: this };

    // ElastiCache auth tokens: 16-128 printable characters, no @ " / (alphanumerics keep the URL simple).
    const token = new random.RandomPassword(`${name}-auth-token`, { length: 48, special: false }, parent);
    const sg = new aws.ec2.SecurityGroup(`${name}-sg`, {
      vpcId: args.vpcId,
      description: 'Redis: TLS port from the payments tasks only',
      ingress: [{ protocol: 'tcp', fromPort: REDIS_PORT, toPort: REDIS_PORT, securityGroups: [args.clientSecurityGroupId] }],
      tags: { ...args.tags, Name: `${name}-sg`, Exposure: 'private' },
    }, parent);
    const subnets = new aws.elasticache.SubnetGroup(`${name}-subnets`, { subnetIds: args.privateSubnetIds, tags: args.tags }, parent);
    const numCacheClusters = args.multiAz ? 2 : 1;
    const group = new aws.elasticache.ReplicationGroup(`${name}-redis`, {
      description: 'Upiik payments: rate limits, maintenance flag, locks',
      engine: 'redis',
      engineVersion: '7.1',
      nodeType: args.nodeType,
      port: REDIS_PORT,
      numCacheClusters,
      automaticFailoverEnabled: args.multiAz,
      multiAzEnabled: args.multiAz,
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: token.result,
      subnetGroupName: subnets.name,
      securityGroupIds: [sg.id],
      snapshotRetentionLimit: args.multiAz ? 7 : 1,
      applyImmediately: false,
      tags: args.tags,
    }, parent);

    this.replicationGroupId = group.id;
    this.memberClusterIds = memberClusterIds(group.replicationGroupId, numCacheClusters);
    this.primaryEndpoint = group.primaryEndpointAddress;
    this.authToken = pulumi.secret(token.result);
    this.redisUrl = pulumi.secret(pulumi.interpolate`rediss://:${token.result}@${group.primaryEndpointAddress}:${REDIS_PORT}`);
    this.registerOutputs({
      replicationGroupId: this.replicationGroupId,
      memberClusterIds: this.memberClusterIds,
      primaryEndpoint: this.primaryEndpoint,
      authToken: this.authToken,
      redisUrl: this.redisUrl,
    });
  }
}

/** ElastiCache names a replication group's member clusters `<group id>-001`, `-002`, ... */
export function memberClusterIds(groupId: pulumi.Input<string>, count: number): pulumi.Output<string>[] {
  return Array.from({ length: count }, (_, i) => pulumi.interpolate`${groupId}-${String(i + 1).padStart(3, '0')}`);
}
