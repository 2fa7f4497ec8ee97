import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type ProgramRun, runProgram } from './harness';
import { STACK_POLICIES, type PolicyResource } from '../../infra/policies';
import { TYPES, ofType } from '../../infra/policies/types';

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
  return policy.check(run.resources, { runbookExists });
};

type Change = (run: ProgramRun) => void;
const each = (type: string, change: (props: Record<string, unknown>, resource: PolicyResource) => void, where: (r: PolicyResource) => boolean = () => true): Change =>
  (run) => {
    const matched = ofType(run.resources, type).filter(where);
    if (matched.length === 0) throw new Error(`the program declares no ${type} to change`);
    for (const r of matched) change(r.props, r);
  };
const add = (resource: PolicyResource): Change => (run) => void run.resources.push(resource);
const tagged = (exposure: string) => (r: PolicyResource) => (r.props.tags as Record<string, string> | undefined)?.Exposure === exposure;
const containerDefs = (change: (defs: { environment: { name: string; value: string }[]; secrets: { name: string; valueFrom: string }[] }[]) => void): Change =>
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
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role reading a secret', flags: /a non-execution role \(.*task-role.*\) reads secrets/,
    change: policyFor('taskRoleArn', { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: SECRET_ARN }) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role reading secrets through an action wildcard', flags: /a non-execution role \(.*task-role.*\) reads secrets/,
    change: policyFor('taskRoleArn', { Effect: 'Allow', Action: 'secretsmanager:Get*', Resource: SECRET_ARN }) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role allowed everything but publishing (NotAction)', flags: /a non-execution role \(.*task-role.*\) reads secrets/,
    change: policyFor('taskRoleArn', { Effect: 'Allow', NotAction: 'sns:Publish', Resource: '*' }) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role with SecretsManagerReadWrite attached', flags: /SecretsManagerReadWrite: a non-execution role \(.*task-role.*\) reads secrets/,
    change: (run) => add({ type: TYPES.rolePolicyAttachment, name: 'task-secrets', props: { role: roleOf(run, 'taskRoleArn').props.name, policyArn: 'arn:aws:iam::aws:policy/SecretsManagerReadWrite' } })(run) },
  { policy: 'execution-role-reads-only-our-secrets', what: 'the task role with a customer managed policy that reads secrets', flags: /reader-policy: a non-execution role \(.*task-role.*\) reads secrets/,
    change: (run) => {
      const arn = 'arn:aws:iam::123456789012:policy/reader';
      add({ type: TYPES.managedPolicy, name: 'reader-policy', props: { arn, policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SECRET_ARN }] }) } })(run);
      add({ type: TYPES.rolePolicyAttachment, name: 'task-reader', props: { role: roleOf(run, 'taskRoleArn').props.name, policyArn: arn } })(run);
    } },
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
  { policy: 'deployments-roll-back', what: 'no circuit breaker', flags: /deployment circuit breaker with rollback is not on/,
    change: each(TYPES.ecsService, (p) => delete p.deploymentCircuitBreaker) },
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
