import { UNKNOWN, outputsHoldNoSecrets, type PolicyResource } from '../../infra/policies';
import { deployRolesPinnedToRepository, trustsGitHubActions } from '../../infra/policies/identity';
import { executionRoleReadsOnlyOurSecrets, secretsOnlyByValueFrom } from '../../infra/policies/secrets';
import { TYPES, type Findings } from '../../infra/policies/types';

/**
 * The access policies' contract (who may read which secret, whom GitHub's OIDC provider may
 * become), on small hand-built stacks: each case is one change to a compliant stack, judged by
 * its exact findings, including what waits for the update because it is unknown at preview.
 * policy-violations.test.ts runs the real program with one violation per policy; this suite pins
 * the branches the program never takes (a principal named by its provider resource, a `Deny`,
 * unknown references, pattern characters in actions).
 */
const ACCOUNT = '123456789012';
const GITHUB = 'token.actions.githubusercontent.com';
const GITHUB_PROVIDER = `arn:aws:iam::${ACCOUNT}:oidc-provider/${GITHUB}`;
const secretArn = (name: string) => `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:upiik/production/${name}-AbCdEf`;
const SECRETS = {
  STRIPE_SECRET_KEY: secretArn('stripe-secret-key'),
  STRIPE_WEBHOOK_SECRET: secretArn('stripe-webhook-secret'),
  REDIS_URL: secretArn('redis-url'),
  AUTH_JWT_SECRET: secretArn('jwt-secret'),
};
const RDS_SECRET = `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:rds!db-1234-AbCdEf`;
const OTHER_SECRET = secretArn('other');

type Statement = Record<string, unknown>;
const policyDocument = (...statements: Statement[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const reads = (resource: unknown, fields: Statement = {}): Statement => ({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: resource, ...fields });
const ECS_TRUST = policyDocument({ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' });

const role = (name: string, props: Record<string, unknown> = {}): PolicyResource => ({
  type: TYPES.role, name, props: { name, arn: `arn:aws:iam::${ACCOUNT}:role/${name}`, assumeRolePolicy: ECS_TRUST, ...props },
});
const rolePolicy = (name: string, roleRef: unknown, policy: unknown): PolicyResource => ({ type: TYPES.rolePolicy, name, props: { role: roleRef, policy } });
const attachment = (name: string, roleRef: unknown, policyArn: unknown): PolicyResource => ({ type: TYPES.rolePolicyAttachment, name, props: { role: roleRef, policyArn } });
const managedPolicy = (name: string, policy: string): PolicyResource => ({ type: TYPES.managedPolicy, name, props: { arn: `arn:aws:iam::${ACCOUNT}:policy/${name}`, policy } });
const githubTrust = (conditions: Record<string, Record<string, unknown>>, statement: Statement = {}) =>
  policyDocument({ Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: GITHUB_PROVIDER }, Condition: conditions, ...statement });
const pinned = (sub: unknown, aud: Record<string, Record<string, unknown>> = { StringEquals: { [`${GITHUB}:aud`]: 'sts.amazonaws.com' } }) => {
  const conditions = structuredClone(aud);
  conditions.StringLike = { ...conditions.StringLike, [`${GITHUB}:sub`]: sub };
  return conditions;
};
const PRODUCTION = 'repo:upiik/payments:environment:production';
const MAIN = 'repo:upiik/payments:ref:refs/heads/main';

interface Container { name: string; environment: { name: string; value: string }[]; secrets: { name: string; valueFrom: string }[] }
const container = (secrets: Record<string, string>, environment: Record<string, string>): Container => ({
  name: 'payments',
  environment: Object.entries(environment).map(([name, value]) => ({ name, value })),
  secrets: Object.entries(secrets).map(([name, valueFrom]) => ({ name, valueFrom })),
});
/** The production shape: the database as parts, its credentials in the RDS-managed secret. */
const PARTS = container(SECRETS, { DATABASE_HOST: 'db.internal', DATABASE_CREDENTIALS_ARN: RDS_SECRET, NODE_ENV: 'production' });
const taskDefinition = (props: Record<string, unknown> = {}, containers: unknown = [PARTS]): PolicyResource => ({
  type: TYPES.taskDefinition, name: 'payments-task',
  props: { executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/exec`, taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/task`, containerDefinitions: JSON.stringify(containers), ...props },
});

/** A compliant stack: each role reads exactly what its job needs. */
function stack(): PolicyResource[] {
  return [
    taskDefinition(),
    { type: TYPES.dbInstance, name: 'payments-db', props: { masterUserSecrets: [{ secretArn: RDS_SECRET }] } },
    role('exec'),
    rolePolicy('exec-reads', 'exec', policyDocument(reads(Object.values(SECRETS)))),
    role('task'),
    rolePolicy('task-reads', 'task', policyDocument(reads(RDS_SECRET))),
    role('deploy', { assumeRolePolicy: githubTrust(pinned([PRODUCTION, MAIN])) }),
    rolePolicy('deploy-policy', 'deploy', policyDocument(reads(SECRETS.AUTH_JWT_SECRET), { Effect: 'Allow', Action: ['ecs:UpdateService', 'iam:PassRole'], Resource: '*' })),
    role('push', { assumeRolePolicy: githubTrust(pinned(MAIN)) }),
    rolePolicy('push-policy', 'push', policyDocument({ Effect: 'Allow', Action: ['ecr:PutImage', 'ecr:GetAuthorizationToken'], Resource: '*' })),
  ];
}
const findings = ({ violations, undecided }: Findings) => ({ violations, undecided });
const secretsJudged = (resources: PolicyResource[]) => findings(executionRoleReadsOnlyOurSecrets(resources));
const trustJudged = (resources: PolicyResource[]) => findings(deployRolesPinnedToRepository(resources));
const clean = { violations: [], undecided: [] };

describe('the compliant stack', () => {
  test('passes every access policy with nothing pending', () => {
    expect(secretsJudged(stack())).toEqual(clean);
    expect(trustJudged(stack())).toEqual(clean);
    expect(findings(secretsOnlyByValueFrom(stack()))).toEqual(clean);
  });
});

describe('deploy-roles-pinned-to-repository: which trust is GitHub\'s', () => {
  const unpinned = (name: string) => [
    `${name}: trust policy does not pin ${GITHUB}:aud to sts.amazonaws.com with StringEquals`,
    `${name}: trust policy does not pin ${GITHUB}:sub: any repository could assume it`,
  ];

  test('GitHub\'s provider named by its ARN, with no condition at all', () => {
    expect(trustJudged([...stack(), role('open', { assumeRolePolicy: githubTrust({}) })]).violations).toEqual(unpinned('open'));
  });

  test('the stack\'s own provider resource for GitHub, named by its ARN (which does not end in GitHub\'s host)', () => {
    const provider = { type: TYPES.oidcProvider, name: 'github', props: { url: `https://${GITHUB}`, arn: `arn:aws:iam::${ACCOUNT}:oidc-provider/github-actions` } };
    const trust = policyDocument({ Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: [`arn:aws:iam::${ACCOUNT}:oidc-provider/other`, provider.props.arn] } });
    const open = role('open', { assumeRolePolicy: trust });
    expect(trustJudged([...stack(), provider, open]).violations).toEqual(unpinned('open'));
    expect(trustsGitHubActions(open, [provider])).toBe(true);
  });

  test('another provider (a GitLab one, its claims unpinned) is not GitHub\'s concern', () => {
    const provider = { type: TYPES.oidcProvider, name: 'gitlab', props: { url: 'https://gitlab.example.com', arn: `arn:aws:iam::${ACCOUNT}:oidc-provider/gitlab.example.com` } };
    const trust = policyDocument({ Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: provider.props.arn }, Condition: { StringLike: { 'gitlab.example.com:sub': 'project_path:*' } } });
    const gitlab = role('gitlab', { assumeRolePolicy: trust });
    expect(trustJudged([...stack(), provider, gitlab])).toEqual(clean);
    expect(trustsGitHubActions(gitlab, [provider])).toBe(false);
  });

  test('a principal the policy does not know, recognised by one GitHub claim among other keys of its block', () => {
    const trust = policyDocument({
      Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: `arn:aws:iam::${ACCOUNT}:oidc-provider/proxy.example.com` },
      Condition: { StringEquals: { 'proxy.example.com:team': 'payments', [`${GITHUB}:aud`]: 'sts.amazonaws.com' } },
    });
    expect(trustJudged([...stack(), role('proxied', { assumeRolePolicy: trust })]).violations).toEqual([`proxied: trust policy does not pin ${GITHUB}:sub: any repository could assume it`]);
  });

  test('a Deny on GitHub\'s provider grants nothing, so it needs no pinning', () => {
    const deny = role('denied', { assumeRolePolicy: githubTrust({}, { Effect: 'Deny' }) });
    expect(trustJudged([...stack(), deny])).toEqual(clean);
    expect(trustsGitHubActions(deny, [])).toBe(false);
  });

  test('trustsGitHubActions: any Allow statement of several, unknown while the trust is unknown, false without a trust document', () => {
    const both = policyDocument(JSON.parse(ECS_TRUST).Statement[0], JSON.parse(githubTrust(pinned(PRODUCTION))).Statement[0]);
    expect(trustsGitHubActions(role('both', { assumeRolePolicy: both }), [])).toBe(true);
    expect(trustsGitHubActions(role('service'), [])).toBe(false);
    expect(trustsGitHubActions(role('preview', { assumeRolePolicy: UNKNOWN }), [])).toBeUndefined();
    expect(trustsGitHubActions(role('none', { assumeRolePolicy: undefined }), [])).toBe(false);
  });
});

describe('deploy-roles-pinned-to-repository: aud', () => {
  const audFailure = `deploy: trust policy does not pin ${GITHUB}:aud to sts.amazonaws.com with StringEquals`;
  const withTrust = (conditions: Record<string, Record<string, unknown>>) =>
    stack().map((r) => (r.name === 'deploy' ? role('deploy', { assumeRolePolicy: githubTrust(conditions) }) : r));

  test('STS as one value of two (even twice) is not one value', () => {
    expect(trustJudged(withTrust(pinned(PRODUCTION, { StringEquals: { [`${GITHUB}:aud`]: ['sts.amazonaws.com', 'sts.amazonaws.com'] } }))).violations).toEqual([audFailure]);
  });

  test('a second operator that widens aud fails even beside the right StringEquals', () => {
    const aud = { StringEquals: { [`${GITHUB}:aud`]: 'sts.amazonaws.com' }, StringLike: { [`${GITHUB}:aud`]: ['sts.amazonaws.com', '*'] } };
    expect(trustJudged(withTrust(pinned(PRODUCTION, aud))).violations).toEqual([audFailure]);
  });
});

describe('deploy-roles-pinned-to-repository: a role without a GitHub environment may only push images', () => {
  const mainOnly = (...extra: PolicyResource[]) => [...stack(), ...extra];
  const beyond = (actions: string) => `push: no sub pins a GitHub environment, yet it may do more than push images (${actions})`;

  test('a role pinned to an environment and to main may deploy (one environment among its subs is enough)', () => {
    expect(trustJudged(stack())).toEqual(clean);
  });

  test('every action beyond ECR is named, in order', () => {
    const extra = rolePolicy('push-more', 'push', policyDocument({ Effect: 'Allow', Action: ['ecr:PutImage', 'ecs:UpdateService', 'iam:PassRole'], Resource: '*' }));
    expect(trustJudged(mainOnly(extra)).violations).toEqual([beyond('ecs:UpdateService, iam:PassRole')]);
  });

  test('a NotAction is beyond ECR whatever it excludes, and a statement with only NotAction names nothing else', () => {
    const extra = rolePolicy('push-not', 'push', policyDocument({ Effect: 'Allow', NotAction: 'iam:*', Resource: '*' }));
    expect(trustJudged(mainOnly(extra)).violations).toEqual([beyond('NotAction')]);
  });

  test('a Deny takes nothing away from the check and adds nothing to it', () => {
    expect(trustJudged(mainOnly(rolePolicy('push-deny', 'push', policyDocument({ Effect: 'Deny', Action: 'iam:*', Resource: '*' }))))).toEqual(clean);
  });

  test('ECR actions only by their exact name: a wildcard inside or a prefix before is beyond', () => {
    const extra = rolePolicy('push-glob', 'push', policyDocument({ Effect: 'Allow', Action: ['ecr:Put*', '*ecr:PutImage', 'ecr:BatchGetImage'], Resource: '*' }));
    expect(trustJudged(mainOnly(extra)).violations).toEqual([beyond('ecr:Put*, *ecr:PutImage')]);
  });

  test('a policy attached or written for the role by its ARN counts as the role\'s', () => {
    const arn = `arn:aws:iam::${ACCOUNT}:role/push`;
    expect(trustJudged(mainOnly(rolePolicy('push-by-arn', arn, policyDocument({ Effect: 'Allow', Action: 'ecs:UpdateService', Resource: '*' })))).violations).toEqual([beyond('ecs:UpdateService')]);
    expect(trustJudged(mainOnly(attachment('push-attached', arn, 'arn:aws:iam::aws:policy/ReadOnlyAccess'))).violations).toEqual([beyond('attached arn:aws:iam::aws:policy/ReadOnlyAccess')]);
  });

  test('unknown at preview: a role reference and a policy document wait for the update, an attachment is beyond ECR whichever policy it attaches', () => {
    expect(trustJudged(mainOnly(rolePolicy('later', UNKNOWN, policyDocument({ Effect: 'Allow', Action: 'ecs:UpdateService', Resource: '*' }))))).toEqual({
      violations: [], undecided: ['later: role is unknown until the update'],
    });
    expect(trustJudged(mainOnly(rolePolicy('push-later', 'push', UNKNOWN)))).toEqual({ violations: [], undecided: ['push: its permission policies is unknown until the update'] });
    expect(trustJudged(mainOnly(attachment('push-attached', 'push', UNKNOWN))).violations).toEqual([beyond('attached a policy')]);
  });

  test('what is known is judged at preview even while another reference is unknown', () => {
    const known = rolePolicy('push-more', 'push', policyDocument({ Effect: 'Allow', Action: 'ecs:UpdateService', Resource: '*' }));
    expect(trustJudged(mainOnly(known, rolePolicy('later', UNKNOWN, '{}')))).toEqual({ violations: [beyond('ecs:UpdateService')], undecided: ['later: role is unknown until the update'] });
  });

  test('a trust policy unknown at preview waits', () => {
    expect(trustJudged([...stack(), role('later', { assumeRolePolicy: UNKNOWN })])).toEqual({ violations: [], undecided: ['later: assumeRolePolicy is unknown until the update'] });
  });
});

describe('secrets-only-by-value-from', () => {
  const withContainer = (c: Container) => [taskDefinition({}, [c])];

  test('a secret-named variable in the plain environment fails whatever its value; the publishable key is not a secret', () => {
    const c = container(SECRETS, { ...Object.fromEntries(PARTS.environment.map((e) => [e.name, e.value])), SESSION_SECRET: 'plain', STRIPE_PUBLISHABLE_KEY: 'pk_live_123' });
    expect(secretsOnlyByValueFrom(withContainer(c)).violations).toEqual(['payments-task/payments: SESSION_SECRET is a secret in plain environment']);
  });

  test('the database as a URL secret (no DATABASE_HOST) needs no credentials ARN', () => {
    const c = container({ ...SECRETS, DATABASE_URL: secretArn('database-url') }, { NODE_ENV: 'production' });
    expect(findings(secretsOnlyByValueFrom(withContainer(c)))).toEqual(clean);
  });
});

describe('execution-role-reads-only-our-secrets: which actions read secrets', () => {
  const stray = (statement: Statement) => [...stack(), role('stray'), rolePolicy('stray-policy', 'stray', policyDocument(statement))];
  const flagged = { violations: ['stray-policy: a non-execution role (stray) reads secrets'], undecided: [] };

  test.each([
    ['`?` as one character', { Action: 'secretsmanager:GetSecretValu?' }],
    ['any letter case', { Action: 'SecretsManager:getSECRETvalue' }],
    ['a wildcard service', { Action: '*' }],
    ['a suffix wildcard', { Action: 'secretsmanager:*Value' }],
    ['one action of several', { Action: ['s3:GetObject', 'secretsmanager:GetSecretValue'] }],
    ['a NotAction that leaves GetSecretValue in', { Action: undefined, NotAction: ['s3:PutObject'] }],
  ])('reads secrets: %s', (_what, fields) => {
    expect(secretsJudged(stray(reads(OTHER_SECRET, fields)))).toEqual(flagged);
  });

  test.each([
    ['regular-expression characters taken literally', { Action: 'secretsmanager:Get.SecretValue' }],
    ['`?` is one character, not several', { Action: 'secretsmanager:Get?' }],
    ['a NotAction that excludes GetSecretValue among others', { Action: undefined, NotAction: ['secretsmanager:GetSecretValue', 's3:PutObject'] }],
    ['a Deny', { Effect: 'Deny' }],
  ])('does not read secrets: %s', (_what, fields) => {
    expect(secretsJudged(stray(reads(OTHER_SECRET, fields)))).toEqual(clean);
  });
});

describe('execution-role-reads-only-our-secrets: every way a role is granted', () => {
  const plus = (...extra: PolicyResource[]) => [...stack(), ...extra];
  const strayRole = (props: Record<string, unknown>) => plus(role('stray', props));

  test('the role\'s own inline policies, named or not', () => {
    expect(secretsJudged(strayRole({ inlinePolicies: [{ name: 'reader', policy: policyDocument(reads(OTHER_SECRET)) }] })).violations).toEqual(['stray/reader: a non-execution role (stray) reads secrets']);
    expect(secretsJudged(strayRole({ inlinePolicies: [{ policy: policyDocument(reads(OTHER_SECRET)) }] })).violations).toEqual(['stray/inline: a non-execution role (stray) reads secrets']);
  });

  test('an AWS managed reader attached by the role\'s ARN, or listed in managedPolicyArns', () => {
    expect(secretsJudged(plus(attachment('exec-admin', `arn:aws:iam::${ACCOUNT}:role/exec`, 'arn:aws:iam::aws:policy/SecretsManagerReadWrite'))).violations)
      .toEqual(['exec: reads every secret through arn:aws:iam::aws:policy/SecretsManagerReadWrite']);
    expect(secretsJudged(strayRole({ managedPolicyArns: ['arn:aws:iam::aws:policy/PowerUserAccess'] })).violations)
      .toEqual(['arn:aws:iam::aws:policy/PowerUserAccess: a non-execution role (stray) reads secrets']);
  });

  test('an attachment belongs to the role it names and to no other', () => {
    expect(secretsJudged(plus(role('stray'), attachment('stray-admin', 'stray', 'arn:aws:iam::aws:policy/AdministratorAccess'))).violations)
      .toEqual(['arn:aws:iam::aws:policy/AdministratorAccess: a non-execution role (stray) reads secrets']);
  });

  test('a customer managed policy by its own ARN, not the first one declared', () => {
    const reader = managedPolicy('reader', policyDocument(reads(OTHER_SECRET)));
    const harmless = managedPolicy('harmless', policyDocument({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }));
    expect(secretsJudged(plus(reader, harmless, role('stray'), attachment('stray-harmless', 'stray', harmless.props.arn)))).toEqual(clean);
    expect(secretsJudged(plus(reader, harmless, role('stray'), attachment('stray-reader', 'stray', reader.props.arn))).violations)
      .toEqual(['reader: a non-execution role (stray) reads secrets']);
  });
});

describe('execution-role-reads-only-our-secrets: unknown at preview', () => {
  const plus = (...extra: PolicyResource[]) => [...stack(), ...extra];
  const replace = (name: string, by: PolicyResource) => stack().map((r) => (r.name === name ? by : r));

  test('an execution role policy unknown: nothing is missing yet, a known grant the task does not use already fails', () => {
    const half = replace('exec-reads', rolePolicy('exec-reads', 'exec', policyDocument(reads([SECRETS.STRIPE_SECRET_KEY, OTHER_SECRET]))));
    expect(secretsJudged([...half, rolePolicy('exec-later', 'exec', UNKNOWN)])).toEqual({
      violations: [`exec: may read ${OTHER_SECRET}, which the task does not use`],
      undecided: ['exec-later: policy is unknown until the update'],
    });
  });

  test('the role\'s inline policies, one of their documents, an attachment\'s policy ARN, its managed policy list', () => {
    expect(secretsJudged(plus(role('stray', { inlinePolicies: UNKNOWN }))).undecided).toEqual(['stray: inlinePolicies is unknown until the update']);
    expect(secretsJudged(plus(role('stray', { inlinePolicies: [{ name: 'reader', policy: UNKNOWN }] }))).undecided).toEqual(['stray: stray/reader policy is unknown until the update']);
    expect(secretsJudged(plus(attachment('exec-later', 'exec', UNKNOWN)))).toEqual({ violations: [], undecided: ['exec-later: policyArn is unknown until the update'] });
    expect(secretsJudged(plus(role('stray', { managedPolicyArns: UNKNOWN })))).toEqual({ violations: [], undecided: ['stray: managedPolicyArns is unknown until the update'] });
  });

  test('the RDS instance\'s secrets unknown: the credentials cross-check and the task role\'s allowance wait', () => {
    const db = { type: TYPES.dbInstance, name: 'payments-db', props: { masterUserSecrets: UNKNOWN } };
    expect(secretsJudged(replace('payments-db', db))).toEqual({ violations: [], undecided: ['payments-db: masterUserSecrets is unknown until the update'] });
  });

  test('the task\'s containers unknown: the execution role is not compared, the task and GitHub roles\' readings wait, another reader fails', () => {
    const resources = [...replace('payments-task', taskDefinition({ containerDefinitions: UNKNOWN })), role('stray'), rolePolicy('stray-policy', 'stray', policyDocument(reads(OTHER_SECRET)))];
    expect(secretsJudged(resources)).toEqual({
      violations: ['stray-policy: a non-execution role (stray) reads secrets'],
      undecided: ['payments-task: containerDefinitions is unknown until the update', 'task: what its job may read is unknown until the update', 'deploy: what its job may read is unknown until the update'],
    });
  });

  test('the task role\'s ARN unknown, or a role\'s ARN unknown, leaves every reader pending; a task role outside the stack does not', () => {
    const reader = [role('stray'), rolePolicy('stray-policy', 'stray', policyDocument(reads(OTHER_SECRET)))];
    const pending = ['task: whether it is a task or GitHub Actions role is unknown until the update', 'stray: whether it is a task or GitHub Actions role is unknown until the update'];
    expect(secretsJudged([...replace('payments-task', taskDefinition({ taskRoleArn: UNKNOWN })), ...reader])).toEqual({ violations: [], undecided: pending });
    const unknownArns = [...replace('payments-task', taskDefinition({ taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/elsewhere` })), role('later', { arn: UNKNOWN }), ...reader];
    expect(secretsJudged(unknownArns)).toEqual({ violations: [], undecided: pending });
    expect(secretsJudged([...replace('payments-task', taskDefinition({ taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/elsewhere` })), ...reader])).toEqual({
      violations: ['task-reads: a non-execution role (task) reads secrets', 'stray-policy: a non-execution role (stray) reads secrets'], undecided: [],
    });
  });

  test('a role whose trust is unknown may be the GitHub role: its reading waits', () => {
    expect(secretsJudged(plus(role('later', { assumeRolePolicy: UNKNOWN }), rolePolicy('later-policy', 'later', policyDocument(reads(SECRETS.AUTH_JWT_SECRET)))))).toEqual({
      violations: [], undecided: ['later: whether it is a task or GitHub Actions role is unknown until the update'],
    });
  });

  test('the execution role ARN unknown: two unknowns are not the same role, and only roles that read secrets wait', () => {
    const resources = [...replace('payments-task', taskDefinition({ executionRoleArn: UNKNOWN })), role('later', { arn: UNKNOWN })];
    expect(secretsJudged(resources)).toEqual({
      violations: [],
      undecided: ['payments-task: executionRoleArn is unknown until the update', 'exec: whether it is a task execution role is unknown until the update'],
    });
  });

  test('a known execution role ARN: pending while some role\'s ARN is unknown, a violation once every ARN is known', () => {
    const elsewhere = replace('payments-task', taskDefinition({ executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/elsewhere` }));
    expect(secretsJudged([...elsewhere, role('later', { arn: UNKNOWN })]).undecided).toContain('payments-task: executionRoleArn is unknown until the update');
    expect(secretsJudged(elsewhere).violations).toEqual(['payments-task: execution role not found in the stack', 'exec-reads: a non-execution role (exec) reads secrets']);
  });
});

describe('execution-role-reads-only-our-secrets: the jobs that may read a secret', () => {
  const replace = (name: string, by: PolicyResource) => stack().map((r) => (r.name === name ? by : r));

  test('the GitHub role reads the JWT secret and no other secret the task uses', () => {
    const more = replace('deploy-policy', rolePolicy('deploy-policy', 'deploy', policyDocument(reads([SECRETS.AUTH_JWT_SECRET, SECRETS.STRIPE_SECRET_KEY]))));
    expect(secretsJudged(more).violations).toEqual([`deploy-policy: the GitHub Actions role (deploy) may read ${SECRETS.STRIPE_SECRET_KEY}, which its job does not need`]);
  });

  test('a task without database credentials gives its task role nothing to read', () => {
    const urlForm = replace('payments-task', taskDefinition({}, [container({ ...SECRETS, DATABASE_URL: secretArn('database-url') }, {})]));
    const execReads = urlForm.map((r) => (r.name === 'exec-reads' ? rolePolicy('exec-reads', 'exec', policyDocument(reads([...Object.values(SECRETS), secretArn('database-url')]))) : r));
    expect(secretsJudged(execReads).violations).toEqual([`task-reads: the task role (task) may read ${RDS_SECRET}, which its job does not need`]);
  });

  test('credentials that are not the stack\'s RDS secret: named once for the task and once for the task role reading them', () => {
    const wrong = container(SECRETS, { DATABASE_HOST: 'db.internal', DATABASE_CREDENTIALS_ARN: OTHER_SECRET });
    const resources = replace('payments-task', taskDefinition({}, [wrong])).map((r) => (r.name === 'task-reads' ? rolePolicy('task-reads', 'task', policyDocument(reads(OTHER_SECRET))) : r));
    expect(secretsJudged(resources).violations).toEqual([
      `payments-task: DATABASE_CREDENTIALS_ARN ${OTHER_SECRET} is not the master user secret of an RDS instance in this stack`,
      `task-reads: the task role (task) may read ${OTHER_SECRET}, which its job does not need`,
    ]);
  });

  test('a task that takes secrets without an execution role (no task of it could start); a role without an ARN is not that role', () => {
    const resources = [...replace('payments-task', taskDefinition({ executionRoleArn: undefined })).filter((r) => r.name !== 'exec' && r.name !== 'exec-reads'), role('unnamed', { arn: undefined })];
    expect(secretsJudged(resources).violations).toEqual(['payments-task: takes secrets through valueFrom but has no execution role to read them']);
    // Known to have none, even while some role's ARN is unknown; a task without secrets needs none.
    expect(secretsJudged([...resources, role('later', { arn: UNKNOWN })]).violations).toEqual(['payments-task: takes secrets through valueFrom but has no execution role to read them']);
    const noSecrets = taskDefinition({ executionRoleArn: undefined, taskRoleArn: undefined }, [container({}, { NODE_ENV: 'production' })]);
    expect(secretsJudged([noSecrets])).toEqual(clean);
  });
});

describe('outputsHoldNoSecrets', () => {
  test('walks arrays and objects, names the path, ignores an empty known value and non-strings', () => {
    const outputs = { urls: ['https://payments.example.com', { admin: 'sk_live_abc123' }], note: 'rotated s3cr3t yesterday', count: 3, none: null, on: true };
    expect(outputsHoldNoSecrets(outputs, ['s3cr3t', ''])).toEqual(['output urls[1].admin looks like a secret', 'output note contains a secret value']);
    expect(outputsHoldNoSecrets({ nested: { deeper: ['redis://:p4ss@cache:6379'] } })).toEqual(['output nested.deeper[0] looks like a secret']);
  });
});
