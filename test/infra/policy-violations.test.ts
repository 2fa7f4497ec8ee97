import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type ProgramRun, runProgram } from './harness';
import { policyView } from './policy-view';
import { STACK_POLICIES, type PolicyResource } from '../../infra/policies';
import { TYPES, ofType } from '../../infra/policies/types';
import { CLOUDWATCH_METRICS } from '../../service/shared/metric-names';

/**
 * A policy that never fires passes every test run on compliant stacks. So every policy gets, here,
 * stacks with one violating resource each (the real production program, then one change), and
 * must name it; and the unchanged program must stay clean. A new policy without a case here fails
 * the first test.
 */
const runbookExists = (file: string) => existsSync(join(__dirname, '../../runbooks', file));
const check = (name: string, run: ProgramRun): string[] => {
  const policy = STACK_POLICIES.find((p) => p.name === name);
  if (!policy) throw new Error(`no policy ${name}`);
  return policy.check(policyView(run), { runbookExists }).violations;
};

type Change = (run: ProgramRun) => void;
const each = (type: string, change: (props: Record<string, unknown>, resource: PolicyResource) => void, where: (r: PolicyResource) => boolean = () => true): Change =>
  (run) => {
    const matched = ofType(run.resources, type).filter(where);
    if (matched.length === 0) throw new Error(`the program declares no ${type} to change`);
    for (const r of matched) change(r.props, r);
  };
const add = (resource: PolicyResource): Change => (run) => void run.resources.push(resource as ProgramRun['resources'][number]);
const tagged = (exposure: string) => (r: PolicyResource) => (r.props.tags as Record<string, string> | undefined)?.Exposure === exposure;
type ContainerDef = { environment: { name: string; value: string }[]; secrets: { name: string; valueFrom: string }[]; healthCheck?: Record<string, unknown> };
const containerDefs = (change: (defs: ContainerDef[]) => void): Change =>
  each(TYPES.taskDefinition, (p) => {
    const defs = JSON.parse(p.containerDefinitions as string);
    change(defs);
    p.containerDefinitions = JSON.stringify(defs);
  });
const roleOf = (run: ProgramRun, which: 'executionRoleArn' | 'taskRoleArn'): PolicyResource => {
  const [td] = ofType(run.resources, TYPES.taskDefinition);
  const role = ofType(run.resources, TYPES.role).find((r) => r.props.arn === td?.props[which]);
  if (!role) throw new Error(`no ${which} role`);
  return role;
};
const policyFor = (role: 'executionRoleArn' | 'taskRoleArn', statement: Record<string, unknown>): Change => (run) =>
  add({ type: TYPES.rolePolicy, name: `extra-${role}-policy`, props: { role: roleOf(run, role).props.name, policy: JSON.stringify({ Version: '2012-10-17', Statement: [statement] }) } })(run);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:upiik/production/other-AbCdEf';
type Spec = { namespace?: string; dimensions?: Record<string, unknown> };
const cacheMetrics = (r: PolicyResource): Spec[] =>
  ((r.props.metricQueries as { metric?: Spec }[] | undefined) ?? []).flatMap((q) => (q.metric?.namespace === 'AWS/ElastiCache' ? [q.metric] : []));
const eachCacheMetric = (change: (metric: Spec) => void): Change =>
  each(TYPES.metricAlarm, (_p, r) => cacheMetrics(r).forEach(change), (r) => cacheMetrics(r).length > 0);
const readsEmf = (r: PolicyResource): boolean =>
  ((r.props.metricQueries as { metric?: Spec }[] | undefined) ?? []).some((q) => q.metric?.namespace === CLOUDWATCH_METRICS.namespace) &&
  ((r.props.metricQueries as { expression?: string }[]).some((q) => q.expression?.includes('FILL')));
const healthChecks = (change: (check: Record<string, unknown>) => void): Change =>
  containerDefs((defs) => defs.forEach((d) => change(d.healthCheck as Record<string, unknown>)));
/** Resources the program will declare once their components are wired: compliant, then one change each. */
const database = (props: Record<string, unknown> = {}): PolicyResource => ({
  type: TYPES.dbInstance, name: 'fixture-db',
  props: { identifier: 'upiik-payments-production', storageEncrypted: true, publiclyAccessible: false, backupRetentionPeriod: 14, manageMasterUserPassword: true, deletionProtection: true, multiAz: true, tags: { Environment: 'production' }, ...props },
});
const registry = (props: Record<string, unknown> = {}): PolicyResource => ({
  type: TYPES.ecrRepository, name: 'fixture-repo', props: { name: 'upiik-payments', imageTagMutability: 'IMMUTABLE', imageScanningConfiguration: { scanOnPush: true }, ...props },
});
const deployRole = (trust: { sub?: string | readonly string[]; aud?: string; audOperator?: string } = {}): PolicyResource => {
  const t = { sub: ['repo:upiik/payments:environment:production', 'repo:upiik/payments:ref:refs/heads/main'], aud: 'sts.amazonaws.com', audOperator: 'StringEquals', ...trust };
  const condition: Record<string, Record<string, unknown>> = { [t.audOperator]: {}, StringLike: {} };
  if (t.aud !== undefined) condition[t.audOperator]!['token.actions.githubusercontent.com:aud'] = t.aud;
  if (t.sub !== undefined) condition.StringLike!['token.actions.githubusercontent.com:sub'] = t.sub;
  return {
    type: TYPES.role, name: 'fixture-deploy-role',
    props: { name: 'upiik-payments-production-deploy', assumeRolePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [{
      Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity',
      Principal: { Federated: 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com' }, Condition: condition,
    }] }) },
  };
};

interface Case {
  policy: string;
  what: string;
  change: Change;
  flags: RegExp;
}

const CASES: Case[] = [
  // no-world-open-ingress
  { policy: 'no-world-open-ingress', what: 'the service group open to the world on its port', flags: /service-sg: ingress tcp 3000-3000 is open to the world/,
    change: each(TYPES.securityGroup, (p) => (p.ingress as unknown[]).push({ protocol: 'tcp', fromPort: 3000, toPort: 3000, cidrBlocks: ['0.0.0.0/0'] }), tagged('private')) },
  { policy: 'no-world-open-ingress', what: 'a private group open over IPv6 only', flags: /ingress tcp 22-22 is open to the world/,
    change: each(TYPES.securityGroup, (p) => (p.ingress as unknown[]).push({ protocol: 'tcp', fromPort: 22, toPort: 22, ipv6CidrBlocks: ['::/0'] }), tagged('private')) },
  { policy: 'no-world-open-ingress', what: 'the edge opening a range that starts at 443', flags: /alb-sg: ingress tcp 443-8443 is open to the world/,
    change: each(TYPES.securityGroup, (p) => (p.ingress as { fromPort: number; toPort: number }[]).filter((r) => r.fromPort === 443).forEach((r) => (r.toPort = 8443)), tagged('internet')) },
  { policy: 'no-world-open-ingress', what: 'the edge on 443 with protocol -1 (every port)', flags: /alb-sg: ingress -1 443-443 is open to the world/,
    change: each(TYPES.securityGroup, (p) => (p.ingress as { fromPort: number; protocol: string }[]).filter((r) => r.fromPort === 443).forEach((r) => (r.protocol = '-1')), tagged('internet')) },
  { policy: 'no-world-open-ingress', what: 'the edge on 80 over UDP', flags: /alb-sg: ingress udp 80-80 is open to the world/,
    change: each(TYPES.securityGroup, (p) => (p.ingress as { fromPort: number; protocol: string }[]).filter((r) => r.fromPort === 80).forEach((r) => (r.protocol = 'udp')), tagged('internet')) },
  { policy: 'no-world-open-ingress', what: 'a /0 written with a non-zero address', flags: /ingress tcp 6379-6379 is open to the world/,
    change: each(TYPES.securityGroup, (p) => (p.ingress as unknown[]).push({ protocol: 'tcp', fromPort: 6379, toPort: 6379, cidrBlocks: ['10.0.0.0/0'] }), tagged('private')) },
  { policy: 'no-world-open-ingress', what: 'a standalone ingress rule open to the world', flags: /open-rule: standalone ingress rule open to the world/,
    change: add({ type: TYPES.ingressRule, name: 'open-rule', props: { ipProtocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '0.0.0.0/0' } }) },
  // secrets-only-by-value-from
  { policy: 'secrets-only-by-value-from', what: 'DATABASE_URL moved into the plain environment', flags: /DATABASE_URL is a secret in plain environment/,
    change: containerDefs((defs) => {
      defs[0]!.environment.push({ name: 'DATABASE_URL', value: 'postgres://u:p@h/db' });
      defs[0]!.secrets = defs[0]!.secrets.filter((s) => s.name !== 'DATABASE_URL');
    }) },
  { policy: 'secrets-only-by-value-from', what: 'the RDS database parts without DATABASE_CREDENTIALS_ARN', flags: /DATABASE_HOST without a DATABASE_CREDENTIALS_ARN naming a Secrets Manager secret/,
    change: containerDefs((defs) => void (defs[0]!.environment = defs[0]!.environment.filter((e) => e.name !== 'DATABASE_CREDENTIALS_ARN'))) },
  { policy: 'secrets-only-by-value-from', what: 'DATABASE_CREDENTIALS_ARN holding something other than a secret ARN', flags: /DATABASE_HOST without a DATABASE_CREDENTIALS_ARN naming a Secrets Manager secret/,
    change: containerDefs((defs) => defs[0]!.environment.filter((e) => e.name === 'DATABASE_CREDENTIALS_ARN').forEach((e) => (e.value = 'payments:rotating-password'))) },
  { policy: 'secrets-only-by-value-from', what: 'both a DATABASE_URL secret and the database parts', flags: /both DATABASE_URL and DATABASE_HOST/,
    change: containerDefs((defs) => void defs[0]!.secrets.push({ name: 'DATABASE_URL', valueFrom: SECRET_ARN })) },
  { policy: 'secrets-only-by-value-from', what: 'neither the database parts nor DATABASE_URL', flags: /DATABASE_URL is not provided through secrets\[\]\.valueFrom/,
    change: containerDefs((defs) => void (defs[0]!.environment = defs[0]!.environment.filter((e) => e.name !== 'DATABASE_HOST'))) },
  { policy: 'secrets-only-by-value-from', what: 'a live key under an innocent name', flags: /PAYMENTS_OPTIONS is a secret in plain environment/,
    change: containerDefs((defs) => void defs[0]!.environment.push({ name: 'PAYMENTS_OPTIONS', value: 'key=sk_live_0123456789abcdef' })) },
  { policy: 'secrets-only-by-value-from', what: 'a required secret missing', flags: /AUTH_JWT_SECRET is not provided through secrets\[\]\.valueFrom/,
    change: containerDefs((defs) => void (defs[0]!.secrets = defs[0]!.secrets.filter((s) => s.name !== 'AUTH_JWT_SECRET'))) },
  { policy: 'secrets-only-by-value-from', what: 'a secret whose valueFrom is not an ARN', flags: /STRIPE_SECRET_KEY valueFrom is not a secret ARN/,
    change: containerDefs((defs) => defs[0]!.secrets.filter((s) => s.name === 'STRIPE_SECRET_KEY').forEach((s) => (s.valueFrom = 'sk_live_inline'))) },
  // execution-role-reads-only-our-secrets
  { policy: 'execution-role-reads-only-our-secrets', what: 'the execution role reading every secret by wildcard', flags: /reads secrets with a wildcard resource \*/,
    change: each(TYPES.rolePolicy, (p) => (p.policy = JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }] })), (r) => String(r.props.policy).includes('GetSecretValue')) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the execution role granted a secret the task does not use', flags: /may read .*other-AbCdEf, which the task does not use/,
    change: policyFor('executionRoleArn', { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SECRET_ARN }) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the execution role unable to read a secret the task needs', flags: /cannot read .*, which the task needs/,
    change: each(TYPES.rolePolicy, (p) => {
      const doc = JSON.parse(p.policy as string);
      doc.Statement[0].Resource = doc.Statement[0].Resource.slice(1);
      p.policy = JSON.stringify(doc);
    }, (r) => String(r.props.policy).includes('GetSecretValue')) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role reading a secret other than the database credentials', flags: /the task role \(.*task-role\) may read .*other-AbCdEf, which its job does not need/,
    change: policyFor('taskRoleArn', { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: SECRET_ARN }) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role reading secrets through an action wildcard', flags: /the task role \(.*task-role\) may read .*other-AbCdEf/,
    change: policyFor('taskRoleArn', { Effect: 'Allow', Action: 'secretsmanager:Get*', Resource: SECRET_ARN }) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role allowed everything but publishing (NotAction)', flags: /the task role \(.*task-role\) may read \*, which its job does not need/,
    change: policyFor('taskRoleArn', { Effect: 'Allow', NotAction: 'sns:Publish', Resource: '*' }) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role with SecretsManagerReadWrite attached', flags: /SecretsManagerReadWrite: the task role \(.*task-role\) reads every secret/,
    change: (run) => add({ type: TYPES.rolePolicyAttachment, name: 'task-secrets', props: { role: roleOf(run, 'taskRoleArn').props.name, policyArn: 'arn:aws:iam::aws:policy/SecretsManagerReadWrite' } })(run) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role with a customer managed policy that reads secrets', flags: /reader-policy: the task role \(.*task-role\) may read .*other-AbCdEf/,
    change: (run) => {
      const arn = 'arn:aws:iam::123456789012:policy/reader';
      add({ type: TYPES.managedPolicy, name: 'reader-policy', props: { arn, policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SECRET_ARN }] }) } })(run);
      add({ type: TYPES.rolePolicyAttachment, name: 'task-reader', props: { role: roleOf(run, 'taskRoleArn').props.name, policyArn: arn } })(run);
    } },
  { policy: 'execution-role-reads-only-our-secrets', what: 'a role nobody assigned a job reading a secret', flags: /stray-policy: a non-execution role \(stray-role\) reads secrets/,
    change: (run) => {
      add({ type: TYPES.role, name: 'stray-role', props: { name: 'stray-role', arn: 'arn:aws:iam::123456789012:role/stray-role', assumeRolePolicy: JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) } })(run);
      add({ type: TYPES.rolePolicy, name: 'stray-policy', props: { role: 'stray-role', policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SECRET_ARN }] }) } })(run);
    } },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task pointed at a credentials secret that is not the stack\'s RDS secret', flags: /-task: DATABASE_CREDENTIALS_ARN .*other-AbCdEf is not the master user secret of an RDS instance in this stack/,
    change: containerDefs((defs) => defs[0]!.environment.filter((e) => e.name === 'DATABASE_CREDENTIALS_ARN').forEach((e) => (e.value = SECRET_ARN))) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the GitHub deploy role reading a secret besides the JWT secret', flags: /deploy-policy: the GitHub Actions role \(.*deploy-role\) may read .*stripe-secret-key.*, which its job does not need/,
    change: each(TYPES.rolePolicy, (p) => {
      const doc = JSON.parse(p.policy as string) as { Statement: { Sid?: string; Resource: unknown }[] };
      const jwt = doc.Statement.find((st) => st.Sid === 'ReadTheJwtSecret')!;
      jwt.Resource = [jwt.Resource, String(jwt.Resource).replace('jwt-secret', 'stripe-secret-key')];
      p.policy = JSON.stringify(doc);
    }, (r) => r.name.endsWith('-deploy-policy')) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the execution role with AdministratorAccess attached', flags: /execution-role: reads every secret through .*AdministratorAccess/,
    change: (run) => add({ type: TYPES.rolePolicyAttachment, name: 'exec-admin', props: { role: roleOf(run, 'executionRoleArn').props.name, policyArn: 'arn:aws:iam::aws:policy/AdministratorAccess' } })(run) },
  // redis-encrypted-and-resilient
  { policy: 'redis-encrypted-and-resilient', what: 'Redis without encryption at rest', flags: /encryption at rest is off/,
    change: each(TYPES.replicationGroup, (p) => (p.atRestEncryptionEnabled = false)) },
  { policy: 'redis-encrypted-and-resilient', what: 'Redis without TLS', flags: /encryption in transit is off/,
    change: each(TYPES.replicationGroup, (p) => (p.transitEncryptionEnabled = false)) },
  { policy: 'redis-encrypted-and-resilient', what: 'Redis TLS in preferred mode (plaintext accepted)', flags: /transit encryption mode preferred accepts unencrypted clients/,
    change: each(TYPES.replicationGroup, (p) => (p.transitEncryptionMode = 'preferred')) },
  { policy: 'redis-encrypted-and-resilient', what: 'Redis without an auth token', flags: /no auth token/,
    change: each(TYPES.replicationGroup, (p) => delete p.authToken) },
  { policy: 'redis-encrypted-and-resilient', what: 'production Redis without failover', flags: /automatic failover is off in production/,
    change: each(TYPES.replicationGroup, (p) => (p.automaticFailoverEnabled = false)) },
  { policy: 'redis-encrypted-and-resilient', what: 'production Redis in one AZ', flags: /multi-AZ is off in production/,
    change: each(TYPES.replicationGroup, (p) => (p.multiAzEnabled = false)) },
  { policy: 'redis-encrypted-and-resilient', what: 'production Redis on one node', flags: /production needs at least two nodes/,
    change: each(TYPES.replicationGroup, (p) => (p.numCacheClusters = 1)) },
  // deployments-roll-back
  { policy: 'deployments-roll-back', what: 'a circuit breaker that does not roll back', flags: /deployment circuit breaker with rollback is not on/,
    change: each(TYPES.ecsService, (p) => (p.deploymentCircuitBreaker = { enable: true, rollback: false })) },
  { policy: 'deployments-roll-back', what: 'a rolling deployment without a circuit breaker', flags: /deployment circuit breaker with rollback is not on/,
    change: each(TYPES.ecsService, (p) => {
      p.deploymentConfiguration = { strategy: 'ROLLING' };
      delete p.deploymentCircuitBreaker;
    }) },
  { policy: 'deployments-roll-back', what: 'a deployment without a strategy (rolling) or circuit breaker', flags: /deployment circuit breaker with rollback is not on/,
    change: each(TYPES.ecsService, (p) => {
      delete p.deploymentConfiguration;
      delete p.deploymentCircuitBreaker;
    }) },
  { policy: 'deployments-roll-back', what: 'alarm rollback watching an alarm the stack does not declare', flags: /rollback watches upiik-typo-alarm, which is not an alarm in this stack/,
    change: each(TYPES.ecsService, (p) => (p.alarms as { alarmNames: string[] }).alarmNames.push('upiik-typo-alarm')) },
  { policy: 'deployments-roll-back', what: 'alarm rollback off', flags: /CloudWatch alarm rollback is not on/,
    change: each(TYPES.ecsService, (p) => ((p.alarms as { rollback: boolean }).rollback = false)) },
  { policy: 'deployments-roll-back', what: 'alarm rollback watching no alarm', flags: /CloudWatch alarm rollback is not on/,
    change: each(TYPES.ecsService, (p) => ((p.alarms as { alarmNames: string[] }).alarmNames = [])) },
  // production-redundant-tasks
  { policy: 'production-redundant-tasks', what: 'production on one task', flags: /production desiredCount must be >= 2 \(got 1\)/,
    change: each(TYPES.ecsService, (p) => (p.desiredCount = 1)) },
  // log-retention-set
  { policy: 'log-retention-set', what: 'a log group kept forever', flags: /log retention is not set/,
    change: each(TYPES.logGroup, (p) => delete p.retentionInDays) },
  { policy: 'log-retention-set', what: 'a log group with retention 0', flags: /log retention is not set/,
    change: each(TYPES.logGroup, (p) => (p.retentionInDays = 0)) },
  // alarms-are-actionable
  { policy: 'alarms-are-actionable', what: 'an alarm whose only action is not SNS', flags: /no SNS alarm action to the stack's alert topic/,
    change: each(TYPES.metricAlarm, (p) => (p.alarmActions = ['arn:aws:automate:eu-central-1:ec2:reboot'])) },
  { policy: 'alarms-are-actionable', what: 'an alarm with no action', flags: /no SNS alarm action/,
    change: each(TYPES.metricAlarm, (p) => (p.alarmActions = [])) },
  { policy: 'alarms-are-actionable', what: 'an alarm notifying an SNS topic that is not ours', flags: /no SNS alarm action to the stack's alert topic/,
    change: each(TYPES.metricAlarm, (p) => (p.alarmActions = ['arn:aws:sns:eu-central-1:123456789012:someone-elses-topic'])) },
  { policy: 'alarms-are-actionable', what: 'an alarm with actions disabled', flags: /alarm actions are disabled/,
    change: each(TYPES.metricAlarm, (p) => (p.actionsEnabled = false)) },
  { policy: 'alarms-are-actionable', what: 'an alarm whose runbook page is missing', flags: /runbooks\/does-not-exist\.md does not exist/,
    change: each(TYPES.metricAlarm, (p) => (p.alarmDescription = String(p.alarmDescription).replace(/runbooks\/[a-z0-9-]+\.md/, 'runbooks/does-not-exist.md'))) },
  { policy: 'alarms-are-actionable', what: 'an alarm linking no runbook', flags: /description links no runbook/,
    change: each(TYPES.metricAlarm, (p) => (p.alarmDescription = 'Payments are failing.')) },
  // physical-names-within-aws-limits
  { policy: 'physical-names-within-aws-limits', what: 'an ALB name of 33 characters', flags: /name a{33} is 33 characters; AWS allows 32/,
    change: each(TYPES.loadBalancer, (p) => (p.name = 'a'.repeat(33))) },
  { policy: 'physical-names-within-aws-limits', what: 'an ALB name starting with internal-', flags: /name internal-api breaks the AWS naming rule/,
    change: each(TYPES.loadBalancer, (p) => (p.name = 'internal-api')) },
  { policy: 'physical-names-within-aws-limits', what: 'a target group name of 33 characters', flags: /name t{33} is 33 characters; AWS allows 32/,
    change: each(TYPES.targetGroup, (p) => (p.name = 't'.repeat(33))) },
  { policy: 'physical-names-within-aws-limits', what: 'a target group name ending with a hyphen', flags: /name upiik-tg- breaks the AWS naming rule/,
    change: each(TYPES.targetGroup, (p) => (p.name = 'upiik-tg-')) },
  { policy: 'physical-names-within-aws-limits', what: 'a replication group id of 41 characters', flags: /replicationGroupId r{41} is 41 characters; AWS allows 40/,
    change: each(TYPES.replicationGroup, (p) => (p.replicationGroupId = 'r'.repeat(41))) },
  { policy: 'physical-names-within-aws-limits', what: 'a replication group id with two hyphens in a row', flags: /replicationGroupId upiik--redis breaks the AWS naming rule/,
    change: each(TYPES.replicationGroup, (p) => (p.replicationGroupId = 'upiik--redis')) },
  { policy: 'physical-names-within-aws-limits', what: 'a replication group id starting with a digit', flags: /replicationGroupId 1redis breaks the AWS naming rule/,
    change: each(TYPES.replicationGroup, (p) => (p.replicationGroupId = '1redis')) },
  { policy: 'physical-names-within-aws-limits', what: 'an IAM role name of 65 characters', flags: /name o{65} is 65 characters; AWS allows 64/,
    change: add({ type: TYPES.role, name: 'long-role', props: { name: 'o'.repeat(65) } }) },
  { policy: 'physical-names-within-aws-limits', what: 'a database identifier of 64 characters', flags: /identifier d{64} is 64 characters; AWS allows 63/,
    change: add({ type: TYPES.dbInstance, name: 'long-db', props: { identifier: 'd'.repeat(64) } }) },
  // elasticache-alarms-watch-members
  { policy: 'elasticache-alarms-watch-members', what: 'a Redis alarm on the ReplicationGroupId dimension', flags: /uses the ReplicationGroupId dimension/,
    change: eachCacheMetric((m) => (m.dimensions = { ReplicationGroupId: 'upiik-payments-production' })) },
  { policy: 'elasticache-alarms-watch-members', what: 'a Redis alarm with no CacheClusterId', flags: /has no CacheClusterId dimension/,
    change: eachCacheMetric((m) => (m.dimensions = { CacheNodeId: '0001' })) },
  { policy: 'elasticache-alarms-watch-members', what: 'a Redis alarm watching only the first member', flags: /watches only some members of .*; missing .*-002/,
    change: eachCacheMetric((m) => ((m.dimensions as Record<string, string>).CacheClusterId = String((m.dimensions as Record<string, string>).CacheClusterId).replace(/-00\d$/, '-001'))) },
  // emf-alarms-handle-missing-data
  { policy: 'emf-alarms-handle-missing-data', what: 'an EMF alarm left at treatMissingData missing', flags: /must choose treatMissingData .*, not missing/,
    change: each(TYPES.metricAlarm, (p) => (p.treatMissingData = 'missing'), readsEmf) },
  { policy: 'emf-alarms-handle-missing-data', what: 'an EMF alarm without treatMissingData', flags: /must choose treatMissingData .*, not the default/,
    change: each(TYPES.metricAlarm, (p) => delete p.treatMissingData, readsEmf) },
  { policy: 'emf-alarms-handle-missing-data', what: 'metric math reading an EMF counter without FILL', flags: /expression \w+ reads \w+ without FILL\(\w+, \.\.\.\)/,
    change: each(TYPES.metricAlarm, (p) => (p.metricQueries as { expression?: string }[]).forEach((q) => {
      if (q.expression) q.expression = q.expression.replace(/FILL\((\w+),\s*0\)/g, '$1');
    }), readsEmf) },
  // steady-state-wait-fits-bakes
  { policy: 'steady-state-wait-fits-bakes', what: 'the provider default timeouts', flags: /create timeout 1200 s is shorter than the bakes \(25 min\) plus 10 min \(2100 s\)/,
    change: each(TYPES.ecsService, (_p, r) => (r.options = { customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 } })) },
  { policy: 'steady-state-wait-fits-bakes', what: 'an update timeout one second short', flags: /update timeout 2099 s is shorter/,
    change: each(TYPES.ecsService, (_p, r) => (r.options = { customTimeouts: { createSeconds: 2100, updateSeconds: 2099, deleteSeconds: 0 } })) },
  { policy: 'steady-state-wait-fits-bakes', what: 'waiting for steady state without sigintRollback', flags: /waits for steady state without sigintRollback/,
    change: each(TYPES.ecsService, (p) => (p.sigintRollback = false)) },
  // containers-have-health-checks
  { policy: 'containers-have-health-checks', what: 'a container without a health check', flags: /: no health check/,
    change: containerDefs((defs) => defs.forEach((d) => delete d.healthCheck)) },
  { policy: 'containers-have-health-checks', what: 'a health check with nothing to run', flags: /health check command must be CMD or CMD-SHELL followed by what to run/,
    change: healthChecks((h) => (h.command = ['CMD-SHELL'])) },
  { policy: 'containers-have-health-checks', what: 'a health check command in Docker NONE form', flags: /health check command must be CMD or CMD-SHELL/,
    change: healthChecks((h) => (h.command = ['NONE', 'x'])) },
  { policy: 'containers-have-health-checks', what: 'a health check interval of 301 s', flags: /health check interval 301 is outside ECS's 5-300/,
    change: healthChecks((h) => (h.interval = 301)) },
  { policy: 'containers-have-health-checks', what: 'a health check timeout of 1 s', flags: /health check timeout 1 is outside ECS's 2-60/,
    change: healthChecks((h) => (h.timeout = 1)) },
  { policy: 'containers-have-health-checks', what: 'a health check with 11 retries', flags: /health check retries 11 is outside ECS's 1-10/,
    change: healthChecks((h) => (h.retries = 11)) },
  { policy: 'containers-have-health-checks', what: 'a health check start period of 301 s', flags: /health check startPeriod 301 is outside ECS's 0-300/,
    change: healthChecks((h) => (h.startPeriod = 301)) },
  { policy: 'containers-have-health-checks', what: 'a health check timeout as long as its interval', flags: /health check timeout 30 s is not shorter than its interval 30 s/,
    change: healthChecks((h) => Object.assign(h, { interval: 30, timeout: 30 })) },
  // databases-encrypted-private-backed-up
  ...([
    ['unencrypted storage', { storageEncrypted: false }, /storage is not encrypted/],
    ['a public database', { publiclyAccessible: true }, /publicly accessible/],
    ['backups kept 6 days', { backupRetentionPeriod: 6 }, /backups kept 6 days; at least 7 days/],
    ['no backup retention', { backupRetentionPeriod: undefined }, /backup retention is not set; at least 7 days/],
    ['a master password RDS does not manage', { manageMasterUserPassword: false }, /master password is not managed by RDS/],
    ['a master password in the program', { password: 'in-state' }, /a master password is set in the program/],
    ['production without deletion protection', { deletionProtection: false }, /deletion protection is off in production/],
    ['production in one AZ', { multiAz: false }, /not Multi-AZ in production/],
  ] as const).map(([what, props, flags]): Case => ({ policy: 'databases-encrypted-private-backed-up', what, flags, change: add(database(props)) })),
  // registries-immutable-and-scanned
  { policy: 'registries-immutable-and-scanned', what: 'a repository with mutable tags', flags: /image tags are mutable/, change: add(registry({ imageTagMutability: 'MUTABLE' })) },
  { policy: 'registries-immutable-and-scanned', what: 'a repository without scan on push', flags: /images are not scanned on push/, change: add(registry({ imageScanningConfiguration: { scanOnPush: false } })) },
  { policy: 'registries-immutable-and-scanned', what: 'a repository without a scanning configuration', flags: /images are not scanned on push/, change: add(registry({ imageScanningConfiguration: undefined })) },
  // deploy-roles-pinned-to-repository
  ...([
    ['a sub wildcard over the owner', { sub: 'repo:upiik/*' }, /sub repo:upiik\/\* is not pinned/],
    ['a sub wildcard over every repository', { sub: 'repo:*' }, /sub repo:\* is not pinned/],
    ['a sub on any ref of the repository', { sub: 'repo:upiik/payments:*' }, /sub repo:upiik\/payments:\* is not pinned/],
    ['a sub on a feature branch', { sub: 'repo:upiik/payments:ref:refs/heads/feature' }, /is not pinned to one repository and an environment or main/],
    ['no sub condition', { sub: undefined }, /does not pin token.actions.githubusercontent.com:sub/],
    ['no aud condition', { aud: undefined }, /does not pin token.actions.githubusercontent.com:aud/],
    ['an aud other than STS', { aud: 'https://github.com/upiik' }, /does not pin token.actions.githubusercontent.com:aud/],
    ['aud matched by StringLike', { audOperator: 'StringLike' }, /does not pin token.actions.githubusercontent.com:aud to sts.amazonaws.com with StringEquals/],
    ['two repositories', { sub: ['repo:upiik/payments:environment:production', 'repo:other/repo:environment:production'] }, /trusted by several repositories \(upiik\/payments, other\/repo\)/],
  ] as const).map(([what, trust, flags]): Case => ({ policy: 'deploy-roles-pinned-to-repository', what, flags, change: add(deployRole(trust)) })),
  { policy: 'deploy-roles-pinned-to-repository', what: 'a main-branch role without an environment that may deploy', flags: /fixture-deploy-role: no sub pins a GitHub environment, yet it may do more than push images \(ecs:UpdateService\)/,
    change: (run) => {
      add(deployRole({ sub: 'repo:upiik/payments:ref:refs/heads/main' }))(run);
      add({ type: TYPES.rolePolicy, name: 'main-deploys', props: { role: 'upiik-payments-production-deploy', policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Action: ['ecr:PutImage', 'ecs:UpdateService'], Resource: '*' }] }) } })(run);
    } },
  { policy: 'deploy-roles-pinned-to-repository', what: 'the push role (main, no environment) also allowed to pass roles', flags: /push-role: no sub pins a GitHub environment, yet it may do more than push images \(iam:PassRole\)/,
    change: each(TYPES.rolePolicy, (p) => {
      const doc = JSON.parse(p.policy as string) as { Statement: { Action: string[] }[] };
      doc.Statement[1]!.Action.push('iam:PassRole');
      p.policy = JSON.stringify(doc);
    }, (r) => r.name.endsWith('-push-policy')) },
  { policy: 'deploy-roles-pinned-to-repository', what: 'the push role with a managed policy attached', flags: /push-role: no sub pins a GitHub environment, yet it may do more than push images \(attached arn:aws:iam::aws:policy\/PowerUserAccess\)/,
    change: (run) => add({ type: TYPES.rolePolicyAttachment, name: 'push-power', props: { role: ofType(run.resources, TYPES.role).find((r) => r.name.endsWith('-push-role'))!.props.name, policyArn: 'arn:aws:iam::aws:policy/PowerUserAccess' } })(run) },
  { policy: 'deploy-roles-pinned-to-repository', what: 'a wildcard sub trusting the stack\'s own provider resource by its ARN', flags: /sub repo:upiik\/\* is not pinned/,
    change: (run) => {
      add({ type: TYPES.oidcProvider, name: 'github', props: { url: 'https://token.actions.githubusercontent.com', arn: 'arn:aws:iam:eu-central-1:123456789012:github-provider' } })(run);
      const role = deployRole({ sub: 'repo:upiik/*' });
      role.props.assumeRolePolicy = String(role.props.assumeRolePolicy).replace('arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com', 'arn:aws:iam:eu-central-1:123456789012:github-provider');
      add(role)(run);
    } },
  { policy: 'deploy-roles-pinned-to-repository', what: 'a wildcard sub under a principal the policy does not know, recognised by its GitHub claims', flags: /sub repo:\* is not pinned/,
    change: (run) => {
      const role = deployRole({ sub: 'repo:*' });
      role.props.assumeRolePolicy = String(role.props.assumeRolePolicy).replace('arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com', 'arn:aws:iam::123456789012:oidc-provider/other');
      add(role)(run);
    } },
  // customer-keys-for-topics-and-secrets
  { policy: 'customer-keys-for-topics-and-secrets', what: 'an alert topic without a KMS key', flags: /not encrypted with a customer-managed KMS key \(kmsMasterKeyId\)/,
    change: each(TYPES.snsTopic, (p) => delete p.kmsMasterKeyId) },
  { policy: 'customer-keys-for-topics-and-secrets', what: 'an alert topic under the AWS managed SNS key', flags: /kmsMasterKeyId alias\/aws\/sns is an AWS managed key/,
    change: each(TYPES.snsTopic, (p) => (p.kmsMasterKeyId = 'alias/aws/sns')) },
  { policy: 'customer-keys-for-topics-and-secrets', what: 'a secret without a KMS key', flags: /not encrypted with a customer-managed KMS key \(kmsKeyId\)/,
    change: each(TYPES.secret, (p) => delete p.kmsKeyId) },
  { policy: 'customer-keys-for-topics-and-secrets', what: 'a secret under the AWS managed key by ARN', flags: /kmsKeyId arn:aws:kms:eu-central-1:123456789012:alias\/aws\/secretsmanager is an AWS managed key/,
    change: each(TYPES.secret, (p) => (p.kmsKeyId = 'arn:aws:kms:eu-central-1:123456789012:alias/aws/secretsmanager')) },
  // production-load-balancers-protected-and-logged
  { policy: 'production-load-balancers-protected-and-logged', what: 'a production ALB without deletion protection', flags: /deletion protection is off in production/,
    change: each(TYPES.loadBalancer, (p) => (p.enableDeletionProtection = false)) },
  { policy: 'production-load-balancers-protected-and-logged', what: 'a production ALB with access logs disabled', flags: /access logs are off in production/,
    change: each(TYPES.loadBalancer, (p) => ((p.accessLogs as { enabled: boolean }).enabled = false)) },
  { policy: 'production-load-balancers-protected-and-logged', what: 'a production ALB without access logs', flags: /access logs are off in production/,
    change: each(TYPES.loadBalancer, (p) => delete p.accessLogs) },
  { policy: 'production-load-balancers-protected-and-logged', what: 'a production ALB logging to no bucket', flags: /access logs are off in production/,
    change: each(TYPES.loadBalancer, (p) => ((p.accessLogs as { bucket?: string }).bucket = '')) },
];

describe('every policy fires on a violating resource', () => {
  let production: ProgramRun;
  beforeAll(async () => {
    production = await runProgram('production');
  });

  test('every policy has at least one violating case here', () => {
    const covered = new Set(CASES.map((c) => c.policy));
    expect(STACK_POLICIES.map((p) => p.name).filter((name) => !covered.has(name))).toEqual([]);
  });

  test.each(STACK_POLICIES.map((p) => p.name))('%s passes the unchanged production program', (name) => {
    expect(check(name, production)).toEqual([]);
  });

  test.each(CASES.map((c) => [c.policy, c.what, c] as const))('%s flags %s', (name, _what, c) => {
    const bad = structuredClone(production);
    c.change(bad);
    const violations = check(name, bad);
    expect(violations).toEqual(expect.arrayContaining([expect.stringMatching(c.flags)]));
  });
});

describe('environment-dependent policies', () => {
  let staging: ProgramRun;
  beforeAll(async () => {
    staging = await runProgram('staging');
  });

  test('staging may run one task and single-AZ Redis, but never unencrypted Redis', () => {
    const bad = structuredClone(staging);
    each(TYPES.ecsService, (p) => (p.desiredCount = 1))(bad);
    each(TYPES.replicationGroup, (p) => Object.assign(p, { multiAzEnabled: false, automaticFailoverEnabled: false, numCacheClusters: 1, atRestEncryptionEnabled: false }))(bad);
    expect(check('production-redundant-tasks', bad)).toEqual([]);
    expect(check('redis-encrypted-and-resilient', bad)).toEqual([expect.stringMatching(/encryption at rest is off/)]);
  });

  test('a production stack configured with a single task fails the redundancy policy', async () => {
    const run = await runProgram('production', { desiredCount: '1', minCount: '1' });
    expect(check('production-redundant-tasks', run)).toEqual([expect.stringMatching(/got 1/)]);
  });
});

describe('policy boundaries: the last compliant value passes', () => {
  let production: ProgramRun;
  beforeAll(async () => {
    production = await runProgram('production');
  });
  const changed = (run: ProgramRun, ...changes: Change[]): ProgramRun => {
    const copy = structuredClone(run);
    for (const change of changes) change(copy);
    return copy;
  };

  test('names at exactly their AWS limit pass (ALB and target group 32, replication group 40, role 64, database 63)', () => {
    const run = changed(production,
      each(TYPES.loadBalancer, (p) => (p.name = `a${'-b'.repeat(15)}c`)),
      each(TYPES.targetGroup, (p) => (p.name = 't'.repeat(32))),
      each(TYPES.replicationGroup, (p) => (p.replicationGroupId = `r${'-r'.repeat(19)}s`)),
      add({ type: TYPES.role, name: 'role-64', props: { name: 'o'.repeat(64) } }),
      add(database({ identifier: 'd'.repeat(63) })));
    expect(check('physical-names-within-aws-limits', run)).toEqual([]);
  });

  test('a one-letter identifier and an auto-named resource without a name property pass', () => {
    const run = changed(production, add(database({ identifier: 'd' })), add({ type: TYPES.role, name: 'unnamed', props: {} }));
    expect(check('physical-names-within-aws-limits', run)).toEqual([]);
  });

  test('health check settings at the edges of ECS ranges pass', () => {
    for (const edge of [{ interval: 5, timeout: 2, retries: 1, startPeriod: 0 }, { interval: 300, timeout: 60, retries: 10, startPeriod: 300 }]) {
      const run = changed(production, healthChecks((h) => Object.assign(h, edge)));
      expect(check('containers-have-health-checks', run)).toEqual([]);
    }
    const defaults = changed(production, healthChecks((h) => ['interval', 'timeout', 'retries', 'startPeriod'].forEach((k) => delete h[k])));
    expect(check('containers-have-health-checks', defaults)).toEqual([]);
  });

  test('timeouts of exactly the bakes plus the margin pass', () => {
    const run = changed(production, each(TYPES.ecsService, (_p, r) => (r.options = { customTimeouts: { createSeconds: 2100, updateSeconds: 2100, deleteSeconds: 0 } })));
    expect(check('steady-state-wait-fits-bakes', run)).toEqual([]);
  });

  test('a linear rollout needs every step baked; a rolling one only the margin', () => {
    const linear = changed(production, each(TYPES.ecsService, (p, r) => {
      p.deploymentConfiguration = { strategy: 'LINEAR', linearConfiguration: { stepPercent: 25, stepBakeTimeInMinutes: '5' }, bakeTimeInMinutes: '10' };
      r.options = { customTimeouts: { createSeconds: 2400, updateSeconds: 2399, deleteSeconds: 0 } };
    }));
    expect(check('steady-state-wait-fits-bakes', linear)).toEqual([expect.stringMatching(/update timeout 2399 s is shorter than the bakes \(30 min\)/)]);
    const rolling = changed(production, each(TYPES.ecsService, (p, r) => {
      p.deploymentConfiguration = { strategy: 'ROLLING' };
      r.options = { customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 } };
    }));
    expect(check('steady-state-wait-fits-bakes', rolling)).toEqual([]);
    const noWait = changed(production, each(TYPES.ecsService, (p, r) => {
      p.waitForSteadyState = false;
      r.options = { customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 } };
    }));
    expect(check('steady-state-wait-fits-bakes', noWait)).toEqual([]);
  });

  test('a canary deployment may also run a circuit breaker that rolls back', () => {
    const on = changed(production, each(TYPES.ecsService, (p) => (p.deploymentCircuitBreaker = { enable: true, rollback: true })));
    expect(check('deployments-roll-back', on)).toEqual([]);
  });

  test('a compliant database, registry and deploy role pass; staging needs neither deletion protection nor Multi-AZ', () => {
    const run = changed(production, add(database({ backupRetentionPeriod: 7 })), add(registry()), add(deployRole()));
    expect(check('databases-encrypted-private-backed-up', run)).toEqual([]);
    expect(check('registries-immutable-and-scanned', run)).toEqual([]);
    expect(check('deploy-roles-pinned-to-repository', run)).toEqual([]);
    const staging = { ...production, resources: [database({ deletionProtection: false, multiAz: false, tags: { Environment: 'staging' } })] } as ProgramRun;
    expect(check('databases-encrypted-private-backed-up', staging)).toEqual([]);
  });

  test('a role trusted by a service principal is no deploy role; a GitHub role with one environment sub passes', () => {
    const service = changed(production, add({ type: TYPES.role, name: 'svc', props: { assumeRolePolicy: JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) } }));
    expect(check('deploy-roles-pinned-to-repository', service)).toEqual([]);
    const single = changed(production, add(deployRole({ sub: 'repo:upiik/payments:environment:production' })));
    expect(check('deploy-roles-pinned-to-repository', single)).toEqual([]);
  });

  test('a staging ALB may run without deletion protection and access logs', () => {
    const staging = changed(production, each(TYPES.loadBalancer, (p) => Object.assign(p, { enableDeletionProtection: false, accessLogs: undefined })));
    for (const r of staging.resources) if (r.props.tags) r.props.tags = { ...(r.props.tags as object), Environment: 'staging' };
    expect(check('production-load-balancers-protected-and-logged', staging)).toEqual([]);
  });

  test('an EMF alarm without metric math passes with a chosen treatMissingData', () => {
    const single = changed(production, add({ type: TYPES.metricAlarm, name: 'quiet', props: { namespace: CLOUDWATCH_METRICS.namespace, metricName: 'WebhookProcessed', treatMissingData: 'breaching' } }));
    expect(check('emf-alarms-handle-missing-data', single)).toEqual([]);
    const other = changed(production, add({ type: TYPES.metricAlarm, name: 'cpu', props: { namespace: 'AWS/ECS', metricName: 'CPUUtilization' } }));
    expect(check('emf-alarms-handle-missing-data', other)).toEqual([]);
  });
});
