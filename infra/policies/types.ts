/**
 * What a policy sees of one resource: its type token, logical name and properties (inputs merged
 * with known outputs). The jest harness builds these from runtime mocks; the PolicyPack passes
 * @pulumi/policy's stack resources, which have the same shape.
 */
export interface PolicyResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
}

export const TYPES = {
  securityGroup: 'aws:ec2/securityGroup:SecurityGroup',
  ingressRule: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  legacyIngressRule: 'aws:ec2/securityGroupRule:SecurityGroupRule',
  taskDefinition: 'aws:ecs/taskDefinition:TaskDefinition',
  ecsService: 'aws:ecs/service:Service',
  role: 'aws:iam/role:Role',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  rolePolicyAttachment: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  managedPolicy: 'aws:iam/policy:Policy',
  snsTopic: 'aws:sns/topic:Topic',
  secret: 'aws:secretsmanager/secret:Secret',
  replicationGroup: 'aws:elasticache/replicationGroup:ReplicationGroup',
  metricAlarm: 'aws:cloudwatch/metricAlarm:MetricAlarm',
  logGroup: 'aws:cloudwatch/logGroup:LogGroup',
} as const;

export const ofType = (resources: PolicyResource[], type: string): PolicyResource[] => resources.filter((r) => r.type === type);

/** Environment from the tags every resource carries (settings.tagsFor). */
export function environmentOf(resources: PolicyResource[]): string | undefined {
  for (const r of resources) {
    const env = (r.props.tags as Record<string, string> | undefined)?.Environment;
    if (env) return env;
  }
  return undefined;
}
