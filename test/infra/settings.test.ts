import type * as pulumiType from '@pulumi/pulumi';
import { OPERATOR_CONFIG, stackConfig, SECRET_CONFIG, type StackName, UNSET } from './harness';

/**
 * Stack settings refuse what would fail late on AWS or, worse, work wrongly: placeholders in any
 * setting (named by key, never echoing a secret), certificate ARNs of the wrong shape or region,
 * images not pinned by digest. A preview without an image gets a placeholder and a warning; `up`
 * refuses it.
 */
type Settings = typeof import('../../infra/settings');

function load(stack: StackName, overrides: Record<string, string>, dryRun = false): { settings: ReturnType<Settings['loadStackSettings']>; warnings: string[]; pulumi: typeof pulumiType } {
  let mod!: Settings;
  let pulumi!: typeof pulumiType;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    pulumi = require('@pulumi/pulumi');
    pulumi.runtime.setAllConfig(stackConfig(stack, overrides), Object.keys(SECRET_CONFIG[stack]).map((k) => `upiik-payments:${k}`));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require('../../infra/settings');
  });
  const warnings: string[] = [];
  const warn = jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void warnings.push(args.map(String).join(' ')));
  try {
    return { settings: mod.loadStackSettings(new pulumi.Config('upiik-payments'), dryRun), warnings, pulumi };
  } finally {
    warn.mockRestore();
  }
}
const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
};

describe.each<StackName>(['staging', 'production'])('%s settings', (stack) => {
  test('the committed stack file plus the operator-set values load', () => {
    const { settings } = load(stack, {});
    expect(settings.environment).toBe(stack);
    expect(settings.certificateArn).toBe(OPERATOR_CONFIG[stack].certificateArn);
    expect(settings.service.deploymentStrategy).toBe('CANARY');
  });

  test.each([
    ['stripePublishableKey', stack === 'production' ? 'pk_live_REPLACE_ME' : 'pk_test_REPLACE_ME'],
    ['certificateArn', 'arn:aws:acm:eu-central-1:123456789012:certificate/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f'],
    ['certificateArn', 'arn:aws:acm:eu-central-1:402918374650:certificate/00000000-0000-0000-0000-000000000001'],
    ['domainName', 'payments.example.com'],
    ['alertEmail', 'changeme@upiik.app'],
    ['checkoutCancelUrl', 'https://upiik.app/<cancel-page>'],
    ['authJwtAudience', 'placeholder'],
    ['vpcId', 'vpc-xxxxxxxx'],
    ['corsAllowedOrigins', 'https://example.com'],
  ])('refuses a placeholder in %s, naming the key', (key, value) => {
    expect(errorOf(() => load(stack, { [key]: value }))).toMatch(new RegExp(`^Pulumi config "${key}": looks like`));
  });

  test.each(['authJwtSecret', 'stripeSecretKey', 'databaseUrl'])('refuses a placeholder secret %s, naming the key and not the value', (key) => {
    // databaseUrl is read only with an external database.
    const message = errorOf(() => load(stack, { databaseMode: 'external', [key]: 'sk_test_REPLACE_ME-with-the-real-value-0123456789' }));
    expect(message).toMatch(new RegExp(`^Pulumi config "${key}": looks like a template placeholder`));
    expect(message).not.toContain('with-the-real-value');
  });

  test.each([
    ['not an ARN', 'certificate-for-payments', /must be an ACM certificate ARN/],
    ['an IAM server certificate', `arn:aws:iam::402918374650:server-certificate/payments`, /must be an ACM certificate ARN/],
    ['another region', 'arn:aws:acm:us-east-1:402918374650:certificate/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f', /must be in the stack's region eu-central-1/],
  ])('refuses a certificate ARN that is %s', (_what, value, message) => {
    expect(errorOf(() => load(stack, { certificateArn: value }))).toMatch(message);
  });

  test.each([
    ['a tag', '402918374650.dkr.ecr.eu-central-1.amazonaws.com/upiik-payments:abc1234'],
    ['a short digest', '402918374650.dkr.ecr.eu-central-1.amazonaws.com/upiik-payments@sha256:abc1234'],
    ['no repository', `sha256:${'a'.repeat(64)}`],
  ])('refuses an image given by %s', (_what, value) => {
    expect(errorOf(() => load(stack, { image: value }))).toMatch(/^Pulumi config "image": must be pinned by digest/);
  });

  test('without an image, a preview uses the placeholder digest and warns; up refuses', () => {
    const preview = load(stack, { image: UNSET }, true);
    expect(preview.settings.image).toMatch(/^preview\.invalid\/upiik-payments@sha256:0{64}$/);
    expect(preview.warnings.join('\n')).toMatch(/"image" is not set: previewing with the placeholder/);
    expect(errorOf(() => load(stack, { image: UNSET }, false))).toMatch(/^Pulumi config "image": is required for `pulumi up`/);
    expect(errorOf(() => load(stack, { image: preview.settings.image }, false))).toMatch(/^Pulumi config "image": is required for `pulumi up`/);
  });

  test('a digest-pinned image is taken as is', () => {
    const image = `402918374650.dkr.ecr.eu-central-1.amazonaws.com/upiik-payments@sha256:${'0f'.repeat(32)}`;
    expect(load(stack, { image }).settings.image).toBe(image);
  });

  test('CORS origins are https origins without path, and reach the settings normalised', () => {
    expect(load(stack, { corsAllowedOrigins: 'https://upiik.app, https://www.upiik.app' }).settings.app.corsAllowedOrigins).toBe('https://upiik.app,https://www.upiik.app');
    expect(errorOf(() => load(stack, { corsAllowedOrigins: 'https://upiik.app/app' }))).toMatch(/^Pulumi config "corsAllowedOrigins": must be comma-separated https origins/);
    expect(errorOf(() => load(stack, { corsAllowedOrigins: 'http://upiik.app' }))).toMatch(/corsAllowedOrigins/);
  });

  test('hostedZoneId is optional and must look like a zone id', () => {
    expect(load(stack, {}).settings.hostedZoneId).toBeUndefined();
    expect(load(stack, { hostedZoneId: 'Z0123456789ABCDEFGHIJ' }).settings.hostedZoneId).toBe('Z0123456789ABCDEFGHIJ');
    expect(errorOf(() => load(stack, { hostedZoneId: 'payments.upiik.app' }))).toMatch(/^Pulumi config "hostedZoneId"/);
  });

  test('the database is the stack\'s own RDS instance by default, sized by the stack file', () => {
    const { database } = load(stack, {}).settings;
    expect(database).toEqual(stack === 'production'
      ? { mode: 'rds', instanceClass: 'db.m7g.large', allocatedStorageGb: 50, maxAllocatedStorageGb: 500, backupRetentionDays: 14 }
      : { mode: 'rds', instanceClass: 'db.t4g.medium', allocatedStorageGb: 20, maxAllocatedStorageGb: 100, backupRetentionDays: 7 });
    expect(load(stack, { databaseMode: UNSET, dbInstanceClass: UNSET }).settings.database).toMatchObject({ mode: 'rds', instanceClass: stack === 'production' ? 'db.m7g.large' : 'db.t4g.medium' });
  });

  test('an external database needs a postgres:// databaseUrl, named by key, never echoed', () => {
    const { database } = load(stack, { databaseMode: 'external' }).settings;
    expect(database.mode).toBe('external');
    expect(errorOf(() => load(stack, { databaseMode: 'external', databaseUrl: UNSET }))).toMatch(/^Pulumi config "databaseUrl": is required when databaseMode is external/);
    expect(errorOf(() => load(stack, { databaseMode: 'external', databaseUrl: '' }))).toMatch(/^Pulumi config "databaseUrl": is required/);
    const message = errorOf(() => load(stack, { databaseMode: 'external', databaseUrl: 'mysql://payments:s3cret-value@db:3306/payments' }));
    expect(message).toBe('Pulumi config "databaseUrl": must be a postgres:// URL');
    // rds needs no URL at all.
    expect(load(stack, { databaseUrl: UNSET }).settings.database.mode).toBe('rds');
  });

  test('a databaseUrl left over in an rds stack is named as unused, never shown', () => {
    const { settings, warnings } = load(stack, { databaseUrl: SECRET_CONFIG[stack].databaseUrl });
    expect(settings.database.mode).toBe('rds');
    expect(warnings.join('\n')).toMatch(/"databaseUrl" is set but unused: databaseMode is rds/);
    expect(warnings.join('\n')).not.toContain(SECRET_CONFIG[stack].databaseUrl);
    expect(load(stack, {}).warnings.join('\n')).not.toMatch(/databaseUrl/);
  });

  test.each([
    ['databaseMode', 'aurora', /must be rds .* or external/],
    ['dbInstanceClass', 'm7g.large', /must be an RDS instance class/],
    ['dbAllocatedStorageGb', '10', /between 20 and 65536/],
    ['dbMaxAllocatedStorageGb', '19', /between \d+ and 65536/],
    ['dbBackupRetentionDays', '36', /between \d+ and 35/],
    ['ecrKeepTaggedImages', '5', /between 10 and 1000/],
    ['ecrUntaggedExpiryDays', '0', /between 1 and 90/],
    ['githubRepository', 'payments', /must be <owner>\/<repo>/],
    ['githubEnvironment', 'production:*', /must be a GitHub environment name/],
    ['githubOidcProviderArn', 'arn:aws:iam::402918374650:oidc-provider/gitlab.com', /must be the account's GitHub provider/],
  ])('refuses %s %s, naming the key', (key, value, message) => {
    const error = errorOf(() => load(stack, { [key]: value }));
    expect(error).toMatch(new RegExp(`^Pulumi config "${key}": `));
    expect(error).toMatch(message);
  });

  test('the deploy identity: this repository, the stack\'s GitHub environment, a created provider unless one is adopted', () => {
    expect(load(stack, {}).settings.github).toEqual({ repository: 'upiik/payments', environment: stack, oidcProviderArn: undefined, imagePushFromMain: true });
    expect(load(stack, { githubEnvironment: UNSET }).settings.github.environment).toBe(stack);
    const adopted = 'arn:aws:iam::402918374650:oidc-provider/token.actions.githubusercontent.com';
    expect(load(stack, { githubOidcProviderArn: adopted }).settings.github.oidcProviderArn).toBe(adopted);
    expect(errorOf(() => load(stack, { githubRepository: UNSET }))).toMatch(/githubRepository/);
  });

  test('adopting a webhook endpoint needs its signing secret', () => {
    expect(errorOf(() => load(stack, { stripeAdoptEndpointId: 'we_1Adopted' }))).toMatch(/stripeAdoptedWebhookSecret/);
    expect(load(stack, {}).settings.stripe.adoptedSecret).toBeUndefined();
  });
});

test('production refuses a burstable database class and less than 14 days of backups; staging accepts both', () => {
  expect(errorOf(() => load('production', { dbInstanceClass: 'db.t4g.large' }))).toMatch(/^Pulumi config "dbInstanceClass": must not be a burstable db\.t\* class in production/);
  expect(errorOf(() => load('production', { dbBackupRetentionDays: '13' }))).toMatch(/^Pulumi config "dbBackupRetentionDays": must be an integer between 14 and 35/);
  expect(load('staging', { dbInstanceClass: 'db.t4g.small', dbBackupRetentionDays: '7' }).settings.database).toMatchObject({ instanceClass: 'db.t4g.small', backupRetentionDays: 7 });
  expect(errorOf(() => load('staging', { dbBackupRetentionDays: '6' }))).toMatch(/between 7 and 35/);
});

test('each stack has its own alert email, so staging never pages production on-call', () => {
  expect(load('staging', {}).settings.alerts.email).not.toBe(load('production', {}).settings.alerts.email);
});

test('staging rehearses the production rollout with shorter bakes', () => {
  const staging = load('staging', {}).settings.service;
  const production = load('production', {}).settings.service;
  expect(staging.deploymentStrategy).toBe(production.deploymentStrategy);
  expect(staging.canaryBakeMinutes + staging.bakeMinutes).toBeLessThan(production.canaryBakeMinutes + production.bakeMinutes);
});

test('Pulumi.yaml declares every key the settings read, including stripeAdoptedWebhookSecret as a secret', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { readFileSync } = require('node:fs') as typeof import('node:fs');
  const project = readFileSync(`${__dirname}/../../Pulumi.yaml`, 'utf8');
  const source = readFileSync(`${__dirname}/../../infra/settings.ts`, 'utf8');
  const read = new Set([...source.matchAll(/\b(?:get|require|list|intIn|url|requireSecret|getSecret|getBoolean|checkedSecret)\((?:config, |read, )?'([A-Za-z]+)'/g)].map((m) => m[1]));
  expect(read.size).toBeGreaterThan(30);
  read.delete('region'); // aws:region, the provider's own key
  for (const key of read) expect([key, new RegExp(`^  ${key}:$`, 'm').test(project)]).toEqual([key, true]);
  expect(project).toMatch(/ {2}stripeAdoptedWebhookSecret:\n {4}type: string\n {4}secret: true/);
});
