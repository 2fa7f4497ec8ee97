import * as pulumi from '@pulumi/pulumi';
import { SDK_API_VERSION } from '../service/shared/stripe-client';

/**
 * The stack's configuration, read once by index.ts and passed down; components never call
 * `new pulumi.Config()` themselves. Every key is declared (type + description) in Pulumi.yaml;
 * errors name the key so a wrong stack file fails at preview, not at 3 a.m.
 */
export type DeployEnvironment = 'staging' | 'production';
export type DeploymentStrategy = 'ROLLING' | 'CANARY';

export interface StackSettings {
  environment: DeployEnvironment;
  /** Prefix of every physical name: `upiik-payments-<environment>`. */
  prefix: string;
  /** Image pinned by digest (`<repository>@sha256:<64 hex>`); PREVIEW_IMAGE only in a preview without one. */
  image: string;
  domainName: string;
  /** Route 53 hosted zone of domainName; unset = DNS is managed outside this stack (docs/infra.md). */
  hostedZoneId?: string;
  certificateArn: string;
  network: { vpcId?: string; publicSubnetIds?: string[]; privateSubnetIds?: string[]; vpcCidr: string };
  service: {
    cpu: number;
    memory: number;
    desiredCount: number;
    minCount: number;
    maxCount: number;
    logRetentionDays: number;
    deploymentStrategy: DeploymentStrategy;
    canaryPercent: number;
    canaryBakeMinutes: number;
    bakeMinutes: number;
  };
  /** Explicit, stable ECS names, known before the service exists (the rollback alarms use them). */
  ecs: { clusterName: string; serviceName: string };
  cache: { nodeType: string; multiAz: boolean };
  /** `rds`: the stack's own RDS instance (Database); `external`: `databaseUrl` names a database run elsewhere. */
  database:
    | { mode: 'rds'; instanceClass: string; allocatedStorageGb: number; maxAllocatedStorageGb: number; backupRetentionDays: number }
    | { mode: 'external'; url: pulumi.Output<string> };
  registry: { keepTaggedImages: number; untaggedExpiryDays: number };
  /** GitHub Actions' OIDC identity for this stack's deploy jobs (DeployIdentity). */
  github: { repository: string; environment: string; oidcProviderArn?: string; imagePushFromMain: boolean };
  alerts: { email: string; runbookBaseUrl: string };
  app: {
    logLevel: string;
    authJwtIssuer?: string;
    authJwtAudience?: string;
    /** Longest token lifetimes the service accepts (seconds), users / admins. */
    authTokenMaxLifetimeSeconds: number;
    authAdminTokenMaxLifetimeSeconds: number;
    rateLimitWindowMs: number;
    rateLimitMax: number;
    monitoringEnabled: boolean;
    checkoutSuccessUrl: string;
    checkoutCancelUrl: string;
    billingPortalReturnUrl: string;
    /** CORS_ALLOWED_ORIGINS: comma-separated https origins, empty = none. */
    corsAllowedOrigins: string;
  };
  stripe: { apiVersion: string; publishableKey: string; adoptEndpointId?: string; adoptedSecret?: pulumi.Output<string> };
  secrets: {
    stripeSecretKey: pulumi.Output<string>;
    authJwtSecret: pulumi.Output<string>;
  };
}

function fail(key: string, rule: string): never {
  throw new Error(`Pulumi config "${key}": ${rule}`);
}

/**
 * Values that are obviously not real: template markers, the AWS documentation's example account,
 * all-zero ids. A placeholder that reaches AWS fails late (a certificate that does not exist) or,
 * worse, works (a publishable key the checkout page then rejects in front of customers).
 */
const PLACEHOLDERS: { pattern: RegExp; what: string }[] = [
  { pattern: /replace[_-]?me|placeholder|changeme|change[_-]me|\bexample\b|x{3,}|\btodo\b|\bdummy\b|<[^>]*>/i, what: 'a template placeholder' },
  { pattern: /(^|\D)123456789012(\D|$)/, what: "the AWS documentation's example account id 123456789012" },
  { pattern: /0{8}-0{4}-0{4}-0{4}-0{11}/, what: 'an all-zero id' },
];

export function placeholderIn(value: string): string | undefined {
  return PLACEHOLDERS.find((p) => p.pattern.test(value))?.what;
}

/** Secrets are checked only for template markers (a random secret may well contain `xxx`). */
const SECRET_PLACEHOLDER = /replace[_-]?me|placeholder|changeme|change[_-]me/i;

/**
 * The secret as a Pulumi secret, refused at once (naming the key, never the value) when it is a
 * template marker. The raw value is in this process anyway (the engine decrypts config for the
 * program); reading it here never logs or exports it.
 */
function checkedSecret(config: pulumi.Config, key: string): pulumi.Output<string> {
  if (SECRET_PLACEHOLDER.test(config.require(key))) fail(key, `looks like a template placeholder; set the real value with \`pulumi config set --secret ${key} ...\``);
  return config.requireSecret(key);
}

/** A placeholder-checked view of the stack config: every string read goes through `checked`. */
function reader(config: pulumi.Config) {
  const checked = <T extends string | undefined>(key: string, value: T): T => {
    if (value !== undefined) {
      const what = placeholderIn(value);
      if (what) fail(key, `looks like ${what}; set the real value with \`pulumi config set ${key} ...\``);
    }
    return value;
  };
  return {
    get: (key: string): string | undefined => checked(key, config.get(key) || undefined),
    require: (key: string): string => checked(key, config.require(key)),
    list: (key: string): string[] | undefined => {
      const values = config.getObject<string[]>(key);
      for (const v of values ?? []) checked(key, v);
      return values?.length ? values : undefined;
    },
  };
}

function intIn(config: pulumi.Config, key: string, fallback: number, min: number, max: number): number {
  const value = config.getNumber(key) ?? fallback;
  if (!Number.isInteger(value) || value < min || value > max) fail(key, `must be an integer between ${min} and ${max}, got ${value}`);
  return value;
}

/**
 * `databaseMode` and its settings: the RDS sizing keys in `rds` mode (the Database component checks
 * the AWS ranges again), the `databaseUrl` secret only in `external` mode, where it is required.
 */
function database(config: pulumi.Config, read: ReturnType<typeof reader>, production: boolean): StackSettings['database'] {
  const mode = read.get('databaseMode') ?? 'rds';
  if (mode === 'external') {
    // The project file declares it with an empty default (rds stacks have none): empty is unset.
    if (!config.get('databaseUrl')) fail('databaseUrl', 'is required when databaseMode is external: `pulumi config set --secret databaseUrl postgres://...`');
    const url = checkedSecret(config, 'databaseUrl');
    if (!/^postgres(ql)?:\/\//.test(config.require('databaseUrl'))) fail('databaseUrl', 'must be a postgres:// URL');
    return { mode, url };
  }
  if (mode !== 'rds') fail('databaseMode', `must be rds (the stack's own RDS instance) or external (databaseUrl), got ${mode}`);
  if (config.get('databaseUrl')) pulumi.log.warn('Pulumi config "databaseUrl" is set but unused: databaseMode is rds (the tasks read the RDS-managed secret); `pulumi config rm databaseUrl`');
  const instanceClass = read.get('dbInstanceClass') ?? (production ? 'db.m7g.large' : 'db.t4g.medium');
  if (!/^db\.[a-z0-9-]+\.[a-z0-9]+$/.test(instanceClass)) fail('dbInstanceClass', `must be an RDS instance class (db.<family>.<size>), got ${instanceClass}`);
  if (production && /^db\.t\d/.test(instanceClass)) fail('dbInstanceClass', `must not be a burstable db.t* class in production, got ${instanceClass}`);
  const allocatedStorageGb = intIn(config, 'dbAllocatedStorageGb', production ? 50 : 20, 20, 65_536);
  return {
    mode,
    instanceClass,
    allocatedStorageGb,
    maxAllocatedStorageGb: intIn(config, 'dbMaxAllocatedStorageGb', production ? 500 : 100, allocatedStorageGb, 65_536),
    backupRetentionDays: intIn(config, 'dbBackupRetentionDays', production ? 14 : 7, production ? 14 : 7, 35),
  };
}

function github(config: pulumi.Config, read: ReturnType<typeof reader>, environment: string): StackSettings['github'] {
  const repository = read.require('githubRepository');
  if (!/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(repository)) fail('githubRepository', `must be <owner>/<repo>, got ${repository}`);
  const githubEnvironment = read.get('githubEnvironment') ?? environment;
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(githubEnvironment)) fail('githubEnvironment', 'must be a GitHub environment name of letters, digits, . _ - (no : or *)');
  const oidcProviderArn = read.get('githubOidcProviderArn');
  if (oidcProviderArn && !/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/.test(oidcProviderArn))
    fail('githubOidcProviderArn', "must be the account's GitHub provider, arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com (empty creates it)");
  return { repository, environment: githubEnvironment, oidcProviderArn, imagePushFromMain: config.getBoolean('githubImagePushFromMain') ?? true };
}

function url(read: ReturnType<typeof reader>, key: string): string {
  const value = read.require(key);
  if (!/^https:\/\//.test(value)) fail(key, 'must be an https:// URL');
  return value;
}

function runbookBaseUrl(read: ReturnType<typeof reader>): string {
  const value = url(read, 'runbookBaseUrl').replace(/\/+$/, '');
  if (!value.endsWith('/runbooks')) fail('runbookBaseUrl', 'must point at the repository\'s runbooks/ folder (end with /runbooks)');
  return value;
}

/**
 * Well-formed, obviously fake, and refused by `pulumi up`: what a first `pulumi preview` deploys
 * when no image has been built yet (the pipeline sets `image` before every `up`).
 */
export const PREVIEW_IMAGE = `preview.invalid/upiik-payments@sha256:${'0'.repeat(64)}`;
const IMAGE_BY_DIGEST = /^[a-z0-9][a-z0-9.-]*(:\d+)?\/[a-z0-9._/-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$/;

function image(config: pulumi.Config, dryRun: boolean): string {
  const value = config.get('image') || undefined;
  if (value === undefined || value === PREVIEW_IMAGE) {
    if (!dryRun) fail('image', 'is required for `pulumi up`: the pipeline sets it to the pushed image by digest (<repository>@sha256:<digest>)');
    pulumi.log.warn(`Pulumi config "image" is not set: previewing with the placeholder ${PREVIEW_IMAGE}; \`pulumi up\` refuses it`);
    return PREVIEW_IMAGE;
  }
  if (!IMAGE_BY_DIGEST.test(value)) fail('image', 'must be pinned by digest (<registry>/<repository>@sha256:<64 hex>), not a tag: a tag can move under a running service');
  const what = placeholderIn(value);
  if (what) fail('image', `looks like ${what}`);
  return value;
}

function certificateArn(read: ReturnType<typeof reader>, region: string | undefined): string {
  const value = read.require('certificateArn');
  const m = /^arn:aws:acm:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):certificate\/[0-9a-f-]{36}$/.exec(value);
  if (!m) fail('certificateArn', 'must be an ACM certificate ARN: arn:aws:acm:<region>:<12-digit account>:certificate/<id>');
  if (region && m[1] !== region) fail('certificateArn', `must be in the stack's region ${region} (an ALB uses certificates of its own region), got ${m[1]}`);
  return value;
}

function corsOrigins(read: ReturnType<typeof reader>): string {
  const value = read.get('corsAllowedOrigins') ?? '';
  const origins = value.split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of origins)
    if (!/^https:\/\/[a-z0-9.-]+(:\d+)?$/i.test(origin)) fail('corsAllowedOrigins', `must be comma-separated https origins without path or wildcard, got ${origin}`);
  return origins.join(',');
}

export function loadStackSettings(config: pulumi.Config = new pulumi.Config(), dryRun: boolean = pulumi.runtime.isDryRun()): StackSettings {
  const read = reader(config);
  const region = reader(new pulumi.Config('aws')).get('region');
  const environment = read.require('environment');
  if (environment !== 'staging' && environment !== 'production') fail('environment', 'must be staging or production');
  const production = environment === 'production';
  const prefix = `upiik-payments-${environment}`;

  const strategy = read.get('deploymentStrategy') ?? 'CANARY';
  if (strategy !== 'ROLLING' && strategy !== 'CANARY') fail('deploymentStrategy', 'must be ROLLING or CANARY');

  const publishableKey = read.require('stripePublishableKey');
  const expectedMode = production ? 'pk_live_' : 'pk_test_';
  if (!publishableKey.startsWith(expectedMode)) fail('stripePublishableKey', `must start with ${expectedMode} in ${environment}`);
  if (!/^pk_(live|test)_[A-Za-z0-9]{16,}$/.test(publishableKey)) fail('stripePublishableKey', 'must be a whole Stripe publishable key (pk_..._ followed by at least 16 letters or digits)');

  const apiVersion = read.get('stripeApiVersion') || SDK_API_VERSION;
  if (apiVersion !== SDK_API_VERSION) fail('stripeApiVersion', `must equal the installed SDK's version ${SDK_API_VERSION}`);

  const desiredCount = intIn(config, 'desiredCount', production ? 2 : 1, 1, 50);
  const minCount = intIn(config, 'minCount', desiredCount, 1, 50);
  const maxCount = intIn(config, 'maxCount', Math.max(desiredCount * 3, 2), minCount, 100);
  if (minCount > desiredCount) fail('minCount', `must not exceed desiredCount (${desiredCount})`);

  const publicSubnetIds = read.list('publicSubnetIds');
  const privateSubnetIds = read.list('privateSubnetIds');
  const vpcId = read.get('vpcId');
  if (vpcId && (!publicSubnetIds?.length || !privateSubnetIds?.length))
    fail('vpcId', 'an existing VPC also needs publicSubnetIds and privateSubnetIds (two AZs each)');

  const hostedZoneId = read.get('hostedZoneId');
  if (hostedZoneId && !/^Z[A-Z0-9]{1,32}$/.test(hostedZoneId)) fail('hostedZoneId', 'must be a Route 53 hosted zone id (Z...)');
  const domainName = read.require('domainName');
  if (!/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/.test(domainName)) fail('domainName', 'must be a lower-case host name');

  const alertEmail = read.require('alertEmail');
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alertEmail)) fail('alertEmail', 'must be an email address');

  const adoptEndpointId = read.get('stripeAdoptEndpointId');
  if (adoptEndpointId && !/^we_[A-Za-z0-9]+$/.test(adoptEndpointId)) fail('stripeAdoptEndpointId', 'must be a Stripe webhook endpoint id (we_...)');

  return {
    environment,
    prefix,
    image: image(config, dryRun),
    domainName,
    hostedZoneId,
    certificateArn: certificateArn(read, region),
    network: { vpcId, publicSubnetIds, privateSubnetIds, vpcCidr: read.get('vpcCidr') ?? '10.40.0.0/16' },
    service: {
      cpu: intIn(config, 'cpu', 512, 256, 4096),
      memory: intIn(config, 'memory', 1024, 512, 30720),
      desiredCount,
      minCount,
      maxCount,
      logRetentionDays: intIn(config, 'logRetentionDays', production ? 90 : 30, 1, 3653),
      deploymentStrategy: strategy,
      canaryPercent: intIn(config, 'canaryPercent', 10, 1, 50),
      canaryBakeMinutes: intIn(config, 'canaryBakeMinutes', 10, 0, 1440),
      bakeMinutes: intIn(config, 'bakeMinutes', 15, 0, 1440),
    },
    ecs: { clusterName: prefix, serviceName: 'payments' },
    cache: { nodeType: read.get('redisNodeType') ?? 'cache.t4g.small', multiAz: config.getBoolean('redisMultiAz') ?? production },
    database: database(config, read, production),
    registry: {
      keepTaggedImages: intIn(config, 'ecrKeepTaggedImages', 50, 10, 1000),
      untaggedExpiryDays: intIn(config, 'ecrUntaggedExpiryDays', 7, 1, 90),
    },
    github: github(config, read, environment),
    alerts: { email: alertEmail, runbookBaseUrl: runbookBaseUrl(read) },
    app: {
      logLevel: read.get('logLevel') ?? 'info',
      authJwtIssuer: read.get('authJwtIssuer'),
      authJwtAudience: read.get('authJwtAudience'),
      authTokenMaxLifetimeSeconds: intIn(config, 'authTokenMaxLifetimeSeconds', 86_400, 60, 604_800),
      authAdminTokenMaxLifetimeSeconds: intIn(config, 'authAdminTokenMaxLifetimeSeconds', 3_600, 60, 604_800),
      rateLimitWindowMs: intIn(config, 'rateLimitWindowMs', 900_000, 1000, 86_400_000),
      rateLimitMax: intIn(config, 'rateLimitMax', 5, 1, 10_000),
      monitoringEnabled: config.getBoolean('monitoringEnabled') ?? true,
      checkoutSuccessUrl: url(read, 'checkoutSuccessUrl'),
      checkoutCancelUrl: url(read, 'checkoutCancelUrl'),
      billingPortalReturnUrl: url(read, 'billingPortalReturnUrl'),
      corsAllowedOrigins: corsOrigins(read),
    },
    stripe: {
      apiVersion,
      publishableKey,
      adoptEndpointId,
      // Only read when adopting: the project file declares it with an empty default.
      adoptedSecret: adoptEndpointId ? checkedSecret(config, 'stripeAdoptedWebhookSecret') : undefined,
    },
    secrets: {
      stripeSecretKey: checkedSecret(config, 'stripeSecretKey'),
      authJwtSecret: checkedSecret(config, 'authJwtSecret'),
    },
  };
}

/** Tags on every AWS resource: the policies read `Environment` from them. */
export function tagsFor(settings: Pick<StackSettings, 'environment'>, role: string): Record<string, string> {
  return { Project: 'upiik-payments', Environment: settings.environment, Role: role, ManagedBy: 'pulumi' };
}
