import { buildComponent, load, ComponentRun, ACCOUNT, REGION } from './mocks';
import type * as IdentityModule from '../../../infra/components/deploy-identity';

type M = typeof IdentityModule;
const T = {
  provider: 'aws:iam/openIdConnectProvider:OpenIdConnectProvider',
  role: 'aws:iam/role:Role',
  policy: 'aws:iam/rolePolicy:RolePolicy',
};
const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
const R = {
  repositoryArn: arn('ecr', 'repository/upiik-payments-production'),
  clusterArn: arn('ecs', 'cluster/upiik-payments-production-cluster'),
  clusterName: 'upiik-payments-production-cluster',
  serviceName: 'upiik-payments-production-service',
  taskDefinitionFamily: 'upiik-payments-production',
  executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/upiik-payments-production-execution-role`,
  taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/upiik-payments-production-task-role`,
  logGroupArn: arn('logs', 'log-group:upiik-payments-production-logs'),
  jwtSecretArn: arn('secretsmanager', 'secret:upiik-payments/production/jwt-secret-AbC123'),
  listenerRuleArn: arn('elasticloadbalancing', 'listener-rule/app/alb/1/2/3'),
  alarmNamePrefix: 'upiik-payments-production-',
};
const baseArgs = (over: Partial<IdentityModule.DeployIdentityArgs> = {}): IdentityModule.DeployIdentityArgs => ({
  github: { repository: 'upiik/payments', environment: 'production' },
  imagePushFromMain: false,
  resources: R,
  tags: { Environment: 'production' },
  ...over,
});
const build = (args: IdentityModule.DeployIdentityArgs) =>
  buildComponent(() => {
    const { DeployIdentity } = load<M>('../../../infra/components/deploy-identity');
    return new DeployIdentity('upiik-payments-production', args);
  });

interface Stmt { Sid: string; Effect: string; Action: string[]; Resource: string | string[]; Principal?: { Federated: string }; Condition?: Record<string, Record<string, unknown>> }
const statements = (json: unknown) => (JSON.parse(String(json)) as { Statement: Stmt[] }).Statement;
const resourcesOf = (s: Stmt) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

describe('the deploy identity of a stack', () => {
  let run: ComponentRun<IdentityModule.DeployIdentity>;
  let deploy: Stmt[];
  const sid = (name: string) => {
    const s = deploy.find((x) => x.Sid === name);
    if (!s) throw new Error(`no statement ${name}`);
    return s;
  };
  beforeAll(async () => {
    run = await build(baseArgs());
    deploy = statements(run.one(T.policy).inputs.policy);
  });

  test('creates the GitHub OIDC provider for sts.amazonaws.com, without thumbprints', () => {
    expect(run.one(T.provider).inputs).toMatchObject({ url: 'https://token.actions.githubusercontent.com', clientIdLists: ['sts.amazonaws.com'] });
    expect(run.one(T.provider).inputs.thumbprintLists).toBeUndefined();
  });

  test('lets only jobs of this repository\'s production environment assume the deploy role, by exact sub and aud', () => {
    const [trust, ...more] = statements(run.one(T.role).inputs.assumeRolePolicy);
    expect(more).toEqual([]);
    expect(trust).toMatchObject({
      Effect: 'Allow',
      Principal: { Federated: `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com` },
      Action: ['sts:AssumeRoleWithWebIdentity'],
    });
    expect(trust?.Condition).toEqual({
      StringEquals: {
        'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
        'token.actions.githubusercontent.com:sub': 'repo:upiik/payments:environment:production',
      },
    });
    expect(JSON.stringify(trust)).not.toMatch(/StringLike|\*/);
  });

  test('allows no action on every resource except those IAM cannot scope', () => {
    const unscopable = new Set(['ecr:GetAuthorizationToken', 'ecs:RegisterTaskDefinition', 'ecs:DeregisterTaskDefinition', 'ecs:DescribeTaskDefinition',
      'ecs:ListTasks', 'elasticloadbalancing:DescribeRules', 'elasticloadbalancing:DescribeListeners', 'elasticloadbalancing:DescribeTargetGroups',
      'elasticloadbalancing:DescribeTargetHealth', 'cloudwatch:GetMetricData']);
    for (const s of deploy) {
      expect(s.Effect).toBe('Allow');
      for (const action of s.Action) expect(action).not.toContain('*');
      if (resourcesOf(s).includes('*')) for (const action of s.Action) expect([s.Sid, action, unscopable.has(action)]).toEqual([s.Sid, action, true]);
    }
    expect(sid('ListTasksInTheCluster').Condition).toEqual({ ArnEquals: { 'ecs:cluster': R.clusterArn } });
  });

  test('pushes and reads images of this one repository', () => {
    expect(sid('EcrPushThisRepository').Resource).toBe(R.repositoryArn);
    expect(sid('EcrPushThisRepository').Action).toEqual(expect.arrayContaining(['ecr:PutImage', 'ecr:CompleteLayerUpload', 'ecr:BatchGetImage']));
  });

  test('updates and rolls back the one service, runs one-off tasks of its family in its cluster only', () => {
    const service = arn('ecs', `service/${R.clusterName}/${R.serviceName}`);
    expect(sid('DeployTheService')).toMatchObject({ Resource: service, Action: expect.arrayContaining(['ecs:UpdateService', 'ecs:DescribeServices']) });
    expect(sid('ServiceDeployments').Resource).toBe(arn('ecs', `service-deployment/${R.clusterName}/${R.serviceName}/*`));
    const family = arn('ecs', 'task-definition/upiik-payments-production');
    expect(sid('OneOffTaskOfTheFamily')).toMatchObject({ Action: ['ecs:RunTask'], Resource: [family, `${family}:*`], Condition: { ArnEquals: { 'ecs:cluster': R.clusterArn } } });
    expect(sid('WatchTasksInTheCluster').Resource).toBe(arn('ecs', `task/${R.clusterName}/*`));
    expect(sid('TagOwnTaskDefinitions')).toMatchObject({ Resource: `${family}:*`, Condition: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } } });
  });

  test('passes only the task\'s execution and task roles, and only to ECS tasks', () => {
    const passRole = deploy.filter((s) => s.Action.includes('iam:PassRole'));
    expect(passRole).toHaveLength(1);
    expect(passRole[0]?.Resource).toEqual([R.executionRoleArn, R.taskRoleArn]);
    expect(passRole[0]?.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  test('reads the one log group, the JWT secret only, and re-weights the one listener rule', () => {
    expect(sid('ReadTheServiceLogs').Resource).toEqual([R.logGroupArn, `${R.logGroupArn}:*`]);
    const secretReads = deploy.filter((s) => s.Action.some((a) => a.startsWith('secretsmanager:')));
    expect(secretReads.map((s) => [s.Action, s.Resource])).toEqual([[['secretsmanager:GetSecretValue'], R.jwtSecretArn]]);
    expect(sid('ReweightTheProductionRule')).toMatchObject({ Action: ['elasticloadbalancing:ModifyRule'], Resource: R.listenerRuleArn });
    expect(sid('ReadTheStackAlarms').Resource).toBe(arn('cloudwatch', 'alarm:upiik-payments-production-*'));
    expect(deploy.some((s) => s.Action.some((a) => a.startsWith('kms:')))).toBe(false);
  });

  test('holds sessions long enough for a production canary, and outputs the role and provider ARNs', async () => {
    expect(run.one(T.role).inputs.maxSessionDuration).toBe(7200);
    expect(await run.resolve(run.component.deployRoleArn)).toMatch(/^arn:aws:iam::123456789012:role\/upiik-payments-production-deploy-role/);
    expect(await run.resolve(run.component.oidcProviderArn)).toBe(`arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`);
    expect(await run.resolve(run.component.imagePushRoleArn)).toBeUndefined();
  });
});

describe('options of the deploy identity', () => {
  const existing = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;

  test('adopts the account\'s existing provider instead of creating a second one', async () => {
    const run = await build(baseArgs({ existingOidcProviderArn: existing }));
    expect(run.ofType(T.provider)).toEqual([]);
    expect(statements(run.one(T.role).inputs.assumeRolePolicy)[0]?.Principal).toEqual({ Federated: existing });
  });

  test('a push role for main: trusts refs/heads/main only and may only push to the repository', async () => {
    const run = await build(baseArgs({ imagePushFromMain: true }));
    const roles = run.ofType(T.role);
    expect(roles.map((r) => r.name).sort()).toEqual(['upiik-payments-production-deploy-role', 'upiik-payments-production-push-role']);
    const push = roles.find((r) => r.name.endsWith('push-role'));
    expect(statements(push?.inputs.assumeRolePolicy)[0]?.Condition?.StringEquals?.['token.actions.githubusercontent.com:sub']).toBe('repo:upiik/payments:ref:refs/heads/main');
    const deployRole = roles.find((r) => r.name.endsWith('deploy-role'));
    expect(statements(deployRole?.inputs.assumeRolePolicy)[0]?.Condition?.StringEquals?.['token.actions.githubusercontent.com:sub']).toBe('repo:upiik/payments:environment:production');
    const pushPolicy = run.ofType(T.policy).find((p) => p.name.endsWith('push-policy'));
    const pushStatements = statements(pushPolicy?.inputs.policy);
    expect(pushStatements.flatMap((s) => s.Action).every((a) => a.startsWith('ecr:'))).toBe(true);
    expect(pushStatements.flatMap(resourcesOf).sort()).toEqual(['*', R.repositoryArn]);
    expect(await run.resolve(run.component.imagePushRoleArn)).toMatch(/role\/upiik-payments-production-push-role/);
  });

  test('a customer-managed key of the JWT secret: decrypt through Secrets Manager only', async () => {
    const key = arn('kms', 'key/k1');
    const run = await build(baseArgs({ resources: { ...R, secretsKmsKeyArn: key } }));
    const kms = statements(run.one(T.policy).inputs.policy).filter((s) => s.Action.some((a) => a.startsWith('kms:')));
    expect(kms).toEqual([expect.objectContaining({ Action: ['kms:Decrypt'], Resource: key, Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` } } })]);
  });

  test('argument checks name the argument', async () => {
    await expect(build(baseArgs({ github: { repository: 'payments', environment: 'production' } }))).rejects.toThrow(/DeployIdentity: github.repository/);
    await expect(build(baseArgs({ github: { repository: 'upiik/payments', environment: 'prod*' } }))).rejects.toThrow(/DeployIdentity: github.environment/);
    await expect(build(baseArgs({ github: { repository: 'upiik/payments', environment: 'x:ref:refs/heads/main' } }))).rejects.toThrow(/DeployIdentity: github.environment/);
    await expect(build(baseArgs({ existingOidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/accounts.google.com` }))).rejects.toThrow(/DeployIdentity: existingOidcProviderArn/);
    await expect(build(baseArgs({ resources: { ...R, alarmNamePrefix: '*' } }))).rejects.toThrow(/DeployIdentity: resources.alarmNamePrefix/);
  });
});
