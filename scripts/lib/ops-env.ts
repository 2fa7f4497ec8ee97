import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parse as parseDotenv } from 'dotenv';
import { type AuthConfig, issueToken } from '../../service/security';
import type Stripe from 'stripe';
import { WEBHOOK_PATH } from '../../service/shared/catalog';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';
import { LOCAL_ENV_FILE, resolveAuthConfig } from '../issue-token';
import { UsageError } from './cli';

/**
 * Where an operational command acts (`--env local|staging|production`) and with what.
 *
 * - `local` is the stack `npm start` runs, read the way `npm start` reads it: the environment over
 *   env/local.env (PORT, SANDBOX_PORT, AUTH_JWT_SECRET, STRIPE_SECRET_KEY set for `npm start` work
 *   the same here). The Stripe API is the sandbox.
 * - `staging` and `production` come from the Pulumi stack's outputs (the service URL, the webhook
 *   endpoint, the price ids, what an in-cluster task needs) and Secrets Manager, through the caller's
 *   AWS credentials (a developer's profile, or the runner's OIDC role): never from local files.
 *
 * The JWT secret is read to sign short-lived admin tokens (`opsToken`) and is never printed.
 */
export const OPS_ENVIRONMENTS = ['local', 'staging', 'production'] as const;
export type OpsEnvName = (typeof OPS_ENVIRONMENTS)[number];

/** The stack outputs the commands read (infra/index.ts exports them). */
export interface OpsStackOutputs {
  serviceUrl: string;
  webhookUrl: string;
  webhookEndpointId: string;
  priceIds: { monthly: string; yearly: string };
  clusterName: string;
  taskDefinitionFamily: string;
  privateSubnetIds: string[];
  taskSecurityGroupId: string;
  logGroupName: string;
  alertTopicArn: string;
  opsSecretArns: { authJwtSecret: string; stripeSecretKey: string; stripeWebhookSecret: string };
  region: string;
  /** RDS only (absent with an external database): the instance a rollback snapshots. */
  databaseInstanceIdentifier?: string;
}

export interface OpsTarget {
  env: OpsEnvName;
  /** The service's base URL (the ALB's https name in AWS). */
  serviceUrl: string;
  /** The webhook URL Stripe posts to. */
  webhookUrl: string;
  stripe: {
    secretKey: string;
    /** The sandbox locally; undefined = api.stripe.com. */
    apiBase?: string;
    /** Price ids the stack applied (AWS); locally `npm start` seeds them, so commands look them up by lookup key. */
    prices?: { monthly: string; yearly: string };
    /** The endpoint Pulumi manages (AWS). */
    endpointId?: string;
  };
  auth: AuthConfig;
  /** AWS stacks only: what in-cluster work and notifications need. */
  aws?: OpsStackOutputs;
}

export interface OpsEnvDeps {
  env: NodeJS.ProcessEnv;
  /** env/local.env (tests pass their own). */
  localEnvFile?: string;
  /** The stack's outputs (default: the Pulumi Automation API on this repository's program). */
  stackOutputs?: (stack: 'staging' | 'production') => Promise<Record<string, unknown>>;
  /** Secrets Manager (tests pass a client mocked with aws-sdk-client-mock). */
  secretsManager?: (region: string) => SecretsManagerClient;
}

export function parseOpsEnv(value: string | undefined): OpsEnvName {
  if (value === undefined) throw new UsageError(`--env is required: ${OPS_ENVIRONMENTS.join(' | ')}`);
  if (!(OPS_ENVIRONMENTS as readonly string[]).includes(value)) throw new UsageError(`--env must be one of ${OPS_ENVIRONMENTS.join(', ')}, got ${value}`);
  return value as OpsEnvName;
}

export async function resolveOpsTarget(name: OpsEnvName, deps: OpsEnvDeps): Promise<OpsTarget> {
  return name === 'local' ? localTarget(deps) : awsTarget(name, deps);
}

function localTarget(deps: OpsEnvDeps): OpsTarget {
  const { env } = deps;
  const fileEnv = readLocalEnv(deps.localEnvFile);
  const pick = (key: string) => env[key] || fileEnv[key] || undefined;
  const port = Number(pick('PORT') ?? 3000);
  const sandboxPort = Number(pick('SANDBOX_PORT') ?? 12111);
  const secretKey = pick('STRIPE_SECRET_KEY');
  if (!secretKey) throw new Error('STRIPE_SECRET_KEY is set neither in the environment nor in env/local.env');
  if (secretKey.startsWith('sk_live_') || secretKey.startsWith('rk_live_')) throw new Error('--env local talks to the Stripe sandbox: a live key is refused');
  const serviceUrl = `http://127.0.0.1:${port}`;
  return {
    env: 'local',
    serviceUrl,
    // What `npm start` registers with the sandbox.
    webhookUrl: `${serviceUrl}${WEBHOOK_PATH}`,
    stripe: { secretKey, apiBase: `http://127.0.0.1:${sandboxPort}` },
    auth: resolveAuthConfig(env, deps.localEnvFile),
  };
}

function readLocalEnv(file = LOCAL_ENV_FILE): Record<string, string> {
  return existsSync(file) ? parseDotenv(readFileSync(file)) : {};
}

async function awsTarget(stack: 'staging' | 'production', deps: OpsEnvDeps): Promise<OpsTarget> {
  const raw = await (deps.stackOutputs ?? pulumiStackOutputs)(stack);
  const outputs = parseStackOutputs(stack, raw);
  const client = (deps.secretsManager ?? ((region: string) => new SecretsManagerClient({ region })))(outputs.region);
  const [jwtSecret, stripeKey] = await Promise.all([readSecret(client, outputs.opsSecretArns.authJwtSecret, 'the JWT secret'), readSecret(client, outputs.opsSecretArns.stripeSecretKey, 'the Stripe secret key')]);
  return {
    env: stack,
    serviceUrl: outputs.serviceUrl,
    webhookUrl: outputs.webhookUrl,
    stripe: { secretKey: stripeKey, prices: outputs.priceIds, endpointId: outputs.webhookEndpointId },
    // The stack's token rules (infra/container.ts): no issuer or audience, an admin token at most an hour.
    auth: { secret: jwtSecret, maxTokenLifetimeSeconds: { user: 86_400, admin: 3_600 } },
    aws: outputs,
  };
}

async function readSecret(client: SecretsManagerClient, arn: string, what: string): Promise<string> {
  try {
    const answer = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (!answer.SecretString) throw new Error('it has no string value');
    return answer.SecretString;
  } catch (error) {
    // The ARN names the secret, never its value: safe to say which one could not be read.
    throw new Error(`could not read ${what} from Secrets Manager (${arn}): ${(error as Error).message}. Do your AWS credentials allow secretsmanager:GetSecretValue on it?`, { cause: error });
  }
}

function parseStackOutputs(stack: string, raw: Record<string, unknown>): OpsStackOutputs {
  const missing: string[] = [];
  const str = (key: string): string => {
    const value = raw[key];
    if (typeof value !== 'string' || value === '') missing.push(key);
    return typeof value === 'string' ? value : '';
  };
  const obj = <T extends Record<string, unknown>>(key: string, fields: string[]): T => {
    const value = raw[key] as Record<string, unknown> | undefined;
    for (const f of fields) if (typeof value?.[f] !== 'string' || value[f] === '') missing.push(`${key}.${f}`);
    return (value ?? {}) as T;
  };
  const subnets = raw.privateSubnetIds;
  if (!Array.isArray(subnets) || subnets.length === 0 || !subnets.every((s) => typeof s === 'string')) missing.push('privateSubnetIds');
  const outputs: OpsStackOutputs = {
    serviceUrl: str('serviceUrl'),
    webhookUrl: str('webhookUrl'),
    webhookEndpointId: str('webhookEndpointId'),
    priceIds: obj('priceIds', ['monthly', 'yearly']),
    clusterName: str('clusterName'),
    taskDefinitionFamily: str('taskDefinitionFamily'),
    privateSubnetIds: (subnets as string[]) ?? [],
    taskSecurityGroupId: str('taskSecurityGroupId'),
    logGroupName: str('logGroupName'),
    alertTopicArn: str('alertTopicArn'),
    opsSecretArns: obj('opsSecretArns', ['authJwtSecret', 'stripeSecretKey', 'stripeWebhookSecret']),
    region: str('region'),
    ...(typeof raw.databaseInstanceIdentifier === 'string' && raw.databaseInstanceIdentifier ? { databaseInstanceIdentifier: raw.databaseInstanceIdentifier } : {}),
  };
  if (missing.length > 0) throw new Error(`the ${stack} stack's outputs lack ${missing.join(', ')}: run \`pulumi up --stack ${stack}\` with this repository's program first`);
  if (!outputs.serviceUrl.startsWith('https://')) throw new Error(`the ${stack} stack's serviceUrl is not https: ${outputs.serviceUrl}`);
  return outputs;
}

/** The stack's last applied outputs through the Pulumi Automation API (needs the pulumi CLI and the stack's backend login). */
async function pulumiStackOutputs(stack: 'staging' | 'production'): Promise<Record<string, unknown>> {
  // Loaded only here: the Pulumi SDK is large and only AWS targets need it.
  const { automation } = await import('@pulumi/pulumi');
  const { LocalWorkspace } = automation;
  const selected = await LocalWorkspace.selectStack({ stackName: stack, workDir: join(__dirname, '..', '..') });
  const outputs = await selected.outputs();
  return Object.fromEntries(Object.entries(outputs).map(([key, output]) => [key, (output as { value: unknown }).value]));
}

/**
 * A short-lived admin token for automation: 5 minutes, `sub` = `ops:<who>` (a person or a
 * pipeline run id). Signed here with the secret the caller may read; never written to a file.
 */
export async function opsToken(target: OpsTarget, who: string): Promise<string> {
  return issueToken(target.auth, { userId: `ops:${who}`, admin: true, expiresIn: '5m' });
}

/** The Stripe client a command uses on its target: the sandbox locally, api.stripe.com in AWS, on the service's API version. */
export function stripeFor(target: OpsTarget, maxNetworkRetries = 1): Stripe {
  return createStripeClient({ secretKey: target.stripe.secretKey, apiVersion: SDK_API_VERSION, ...(target.stripe.apiBase ? { apiBase: target.stripe.apiBase } : {}), maxNetworkRetries });
}

/**
 * Who an ops token names (`ops:<who>`): --who, else the pipeline run, else the local user. A --who
 * the service would refuse in a token is a usage error.
 */
export function parseWho(value: string | undefined, env: NodeJS.ProcessEnv): string {
  const who = value ?? (env.GITHUB_RUN_ID ? `gha-${env.GITHUB_RUN_ID}` : (env.USER || env.USERNAME || 'unknown').replace(/[^A-Za-z0-9_\-.@]/g, '_').slice(0, 100));
  if (!/^[A-Za-z0-9_\-.@]{1,100}$/.test(who)) throw new UsageError('--who must be 1-100 characters of A-Z a-z 0-9 _ - . @');
  return who;
}
