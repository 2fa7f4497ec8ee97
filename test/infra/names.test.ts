import { type ProgramRun, type RecordedResource, runProgram, type StackName } from './harness';

/**
 * Every physical name (given or auto-named by the provider as `<logical name>-<7 hex>`) within its
 * AWS limit. The mocks auto-name like the provider, so a logical name that would come out too
 * long on a real `pulumi up` fails here. Limits from each service's API reference (docs/infra.md).
 */
const LIMITS: Record<string, { property: string; max: number; pattern?: RegExp }> = {
  'aws:lb/loadBalancer:LoadBalancer': { property: 'name', max: 32, pattern: /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/ },
  'aws:lb/targetGroup:TargetGroup': { property: 'name', max: 32, pattern: /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/ },
  'aws:iam/role:Role': { property: 'name', max: 64, pattern: /^[\w+=,.@-]+$/ },
  'aws:iam/rolePolicy:RolePolicy': { property: 'name', max: 128, pattern: /^[\w+=,.@-]+$/ },
  'aws:iam/policy:Policy': { property: 'name', max: 128, pattern: /^[\w+=,.@-]+$/ },
  'aws:ec2/securityGroup:SecurityGroup': { property: 'name', max: 255 },
  'aws:ecs/cluster:Cluster': { property: 'name', max: 255, pattern: /^[A-Za-z0-9_-]+$/ },
  'aws:ecs/service:Service': { property: 'name', max: 255, pattern: /^[A-Za-z0-9_-]+$/ },
  'aws:ecs/taskDefinition:TaskDefinition': { property: 'family', max: 255, pattern: /^[A-Za-z0-9_-]+$/ },
  'aws:cloudwatch/metricAlarm:MetricAlarm': { property: 'name', max: 255 },
  'aws:cloudwatch/logGroup:LogGroup': { property: 'name', max: 512, pattern: /^[\w./#-]+$/ },
  'aws:cloudwatch/eventRule:EventRule': { property: 'name', max: 64, pattern: /^[\w.-]+$/ },
  'aws:secretsmanager/secret:Secret': { property: 'name', max: 512, pattern: /^[\w/+=.@-]+$/ },
  'aws:elasticache/replicationGroup:ReplicationGroup': { property: 'replicationGroupId', max: 40, pattern: /^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$/ },
  'aws:elasticache/subnetGroup:SubnetGroup': { property: 'name', max: 255, pattern: /^[a-z0-9-]+$/ },
  'aws:sns/topic:Topic': { property: 'name', max: 256, pattern: /^[\w-]+$/ },
  'aws:ecr/repository:Repository': { property: 'name', max: 256, pattern: /^[a-z0-9._/-]+$/ },
  'aws:rds/instance:Instance': { property: 'identifier', max: 63, pattern: /^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$/ },
  'aws:rds/subnetGroup:SubnetGroup': { property: 'name', max: 255 },
  'aws:rds/parameterGroup:ParameterGroup': { property: 'name', max: 255 },
  'aws:kms/alias:Alias': { property: 'name', max: 256, pattern: /^alias\/[\w/-]+$/ },
  'aws:appautoscaling/policy:Policy': { property: 'name', max: 255 },
  'aws:s3/bucket:Bucket': { property: 'bucket', max: 63, pattern: /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/ },
  'aws:s3/bucketV2:BucketV2': { property: 'bucket', max: 63, pattern: /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/ },
};

const physicalName = (r: RecordedResource): unknown => r.props[LIMITS[r.type]?.property ?? r.autoNamed ?? 'name'];

describe.each<StackName>(['staging', 'production'])('physical names in the %s stack', (stack) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(stack);
  });

  test('the mocks auto-name like the provider: <logical name>-<7 hex>', () => {
    const autoNamed = run.resources.filter((r) => r.autoNamed);
    expect(autoNamed.length).toBeGreaterThan(0);
    for (const r of autoNamed) expect(String(r.props[r.autoNamed as string]).toLowerCase()).toBe(`${r.name}-${String(r.props[r.autoNamed as string]).slice(-7)}`.toLowerCase());
    for (const r of autoNamed) expect(String(r.props[r.autoNamed as string])).toMatch(/-[0-9a-f]{7}$/);
  });

  test('every auto-named resource type has a known name limit', () => {
    const unknown = [...new Set(run.resources.filter((r) => r.autoNamed && r.type.startsWith('aws:') && !LIMITS[r.type]).map((r) => r.type))];
    expect(unknown).toEqual([]);
  });

  test.each(Object.keys(LIMITS))('%s names fit the AWS limit and character rules', (type) => {
    const { max, pattern } = LIMITS[type]!;
    const problems = run.resources
      .filter((r) => r.type === type)
      .map((r) => ({ r, value: physicalName(r) }))
      .filter(({ value }) => typeof value === 'string')
      .flatMap(({ r, value }) => {
        const name = value as string;
        const out: string[] = [];
        if (name.length > max) out.push(`${r.name}: "${name}" is ${name.length} characters, limit ${max}`);
        if (pattern && !pattern.test(name)) out.push(`${r.name}: "${name}" breaks the character rules ${pattern}`);
        return out;
      });
    expect(problems).toEqual([]);
  });

  test('names that must be unique per account and region differ between the stacks', async () => {
    const other = await runProgram(stack === 'staging' ? 'production' : 'staging');
    const names = (r: ProgramRun, type: string) => r.resources.filter((x) => x.type === type).map(physicalName);
    for (const type of ['aws:lb/loadBalancer:LoadBalancer', 'aws:lb/targetGroup:TargetGroup', 'aws:ecs/cluster:Cluster', 'aws:sns/topic:Topic', 'aws:kms/alias:Alias']) {
      const mine = names(run, type);
      for (const name of names(other, type)) expect(mine).not.toContain(name);
    }
  });
});
