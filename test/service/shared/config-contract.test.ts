import { ConfigError, DEFAULT_MAX_TOKEN_LIFETIME, MAX_CONFIGURABLE_TOKEN_LIFETIME_SECONDS, loadConfig } from '../../../service/shared/config';
import { SDK_API_VERSION } from '../../../service/shared/stripe-client';
import { BASE_TEST_ENV, problemsOf } from '../../support/config';

/**
 * The configuration contract, variable by variable: what each one becomes in Config, its default,
 * and the exact problem a bad value produces (the startup message on-call reads). Mutation testing
 * showed the behaviour-level suite left most of these unchecked.
 */

const EVERYTHING: Record<string, string> = {
  ...BASE_TEST_ENV,
  NODE_ENV: 'development',
  PORT: '8080',
  LOG_LEVEL: 'debug',
  SERVICE_VERSION: 'sha256:0123abcd',
  DATABASE_URL: 'postgresql://payments@db.internal:5432/payments',
  PGLITE_DIR: ' .data/pglite ',
  REDIS_URL: 'redis://cache.internal:6379',
  AUTH_JWT_ISSUER: 'upiik-app',
  AUTH_JWT_AUDIENCE: 'upiik-payments',
  AUTH_TOKEN_MAX_LIFETIME_SECONDS: '7200',
  AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS: '600',
  STRIPE_WEBHOOK_URL: 'http://127.0.0.1:3000/api/webhooks/stripe',
  STRIPE_API_BASE: 'http://127.0.0.1:12111',
  STRIPE_RATE_LIMIT_WINDOW: '60000',
  STRIPE_RATE_LIMIT_MAX: '7',
  STRIPE_ALERT_EMAIL: 'oncall@upiik.app',
  STRIPE_MONITORING_ENABLED: 'no',
  ALERT_SNS_TOPIC_ARN: 'arn:aws:sns:eu-central-1:123456789012:upiik-payments-alerts',
  SHUTDOWN_TIMEOUT_MS: '5000',
  CORS_ALLOWED_ORIGINS: ' https://upiik.app ,http://localhost:5173',
  ADMIN_RATE_LIMIT_WINDOW: '30000',
  ADMIN_RATE_LIMIT_MAX: '9',
  HEALTH_WINDOW_MS: '1800000',
  HEALTH_MIN_SAMPLE: '11',
  HEALTH_CHECK_INTERVAL_MS: '15000',
  ALERT_WINDOW_MS: '120000',
  ALERT_COALESCE_MS: '2000',
  ALERT_FILE: '.data/alerts.log',
  METRICS_AUTH_TOKEN: 'metrics-token-0123456789',
};

describe('what each variable becomes', () => {
  it('maps every variable into Config', () => {
    expect(loadConfig(EVERYTHING)).toEqual({
      env: 'development',
      isDeployed: false,
      port: 8080,
      logLevel: 'debug',
      version: 'sha256:0123abcd',
      database: { url: 'postgresql://payments@db.internal:5432/payments', pgliteDir: '.data/pglite' },
      redis: { url: 'redis://cache.internal:6379' },
      auth: { secret: BASE_TEST_ENV.AUTH_JWT_SECRET, issuer: 'upiik-app', audience: 'upiik-payments', maxTokenLifetimeSeconds: { user: 7200, admin: 600 } },
      stripe: {
        secretKey: BASE_TEST_ENV.STRIPE_SECRET_KEY,
        publishableKey: BASE_TEST_ENV.STRIPE_PUBLISHABLE_KEY,
        webhookSecret: BASE_TEST_ENV.STRIPE_WEBHOOK_SECRET,
        apiVersion: SDK_API_VERSION,
        apiBase: 'http://127.0.0.1:12111',
        webhookUrl: 'http://127.0.0.1:3000/api/webhooks/stripe',
        prices: { monthly: BASE_TEST_ENV.STRIPE_PRICE_MONTHLY, yearly: BASE_TEST_ENV.STRIPE_PRICE_YEARLY },
        mode: 'test',
      },
      rateLimit: { windowMs: 60000, max: 7 },
      adminRateLimit: { windowMs: 30000, max: 9 },
      http: { corsAllowedOrigins: ['https://upiik.app', 'http://localhost:5173'] },
      monitoring: {
        enabled: false,
        alertEmail: 'oncall@upiik.app',
        snsTopicArn: 'arn:aws:sns:eu-central-1:123456789012:upiik-payments-alerts',
        alertFile: '.data/alerts.log',
        alertWindowMs: 120000,
        alertCoalesceMs: 2000,
        healthWindowMs: 1800000,
        healthMinSample: 11,
        healthCheckIntervalMs: 15000,
        metricsToken: 'metrics-token-0123456789',
      },
      urls: { checkoutSuccess: BASE_TEST_ENV.CHECKOUT_SUCCESS_URL, checkoutCancel: BASE_TEST_ENV.CHECKOUT_CANCEL_URL, portalReturn: BASE_TEST_ENV.BILLING_PORTAL_RETURN_URL },
      shutdownTimeoutMs: 5000,
    });
  });

  it('fills the documented defaults', () => {
    const { NODE_ENV: _env, PORT: _port, LOG_LEVEL: _level, ...required } = BASE_TEST_ENV;
    const config = loadConfig(required);
    expect(config).toMatchObject({
      env: 'development',
      isDeployed: false,
      port: 3000,
      logLevel: 'info',
      database: { url: undefined, pgliteDir: undefined },
      redis: { url: undefined },
      auth: { issuer: undefined, audience: undefined, maxTokenLifetimeSeconds: DEFAULT_MAX_TOKEN_LIFETIME },
      rateLimit: { windowMs: 900_000, max: 5 },
      adminRateLimit: { windowMs: 60_000, max: 60 },
      http: { corsAllowedOrigins: [] },
      monitoring: {
        enabled: true,
        alertWindowMs: 900_000,
        alertCoalesceMs: 10_000,
        healthWindowMs: 3_600_000,
        healthMinSample: 20,
        healthCheckIntervalMs: 60_000,
      },
      shutdownTimeoutMs: 10_000,
    });
    expect(config.stripe).toMatchObject({ apiBase: undefined, webhookUrl: undefined, apiVersion: SDK_API_VERSION });
    expect(config.monitoring).toMatchObject({ alertEmail: undefined, snsTopicArn: undefined, alertFile: undefined, metricsToken: undefined });
    expect(DEFAULT_MAX_TOKEN_LIFETIME).toEqual({ user: 86_400, admin: 3_600 });
    expect(MAX_CONFIGURABLE_TOKEN_LIFETIME_SECONDS).toBe(604_800);
  });

  it.each([
    ['staging', true],
    ['production', true],
    ['development', false],
    ['test', false],
  ])('NODE_ENV=%s is deployed: %s', (nodeEnv, deployed) => {
    const live = nodeEnv === 'production';
    const config = loadConfig({
      ...BASE_TEST_ENV,
      NODE_ENV: nodeEnv,
      ...(deployed
        ? {
            DATABASE_URL: 'postgres://db.internal/payments',
            REDIS_URL: 'rediss://cache.internal:6379',
            CHECKOUT_SUCCESS_URL: 'https://upiik.app/s',
            CHECKOUT_CANCEL_URL: 'https://upiik.app/c',
            BILLING_PORTAL_RETURN_URL: 'https://upiik.app/a',
          }
        : {}),
      ...(live ? { STRIPE_SECRET_KEY: 'sk_live_placeholder', STRIPE_PUBLISHABLE_KEY: 'pk_live_placeholder' } : {}),
    });
    expect(config.isDeployed).toBe(deployed);
    expect(config.env).toBe(nodeEnv);
  });

  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('reads STRIPE_MONITORING_ENABLED=%s as %s', (value, enabled) => {
    expect(loadConfig({ ...BASE_TEST_ENV, STRIPE_MONITORING_ENABLED: value }).monitoring.enabled).toBe(enabled);
  });
});

describe('the problem each bad value produces', () => {
  it.each([
    ['NODE_ENV', 'prod', 'NODE_ENV: must be one of development, test, staging, production'],
    ['PORT', 'eighty', 'PORT: must be a number'],
    ['PORT', '65536', 'PORT: must be a port (0-65535)'],
    ['PORT', '80.5', 'PORT: must be an integer'],
    ['PORT', '-1', 'PORT: must be a port (0-65535)'],
    ['LOG_LEVEL', 'verbose', 'LOG_LEVEL: must be error, warn, info, http or debug'],
    ['SERVICE_VERSION', 'v1 beta', 'SERVICE_VERSION: must be a version or commit id (letters, digits and . _ + : @ -, at most 128)'],
    ['SERVICE_VERSION', '-rc1', 'SERVICE_VERSION: must be a version or commit id (letters, digits and . _ + : @ -, at most 128)'],
    ['SERVICE_VERSION', 'a'.repeat(129), 'SERVICE_VERSION: must be a version or commit id (letters, digits and . _ + : @ -, at most 128)'],
    ['DATABASE_URL', 'mysql://db/payments', 'DATABASE_URL: must be a postgres:// URL'],
    ['DATABASE_URL', 'see postgres://db/payments', 'DATABASE_URL: must be a postgres:// URL'],
    ['REDIS_URL', 'memcached://cache', 'REDIS_URL: must be a redis:// or rediss:// URL'],
    ['REDIS_URL', 'x-redis://cache', 'REDIS_URL: must be a redis:// or rediss:// URL'],
    ['AUTH_JWT_SECRET', 'too-short-secret', 'AUTH_JWT_SECRET: must be at least 32 characters'],
    ['AUTH_TOKEN_MAX_LIFETIME_SECONDS', '604801', 'AUTH_TOKEN_MAX_LIFETIME_SECONDS: must be at most 604800 (7 days)'],
    ['AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS', '604801', 'AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS: must be at most 604800 (7 days)'],
    ['AUTH_TOKEN_MAX_LIFETIME_SECONDS', '1.5', 'AUTH_TOKEN_MAX_LIFETIME_SECONDS: must be an integer'],
    ['AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS', '0', 'AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS: must be positive'],
    ['STRIPE_SECRET_KEY', 'sk_test_has space', 'STRIPE_SECRET_KEY: must be a Stripe secret key (sk_test_/sk_live_/rk_...)'],
    ['STRIPE_SECRET_KEY', 'xsk_test_abc', 'STRIPE_SECRET_KEY: must be a Stripe secret key (sk_test_/sk_live_/rk_...)'],
    ['STRIPE_SECRET_KEY', 'pk_test_abc', 'STRIPE_SECRET_KEY: must be a Stripe secret key (sk_test_/sk_live_/rk_...)'],
    ['STRIPE_PUBLISHABLE_KEY', 'pk_test_abc!', 'STRIPE_PUBLISHABLE_KEY: must be a Stripe publishable key (pk_test_/pk_live_)'],
    ['STRIPE_PUBLISHABLE_KEY', 'xpk_test_abc', 'STRIPE_PUBLISHABLE_KEY: must be a Stripe publishable key (pk_test_/pk_live_)'],
    ['STRIPE_WEBHOOK_SECRET', 'whsec_abc def', 'STRIPE_WEBHOOK_SECRET: must be a webhook signing secret (whsec_...)'],
    ['STRIPE_WEBHOOK_SECRET', 'xwhsec_abc', 'STRIPE_WEBHOOK_SECRET: must be a webhook signing secret (whsec_...)'],
    ['STRIPE_PRICE_MONTHLY', 'price_abc-1', 'STRIPE_PRICE_MONTHLY: must be a Stripe price id (price_...)'],
    ['STRIPE_PRICE_MONTHLY', 'xprice_abc', 'STRIPE_PRICE_MONTHLY: must be a Stripe price id (price_...)'],
    ['STRIPE_PRICE_YEARLY', 'price_abc-1', 'STRIPE_PRICE_YEARLY: must be a Stripe price id (price_...)'],
    ['STRIPE_PRICE_YEARLY', 'xprice_abc', 'STRIPE_PRICE_YEARLY: must be a Stripe price id (price_...)'],
    ['STRIPE_WEBHOOK_URL', 'ftp://payments.upiik.app/hook', 'STRIPE_WEBHOOK_URL: must be an http(s) URL'],
    ['STRIPE_API_BASE', 'xhttp://127.0.0.1:12111', 'STRIPE_API_BASE: must be an http(s) URL'],
    ['STRIPE_API_BASE', 'httpsx://127.0.0.1:12111', 'STRIPE_API_BASE: must be an http(s) URL'],
    ['STRIPE_RATE_LIMIT_MAX', '-1', 'STRIPE_RATE_LIMIT_MAX: must be positive'],
    ['STRIPE_ALERT_EMAIL', 'not-an-email', 'STRIPE_ALERT_EMAIL: must be an email address'],
    ['STRIPE_MONITORING_ENABLED', 'maybe', 'STRIPE_MONITORING_ENABLED: must be true or false'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws:sns:eu-central-1:12345678901:alerts', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws:sns:eu-central-1:1234567890123:alerts', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws:sns:eu-central-1:abcdefghijkl:alerts', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws:sns:eu-central-1:123456789012:', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws:sns:eu-central-1:123456789012:alerts/x', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws:sns::123456789012:alerts', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws:sns:EU_CENTRAL:123456789012:alerts', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws1:sns:eu-central-1:123456789012:alerts', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['ALERT_SNS_TOPIC_ARN', 'x:arn:aws:sns:eu-central-1:123456789012:alerts', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws:sqs:eu-central-1:123456789012:alerts', 'ALERT_SNS_TOPIC_ARN: must be an SNS topic ARN'],
    ['CHECKOUT_SUCCESS_URL', 'upiik.app/success', 'CHECKOUT_SUCCESS_URL: must be an http(s) URL'],
    ['CORS_ALLOWED_ORIGINS', 'https://upiik.app/app', 'CORS_ALLOWED_ORIGINS: must be a comma-separated list of origins such as https://upiik.app (no path, no wildcard)'],
    ['CORS_ALLOWED_ORIGINS', 'https://upiik.app,ftp://files.upiik.app', 'CORS_ALLOWED_ORIGINS: must be a comma-separated list of origins such as https://upiik.app (no path, no wildcard)'],
    ['CORS_ALLOWED_ORIGINS', 'not a url', 'CORS_ALLOWED_ORIGINS: must be a comma-separated list of origins such as https://upiik.app (no path, no wildcard)'],
    ['METRICS_AUTH_TOKEN', 'fifteen-chars15', 'METRICS_AUTH_TOKEN: must be at least 16 characters'],
    ['SHUTDOWN_TIMEOUT_MS', 'soon', 'SHUTDOWN_TIMEOUT_MS: must be a number'],
  ])('%s=%s: %s', (name, value, problem) => {
    expect(problemsOf({ ...BASE_TEST_ENV, [name]: value })).toEqual([problem]);
  });

  it.each([
    ['PORT', '0'],
    ['PORT', '65535'],
    ['AUTH_TOKEN_MAX_LIFETIME_SECONDS', '604800'],
    ['METRICS_AUTH_TOKEN', 'sixteen-chars-16'],
    ['ALERT_SNS_TOPIC_ARN', 'arn:aws-us-gov:sns:us-gov-west-1:123456789012:alerts_2'],
    ['CORS_ALLOWED_ORIGINS', 'http://localhost:5173'],
    ['DATABASE_URL', 'postgres://db/payments'],
    ['REDIS_URL', 'rediss://cache:6379'],
    ['STRIPE_SECRET_KEY', 'rk_test_restricted_key'],
    ['STRIPE_WEBHOOK_SECRET', 'whsec_abc+/='],
    ['STRIPE_API_BASE', 'https://sandbox.internal'],
  ])('accepts %s=%s', (name, value) => {
    expect(problemsOf({ ...BASE_TEST_ENV, [name]: value })).toEqual([]);
  });

  it('says "is required" for a missing variable, not the rule its value would break', () => {
    const { CHECKOUT_SUCCESS_URL: _url, STRIPE_PRICE_YEARLY: _price, ...env } = BASE_TEST_ENV;
    expect(problemsOf(env)).toEqual(['STRIPE_PRICE_YEARLY: is required', 'CHECKOUT_SUCCESS_URL: is required']);
  });

  it('names a variable once when a rule across variables and its own rule both refuse it', () => {
    const problems = problemsOf({ ...BASE_TEST_ENV, NODE_ENV: 'production', STRIPE_SECRET_KEY: 'sk_test_not valid' });
    expect(problems.filter((p) => p.startsWith('STRIPE_SECRET_KEY:'))).toEqual(['STRIPE_SECRET_KEY: NODE_ENV=production requires a live secret key (sk_live_...)']);
    expect(problems.filter((p) => p.startsWith('STRIPE_PUBLISHABLE_KEY:'))).toEqual(['STRIPE_PUBLISHABLE_KEY: NODE_ENV=production requires a live publishable key (pk_live_...)']);
  });

  it('refuses a test publishable key and the API base in production, each by name', () => {
    const problems = problemsOf({
      ...BASE_TEST_ENV,
      NODE_ENV: 'production',
      STRIPE_SECRET_KEY: 'sk_live_placeholder',
      STRIPE_PUBLISHABLE_KEY: 'pk_test_placeholder',
      STRIPE_API_BASE: 'https://sandbox.internal',
      DATABASE_URL: 'postgres://db/payments',
      REDIS_URL: 'rediss://cache:6379',
      CHECKOUT_SUCCESS_URL: 'https://upiik.app/s',
      CHECKOUT_CANCEL_URL: 'https://upiik.app/c',
      BILLING_PORTAL_RETURN_URL: 'https://upiik.app/a',
    });
    expect(problems).toEqual([
      'STRIPE_PUBLISHABLE_KEY: NODE_ENV=production requires a live publishable key (pk_live_...)',
      'STRIPE_API_BASE: must be unset in production (live keys only ever go to api.stripe.com)',
      'STRIPE_PUBLISHABLE_KEY: must be the same mode as STRIPE_SECRET_KEY (live vs test)',
    ]);
  });

  it('refuses a live publishable key outside production, naming the environment', () => {
    expect(problemsOf({ ...BASE_TEST_ENV, NODE_ENV: 'test', STRIPE_PUBLISHABLE_KEY: 'pk_live_placeholder' })).toEqual([
      'STRIPE_PUBLISHABLE_KEY: live keys are refused outside production (NODE_ENV=test); use a pk_test_ key',
      'STRIPE_PUBLISHABLE_KEY: must be the same mode as STRIPE_SECRET_KEY (test vs live)',
    ]);
    expect(problemsOf({ ...BASE_TEST_ENV, NODE_ENV: 'test', STRIPE_SECRET_KEY: 'sk_live_placeholder', STRIPE_PUBLISHABLE_KEY: 'pk_live_placeholder' })).toEqual([
      'STRIPE_SECRET_KEY: live keys are refused outside production (NODE_ENV=test); use a sk_test_ key',
      'STRIPE_PUBLISHABLE_KEY: live keys are refused outside production (NODE_ENV=test); use a pk_test_ key',
    ]);
  });

  it('compares key modes only when both keys are present', () => {
    const { STRIPE_SECRET_KEY: _secret, ...withoutSecret } = BASE_TEST_ENV;
    expect(problemsOf({ ...withoutSecret, STRIPE_PUBLISHABLE_KEY: 'pk_test_placeholder' })).toEqual(['STRIPE_SECRET_KEY: is required']);
    const { STRIPE_PUBLISHABLE_KEY: _publishable, ...withoutPublishable } = BASE_TEST_ENV;
    expect(problemsOf(withoutPublishable)).toEqual(['STRIPE_PUBLISHABLE_KEY: is required']);
  });

  it('reads the https and rediss rules from the start of the URL, in any case', () => {
    const deployed = {
      ...BASE_TEST_ENV,
      NODE_ENV: 'staging',
      DATABASE_URL: 'postgres://db/payments',
      REDIS_URL: 'rediss://cache:6379',
      CHECKOUT_SUCCESS_URL: 'https://upiik.app/s',
      CHECKOUT_CANCEL_URL: 'https://upiik.app/c',
      BILLING_PORTAL_RETURN_URL: 'HTTPS://upiik.app/a',
    };
    expect(problemsOf(deployed)).toEqual([]);
    expect(problemsOf({ ...deployed, STRIPE_WEBHOOK_URL: 'http://payments.upiik.app/hook?via=https://x' })).toEqual(['STRIPE_WEBHOOK_URL: must be https outside local development']);
    expect(problemsOf({ ...deployed, REDIS_URL: 'redis://cache:6379/?tls=rediss://x' })).toEqual(['REDIS_URL: must be rediss:// (TLS) outside local development']);
  });

  it('treats an unset NODE_ENV as development when judging keys', () => {
    const { NODE_ENV: _env, ...env } = BASE_TEST_ENV;
    expect(problemsOf({ ...env, STRIPE_SECRET_KEY: 'sk_live_placeholder' })[0]).toBe(
      'STRIPE_SECRET_KEY: live keys are refused outside production (NODE_ENV=development); use a sk_test_ key',
    );
  });

  it('reads a key mode from its prefix even when the key is malformed', () => {
    expect(problemsOf({ ...BASE_TEST_ENV, NODE_ENV: 'staging', STRIPE_SECRET_KEY: 'x_sk_live_abc', DATABASE_URL: 'postgres://db/p', REDIS_URL: 'rediss://c:6379' }).filter((p) => p.startsWith('STRIPE_SECRET_KEY'))).toEqual([
      'STRIPE_SECRET_KEY: must be a Stripe secret key (sk_test_/sk_live_/rk_...)',
    ]);
  });
});

describe('ConfigError', () => {
  it('lists every problem on its own line under one heading', () => {
    const error = new ConfigError(['PORT: must be a number', 'LOG_LEVEL: must be error, warn, info, http or debug']);
    expect(error.name).toBe('ConfigError');
    expect(error.message).toBe('Invalid configuration:\n  - PORT: must be a number\n  - LOG_LEVEL: must be error, warn, info, http or debug');
    expect(error.problems).toHaveLength(2);
  });
});

