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
  image: string;
  domainName: string;
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
  cache: { nodeType: string; multiAz: boolean };
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
  };
  stripe: { apiVersion: string; publishableKey: string; adoptEndpointId?: string; adoptedSecret?: pulumi.Output<string> };
  secrets: {
    stripeSecretKey: pulumi.Output<string>;
    databaseUrl: pulumi.Output<string>;
    authJwtSecret: pulumi.Output<string>;
  };
}

function fail(key: string, rule: string): never {
  throw new Error(`Pulumi config "${key}": ${rule}`);
}

function intIn(config: pulumi.Config, key: string, fallback: number, min: number, max: number): number {
  const value = config.getNumber(key) ?? fallback;
  if (!Number.isInteger(value) || value < min || value > max) fail(key, `must be an integer between ${min} and ${max}, got ${value}`);
  return value;
}

function url(config: pulumi.Config, key: string): string {
  const value = config.require(key);
  if (!/^https:\/\//.test(value)) fail(key, 'must be an https:// URL');
  return value;
}

function runbookBaseUrl(config: pulumi.Config): string {
  const value = url(config, 'runbookBaseUrl').replace(/\/+$/, '');
  if (!value.endsWith('/runbooks')) fail('runbookBaseUrl', 'must point at the repository\'s runbooks/ folder (end with /runbooks)');
  return value;
}

export function loadStackSettings(config: pulumi.Config = new pulumi.Config()): StackSettings {
  const environment = config.require('environment');
  if (environment !== 'staging' && environment !== 'production') fail('environment', 'must be staging or production');
  const production = environment === 'production';

  const strategy = config.get('deploymentStrategy') ?? 'ROLLING';
  if (strategy !== 'ROLLING' && strategy !== 'CANARY') fail('deploymentStrategy', 'must be ROLLING or CANARY');

  const publishableKey = config.require('stripePublishableKey');
  const expectedMode = production ? 'pk_live_' : 'pk_test_';
  if (!publishableKey.startsWith(expectedMode)) fail('stripePublishableKey', `must start with ${expectedMode} in ${environment}`);

  const apiVersion = config.get('stripeApiVersion') || SDK_API_VERSION;
  if (apiVersion !== SDK_API_VERSION) fail('stripeApiVersion', `must equal the installed SDK's version ${SDK_API_VERSION}`);

  const certificateArn = config.require('certificateArn');
  if (!certificateArn.startsWith('arn:')) fail('certificateArn', 'must be an ACM certificate ARN');

  const desiredCount = intIn(config, 'desiredCount', production ? 2 : 1, 1, 50);
  const minCount = intIn(config, 'minCount', desiredCount, 1, 50);
  const maxCount = intIn(config, 'maxCount', Math.max(desiredCount * 3, 2), minCount, 100);
  if (minCount > desiredCount) fail('minCount', `must not exceed desiredCount (${desiredCount})`);

  const publicSubnetIds = config.getObject<string[]>('publicSubnetIds');
  const privateSubnetIds = config.getObject<string[]>('privateSubnetIds');
  const vpcId = config.get('vpcId');
  if (vpcId && (!publicSubnetIds?.length || !privateSubnetIds?.length))
    fail('vpcId', 'an existing VPC also needs publicSubnetIds and privateSubnetIds (two AZs each)');

  return {
    environment,
    prefix: `upiik-payments-${environment}`,
    image: config.require('image'),
    domainName: config.require('domainName'),
    certificateArn,
    network: { vpcId, publicSubnetIds, privateSubnetIds, vpcCidr: config.get('vpcCidr') ?? '10.40.0.0/16' },
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
    cache: { nodeType: config.get('redisNodeType') ?? 'cache.t4g.small', multiAz: config.getBoolean('redisMultiAz') ?? production },
    alerts: { email: config.require('alertEmail'), runbookBaseUrl: runbookBaseUrl(config) },
    app: {
      logLevel: config.get('logLevel') ?? 'info',
      authJwtIssuer: config.get('authJwtIssuer'),
      authJwtAudience: config.get('authJwtAudience'),
      authTokenMaxLifetimeSeconds: intIn(config, 'authTokenMaxLifetimeSeconds', 86_400, 60, 604_800),
      authAdminTokenMaxLifetimeSeconds: intIn(config, 'authAdminTokenMaxLifetimeSeconds', 3_600, 60, 604_800),
      rateLimitWindowMs: intIn(config, 'rateLimitWindowMs', 900_000, 1000, 86_400_000),
      rateLimitMax: intIn(config, 'rateLimitMax', 5, 1, 10_000),
      monitoringEnabled: config.getBoolean('monitoringEnabled') ?? true,
      checkoutSuccessUrl: url(config, 'checkoutSuccessUrl'),
      checkoutCancelUrl: url(config, 'checkoutCancelUrl'),
      billingPortalReturnUrl: url(config, 'billingPortalReturnUrl'),
    },
    stripe: {
      apiVersion,
      publishableKey,
      adoptEndpointId: config.get('stripeAdoptEndpointId'),
      adoptedSecret: config.getSecret('stripeAdoptedWebhookSecret'),
    },
    secrets: {
      stripeSecretKey: config.requireSecret('stripeSecretKey'),
      databaseUrl: config.requireSecret('databaseUrl'),
      authJwtSecret: config.requireSecret('authJwtSecret'),
    },
  };
}

/** Tags on every AWS resource: the policies read `Environment` from them. */
export function tagsFor(settings: Pick<StackSettings, 'environment'>, role: string): Record<string, string> {
  return { Project: 'upiik-payments', Environment: settings.environment, Role: role, ManagedBy: 'pulumi' };
}
