/**
 * What a policy sees of one resource: its type token, logical name, properties (inputs merged
 * with known outputs) and, where the runner can see them, its resource options. The jest harness
 * builds these from runtime mocks; the PolicyPack converts @pulumi/policy's stack resources
 * (infra/policy-pack/resources.ts).
 */
export interface PolicyResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
  /** Resource options as @pulumi/policy reports them (timeouts in seconds, 0 = provider default). */
  options?: { customTimeouts?: { createSeconds?: number; updateSeconds?: number; deleteSeconds?: number } };
}

/**
 * A value Pulumi cannot know before the update (an ARN, an id, anything computed from one). The
 * same shape as @pulumi/pulumi's own `unknown` (`{ __pulumiUnknown: true }`, which
 * `pulumi.isUnknown` recognises): the preview harness records the SDK's value as is, and the pack
 * converts @pulumi/policy's unknown sentinels to this.
 */
export const UNKNOWN: Readonly<{ __pulumiUnknown: true }> = Object.freeze({ __pulumiUnknown: true });
export const isUnknown = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && (value as { __pulumiUnknown?: unknown }).__pulumiUnknown === true;
/** The value, or anything inside it, is unknown. */
export const containsUnknown = (value: unknown): boolean =>
  isUnknown(value) || (typeof value === 'object' && value !== null && Object.values(value).some(containsUnknown));

/**
 * What one policy found: violations (known to be wrong) and what it cannot decide yet because a
 * property is unknown during preview. The pack re-checks at the update, when everything is known:
 * anything still undecided then is a violation.
 */
export interface Findings {
  violations: string[];
  undecided: string[];
}

export class Verdict implements Findings {
  readonly violations: string[] = [];
  readonly undecided: string[] = [];

  fail(message: string): void {
    this.violations.push(message);
  }

  /** `resource`'s `property` is unknown until the update: the check that needs it waits for it. */
  pending(resource: PolicyResource, property: string): void {
    const message = `${resource.name}: ${property} is unknown until the update`;
    if (!this.undecided.includes(message)) this.undecided.push(message);
  }

  /** True when the value (and everything inside it) is known; otherwise records it as pending. */
  known(resource: PolicyResource, property: string, value: unknown): boolean {
    if (!containsUnknown(value)) return true;
    this.pending(resource, property);
    return false;
  }
}

export const TYPES = {
  securityGroup: 'aws:ec2/securityGroup:SecurityGroup',
  ingressRule: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  legacyIngressRule: 'aws:ec2/securityGroupRule:SecurityGroupRule',
  taskDefinition: 'aws:ecs/taskDefinition:TaskDefinition',
  ecsCluster: 'aws:ecs/cluster:Cluster',
  ecsService: 'aws:ecs/service:Service',
  role: 'aws:iam/role:Role',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  rolePolicyAttachment: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  managedPolicy: 'aws:iam/policy:Policy',
  oidcProvider: 'aws:iam/openIdConnectProvider:OpenIdConnectProvider',
  snsTopic: 'aws:sns/topic:Topic',
  secret: 'aws:secretsmanager/secret:Secret',
  replicationGroup: 'aws:elasticache/replicationGroup:ReplicationGroup',
  cacheSubnetGroup: 'aws:elasticache/subnetGroup:SubnetGroup',
  cacheParameterGroup: 'aws:elasticache/parameterGroup:ParameterGroup',
  metricAlarm: 'aws:cloudwatch/metricAlarm:MetricAlarm',
  logGroup: 'aws:cloudwatch/logGroup:LogGroup',
  eventRule: 'aws:cloudwatch/eventRule:EventRule',
  loadBalancer: 'aws:lb/loadBalancer:LoadBalancer',
  targetGroup: 'aws:lb/targetGroup:TargetGroup',
  dbInstance: 'aws:rds/instance:Instance',
  dbSubnetGroup: 'aws:rds/subnetGroup:SubnetGroup',
  dbParameterGroup: 'aws:rds/parameterGroup:ParameterGroup',
  ecrRepository: 'aws:ecr/repository:Repository',
  kmsAlias: 'aws:kms/alias:Alias',
  bucket: 'aws:s3/bucket:Bucket',
  bucketV2: 'aws:s3/bucketV2:BucketV2',
} as const;

export const ofType = (resources: PolicyResource[], type: string): PolicyResource[] => resources.filter((r) => r.type === type);

/** Environment from the tags every resource carries (settings.tagsFor). */
export function environmentOf(resources: PolicyResource[]): string | undefined {
  for (const r of resources) {
    const env = (r.props.tags as Record<string, unknown> | undefined)?.Environment;
    if (typeof env === 'string' && env) return env;
  }
  return undefined;
}
