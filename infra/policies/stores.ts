import { PolicyResource, TYPES, Verdict, environmentOf, isUnknown, ofType } from './types';

/** Shared check: `property` known and not `expected` is a violation with `message`. */
function expect(verdict: Verdict, r: PolicyResource, property: string, expected: unknown, message: string): void {
  if (verdict.known(r, property, r.props[property]) && r.props[property] !== expected) verdict.fail(`${r.name}: ${message}`);
}

export const MIN_BACKUP_RETENTION_DAYS = 7;

/**
 * RDS instances: storage encrypted, never publicly accessible, automated backups (and with them
 * point-in-time recovery) kept at least 7 days, the master password managed by RDS in Secrets
 * Manager (no password in the program or its state); deletion protection and Multi-AZ in production.
 */
export function databasesEncryptedPrivateBackedUp(resources: PolicyResource[], environment = environmentOf(resources)): Verdict {
  const verdict = new Verdict();
  for (const db of ofType(resources, TYPES.dbInstance)) {
    expect(verdict, db, 'storageEncrypted', true, 'storage is not encrypted');
    if (verdict.known(db, 'publiclyAccessible', db.props.publiclyAccessible) && db.props.publiclyAccessible === true) verdict.fail(`${db.name}: publicly accessible`);
    const days = db.props.backupRetentionPeriod;
    if (verdict.known(db, 'backupRetentionPeriod', days) && (typeof days !== 'number' || days < MIN_BACKUP_RETENTION_DAYS))
      verdict.fail(`${db.name}: ${days === undefined ? 'backup retention is not set' : `backups kept ${String(days)} days`}; at least ${MIN_BACKUP_RETENTION_DAYS} days`);
    expect(verdict, db, 'manageMasterUserPassword', true, 'master password is not managed by RDS (manageMasterUserPassword)');
    if (db.props.password !== undefined) verdict.fail(`${db.name}: a master password is set in the program`);
    if (environment === 'production') {
      expect(verdict, db, 'deletionProtection', true, 'deletion protection is off in production');
      expect(verdict, db, 'multiAz', true, 'not Multi-AZ in production');
    }
  }
  return verdict;
}

/** ECR repositories: tags cannot be overwritten (a deployed tag always means the same image) and every push is scanned. */
export function registriesImmutableAndScanned(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  for (const repo of ofType(resources, TYPES.ecrRepository)) {
    expect(verdict, repo, 'imageTagMutability', 'IMMUTABLE', 'image tags are mutable');
    const scanning = repo.props.imageScanningConfiguration as { scanOnPush?: unknown } | undefined;
    if (verdict.known(repo, 'imageScanningConfiguration', scanning) && scanning?.scanOnPush !== true) verdict.fail(`${repo.name}: images are not scanned on push`);
  }
  return verdict;
}

/** AWS managed keys: CloudWatch alarms cannot publish to a topic under alias/aws/sns, and neither key policy can be scoped. */
const AWS_MANAGED_KEY = /^(arn:aws[a-z-]*:kms:[^:]*:[0-9]*:)?alias\/aws\//;

/**
 * SNS topics and Secrets Manager secrets are encrypted with a customer-managed KMS key: set, and
 * not an AWS managed alias (`alias/aws/sns`, `alias/aws/secretsmanager`). A key created in the
 * same stack is unknown at preview: it is a customer-managed key, so nothing waits for it.
 */
export function customerKeysForTopicsAndSecrets(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  const targets = [
    ...ofType(resources, TYPES.snsTopic).map((r) => ({ r, property: 'kmsMasterKeyId' })),
    ...ofType(resources, TYPES.secret).map((r) => ({ r, property: 'kmsKeyId' })),
  ];
  for (const { r, property } of targets) {
    const key = r.props[property];
    if (isUnknown(key)) continue;
    if (typeof key !== 'string' || key === '') verdict.fail(`${r.name}: not encrypted with a customer-managed KMS key (${property})`);
    else if (AWS_MANAGED_KEY.test(key)) verdict.fail(`${r.name}: ${property} ${key} is an AWS managed key, not a customer-managed one`);
  }
  return verdict;
}
