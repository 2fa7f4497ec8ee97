import { MOCK_EXISTING_VPC_CIDR, type ProgramRun, type RecordedResource, runProgram, type StackName } from './harness';
import { accessLogBucketPolicy } from '../../infra/components/load-balancer';

/**
 * The edge and the network as AWS would take them on a first `pulumi up`: names AWS accepts,
 * an ALB that only reaches the tasks' port inside the VPC, access logs to a private bucket ELB may
 * write to, deletion protection in production, and flow logs on a VPC the program creates.
 */
const T = {
  alb: 'aws:lb/loadBalancer:LoadBalancer',
  targetGroup: 'aws:lb/targetGroup:TargetGroup',
  securityGroup: 'aws:ec2/securityGroup:SecurityGroup',
  vpc: 'aws:ec2/vpc:Vpc',
  bucket: 'aws:s3/bucket:Bucket',
  sse: 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
  publicAccess: 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
  ownership: 'aws:s3/bucketOwnershipControls:BucketOwnershipControls',
  lifecycle: 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration',
  bucketPolicy: 'aws:s3/bucketPolicy:BucketPolicy',
  flowLog: 'aws:ec2/flowLog:FlowLog',
  logGroup: 'aws:cloudwatch/logGroup:LogGroup',
  role: 'aws:iam/role:Role',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
} as const;

const all = (run: ProgramRun, type: string) => run.resources.filter((r) => r.type === type);
const one = (run: ProgramRun, type: string, name?: string): RecordedResource => {
  const found = all(run, type).filter((r) => !name || r.name === name);
  if (found.length !== 1) throw new Error(`expected one ${type}${name ? ` named ${name}` : ''}, found ${found.length}`);
  return found[0] as RecordedResource;
};
/** What AWS accepts as an ALB or target group name (CreateLoadBalancer / CreateTargetGroup). */
const ELB_NAME = /^(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;
const RETENTION: Record<StackName, number> = { staging: 30, production: 90 };

describe.each<StackName>(['staging', 'production'])('the %s edge', (stack) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(stack);
  });

  test('names the ALB and both target groups within the 32 characters AWS allows, per stack', () => {
    const names = [one(run, T.alb), ...all(run, T.targetGroup)].map((r) => r.props.name as string);
    expect(names).toHaveLength(3);
    for (const name of names) expect(name).toMatch(ELB_NAME);
    expect(names.every((n) => n.includes(stack))).toBe(true);
    expect(new Set(names).size).toBe(3);
  });

  test('lets the ALB out only to the container port inside the VPC', () => {
    const sg = one(run, T.securityGroup, `upiik-payments-${stack}-alb-sg`);
    const vpcCidr = one(run, T.vpc).props.cidrBlock;
    expect(sg.props.egress).toEqual([{ protocol: 'tcp', fromPort: 3000, toPort: 3000, cidrBlocks: [vpcCidr] }]);
    expect(vpcCidr).toBe('10.40.0.0/16');
  });

  test('protects the production ALB from deletion, and only that one', () => {
    expect(one(run, T.alb).props.enableDeletionProtection).toBe(stack === 'production');
  });

  test('writes ALB access logs to the stack\'s log bucket, after the bucket policy allows it', () => {
    const alb = one(run, T.alb);
    const bucket = one(run, T.bucket);
    const policy = one(run, T.bucketPolicy);
    expect(alb.props.accessLogs).toEqual({ bucket: policy.props.bucket, prefix: 'alb', enabled: true });
    expect(policy.propertyDependencies.bucket).toEqual([bucket.urn]);
    expect(alb.dependencies).toContain(policy.urn);
  });

  test('keeps the access-log bucket private, SSE-S3 encrypted, owner-enforced and expiring', () => {
    const bucketId = (one(run, T.alb).props.accessLogs as { bucket: string }).bucket;
    expect(one(run, T.sse).props).toMatchObject({ bucket: bucketId, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] });
    expect(one(run, T.publicAccess).props).toMatchObject({
      bucket: bucketId, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    });
    expect(one(run, T.ownership).props).toMatchObject({ bucket: bucketId, rule: { objectOwnership: 'BucketOwnerEnforced' } });
    const [rule] = one(run, T.lifecycle).props.rules as { status: string; expiration: { days: number } }[];
    expect(rule).toMatchObject({ status: 'Enabled', expiration: { days: RETENTION[stack] } });
  });

  test('lets ELB log delivery write under the log prefix and refuses plain HTTP', () => {
    const bucket = one(run, T.bucket);
    const doc = JSON.parse(one(run, T.bucketPolicy).props.policy as string) as { Statement: Record<string, unknown>[] };
    const logs = `${bucket.props.arn as string}/alb/AWSLogs/*`;
    expect(doc.Statement).toEqual(expect.arrayContaining([
      expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' }, Action: 's3:PutObject', Resource: logs }),
      // eu-central-1 predates August 2022: its regional ELB account delivers the logs.
      expect.objectContaining({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::054676820928:root' }, Action: 's3:PutObject', Resource: logs }),
      expect.objectContaining({ Effect: 'Deny', Principal: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    ]));
    expect(doc.Statement.filter((s) => s.Effect === 'Allow').every((s) => s.Resource === logs)).toBe(true);
  });

  test('sends the flow logs of the VPC it creates to a retained log group through a flow-logs-only role', () => {
    const flowLog = one(run, T.flowLog);
    const vpc = one(run, T.vpc);
    const group = all(run, T.logGroup).find((g) => g.props.arn === flowLog.props.logDestination);
    const role = all(run, T.role).find((r) => r.props.arn === flowLog.props.iamRoleArn);
    expect(flowLog.props).toMatchObject({ trafficType: 'ALL', logDestinationType: 'cloud-watch-logs' });
    expect(flowLog.propertyDependencies.vpcId).toEqual([vpc.urn]);
    expect(group?.props.retentionInDays).toBe(RETENTION[stack]);
    expect(JSON.parse(role?.props.assumeRolePolicy as string).Statement).toEqual([
      { Effect: 'Allow', Principal: { Service: 'vpc-flow-logs.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
    const policy = all(run, T.rolePolicy).find((p) => p.props.role === role?.props.id || p.props.role === `${role?.props.name as string}-id`);
    const writes = JSON.parse(policy?.props.policy as string).Statement.find((s: { Action: unknown }) => Array.isArray(s.Action));
    expect(writes.Resource).toEqual([group?.props.arn, `${group?.props.arn as string}:*`]);
  });
});

describe('a stack in a VPC it is given', () => {
  test('creates neither the VPC nor flow logs for it (the VPC owner\'s job)', async () => {
    const run = await runProgram('staging', {
      vpcId: 'vpc-0123456789abcdef0',
      publicSubnetIds: JSON.stringify(['subnet-pub-a', 'subnet-pub-b']),
      privateSubnetIds: JSON.stringify(['subnet-priv-a', 'subnet-priv-b']),
    });
    expect(all(run, T.vpc)).toEqual([]);
    expect(all(run, T.flowLog)).toEqual([]);
    expect(one(run, T.alb).props.subnets).toEqual(['subnet-pub-a', 'subnet-pub-b']);
    // The given VPC's CIDR (aws.ec2.getVpc) scopes the ALB's egress; its private subnets hold the database.
    const albSg = one(run, T.securityGroup, 'upiik-payments-staging-alb-sg');
    expect(albSg?.props.egress).toEqual([{ protocol: 'tcp', fromPort: 3000, toPort: 3000, cidrBlocks: [MOCK_EXISTING_VPC_CIDR] }]);
    expect(one(run, 'aws:rds/subnetGroup:SubnetGroup').props.subnetIds).toEqual(['subnet-priv-a', 'subnet-priv-b']);
  });
});

describe('the access-log bucket policy', () => {
  test('grants only the log-delivery service principal in a Region opened after August 2022', () => {
    const doc = JSON.parse(accessLogBucketPolicy('arn:aws:s3:::logs', 'ap-southeast-5')) as { Statement: { Effect: string; Principal: unknown }[] };
    expect(doc.Statement.filter((s) => s.Effect === 'Allow').map((s) => s.Principal)).toEqual([{ Service: 'logdelivery.elasticloadbalancing.amazonaws.com' }]);
  });
});
