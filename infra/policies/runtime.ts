import { PolicyResource, TYPES, Verdict, environmentOf, isUnknown, ofType } from './types';

/** Redis: TLS in transit, encrypted at rest, an auth token; multi-AZ with failover in production. */
export function redisEncryptedAndResilient(resources: PolicyResource[], environment = environmentOf(resources)): Verdict {
  const verdict = new Verdict();
  for (const rg of ofType(resources, TYPES.replicationGroup)) {
    const p = rg.props;
    const is = (property: string, expected: unknown, message: string): void => {
      if (verdict.known(rg, property, p[property]) && p[property] !== expected) verdict.fail(`${rg.name}: ${message}`);
    };
    if (verdict.known(rg, 'transitEncryptionEnabled', p.transitEncryptionEnabled) && p.transitEncryptionEnabled !== true)
      verdict.fail(`${rg.name}: encryption in transit is off`);
    // `preferred` (a migration mode) accepts plaintext clients next to TLS ones.
    else if (verdict.known(rg, 'transitEncryptionMode', p.transitEncryptionMode) && p.transitEncryptionMode !== undefined && p.transitEncryptionMode !== 'required')
      verdict.fail(`${rg.name}: transit encryption mode ${String(p.transitEncryptionMode)} accepts unencrypted clients`);
    is('atRestEncryptionEnabled', true, 'encryption at rest is off');
    // A generated token is unknown until the update, but it is there: only its absence is a violation.
    if (p.authToken === undefined || p.authToken === '') verdict.fail(`${rg.name}: no auth token`);
    if (environment === 'production') {
      is('automaticFailoverEnabled', true, 'automatic failover is off in production');
      is('multiAzEnabled', true, 'multi-AZ is off in production');
      if (verdict.known(rg, 'numCacheClusters', p.numCacheClusters) && (typeof p.numCacheClusters !== 'number' || p.numCacheClusters < 2))
        verdict.fail(`${rg.name}: production needs at least two nodes`);
    }
  }
  return verdict;
}

/** The service's deployment strategy (undefined: the rolling default); unknown stays unknown. */
export function strategyOf(svc: PolicyResource): unknown {
  const config = svc.props.deploymentConfiguration;
  return isUnknown(config) ? config : (config as { strategy?: unknown } | undefined)?.strategy;
}

interface RollbackAlarms {
  enable?: unknown;
  rollback?: unknown;
  alarmNames?: unknown;
}

/**
 * Deployments roll back on their own: CloudWatch alarms with rollback on every ECS service, each
 * watched alarm one this stack declares (a misspelt name never fires); the circuit breaker with
 * rollback where ECS supports it, the rolling strategy (AWS documents the circuit breaker for the
 * rolling update; gradual strategies roll back on the alarms), and with rollback wherever enabled.
 */
export function deploymentsRollBack(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  const alarmNames = ofType(resources, TYPES.metricAlarm).map((a) => a.props.name);
  for (const svc of ofType(resources, TYPES.ecsService)) {
    const strategy = strategyOf(svc);
    const cb = svc.props.deploymentCircuitBreaker as { enable?: unknown; rollback?: unknown } | undefined;
    if (verdict.known(svc, 'deploymentCircuitBreaker', cb) && verdict.known(svc, 'deploymentConfiguration.strategy', strategy)) {
      const rolling = strategy === undefined || strategy === 'ROLLING';
      if ((rolling || cb?.enable === true) && (cb?.enable !== true || cb.rollback !== true))
        verdict.fail(`${svc.name}: deployment circuit breaker with rollback is not on`);
    }
    if (isUnknown(svc.props.alarms)) {
      verdict.pending(svc, 'alarms');
      continue;
    }
    const alarms = svc.props.alarms as RollbackAlarms | undefined;
    if (!verdict.known(svc, 'alarms.enable and alarms.rollback', [alarms?.enable, alarms?.rollback])) continue;
    const names = alarms?.alarmNames;
    if (alarms?.enable !== true || alarms.rollback !== true || (Array.isArray(names) && names.length === 0) || names === undefined) {
      verdict.fail(`${svc.name}: CloudWatch alarm rollback is not on`);
      continue;
    }
    if (isUnknown(names)) {
      verdict.pending(svc, 'alarms.alarmNames');
      continue;
    }
    for (const name of names as unknown[]) {
      if (isUnknown(name)) continue; // an alarm resource's own name output: it exists
      if (alarmNames.some(isUnknown) && !alarmNames.includes(name)) verdict.pending(svc, `whether rollback alarm ${String(name)} exists`);
      else if (!alarmNames.includes(name)) verdict.fail(`${svc.name}: rollback watches ${String(name)}, which is not an alarm in this stack`);
    }
  }
  return verdict;
}

/** Production runs at least two tasks (one per AZ survives an AZ or a task failure). */
export function productionHasRedundantTasks(resources: PolicyResource[], environment = environmentOf(resources)): Verdict {
  const verdict = new Verdict();
  if (environment !== 'production') return verdict;
  for (const svc of ofType(resources, TYPES.ecsService)) {
    const count = svc.props.desiredCount;
    if (verdict.known(svc, 'desiredCount', count) && (typeof count !== 'number' || count < 2))
      verdict.fail(`${svc.name}: production desiredCount must be >= 2 (got ${String(count)})`);
  }
  return verdict;
}

/** Every log group expires its data. */
export function logRetentionSet(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  for (const lg of ofType(resources, TYPES.logGroup)) {
    const days = lg.props.retentionInDays;
    if (verdict.known(lg, 'retentionInDays', days) && (typeof days !== 'number' || days <= 0)) verdict.fail(`${lg.name}: log retention is not set`);
  }
  return verdict;
}

const SNS_ARN = /^arn:aws[a-z-]*:sns:/;

/**
 * Every alarm notifies SNS on ALARM (actions enabled; when the stack declares SNS topics, one of
 * them: a typo'd or foreign topic ARN notifies nobody we know) and links a runbook page
 * `runbooks/<slug>.md` that exists (`runbookExists` decides; the pack and the tests look in the
 * repository's runbooks/ folder). At preview the topic's ARN is unknown: an action that is that
 * unknown ARN waits for the update.
 */
export function alarmsAreActionable(resources: PolicyResource[], runbookExists: (file: string) => boolean): Verdict {
  const verdict = new Verdict();
  const topicArns = ofType(resources, TYPES.snsTopic).map((t) => t.props.arn);
  const topics = new Set(topicArns.filter((arn): arn is string => typeof arn === 'string'));
  const notifies = (action: unknown): boolean => typeof action === 'string' && SNS_ARN.test(action) && (topicArns.length === 0 || topics.has(action));
  const mayNotify = (action: unknown): boolean => isUnknown(action) || (typeof action === 'string' && SNS_ARN.test(action) && topicArns.some(isUnknown));
  for (const alarm of ofType(resources, TYPES.metricAlarm)) {
    const actions = alarm.props.alarmActions;
    if (isUnknown(actions)) verdict.pending(alarm, 'alarmActions');
    else {
      const list = (actions as unknown[] | undefined) ?? [];
      if (!list.some(notifies)) {
        if (list.some(mayNotify)) verdict.pending(alarm, 'alarmActions');
        else verdict.fail(`${alarm.name}: no SNS alarm action to the stack's alert topic`);
      }
    }
    if (verdict.known(alarm, 'actionsEnabled', alarm.props.actionsEnabled) && alarm.props.actionsEnabled === false)
      verdict.fail(`${alarm.name}: alarm actions are disabled`);
    if (!verdict.known(alarm, 'alarmDescription', alarm.props.alarmDescription)) continue;
    const link = /runbooks\/([a-z0-9-]+\.md)/.exec(String(alarm.props.alarmDescription ?? ''));
    if (!link) verdict.fail(`${alarm.name}: description links no runbook`);
    else if (!runbookExists(link[1] as string)) verdict.fail(`${alarm.name}: runbook runbooks/${link[1]} does not exist`);
  }
  return verdict;
}
