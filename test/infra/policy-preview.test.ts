import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Struct } from 'google-protobuf/google/protobuf/struct_pb';
import * as analyzer from '@pulumi/pulumi/proto/analyzer_pb';
import { unknownCheckingProxy, type StackValidationPolicy } from '@pulumi/policy';
import { type ProgramRun, runProgram } from './harness';
import { policyView } from './policy-view';
import { STACK_POLICIES, UNKNOWN, isUnknown } from '../../infra/policies';
import { TYPES, containsUnknown, ofType } from '../../infra/policies/types';
import { packPolicies, UNDECIDED_POLICY } from '../../infra/policy-pack/policies';
import { fromPack, plainValue } from '../../infra/policy-pack/resources';

/**
 * How a stack policy sees a first preview, checked against @pulumi/policy's own code: the engine
 * marshals every unknown as the string sentinel below (KeepUnknowns), the pack deserializes the
 * properties and wraps them in unknownCheckingProxy, and any read of an unknown throws
 * UnknownValueError, which the pack turns into one advisory "can't run policy ... during preview"
 * for the whole policy. These tests drive the pack's real analyzeStack handler.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { makeAnalyzeStackRpcFun } = require('@pulumi/policy/server') as {
  makeAnalyzeStackRpcFun(name: string, version: string, level: string, policies: StackValidationPolicy[]): (call: { request: analyzer.AnalyzeStackRequest }, cb: (err: unknown, resp?: analyzer.AnalyzeResponse) => void) => Promise<void>;
};
const ENGINE_UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';
const runbookExists = (file: string) => existsSync(join(__dirname, '../../runbooks', file));

/** The SDK's unknowns (preview run) as the engine sends them to an analyzer: the sentinel string. */
const asEngineSends = (value: unknown): unknown =>
  isUnknown(value) ? ENGINE_UNKNOWN
    : Array.isArray(value) ? value.map(asEngineSends)
      : value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, asEngineSends(v)]))
        : value;

interface Diagnostic { policy: string; message: string; mandatory: boolean }

async function analyzeStack(run: ProgramRun, policies: StackValidationPolicy[]): Promise<Diagnostic[]> {
  const request = new analyzer.AnalyzeStackRequest();
  request.setResourcesList(policyView(run).map((r, i) => {
    const resource = new analyzer.AnalyzerResource();
    resource.setType(r.type);
    resource.setName(r.name);
    resource.setUrn(`urn:pulumi:stack::upiik-payments::${r.type}::${r.name}-${i}`);
    resource.setProperties(Struct.fromJavaScript(asEngineSends(JSON.parse(JSON.stringify(r.props))) as never));
    const options = new analyzer.AnalyzerResourceOptions();
    const timeouts = new analyzer.AnalyzerResourceOptions.CustomTimeouts();
    timeouts.setCreate(r.options?.customTimeouts?.createSeconds ?? 0);
    timeouts.setUpdate(r.options?.customTimeouts?.updateSeconds ?? 0);
    options.setCustomtimeouts(timeouts);
    resource.setOptions(options);
    return resource;
  }));
  const response = await new Promise<analyzer.AnalyzeResponse>((resolve, reject) => {
    void makeAnalyzeStackRpcFun('upiik-payments', '1.0.0', 'advisory', policies)({ request }, (err, resp) => (err ? reject(err) : resolve(resp as analyzer.AnalyzeResponse)));
  });
  // The pack prefixes each message with the policy's description and a newline.
  return response.getDiagnosticsList().map((d) => ({ policy: d.getPolicyname(), message: d.getMessage().split('\n').pop() as string, mandatory: d.getEnforcementlevel() === analyzer.EnforcementLevel.MANDATORY }));
}

/** JSON keeps Pulumi's unknown marker ({__pulumiUnknown: true}); make the preview run's resources cloneable and editable. */
const copy = (run: ProgramRun): ProgramRun => structuredClone(run);

describe('a first preview (unknown values) through @pulumi/policy', () => {
  let preview: ProgramRun;
  beforeAll(async () => {
    preview = await runProgram('production', {}, { preview: true });
  });

  test('the preview run has the unknowns a first preview has (ARNs, the container definitions)', () => {
    const [td] = ofType(preview.resources, TYPES.taskDefinition);
    expect(isUnknown(td?.props.containerDefinitions)).toBe(true);
    expect(ofType(preview.resources, TYPES.metricAlarm).some((a) => containsUnknown(a.props.alarmActions))).toBe(true);
  });

  test('a policy reading props directly (the old adapter) is downgraded to advisory "can\'t run during preview"', async () => {
    const naive: StackValidationPolicy = {
      name: 'naive', description: 'reads the proxy', enforcementLevel: 'mandatory',
      validateStack: (args, report) => {
        for (const r of args.resources) if (r.type === TYPES.taskDefinition && String(r.props.containerDefinitions).includes('sk_live_')) report('secret');
      },
    };
    const diagnostics = await analyzeStack(preview, [naive]);
    expect(diagnostics).toEqual([{ policy: 'naive', message: expect.stringMatching(/can't run policy 'naive' .* during preview: string value at \.containerDefinitions can't be known during preview/), mandatory: false }]);
  });

  test('no policy of the pack is downgraded, none fails the compliant program, and each pending item names its policy and property', async () => {
    const diagnostics = await analyzeStack(preview, packPolicies({ runbookExists, isPreview: true }));
    expect(diagnostics.filter((d) => /can't run/.test(d.message))).toEqual([]);
    expect(diagnostics.filter((d) => d.mandatory)).toEqual([]);
    const pending = diagnostics.filter((d) => d.policy === UNDECIDED_POLICY);
    expect(pending.length).toBeGreaterThan(0);
    for (const d of pending) expect(d.message).toMatch(/^[a-z0-9-]+: .+: .+ is unknown until the update; re-checked at the update$/);
    expect(pending.map((d) => d.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^secrets-only-by-value-from: .*: containerDefinitions is unknown until the update/)]));
  });

  test('a known violation fails the preview (mandatory) although other values are unknown', async () => {
    const bad = copy(preview);
    for (const rg of ofType(bad.resources, TYPES.replicationGroup)) rg.props.atRestEncryptionEnabled = false;
    for (const lb of ofType(bad.resources, TYPES.loadBalancer)) lb.props.name = 'a'.repeat(33);
    const diagnostics = await analyzeStack(bad, packPolicies({ runbookExists, isPreview: true }));
    expect(diagnostics.filter((d) => d.mandatory)).toEqual(expect.arrayContaining([
      { policy: 'redis-encrypted-and-resilient', message: expect.stringMatching(/encryption at rest is off/), mandatory: true },
      { policy: 'physical-names-within-aws-limits', message: expect.stringMatching(/is 33 characters; AWS allows 32/), mandatory: true },
    ]));
  });

  test('at the update, anything still unknown is a mandatory violation of its policy, and nothing is advisory', async () => {
    const diagnostics = await analyzeStack(preview, packPolicies({ runbookExists, isPreview: false }));
    expect(diagnostics.filter((d) => d.policy === UNDECIDED_POLICY)).toEqual([]);
    expect(diagnostics).toEqual(expect.arrayContaining([{ policy: 'secrets-only-by-value-from', message: expect.stringMatching(/^still unknown at the update: .*containerDefinitions/), mandatory: true }]));
    expect(diagnostics.every((d) => d.mandatory)).toBe(true);
  });

  test('the updated (fully known) program passes every policy with nothing pending', async () => {
    const updated = await runProgram('production');
    expect(await analyzeStack(updated, packPolicies({ runbookExists, isPreview: false }))).toEqual([]);
  });

  test('the jest view of the preview run and the pack agree: no violation, the same pending items', () => {
    for (const policy of STACK_POLICIES) expect({ policy: policy.name, violations: policy.check(policyView(preview), { runbookExists }).violations }).toEqual({ policy: policy.name, violations: [] });
  });
});

describe('each policy decides what is known and waits only for the unknown property', () => {
  const check = (name: string, resources: Parameters<(typeof STACK_POLICIES)[number]['check']>[0]) => {
    const policy = STACK_POLICIES.find((p) => p.name === name);
    if (!policy) throw new Error(`no policy ${name}`);
    return policy.check(resources, { runbookExists });
  };
  const td = (containerDefinitions: unknown, executionRoleArn: unknown = UNKNOWN) => ({ type: TYPES.taskDefinition, name: 'td', props: { containerDefinitions, executionRoleArn } });

  test('plainValue turns exactly the unknown-checking proxy\'s unknowns into UNKNOWN', () => {
    const props = unknownCheckingProxy({ name: 'x', arn: ENGINE_UNKNOWN, nested: { list: ['a', ENGINE_UNKNOWN], n: 3, b: false, z: null } });
    expect(plainValue(props)).toEqual({ name: 'x', arn: UNKNOWN, nested: { list: ['a', UNKNOWN], n: 3, b: false, z: null } });
    expect(fromPack({ type: 't', name: 'n', props, opts: { customTimeouts: { createSeconds: 60, updateSeconds: 120, deleteSeconds: 0 } } as never }))
      .toEqual({ type: 't', name: 'n', props: plainValue(props), options: { customTimeouts: { createSeconds: 60, updateSeconds: 120, deleteSeconds: 0 } } });
  });

  test('unknown container definitions: pending, not a violation; a non-JSON value is a violation', () => {
    expect(check('secrets-only-by-value-from', [td(UNKNOWN)])).toEqual({ violations: [], undecided: ['td: containerDefinitions is unknown until the update'] });
    expect(check('containers-have-health-checks', [td(UNKNOWN)]).undecided).toEqual(['td: containerDefinitions is unknown until the update']);
    expect(check('secrets-only-by-value-from', [td(42)]).violations).toEqual(['td: containerDefinitions is not a JSON document']);
  });

  test('execution role: a known AWS managed reader fails at preview; which role is the execution role waits', () => {
    const role = { type: TYPES.role, name: 'exec', props: { name: 'exec', arn: UNKNOWN } };
    const other = { type: TYPES.role, name: 'task', props: { name: 'task', arn: UNKNOWN } };
    const attach = { type: TYPES.rolePolicyAttachment, name: 'admin', props: { role: 'task', policyArn: 'arn:aws:iam::aws:policy/SecretsManagerReadWrite' } };
    const findings = check('execution-role-reads-only-our-secrets', [td(UNKNOWN), role, other, attach]);
    expect(findings.violations).toEqual([]);
    expect(findings.undecided).toEqual(expect.arrayContaining(['td: executionRoleArn is unknown until the update', 'task: whether it is a task execution role is unknown until the update']));
    const unknownDoc = { type: TYPES.rolePolicy, name: 'p', props: { role: UNKNOWN, policy: UNKNOWN } };
    expect(check('execution-role-reads-only-our-secrets', [role, unknownDoc]).undecided).toEqual(['p: role is unknown until the update']);
  });

  test('an alarm whose action is the topic\'s unknown ARN waits; a foreign known ARN next to an unknown topic waits too; no action fails', () => {
    const topic = { type: TYPES.snsTopic, name: 'topic', props: { arn: UNKNOWN } };
    const alarm = (alarmActions: unknown) => ({ type: TYPES.metricAlarm, name: 'a', props: { alarmActions, alarmDescription: 'see runbooks/payment-failure-rate.md' } });
    expect(check('alarms-are-actionable', [topic, alarm([UNKNOWN])])).toEqual({ violations: [], undecided: ['a: alarmActions is unknown until the update'] });
    expect(check('alarms-are-actionable', [topic, alarm(UNKNOWN)]).undecided).toEqual(['a: alarmActions is unknown until the update']);
    expect(check('alarms-are-actionable', [topic, alarm(['arn:aws:sns:eu-central-1:1:x'])]).undecided).toEqual(['a: alarmActions is unknown until the update']);
    expect(check('alarms-are-actionable', [topic, alarm([])]).violations).toEqual(["a: no SNS alarm action to the stack's alert topic"]);
  });

  test('rollback alarms: unknown names of the stack\'s own alarms pass; an unknown list waits; a known stranger waits only while alarm names are unknown', () => {
    const svc = (alarmNames: unknown) => ({ type: TYPES.ecsService, name: 'svc', props: { deploymentConfiguration: { strategy: 'CANARY' }, alarms: { enable: true, rollback: true, alarmNames } } });
    const alarm = { type: TYPES.metricAlarm, name: 'al', props: { name: UNKNOWN } };
    expect(check('deployments-roll-back', [alarm, svc([UNKNOWN])])).toEqual({ violations: [], undecided: [] });
    expect(check('deployments-roll-back', [alarm, svc(UNKNOWN)]).undecided).toEqual(['svc: alarms.alarmNames is unknown until the update']);
    expect(check('deployments-roll-back', [alarm, svc(['x'])]).undecided).toEqual(['svc: whether rollback alarm x exists is unknown until the update']);
    expect(check('deployments-roll-back', [{ ...svc(['x']), props: { ...svc(['x']).props, alarms: UNKNOWN } }]).undecided).toEqual(['svc: alarms is unknown until the update']);
    expect(check('deployments-roll-back', [{ ...svc(['x']), props: { ...svc(['x']).props, deploymentConfiguration: UNKNOWN } }]).undecided).toContain('svc: deploymentConfiguration.strategy is unknown until the update');
  });

  test('ingress: a world CIDR fails even next to unknowns; an unknown CIDR waits unless the edge exception covers it', () => {
    const sg = (tags: Record<string, string>, ingress: unknown) => ({ type: TYPES.securityGroup, name: 'sg', props: { tags, ingress } });
    expect(check('no-world-open-ingress', [sg({ Exposure: 'private' }, [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0', UNKNOWN] }])]).violations).toEqual(['sg: ingress tcp 22-22 is open to the world']);
    expect(check('no-world-open-ingress', [sg({ Exposure: 'private' }, [{ protocol: 'tcp', fromPort: 3000, toPort: 3000, cidrBlocks: [UNKNOWN] }])])).toEqual({ violations: [], undecided: ['sg: ingress[0] CIDR blocks is unknown until the update'] });
    expect(check('no-world-open-ingress', [sg({ Exposure: 'internet' }, [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: UNKNOWN }])])).toEqual({ violations: [], undecided: [] });
    expect(check('no-world-open-ingress', [sg({ Exposure: 'private' }, UNKNOWN)]).undecided).toEqual(['sg: ingress is unknown until the update']);
    expect(check('no-world-open-ingress', [{ type: TYPES.ingressRule, name: 'r', props: { cidrIpv4: UNKNOWN } }]).undecided).toEqual(['r: CIDR is unknown until the update']);
  });

  test('Redis, names, keys and databases: a generated token or key is there; other unknowns wait by name', () => {
    const rg = { type: TYPES.replicationGroup, name: 'rg', props: { transitEncryptionEnabled: true, atRestEncryptionEnabled: UNKNOWN, authToken: UNKNOWN, tags: { Environment: 'staging' } } };
    expect(check('redis-encrypted-and-resilient', [rg])).toEqual({ violations: [], undecided: ['rg: atRestEncryptionEnabled is unknown until the update'] });
    expect(check('physical-names-within-aws-limits', [{ type: TYPES.loadBalancer, name: 'lb', props: { name: UNKNOWN } }]).undecided).toEqual(['lb: name is unknown until the update']);
    expect(check('customer-keys-for-topics-and-secrets', [{ type: TYPES.snsTopic, name: 't', props: { kmsMasterKeyId: UNKNOWN } }])).toEqual({ violations: [], undecided: [] });
    const db = { type: TYPES.dbInstance, name: 'db', props: { storageEncrypted: true, publiclyAccessible: false, backupRetentionPeriod: UNKNOWN, manageMasterUserPassword: true } };
    expect(check('databases-encrypted-private-backed-up', [db])).toEqual({ violations: [], undecided: ['db: backupRetentionPeriod is unknown until the update'] });
  });

  test('steady state: timeouts this runner cannot see wait; the pack always sees them', () => {
    const svc = { type: TYPES.ecsService, name: 'svc', props: { waitForSteadyState: true, sigintRollback: true, deploymentConfiguration: { strategy: 'ROLLING' } } };
    expect(check('steady-state-wait-fits-bakes', [svc]).undecided).toEqual(['svc: customTimeouts (resource options this runner does not see) is unknown until the update']);
    expect(check('steady-state-wait-fits-bakes', [{ ...svc, options: { customTimeouts: { createSeconds: 0, updateSeconds: 0 } } }])).toEqual({ violations: [], undecided: [] });
  });

  test('alarms: unknown member ids and expressions wait; a ReplicationGroupId dimension fails', () => {
    const alarm = (metricQueries: unknown) => ({ type: TYPES.metricAlarm, name: 'a', props: { metricQueries, treatMissingData: 'notBreaching' } });
    expect(check('elasticache-alarms-watch-members', [alarm([{ id: 'm', metric: { namespace: 'AWS/ElastiCache', dimensions: { CacheClusterId: UNKNOWN } } }])]).undecided)
      .toEqual(['a: metricQueries[0] dimensions is unknown until the update']);
    expect(check('elasticache-alarms-watch-members', [alarm(UNKNOWN)]).undecided).toEqual(['a: metricQueries is unknown until the update']);
    expect(check('emf-alarms-handle-missing-data', [alarm([{ id: 'f', metric: { namespace: 'Upiik/Payments' } }, { id: 'e', expression: UNKNOWN }])]).undecided)
      .toEqual(['a: metricQueries[1].expression is unknown until the update']);
  });
});
