import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface DatabaseArgs {
  /** `staging` or `production`: production gets Multi-AZ, deletion protection and a final snapshot. */
  environment: 'staging' | 'production';
  vpcId: pulumi.Input<string>;
  /** Private subnets in at least two AZs (an RDS subnet group needs two, Multi-AZ or not). */
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * The only security groups allowed to connect on 5432: the service's tasks (the one-off task runs
   * the same task definition in the same group).
   */
  clientSecurityGroupIds: pulumi.Input<string>[];
  /** An RDS instance class, e.g. `db.t4g.medium`. */
  instanceClass: string;
  /** Initial gp3 storage (GiB, 20..65536); storage autoscaling may grow it up to maxAllocatedStorageGb. */
  allocatedStorageGb: number;
  maxAllocatedStorageGb: number;
  /** Automated backups kept for point-in-time recovery: at least 7 days, at least 14 in production. */
  backupRetentionDays: number;
  /**
   * Customer-managed KMS key (ARN) for storage, Performance Insights and the master user secret;
   * unset = the AWS-managed keys (aws/rds, aws/secretsmanager).
   */
  kmsKeyArn?: pulumi.Input<string>;
  tags: Record<string, string>;
}

/** Pinned major version; minor versions follow RDS's automatic minor upgrades. */
export const POSTGRES_MAJOR = '17';
export const DATABASE_PORT = 5432;
export const DATABASE_NAME = 'payments';
export const MASTER_USERNAME = 'payments';

// RDS identifiers: 1-63 letters, digits and hyphens, starting with a letter, no '--', no trailing
// hyphen. Lower case keeps the subnet and parameter group auto-names valid too.
const IDENTIFIER = /^[a-z](?!.*--)[a-z0-9-]{0,58}[a-z0-9]$/;

/**
 * The service's PostgreSQL on RDS, one per stack: private subnets only, reachable on 5432 from the
 * given security groups only, TLS forced by the parameter group, encrypted storage, automated
 * backups with point-in-time recovery, and a master password RDS generates, keeps in Secrets
 * Manager and rotates (it never passes through Pulumi state). No output is secret: the task reads
 * the credentials from `masterUserSecretArn` by `valueFrom` (docs/infra.md, "Database").
 */
export class Database extends pulumi.ComponentResource {
  /** Host name of the instance (`<id>.<hash>.<region>.rds.amazonaws.com`), no port. */
  public readonly address: pulumi.Output<string>;
  public readonly port: pulumi.Output<number>;
  public readonly databaseName: pulumi.Output<string>;
  /** The DB instance identifier: what `aws rds create-db-snapshot --db-instance-identifier` takes. */
  public readonly instanceIdentifier: pulumi.Output<string>;
  public readonly instanceArn: pulumi.Output<string>;
  /** ARN of the RDS-managed secret (JSON with `username` and `password`); an ARN, not a secret. */
  public readonly masterUserSecretArn: pulumi.Output<string>;
  public readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before super(): a half-registered component would leave the engine a dangling resource.
    validate(name, args);
    super('upiik:database:Database', name, {}, opts);
    const parent = { parent: this };
    const production = args.environment === 'production';
    const identifier = `${name}-db`;

    const sg = new aws.ec2.SecurityGroup(`${name}-db-sg`, {
      vpcId: args.vpcId,
      description: 'PostgreSQL: 5432 from the payments tasks only',
      ingress: [{ protocol: 'tcp', fromPort: DATABASE_PORT, toPort: DATABASE_PORT, securityGroups: args.clientSecurityGroupIds }],
      // No egress rule: RDS answers on established connections and opens none of its own.
      tags: { ...args.tags, Name: `${name}-db-sg`, Exposure: 'private' },
    }, parent);
    const subnets = new aws.rds.SubnetGroup(`${name}-db-subnets`, {
      description: 'Private subnets of the payments database',
      subnetIds: args.privateSubnetIds,
      tags: args.tags,
    }, parent);
    const parameters = new aws.rds.ParameterGroup(`${name}-db-params`, {
      family: `postgres${POSTGRES_MAJOR}`,
      description: 'Upiik payments: TLS required for every connection',
      // pending-reboot is accepted for static and dynamic parameters alike; a new instance starts with it.
      parameters: [{ name: 'rds.force_ssl', value: '1', applyMethod: 'pending-reboot' }],
      tags: args.tags,
    }, parent);

    const instance = new aws.rds.Instance(`${name}-db`, {
      identifier,
      engine: 'postgres',
      engineVersion: POSTGRES_MAJOR,
      autoMinorVersionUpgrade: true,
      allowMajorVersionUpgrade: false,
      // No paid Extended Support behind anyone's back when the major reaches end of standard support.
      engineLifecycleSupport: 'open-source-rds-extended-support-disabled',
      instanceClass: args.instanceClass,
      storageType: 'gp3',
      allocatedStorage: args.allocatedStorageGb,
      maxAllocatedStorage: args.maxAllocatedStorageGb,
      storageEncrypted: true,
      kmsKeyId: args.kmsKeyArn,
      dbName: DATABASE_NAME,
      username: MASTER_USERNAME,
      manageMasterUserPassword: true,
      masterUserSecretKmsKeyId: args.kmsKeyArn,
      port: DATABASE_PORT,
      dbSubnetGroupName: subnets.name,
      vpcSecurityGroupIds: [sg.id],
      publiclyAccessible: false,
      parameterGroupName: parameters.name,
      multiAz: production,
      backupRetentionPeriod: args.backupRetentionDays,
      backupWindow: '01:00-02:00',
      maintenanceWindow: 'sun:03:00-sun:04:00',
      copyTagsToSnapshot: true,
      deletionProtection: production,
      skipFinalSnapshot: !production,
      finalSnapshotIdentifier: production ? `${identifier}-final` : undefined,
      // Automated backups outlive an accidental delete in production (PITR stays possible).
      deleteAutomatedBackups: !production,
      performanceInsightsEnabled: true,
      performanceInsightsRetentionPeriod: 7,
      performanceInsightsKmsKeyId: args.kmsKeyArn,
      databaseInsightsMode: 'standard',
      applyImmediately: !production,
      tags: args.tags,
    }, { parent: this, protect: production });

    this.address = instance.address;
    this.port = instance.port;
    this.databaseName = pulumi.output(DATABASE_NAME);
    this.instanceIdentifier = instance.identifier;
    this.instanceArn = instance.arn;
    this.masterUserSecretArn = instance.masterUserSecrets.apply((secrets) => {
      const arn = secrets?.[0]?.secretArn;
      if (!arn) throw new Error(`Database ${name}: RDS returned no master user secret (manageMasterUserPassword must be on)`);
      return arn;
    });
    this.securityGroupId = sg.id;
    this.registerOutputs({
      address: this.address,
      port: this.port,
      databaseName: this.databaseName,
      instanceIdentifier: this.instanceIdentifier,
      instanceArn: this.instanceArn,
      masterUserSecretArn: this.masterUserSecretArn,
      securityGroupId: this.securityGroupId,
    });
  }
}

function validate(name: string, args: DatabaseArgs): void {
  const fail = (arg: string, rule: string): never => {
    throw new Error(`Database: ${arg} ${rule}`);
  };
  if (!IDENTIFIER.test(`${name}-db`)) fail('name', `must give a valid RDS identifier "<name>-db" (lower case letters, digits, single hyphens, at most 63 characters), got "${name}"`);
  if (args.environment !== 'staging' && args.environment !== 'production') fail('environment', `must be staging or production, got ${String(args.environment)}`);
  if (!/^db\.[a-z0-9-]+\.[a-z0-9]+$/.test(args.instanceClass)) fail('instanceClass', `must be an RDS instance class (db.<family>.<size>), got ${args.instanceClass}`);
  if (args.environment === 'production' && /^db\.t[0-9]/.test(args.instanceClass))
    fail('instanceClass', `must not be a burstable db.t* class in production (CPU credits run out under load), got ${args.instanceClass}`);
  if (!Array.isArray(args.clientSecurityGroupIds) || args.clientSecurityGroupIds.length === 0)
    fail('clientSecurityGroupIds', 'must name at least one security group (the tasks\'), or nothing could connect');
  if (!Number.isInteger(args.allocatedStorageGb) || args.allocatedStorageGb < 20 || args.allocatedStorageGb > 65536)
    fail('allocatedStorageGb', `must be an integer from 20 to 65536 (gp3), got ${args.allocatedStorageGb}`);
  if (!Number.isInteger(args.maxAllocatedStorageGb) || args.maxAllocatedStorageGb < args.allocatedStorageGb || args.maxAllocatedStorageGb > 65536)
    fail('maxAllocatedStorageGb', `must be an integer from allocatedStorageGb (${args.allocatedStorageGb}) to 65536, got ${args.maxAllocatedStorageGb}`);
  const minRetention = args.environment === 'production' ? 14 : 7;
  if (!Number.isInteger(args.backupRetentionDays) || args.backupRetentionDays < minRetention || args.backupRetentionDays > 35)
    fail('backupRetentionDays', `must be an integer from ${minRetention} to 35 in ${args.environment} (point-in-time recovery window), got ${args.backupRetentionDays}`);
}
