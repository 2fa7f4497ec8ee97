import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ALARMS, DEPLOYMENT_ROLLBACK_ALARMS, alarmsFor } from '../../infra/alarm-catalog';
import { outputsHoldNoSecrets } from '../../infra/policies';
import { TYPES } from '../../infra/policies/types';
import { MOCK_REDIS_TOKEN, MOCK_WEBHOOK_SECRET, type ProgramRun, type RecordedResource, runProgram, SECRET_CONFIG, type StackName } from './harness';

/**
 * How index.ts wires the database, the registry, the deploy identity and the deployment events into
 * the rest of the stack, for both stacks and both database modes: what each component receives from
 * the others, who may read the database credentials, and what the pipelines get as outputs.
 */
type DatabaseMode = 'rds' | 'external';
const EXTERNAL_URL = 'postgres://payments:ext-db-password@db.example.net:5432/payments';
const overridesFor = (mode: DatabaseMode): Record<string, string> => (mode === 'external' ? { databaseMode: 'external', databaseUrl: EXTERNAL_URL } : {});

const all = (run: ProgramRun, type: string) => run.resources.filter((r) => r.type === type);
const one = (run: ProgramRun, type: string, suffix = ''): RecordedResource => {
  const found = all(run, type).filter((r) => r.name.endsWith(suffix));
  if (found.length !== 1) throw new Error(`expected one ${type} named *${suffix}, found ${found.length}`);
  return found[0] as RecordedResource;
};
type Statement = { Sid?: string; Effect: string; Action: string[]; Resource: string | string[]; Condition?: Record<string, Record<string, string>> };
const statements = (r: RecordedResource): Statement[] => (JSON.parse(String(r.props.policy)) as { Statement: Statement[] }).Statement;
const environmentOf = (run: ProgramRun): Record<string, string> => {
  const [container] = JSON.parse(String(one(run, TYPES.taskDefinition).props.containerDefinitions)) as { environment: { name: string; value: string }[] }[];
  return Object.fromEntries((container?.environment ?? []).map(({ name, value }) => [name, value]));
};
const KEY_ARN = (stack: StackName) => `arn:aws:kms:eu-central-1:123456789012:key/upiik-payments-${stack}-key`;

describe.each<[StackName, DatabaseMode]>([['staging', 'rds'], ['production', 'rds'], ['staging', 'external'], ['production', 'external']])('the %s stack with the %s database', (stack, mode) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(stack, overridesFor(mode));
  });

  test('exports what the pipelines and a one-off task need, none of it secret', () => {
    const o = run.outputs;
    expect(o.ecrRepositoryUrl).toBe(`123456789012.dkr.ecr.eu-central-1.amazonaws.com/upiik-payments-${stack}`);
    expect(o.deployRoleArn).toMatch(new RegExp(`^arn:aws:iam::123456789012:role/upiik-payments-${stack}-deploy-role-[0-9a-f]{7}$`));
    expect(o.githubOidcProviderArn).toBe('arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com');
    expect(o.imagePushRoleArn).toMatch(new RegExp(`^arn:aws:iam::123456789012:role/upiik-payments-${stack}-push-role-[0-9a-f]{7}$`));
    // A one-off task of the service's own task definition: cluster, family, subnets, group, log group.
    expect(o).toMatchObject({ clusterName: `upiik-payments-${stack}`, taskDefinitionFamily: `upiik-payments-${stack}`, logGroupName: `/ecs/upiik-payments-${stack}/payments` });
    expect(o.privateSubnetIds).toHaveLength(2);
    expect(o.taskSecurityGroupId).toBe(`${String(one(run, TYPES.securityGroup, '-service-sg').props.name)}-id`);
    const known = [...Object.values(SECRET_CONFIG[stack]), EXTERNAL_URL, MOCK_REDIS_TOKEN, MOCK_WEBHOOK_SECRET];
    expect(outputsHoldNoSecrets(run.outputs, known)).toEqual([]);
    expect(run.secretOutputs).toEqual([]);
  });

  test(mode === 'rds' ? 'exports the database endpoint, identifier, security group and credentials secret ARN' : 'exports no database (none is created)', () => {
    const o = run.outputs;
    if (mode === 'external') {
      expect(all(run, TYPES.dbInstance)).toEqual([]);
      for (const key of ['databaseEndpoint', 'databaseInstanceIdentifier', 'databaseSecurityGroupId', 'databaseCredentialsSecretArn']) expect([key, o[key]]).toEqual([key, undefined]);
      return;
    }
    const db = one(run, TYPES.dbInstance);
    expect(o.databaseEndpoint).toBe(`${String(db.props.address)}:5432`);
    expect(o.databaseInstanceIdentifier).toBe(`upiik-payments-${stack}-db`);
    expect(o.databaseSecurityGroupId).toBe(`${String(one(run, TYPES.securityGroup, '-db-sg').props.name)}-id`);
    expect(o.databaseCredentialsSecretArn).toBe((db.props.masterUserSecrets as { secretArn: string }[])[0]?.secretArn);
  });

  test(mode === 'rds' ? 'the database admits 5432 from the tasks\' security group only, in the private subnets, under the stack\'s KMS key' : 'the tasks get the DATABASE_URL secret and no database parts', () => {
    if (mode === 'external') {
      expect(Object.keys(environmentOf(run)).filter((k) => k.startsWith('DATABASE_'))).toEqual([]);
      expect(all(run, TYPES.secret).map((s) => s.props.name)).toContain(`upiik-payments/${stack}/database-url`);
      return;
    }
    const sg = one(run, TYPES.securityGroup, '-db-sg');
    expect(sg.props.ingress).toEqual([{ protocol: 'tcp', fromPort: 5432, toPort: 5432, securityGroups: [run.outputs.taskSecurityGroupId] }]);
    expect(one(run, TYPES.dbSubnetGroup).props.subnetIds).toEqual(run.outputs.privateSubnetIds);
    const db = one(run, TYPES.dbInstance);
    expect({ kmsKeyId: db.props.kmsKeyId, masterUserSecretKmsKeyId: db.props.masterUserSecretKmsKeyId, performanceInsightsKmsKeyId: db.props.performanceInsightsKmsKeyId })
      .toEqual({ kmsKeyId: KEY_ARN(stack), masterUserSecretKmsKeyId: KEY_ARN(stack), performanceInsightsKmsKeyId: KEY_ARN(stack) });
    // No URL secret is stored at all with RDS: the password exists only in RDS's own secret.
    expect(all(run, TYPES.secret).map((s) => s.props.name)).not.toContain(`upiik-payments/${stack}/database-url`);
  });

  test(mode === 'rds' ? 'the TASK role reads exactly the RDS credentials secret and decrypts it through Secrets Manager only' : 'no task role policy reads a database secret', () => {
    const readers = all(run, TYPES.rolePolicy).filter((p) => p.name.endsWith('-task-read-db-credentials'));
    if (mode === 'external') {
      expect(readers).toEqual([]);
      return;
    }
    const [reader] = readers;
    const taskRole = all(run, TYPES.role).find((r) => r.props.arn === one(run, TYPES.taskDefinition).props.taskRoleArn);
    expect(reader?.props.role).toBe(taskRole?.props.name);
    const secretArn = run.outputs.databaseCredentialsSecretArn;
    expect(statements(reader as RecordedResource)).toEqual([
      { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [secretArn] },
      { Effect: 'Allow', Action: ['kms:Decrypt'], Resource: [KEY_ARN(stack)], Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-central-1.amazonaws.com' } } },
    ]);
    // The execution role does not get it: ECS never injects the rotating password.
    const execution = one(run, TYPES.rolePolicy, '-execution-secrets');
    expect(JSON.stringify(statements(execution))).not.toContain(String(secretArn));
    expect(environmentOf(run).DATABASE_CREDENTIALS_ARN).toBe(secretArn);
  });

  test('the registry is encrypted with the stack\'s KMS key and the deploy role may push to exactly it', () => {
    const repo = one(run, TYPES.ecrRepository);
    expect(repo.props.encryptionConfigurations).toEqual([{ encryptionType: 'KMS', kmsKey: KEY_ARN(stack) }]);
    const deploy = statements(one(run, TYPES.rolePolicy, '-deploy-policy'));
    expect(deploy.find((s) => s.Sid === 'EcrPushThisRepository')?.Resource).toBe(repo.props.arn);
    const push = statements(one(run, TYPES.rolePolicy, '-push-policy'));
    expect(push.find((s) => s.Sid === 'EcrPushThisRepository')?.Resource).toBe(repo.props.arn);
  });

  test("the deploy role is this repository's GitHub environment, scoped to this stack's service, roles, log group, JWT secret and rule", () => {
    const role = one(run, TYPES.role, '-deploy-role');
    const trust = JSON.parse(String(role.props.assumeRolePolicy)) as { Statement: Statement[] };
    expect(trust.Statement[0]?.Condition?.StringEquals).toEqual({
      'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com', 'token.actions.githubusercontent.com:sub': `repo:upiik/payments:environment:${stack}`,
    });
    expect(trust.Statement[0]).toMatchObject({ Principal: { Federated: one(run, TYPES.oidcProvider).props.arn } });
    const deploy = statements(one(run, TYPES.rolePolicy, '-deploy-policy'));
    const sid = (id: string) => deploy.find((s) => s.Sid === id)?.Resource;
    const td = one(run, TYPES.taskDefinition);
    const service = one(run, TYPES.ecsService);
    expect(sid('DeployTheService')).toBe(service.props.arn);
    expect(sid('PassOnlyTheTaskRoles')).toEqual([td.props.executionRoleArn, td.props.taskRoleArn]);
    const logGroup = all(run, TYPES.logGroup).find((g) => g.props.name === run.outputs.logGroupName);
    expect(sid('ReadTheServiceLogs')).toEqual([logGroup?.props.arn, `${String(logGroup?.props.arn)}:*`]);
    const jwt = all(run, TYPES.secret).find((s) => s.props.name === `upiik-payments/${stack}/jwt-secret`);
    expect(sid('ReadTheJwtSecret')).toBe(jwt?.props.arn);
    expect(sid('DecryptTheJwtSecret')).toBe(KEY_ARN(stack));
    expect(sid('ReweightTheProductionRule')).toBe(run.outputs.productionListenerRuleArn);
    expect(sid('OneOffTaskOfTheFamily')).toEqual([`arn:aws:ecs:eu-central-1:123456789012:task-definition/upiik-payments-${stack}`, `arn:aws:ecs:eu-central-1:123456789012:task-definition/upiik-payments-${stack}:*`]);
    expect(sid('ReadTheStackAlarms')).toBe(`arn:aws:cloudwatch:eu-central-1:123456789012:alarm:upiik-payments-${stack}-*`);
  });

  test('failed and rolled-back deployments of this service reach the alert topic with the runbook link', () => {
    const service = one(run, TYPES.ecsService);
    expect(service.props.arn).toBe(`arn:aws:ecs:eu-central-1:123456789012:service/upiik-payments-${stack}/payments`);
    const rule = one(run, TYPES.eventRule, '-deploy-events');
    expect((JSON.parse(String(rule.props.eventPattern)) as { resources: string[] }).resources).toEqual([service.props.arn]);
    const target = one(run, 'aws:cloudwatch/eventTarget:EventTarget');
    expect(target.props.arn).toBe(run.outputs.alertTopicArn);
    expect(String((target.props.inputTransformer as { inputTemplate: string }).inputTemplate))
      .toContain(`https://github.com/upiik/payments/blob/main/runbooks/ecs-deployment-failed.md`);
    expect(existsSync(join(__dirname, '../../runbooks/ecs-deployment-failed.md'))).toBe(true);
  });

  test('deployments roll back on unhealthy hosts too (a canary has no circuit breaker), and the runbooks output is this stack\'s alarms', () => {
    expect(DEPLOYMENT_ROLLBACK_ALARMS).toContain('unhealthyHosts');
    const names = (one(run, TYPES.ecsService).props.alarms as { alarmNames: string[] }).alarmNames;
    expect(names).toContain(`upiik-payments-${stack}-unhealthy-hosts`);
    const expected = alarmsFor(stack).map((key) => `https://github.com/upiik/payments/blob/main/runbooks/${ALARMS[key].slug}.md`);
    expect(run.outputs.runbooks).toEqual(expected);
    expect((run.outputs.runbooks as string[]).some((url) => url.endsWith('/no-webhook-activity.md'))).toBe(stack === 'production');
  });
});

describe('the deploy identity options', () => {
  test('a stack that adopts the account\'s GitHub provider creates none and trusts the adopted one', async () => {
    const adopted = 'arn:aws:iam::402918374650:oidc-provider/token.actions.githubusercontent.com';
    const run = await runProgram('production', { githubOidcProviderArn: adopted });
    expect(all(run, TYPES.oidcProvider)).toEqual([]);
    const trust = JSON.parse(String(one(run, TYPES.role, '-deploy-role').props.assumeRolePolicy)) as { Statement: { Principal: { Federated: string } }[] };
    expect(trust.Statement[0]?.Principal.Federated).toBe(adopted);
    expect(run.outputs.githubOidcProviderArn).toBe(adopted);
  });

  test('without githubImagePushFromMain there is no push role and no push role output', async () => {
    const run = await runProgram('staging', { githubImagePushFromMain: 'false' });
    expect(all(run, TYPES.role).filter((r) => r.name.endsWith('-push-role'))).toEqual([]);
    expect(run.outputs.imagePushRoleArn).toBeUndefined();
    expect(run.outputs.deployRoleArn).toMatch(/:role\/upiik-payments-staging-deploy-role-/);
  });
});
