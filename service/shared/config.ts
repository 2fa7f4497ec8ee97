import { z } from 'zod';
import type { DatabaseServerParts } from './db/credentialed-pool';
import { SECRET_ARN_PATTERN } from './db/secret-arn';
import { configuredSecrets, registerSecrets } from './redact';
import { SDK_API_VERSION } from './stripe-client';

/**
 * The configuration contract (ARCHITECTURE.md "Configuration contract"), parsed once at the entry
 * point and passed down. Nothing below the entry point reads process.env.
 * Secrets have no defaults; error messages name the variable and the rule, never the value.
 */

export const DEPLOY_ENVIRONMENTS = ['development', 'test', 'staging', 'production'] as const;
export type DeployEnvironment = (typeof DEPLOY_ENVIRONMENTS)[number];

/**
 * Token lifetimes (AUTH_TOKEN_MAX_LIFETIME_SECONDS, AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS): a user
 * session token lives at most a day, an admin token (the console, or one the release automation
 * signs for a maintenance switch) at most an hour; no setting goes past a week.
 */
export const DEFAULT_MAX_TOKEN_LIFETIME = { user: 86_400, admin: 3_600 } as const;
export const MAX_CONFIGURABLE_TOKEN_LIFETIME_SECONDS = 7 * 86_400;

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const positiveInt = z.coerce.number({ message: 'must be a number' }).int('must be an integer').positive('must be positive');

const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' });

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** Empty strings in env files mean "unset". */
function emptyToUndefined(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) out[k] = v === undefined || v.trim() === '' ? undefined : v;
  return out;
}

const schema = z.object({
  NODE_ENV: z.enum(DEPLOY_ENVIRONMENTS, { message: `must be one of ${DEPLOY_ENVIRONMENTS.join(', ')}` }).default('development'),
  PORT: z.coerce.number({ message: 'must be a number' }).int('must be an integer').min(0, 'must be a port (0-65535)').max(65535, 'must be a port (0-65535)').default(3000),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'debug'], { message: 'must be error, warn, info, http or debug' }).default('info'),
  /** What is running (the image's commit SHA in AWS); shown by GET /api/admin/payments/ops. */
  SERVICE_VERSION: optionalString.pipe(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+:@-]{0,127}$/, 'must be a version or commit id (letters, digits and . _ + : @ -, at most 128)').optional()),

  DATABASE_URL: optionalString.pipe(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional()),
  /**
   * The database as parts (AWS with RDS), instead of DATABASE_URL: the login is read at run time
   * from the RDS-managed secret DATABASE_CREDENTIALS_ARN names (RDS rotates it), over TLS verified
   * against DATABASE_CA_FILE. Rules across these variables: crossFieldProblems.
   */
  DATABASE_HOST: optionalString.pipe(z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'must be a host name or IPv4 address (no scheme, port or path)').optional()),
  DATABASE_PORT: z.coerce.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be a port (1-65535)').max(65535, 'must be a port (1-65535)').optional(),
  DATABASE_NAME: optionalString.pipe(z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'must be a PostgreSQL database name (letters, digits, _ and $, at most 63)').optional()),
  DATABASE_CREDENTIALS_ARN: optionalString.pipe(
    z.string().regex(SECRET_ARN_PATTERN, 'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)').optional(),
  ),
  DATABASE_CA_FILE: optionalString,
  /** Directory of the embedded PGlite database when DATABASE_URL is unset; unset = in memory. */
  PGLITE_DIR: optionalString,
  /** Local stacks: where POST /api/admin/payments/ops/backup writes (a rollback's backup of an embedded database). */
  OPS_BACKUP_DIR: optionalString,
  REDIS_URL: optionalString.pipe(z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional()),

  AUTH_JWT_SECRET: z.string({ message: 'is required' }).min(32, 'must be at least 32 characters'),
  AUTH_JWT_ISSUER: optionalString,
  AUTH_JWT_AUDIENCE: optionalString,
  AUTH_TOKEN_MAX_LIFETIME_SECONDS: positiveInt
    .max(MAX_CONFIGURABLE_TOKEN_LIFETIME_SECONDS, `must be at most ${MAX_CONFIGURABLE_TOKEN_LIFETIME_SECONDS} (7 days)`)
    .default(DEFAULT_MAX_TOKEN_LIFETIME.user),
  AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS: positiveInt
    .max(MAX_CONFIGURABLE_TOKEN_LIFETIME_SECONDS, `must be at most ${MAX_CONFIGURABLE_TOKEN_LIFETIME_SECONDS} (7 days)`)
    .default(DEFAULT_MAX_TOKEN_LIFETIME.admin),

  STRIPE_SECRET_KEY: z.string({ message: 'is required' }).regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe secret key (sk_test_/sk_live_/rk_...)'),
  STRIPE_PUBLISHABLE_KEY: z.string({ message: 'is required' }).regex(/^pk_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe publishable key (pk_test_/pk_live_)'),
  STRIPE_WEBHOOK_SECRET: z.string({ message: 'is required' }).regex(/^whsec_[A-Za-z0-9_+/=]+$/, 'must be a webhook signing secret (whsec_...)'),
  STRIPE_API_VERSION: z
    .string()
    .default(SDK_API_VERSION)
    .refine((v) => v === SDK_API_VERSION, {
      message: `must equal the version the installed stripe SDK is typed against (${SDK_API_VERSION}); upgrade the SDK and this value together`,
    }),
  STRIPE_PRICE_MONTHLY: z.string({ message: 'is required' }).regex(/^price_[A-Za-z0-9_]+$/, 'must be a Stripe price id (price_...)'),
  STRIPE_PRICE_YEARLY: z.string({ message: 'is required' }).regex(/^price_[A-Za-z0-9_]+$/, 'must be a Stripe price id (price_...)'),
  STRIPE_WEBHOOK_URL: optionalString.pipe(httpUrl.optional()),
  STRIPE_API_BASE: optionalString.pipe(httpUrl.optional()),
  STRIPE_RATE_LIMIT_WINDOW: positiveInt.default(900_000),
  STRIPE_RATE_LIMIT_MAX: positiveInt.default(5),
  STRIPE_ALERT_EMAIL: optionalString.pipe(z.email({ message: 'must be an email address' }).optional()),
  STRIPE_MONITORING_ENABLED: booleanString.default(true),
  ALERT_SNS_TOPIC_ARN: optionalString.pipe(z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, 'must be an SNS topic ARN').optional()),

  CHECKOUT_SUCCESS_URL: httpUrl,
  CHECKOUT_CANCEL_URL: httpUrl,
  BILLING_PORTAL_RETURN_URL: httpUrl,
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),

  /** Comma-separated browser origins allowed to call the API (the Upiik web app); empty = none. */
  CORS_ALLOWED_ORIGINS: optionalString.pipe(
    z
      .string()
      .refine((v) => v.split(',').every((o) => isOrigin(o.trim())), 'must be a comma-separated list of origins such as https://upiik.app (no path, no wildcard)')
      .optional(),
  ),
  ADMIN_RATE_LIMIT_WINDOW: positiveInt.default(60_000),
  ADMIN_RATE_LIMIT_MAX: positiveInt.default(60),
  /** Sliding window of the payment health rates. */
  HEALTH_WINDOW_MS: positiveInt.default(3_600_000),
  /** Below this many payments (or webhook events) in the window, a rate cannot degrade the status. */
  HEALTH_MIN_SAMPLE: positiveInt.default(20),
  /** How often each instance evaluates health in the background for the critical/no-activity alerts. */
  HEALTH_CHECK_INTERVAL_MS: positiveInt.default(60_000),
  /** At most one alert per type per window. */
  ALERT_WINDOW_MS: positiveInt.default(900_000),
  /** How long counted alerts (payment/webhook failures) gather before the one alert goes out. */
  ALERT_COALESCE_MS: positiveInt.default(10_000),
  /** Local stack: alerts are also appended to this file as JSON lines. */
  ALERT_FILE: optionalString,
  /** When set, GET /metrics requires `Authorization: Bearer <this>`. */
  METRICS_AUTH_TOKEN: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
});

type Env = z.infer<typeof schema>;

export interface Config {
  env: DeployEnvironment;
  /** staging and production: no stack traces to clients, embedded backends refused. */
  isDeployed: boolean;
  port: number;
  logLevel: Env['LOG_LEVEL'];
  /** SERVICE_VERSION, else `dev`. */
  version: string;
  /**
   * Exactly one way to the server, or neither (embedded PGlite): `url` (DATABASE_URL) or `parts`
   * (DATABASE_HOST mode: RDS with its managed, rotated master password).
   */
  database: { url?: string; parts?: DatabaseServerParts; pgliteDir?: string };
  /** OPS_BACKUP_DIR (local stacks only): enables POST /api/admin/payments/ops/backup. */
  opsBackupDir?: string;
  redis: { url?: string };
  auth: { secret: string; issuer?: string; audience?: string; maxTokenLifetimeSeconds: { user: number; admin: number } };
  stripe: {
    secretKey: string;
    publishableKey: string;
    webhookSecret: string;
    apiVersion: string;
    apiBase?: string;
    webhookUrl?: string;
    prices: { monthly: string; yearly: string };
    mode: 'test' | 'live';
  };
  /** Checkout and portal, per user (IP when anonymous). */
  rateLimit: { windowMs: number; max: number };
  /** Admin routes, per admin. */
  adminRateLimit: { windowMs: number; max: number };
  http: { corsAllowedOrigins: string[] };
  monitoring: {
    /** Alerts on/off (STRIPE_MONITORING_ENABLED); metrics are always on. */
    enabled: boolean;
    alertEmail?: string;
    snsTopicArn?: string;
    alertFile?: string;
    alertWindowMs: number;
    alertCoalesceMs: number;
    healthWindowMs: number;
    healthMinSample: number;
    healthCheckIntervalMs: number;
    metricsToken?: string;
  };
  urls: { checkoutSuccess: string; checkoutCancel: string; portalReturn: string };
  shutdownTimeoutMs: number;
}

export type { DatabaseServerParts };

export const DEFAULT_DATABASE_PORT = 5432;
/** Where the image puts the RDS CA bundle (Dockerfile). */
export const DEFAULT_DATABASE_CA_FILE = '/app/certs/rds-global-bundle.pem';

const DATABASE_PARTS_REQUIRED = ['DATABASE_HOST', 'DATABASE_NAME', 'DATABASE_CREDENTIALS_ARN'] as const;
const DATABASE_PARTS_OPTIONAL = ['DATABASE_PORT', 'DATABASE_CA_FILE'] as const;

/** The two ways to a real server exclude each other; the parts come together or not at all. */
function databaseProblems(e: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  if (e.DATABASE_URL && e.DATABASE_HOST) {
    problems.push('DATABASE_URL: DATABASE_URL and DATABASE_HOST are both set; set exactly one (DATABASE_URL, or DATABASE_HOST with DATABASE_NAME and DATABASE_CREDENTIALS_ARN)');
    return problems;
  }
  const given = DATABASE_PARTS_REQUIRED.filter((name) => e[name]);
  if (given.length > 0) {
    for (const name of DATABASE_PARTS_REQUIRED) {
      if (!e[name]) problems.push(`${name}: is required with ${given.join(' and ')} (the database as parts needs DATABASE_HOST, DATABASE_NAME and DATABASE_CREDENTIALS_ARN)`);
    }
    if (e.DATABASE_URL) {
      problems.push(`DATABASE_URL: is set together with ${given.join(' and ')}; set DATABASE_URL or the DATABASE_HOST parts, not both`);
    }
  } else {
    for (const name of DATABASE_PARTS_OPTIONAL) {
      if (e[name]) problems.push(`${name}: only applies with DATABASE_HOST (the database as parts); unset it or set DATABASE_HOST, DATABASE_NAME and DATABASE_CREDENTIALS_ARN`);
    }
  }
  return problems;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The mode is the prefix's: `sk_live_`, `rk_live_` (restricted) and `pk_live_` are live, whatever the rest holds. */
const keyMode = (key: string): 'test' | 'live' => (/^(sk|rk|pk)_live_/.test(key) ? 'live' : 'test');

/**
 * Rules across variables: live keys only in production, test keys never in production.
 * Checked on the raw values too, so a production start with a test key names STRIPE_SECRET_KEY
 * even when other variables are also missing.
 */
function crossFieldProblems(e: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  const nodeEnv = e.NODE_ENV ?? 'development';
  const secretKey = e.STRIPE_SECRET_KEY;
  const publishableKey = e.STRIPE_PUBLISHABLE_KEY;
  const secretMode = secretKey ? keyMode(secretKey) : undefined;
  const publishableMode = publishableKey ? keyMode(publishableKey) : undefined;
  if (nodeEnv === 'production') {
    if (secretKey && !secretKey.startsWith('sk_live_') && !secretKey.startsWith('rk_live_'))
      problems.push('STRIPE_SECRET_KEY: NODE_ENV=production requires a live secret key (sk_live_...)');
    if (publishableKey && !publishableKey.startsWith('pk_live_'))
      problems.push('STRIPE_PUBLISHABLE_KEY: NODE_ENV=production requires a live publishable key (pk_live_...)');
    if (e.STRIPE_API_BASE)
      problems.push('STRIPE_API_BASE: must be unset in production (live keys only ever go to api.stripe.com)');
  } else {
    if (secretMode === 'live')
      problems.push(`STRIPE_SECRET_KEY: live keys are refused outside production (NODE_ENV=${nodeEnv}); use a sk_test_ key`);
    if (publishableMode === 'live')
      problems.push(`STRIPE_PUBLISHABLE_KEY: live keys are refused outside production (NODE_ENV=${nodeEnv}); use a pk_test_ key`);
  }
  if (secretMode && publishableMode && secretMode !== publishableMode)
    problems.push(`STRIPE_PUBLISHABLE_KEY: must be the same mode as STRIPE_SECRET_KEY (${secretMode} vs ${publishableMode})`);
  problems.push(...databaseProblems(e));
  if (nodeEnv === 'staging' || nodeEnv === 'production') {
    if (!e.DATABASE_URL && !e.DATABASE_HOST) {
      problems.push(
        `DATABASE_URL: is required when NODE_ENV=${nodeEnv}, or DATABASE_HOST with DATABASE_NAME and DATABASE_CREDENTIALS_ARN (the embedded database is for local use only)`,
      );
    }
    if (!e.REDIS_URL) problems.push(`REDIS_URL: is required when NODE_ENV=${nodeEnv} (the in-process store is for local use only)`);
    if (e.OPS_BACKUP_DIR) problems.push(`OPS_BACKUP_DIR: must be unset when NODE_ENV=${nodeEnv} (a task's disk is gone with the task; the rollback takes an RDS snapshot)`);
    // Nothing travels in plaintext once deployed: the webhook URL Stripe posts to, the pages
    // customers return to (the success URL carries the session id), and the Redis connection.
    for (const name of ['STRIPE_WEBHOOK_URL', 'CHECKOUT_SUCCESS_URL', 'CHECKOUT_CANCEL_URL', 'BILLING_PORTAL_RETURN_URL']) {
      const url = e[name];
      if (url && !/^https:\/\//i.test(url)) problems.push(`${name}: must be https outside local development`);
    }
    if (e.REDIS_URL && !/^rediss:\/\//.test(e.REDIS_URL)) problems.push('REDIS_URL: must be rediss:// (TLS) outside local development');
  }
  return problems;
}

/** Parses and validates the environment. Throws ConfigError listing every problem at once. */
export function loadConfig(rawEnv: Record<string, string | undefined>): Config {
  const env = emptyToUndefined(rawEnv);
  const parsed = schema.safeParse(env);
  const problems = crossFieldProblems(env);
  if (!parsed.success) {
    const schemaProblems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.') || '(root)';
      return `${name}: ${env[name] === undefined ? 'is required' : issue.message}`;
    });
    throw new ConfigError([...problems, ...schemaProblems.filter((p) => !problems.some((q) => q.split(':')[0] === p.split(':')[0]))]);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;

  const config: Config = {
    env: e.NODE_ENV,
    isDeployed: e.NODE_ENV === 'staging' || e.NODE_ENV === 'production',
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    version: e.SERVICE_VERSION ?? 'dev',
    ...(e.OPS_BACKUP_DIR ? { opsBackupDir: e.OPS_BACKUP_DIR } : {}),
    database: {
      url: e.DATABASE_URL,
      parts: e.DATABASE_HOST
        ? {
            host: e.DATABASE_HOST,
            port: e.DATABASE_PORT ?? DEFAULT_DATABASE_PORT,
            name: e.DATABASE_NAME!,
            credentialsArn: e.DATABASE_CREDENTIALS_ARN!,
            caFile: e.DATABASE_CA_FILE ?? DEFAULT_DATABASE_CA_FILE,
          }
        : undefined,
      pgliteDir: e.PGLITE_DIR,
    },
    redis: { url: e.REDIS_URL },
    auth: {
      secret: e.AUTH_JWT_SECRET,
      issuer: e.AUTH_JWT_ISSUER,
      audience: e.AUTH_JWT_AUDIENCE,
      maxTokenLifetimeSeconds: { user: e.AUTH_TOKEN_MAX_LIFETIME_SECONDS, admin: e.AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS },
    },
    stripe: {
      secretKey: e.STRIPE_SECRET_KEY,
      publishableKey: e.STRIPE_PUBLISHABLE_KEY,
      webhookSecret: e.STRIPE_WEBHOOK_SECRET,
      apiVersion: e.STRIPE_API_VERSION,
      apiBase: e.STRIPE_API_BASE,
      webhookUrl: e.STRIPE_WEBHOOK_URL,
      prices: { monthly: e.STRIPE_PRICE_MONTHLY, yearly: e.STRIPE_PRICE_YEARLY },
      mode: keyMode(e.STRIPE_SECRET_KEY),
    },
    rateLimit: { windowMs: e.STRIPE_RATE_LIMIT_WINDOW, max: e.STRIPE_RATE_LIMIT_MAX },
    adminRateLimit: { windowMs: e.ADMIN_RATE_LIMIT_WINDOW, max: e.ADMIN_RATE_LIMIT_MAX },
    http: { corsAllowedOrigins: e.CORS_ALLOWED_ORIGINS ? e.CORS_ALLOWED_ORIGINS.split(',').map((o) => o.trim()) : [] },
    monitoring: {
      enabled: e.STRIPE_MONITORING_ENABLED,
      alertEmail: e.STRIPE_ALERT_EMAIL,
      snsTopicArn: e.ALERT_SNS_TOPIC_ARN,
      alertFile: e.ALERT_FILE,
      alertWindowMs: e.ALERT_WINDOW_MS,
      alertCoalesceMs: e.ALERT_COALESCE_MS,
      healthWindowMs: e.HEALTH_WINDOW_MS,
      healthMinSample: e.HEALTH_MIN_SAMPLE,
      healthCheckIntervalMs: e.HEALTH_CHECK_INTERVAL_MS,
      metricsToken: e.METRICS_AUTH_TOKEN,
    },
    urls: { checkoutSuccess: e.CHECKOUT_SUCCESS_URL, checkoutCancel: e.CHECKOUT_CANCEL_URL, portalReturn: e.BILLING_PORTAL_RETURN_URL },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  };
  // Every sink redacts these by value from here on (logs, metric lines, alerts, audit, error bodies).
  registerSecrets(configuredSecrets(config));
  return config;
}
