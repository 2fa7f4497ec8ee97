import { PolicyResource, TYPES, environmentOf, ofType } from './types';

/** Redis: TLS in transit, encrypted at rest, an auth token; multi-AZ with failover in production. */
export function redisEncryptedAndResilient(resources: PolicyResource[], environment = environmentOf(resources)): string[] {
  const violations: string[] = [];
  for (const rg of ofType(resources, TYPES.replicationGroup)) {
    const p = rg.props;
    if (p.transitEncryptionEnabled !== true) violations.push(`${rg.name}: encryption in transit is off`);
    // `preferred` (a migration mode) accepts plaintext clients next to TLS ones.
    else if (p.transitEncryptionMode !== undefined && p.transitEncryptionMode !== 'required')
      violations.push(`${rg.name}: transit encryption mode ${String(p.transitEncryptionMode)} accepts unencrypted clients`);
    if (p.atRestEncryptionEnabled !== true) violations.push(`${rg.name}: encryption at rest is off`);
    if (p.authToken === undefined || p.authToken === '') violations.push(`${rg.name}: no auth token`);
    if (environment === 'production') {
      if (p.automaticFailoverEnabled !== true) violations.push(`${rg.name}: automatic failover is off in production`);
      if (p.multiAzEnabled !== true) violations.push(`${rg.name}: multi-AZ is off in production`);
      if (typeof p.numCacheClusters !== 'number' || p.numCacheClusters < 2) violations.push(`${rg.name}: production needs at least two nodes`);
    }
  }
  return violations;
}

/** Deployments roll back on their own: circuit breaker with rollback, and CloudWatch alarms with rollback. */
export function deploymentsRollBack(resources: PolicyResource[]): string[] {
  const violations: string[] = [];
  for (const svc of ofType(resources, TYPES.ecsService)) {
    const cb = svc.props.deploymentCircuitBreaker as { enable?: boolean; rollback?: boolean } | undefined;
    if (cb?.enable !== true || cb.rollback !== true) violations.push(`${svc.name}: deployment circuit breaker with rollback is not on`);
    const alarms = svc.props.alarms as { enable?: boolean; rollback?: boolean; alarmNames?: string[] } | undefined;
    if (alarms?.enable !== true || alarms.rollback !== true || (alarms.alarmNames ?? []).length === 0)
      violations.push(`${svc.name}: CloudWatch alarm rollback is not on`);
  }
  return violations;
}

/** Production runs at least two tasks (one per AZ survives an AZ or a task failure). */
export function productionHasRedundantTasks(resources: PolicyResource[], environment = environmentOf(resources)): string[] {
  if (environment !== 'production') return [];
  return ofType(resources, TYPES.ecsService)
    .filter((svc) => typeof svc.props.desiredCount !== 'number' || svc.props.desiredCount < 2)
    .map((svc) => `${svc.name}: production desiredCount must be >= 2 (got ${String(svc.props.desiredCount)})`);
}

/** Every log group expires its data. */
export function logRetentionSet(resources: PolicyResource[]): string[] {
  return ofType(resources, TYPES.logGroup)
    .filter((lg) => typeof lg.props.retentionInDays !== 'number' || lg.props.retentionInDays <= 0)
    .map((lg) => `${lg.name}: log retention is not set`);
}

/**
 * Every alarm notifies SNS on ALARM (actions enabled; when the stack declares SNS topics, one of
 * them: a typo'd or foreign topic ARN notifies nobody we know) and links a runbook page
 * `runbooks/<slug>.md` that exists (`runbookExists` decides; the pack and the tests look in the
 * repository's runbooks/ folder).
 */
export function alarmsAreActionable(resources: PolicyResource[], runbookExists: (file: string) => boolean): string[] {
  const violations: string[] = [];
  const topics = new Set(ofType(resources, TYPES.snsTopic).map((t) => t.props.arn).filter((arn): arn is string => typeof arn === 'string'));
  const notifies = (action: unknown): boolean =>
    typeof action === 'string' && /^arn:aws[a-z-]*:sns:/.test(action) && (topics.size === 0 || topics.has(action));
  for (const alarm of ofType(resources, TYPES.metricAlarm)) {
    const actions = (alarm.props.alarmActions as unknown[] | undefined) ?? [];
    if (!actions.some(notifies)) violations.push(`${alarm.name}: no SNS alarm action to the stack's alert topic`);
    if (alarm.props.actionsEnabled === false) violations.push(`${alarm.name}: alarm actions are disabled`);
    const link = /runbooks\/([a-z0-9-]+\.md)/.exec(String(alarm.props.alarmDescription ?? ''));
    if (!link) violations.push(`${alarm.name}: description links no runbook`);
    else if (!runbookExists(link[1] as string)) violations.push(`${alarm.name}: runbook runbooks/${link[1]} does not exist`);
  }
  return violations;
}
