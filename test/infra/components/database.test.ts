import { buildComponent, load, ComponentRun, ACCOUNT, REGION } from './mocks';
import type * as DatabaseModule from '../../../infra/components/database';

type M = typeof DatabaseModule;
const T = {
  instance: 'aws:rds/instance:Instance',
  sg: 'aws:ec2/securityGroup:SecurityGroup',
  subnets: 'aws:rds/subnetGroup:SubnetGroup',
  params: 'aws:rds/parameterGroup:ParameterGroup',
};

const baseArgs = (environment: 'staging' | 'production'): DatabaseModule.DatabaseArgs => ({
  environment,
  vpcId: 'vpc-0abc',
  privateSubnetIds: ['subnet-a', 'subnet-b'],
  clientSecurityGroupIds: ['sg-tasks'],
  instanceClass: environment === 'production' ? 'db.m7g.large' : 'db.t4g.medium',
  allocatedStorageGb: 20,
  maxAllocatedStorageGb: 100,
  backupRetentionDays: environment === 'production' ? 14 : 7,
  tags: { Environment: environment },
});

const build = (name: string, args: DatabaseModule.DatabaseArgs) =>
  buildComponent(() => {
    const { Database } = load<M>('../../../infra/components/database');
    return new Database(name, args);
  });

describe.each(['staging', 'production'] as const)('the %s database', (environment) => {
  let run: ComponentRun<DatabaseModule.Database>;
  let db: Record<string, unknown>;
  const production = environment === 'production';
  beforeAll(async () => {
    run = await build(`upiik-payments-${environment}`, baseArgs(environment));
    db = run.one(T.instance).inputs;
  });

  test('is PostgreSQL on a pinned major version, following minor upgrades, never a major one by itself', () => {
    expect(db).toMatchObject({ engine: 'postgres', engineVersion: '17', autoMinorVersionUpgrade: true, allowMajorVersionUpgrade: false });
    expect(run.one(T.params).inputs.family).toBe('postgres17');
  });

  test('encrypts its storage', () => {
    expect(db.storageEncrypted).toBe(true);
    expect(db.storageType).toBe('gp3');
  });

  test('lives in the private subnets and is not publicly accessible', () => {
    expect(db.publiclyAccessible).toBe(false);
    expect(run.one(T.subnets).inputs.subnetIds).toEqual(['subnet-a', 'subnet-b']);
    expect(db.dbSubnetGroupName).toBe(run.one(T.subnets).state.name);
  });

  test('accepts 5432 from the tasks\' security group only and nothing else', () => {
    const sg = run.one(T.sg).inputs;
    expect(sg.ingress).toEqual([{ protocol: 'tcp', fromPort: 5432, toPort: 5432, securityGroups: ['sg-tasks'] }]);
    expect(JSON.stringify(sg.ingress)).not.toContain('cidrBlocks');
    expect(sg.egress).toBeUndefined();
    expect(db.vpcSecurityGroupIds).toEqual([`${String(run.one(T.sg).state.name)}-id`]);
  });

  test('forces TLS through its parameter group', () => {
    expect(run.one(T.params).inputs.parameters).toEqual([{ name: 'rds.force_ssl', value: '1', applyMethod: 'pending-reboot' }]);
    expect(db.parameterGroupName).toBe(run.one(T.params).state.name);
  });

  test(`keeps automated backups for point-in-time recovery (${production ? 14 : 7} days)`, () => {
    expect(db.backupRetentionPeriod).toBe(production ? 14 : 7);
    expect(db.copyTagsToSnapshot).toBe(true);
  });

  test('lets RDS generate, store and rotate the master password: none passes through Pulumi', () => {
    expect(db.manageMasterUserPassword).toBe(true);
    expect(db.password).toBeUndefined();
    expect(db.passwordWo).toBeUndefined();
  });

  test('turns on Performance Insights (Database Insights standard mode)', () => {
    expect(db).toMatchObject({ performanceInsightsEnabled: true, performanceInsightsRetentionPeriod: 7, databaseInsightsMode: 'standard' });
  });

  test(production ? 'is Multi-AZ, deletion-protected and leaves a final snapshot' : 'is single-AZ and can be deleted without a snapshot', () => {
    expect(db.multiAz).toBe(production);
    expect(db.deletionProtection).toBe(production);
    expect(db.skipFinalSnapshot).toBe(!production);
    expect(db.finalSnapshotIdentifier).toBe(production ? `upiik-payments-${environment}-db-final` : undefined);
    expect(db.deleteAutomatedBackups).toBe(!production);
  });

  test('outputs what the task, the pipelines and the backup step need, none of it secret', async () => {
    const c = run.component;
    const id = `upiik-payments-${environment}-db`;
    expect(await run.resolve(c.instanceIdentifier)).toBe(id);
    expect(await run.resolve(c.address)).toBe(`${id}.cabc123xyz.${REGION}.rds.amazonaws.com`);
    expect(await run.resolve(c.port)).toBe(5432);
    expect(await run.resolve(c.databaseName)).toBe('payments');
    expect(await run.resolve(c.masterUserSecretArn)).toBe(`arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!db-0a1b2c3d-AbCdEf`);
    for (const out of [c.address, c.port, c.databaseName, c.instanceIdentifier, c.instanceArn, c.masterUserSecretArn, c.securityGroupId])
      expect(await run.isSecret(out)).toBe(false);
  });
});

describe('a customer-managed KMS key', () => {
  test('encrypts storage, Performance Insights and the master user secret', async () => {
    const run = await build('upiik-payments-staging', { ...baseArgs('staging'), kmsKeyArn: 'arn:aws:kms:eu-central-1:123456789012:key/k1' });
    expect(run.one(T.instance).inputs).toMatchObject({
      kmsKeyId: 'arn:aws:kms:eu-central-1:123456789012:key/k1',
      performanceInsightsKmsKeyId: 'arn:aws:kms:eu-central-1:123456789012:key/k1',
      masterUserSecretKmsKeyId: 'arn:aws:kms:eu-central-1:123456789012:key/k1',
    });
  });
});

describe('argument checks name the argument', () => {
  const rejects = (name: string, args: DatabaseModule.DatabaseArgs, message: RegExp) => expect(build(name, args)).rejects.toThrow(message);

  test('a production backup window shorter than 14 days', () =>
    rejects('upiik-payments-production', { ...baseArgs('production'), backupRetentionDays: 7 }, /Database: backupRetentionDays must be an integer from 14/));
  test('a staging backup window shorter than 7 days', () =>
    rejects('upiik-payments-staging', { ...baseArgs('staging'), backupRetentionDays: 1 }, /Database: backupRetentionDays must be an integer from 7/));
  test('no client security group', () =>
    rejects('upiik-payments-staging', { ...baseArgs('staging'), clientSecurityGroupIds: [] }, /Database: clientSecurityGroupIds/));
  test('something that is not an RDS instance class', () =>
    rejects('upiik-payments-staging', { ...baseArgs('staging'), instanceClass: 'cache.t4g.micro' }, /Database: instanceClass must be an RDS instance class/));
  test('a burstable class in production', () =>
    rejects('upiik-payments-production', { ...baseArgs('production'), instanceClass: 'db.t4g.large' }, /Database: instanceClass must not be a burstable/));
  test('storage below the gp3 minimum or a maximum below it', async () => {
    await rejects('upiik-payments-staging', { ...baseArgs('staging'), allocatedStorageGb: 10 }, /Database: allocatedStorageGb/);
    await rejects('upiik-payments-staging', { ...baseArgs('staging'), maxAllocatedStorageGb: 19 }, /Database: maxAllocatedStorageGb/);
  });
  test('a name that cannot make an RDS identifier', async () => {
    await rejects('Upiik_Payments', baseArgs('staging'), /Database: name must give a valid RDS identifier/);
    await rejects(`a${'b'.repeat(60)}`, baseArgs('staging'), /Database: name/);
  });
});
