import { loadConfig } from '../../../service/shared/config';
import { SDK_API_VERSION } from '../../../service/shared/stripe-client';
import { BASE_TEST_ENV, problemsOf } from '../../support/config';

const LIVE = {
  NODE_ENV: 'production',
  STRIPE_SECRET_KEY: 'sk_live_placeholder_not_a_key',
  STRIPE_PUBLISHABLE_KEY: 'pk_live_placeholder_not_a_key',
  DATABASE_URL: 'postgres://payments@db.internal:5432/payments',
  REDIS_URL: 'rediss://:token@cache.internal:6379',
  STRIPE_WEBHOOK_URL: 'https://payments.upiik.app/api/webhooks/stripe',
  CHECKOUT_SUCCESS_URL: 'https://upiik.app/premium/success?session_id={CHECKOUT_SESSION_ID}',
  CHECKOUT_CANCEL_URL: 'https://upiik.app/premium',
  BILLING_PORTAL_RETURN_URL: 'https://upiik.app/account',
};
const STAGING = { ...LIVE, NODE_ENV: 'staging', STRIPE_SECRET_KEY: 'sk_test_placeholder_staging', STRIPE_PUBLISHABLE_KEY: 'pk_test_placeholder_staging' };

describe('configuration', () => {
  it('parses a complete test environment with the documented defaults', () => {
    const config = loadConfig({ ...BASE_TEST_ENV, PORT: '' });
    expect(config.port).toBe(3000);
    expect(config.rateLimit).toEqual({ windowMs: 900_000, max: 5 });
    expect(config.monitoring.enabled).toBe(true);
    expect(config.stripe.apiVersion).toBe(SDK_API_VERSION);
    expect(config.stripe.mode).toBe('test');
  });

  it('refuses a test secret key in production, naming STRIPE_SECRET_KEY', () => {
    const problems = problemsOf({ ...BASE_TEST_ENV, ...LIVE, STRIPE_SECRET_KEY: 'sk_test_abc', STRIPE_PUBLISHABLE_KEY: 'pk_live_x' });
    expect(problems.some((p) => p.startsWith('STRIPE_SECRET_KEY:') && p.includes('sk_live_'))).toBe(true);
  });

  it('names STRIPE_SECRET_KEY in production even when other variables are missing too', () => {
    const problems = problemsOf({ NODE_ENV: 'production', STRIPE_SECRET_KEY: 'sk_test_abc' });
    expect(problems[0]).toMatch(/^STRIPE_SECRET_KEY: NODE_ENV=production requires a live secret key/);
    expect(problems.some((p) => p.startsWith('AUTH_JWT_SECRET: is required'))).toBe(true);
  });

  it('accepts live keys in production with real database and Redis URLs', () => {
    const config = loadConfig({ ...BASE_TEST_ENV, ...LIVE, STRIPE_WEBHOOK_SECRET: 'whsec_abc' });
    expect(config.stripe.mode).toBe('live');
    expect(config.isDeployed).toBe(true);
  });

  it.each(['development', 'test', 'staging'])('refuses live keys when NODE_ENV=%s', (nodeEnv) => {
    const problems = problemsOf({ ...BASE_TEST_ENV, ...LIVE, NODE_ENV: nodeEnv });
    expect(problems.some((p) => p.startsWith('STRIPE_SECRET_KEY: live keys are refused outside production'))).toBe(true);
  });

  it('refuses secret and publishable keys of different modes', () => {
    const problems = problemsOf({ ...BASE_TEST_ENV, STRIPE_PUBLISHABLE_KEY: 'pk_live_x' });
    expect(problems.some((p) => p.startsWith('STRIPE_PUBLISHABLE_KEY: must be the same mode'))).toBe(true);
  });

  it('requires a whsec_ webhook secret', () => {
    expect(problemsOf({ ...BASE_TEST_ENV, STRIPE_WEBHOOK_SECRET: 'not-a-secret' })).toEqual([
      'STRIPE_WEBHOOK_SECRET: must be a webhook signing secret (whsec_...)',
    ]);
  });

  it('requires the real database and Redis in staging and production', () => {
    const problems = problemsOf({ ...BASE_TEST_ENV, NODE_ENV: 'staging' });
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^DATABASE_URL: is required/), expect.stringMatching(/^REDIS_URL: is required/)]));
  });

  it('refuses an API version other than the one the SDK is typed against', () => {
    const problems = problemsOf({ ...BASE_TEST_ENV, STRIPE_API_VERSION: '2020-08-27' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^STRIPE_API_VERSION: must equal/);
  });

  it('lists every invalid variable at once and never echoes secret values', () => {
    const secret = 'sk_live_super_secret_value_123';
    let message = '';
    try {
      loadConfig({ ...BASE_TEST_ENV, STRIPE_SECRET_KEY: secret, PORT: 'eighty', STRIPE_RATE_LIMIT_MAX: '-1' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('PORT: must be a number');
    expect(message).toContain('STRIPE_RATE_LIMIT_MAX: must be positive');
    expect(message).toContain('STRIPE_SECRET_KEY');
    expect(message).not.toContain(secret);
  });

  it('treats empty values from env files as unset', () => {
    expect(problemsOf({ ...BASE_TEST_ENV, AUTH_JWT_SECRET: '  ' })).toEqual(['AUTH_JWT_SECRET: is required']);
  });

  describe('restricted keys (rk_) follow the same live/test rules as secret keys', () => {
    it('treats rk_live_ as live: accepted in production, with live mode', () => {
      const config = loadConfig({ ...BASE_TEST_ENV, ...LIVE, STRIPE_SECRET_KEY: 'rk_live_placeholder_restricted', STRIPE_WEBHOOK_SECRET: 'whsec_abc' });
      expect(config.stripe.mode).toBe('live');
    });

    it.each(['development', 'test', 'staging'])('refuses rk_live_ when NODE_ENV=%s (staging can never charge a real card)', (nodeEnv) => {
      const problems = problemsOf({ ...BASE_TEST_ENV, ...LIVE, NODE_ENV: nodeEnv, STRIPE_SECRET_KEY: 'rk_live_placeholder_restricted', STRIPE_PUBLISHABLE_KEY: 'pk_test_x' });
      expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^STRIPE_SECRET_KEY: live keys are refused outside production/)]));
      expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^STRIPE_PUBLISHABLE_KEY: must be the same mode as STRIPE_SECRET_KEY \(live vs test\)/)]));
    });

    it('reads the mode from the prefix only: a test key with _live_ in its body is a test key', () => {
      expect(loadConfig({ ...BASE_TEST_ENV, ...STAGING, STRIPE_SECRET_KEY: 'sk_test_team_live_demo' }).stripe.mode).toBe('test');
    });

    it('refuses rk_test_ in production and accepts it, in test mode, in staging', () => {
      expect(problemsOf({ ...BASE_TEST_ENV, ...LIVE, STRIPE_SECRET_KEY: 'rk_test_placeholder_restricted' })[0]).toMatch(/^STRIPE_SECRET_KEY: NODE_ENV=production requires a live secret key/);
      expect(loadConfig({ ...BASE_TEST_ENV, ...STAGING, STRIPE_SECRET_KEY: 'rk_test_placeholder_restricted' }).stripe.mode).toBe('test');
    });
  });

  describe('nothing in plaintext once deployed', () => {
    it.each(['staging', 'production'])('accepts the https URLs and rediss:// when NODE_ENV=%s', (nodeEnv) => {
      const env = nodeEnv === 'production' ? LIVE : STAGING;
      expect(problemsOf({ ...BASE_TEST_ENV, ...env, STRIPE_WEBHOOK_SECRET: 'whsec_abc' })).toEqual([]);
    });

    it.each([
      ['staging', 'STRIPE_WEBHOOK_URL', 'http://payments.staging.upiik.app/api/webhooks/stripe'],
      ['production', 'STRIPE_WEBHOOK_URL', 'http://payments.upiik.app/api/webhooks/stripe'],
      ['staging', 'CHECKOUT_SUCCESS_URL', 'http://staging.upiik.app/premium/success'],
      ['production', 'CHECKOUT_CANCEL_URL', 'http://upiik.app/premium'],
      ['production', 'BILLING_PORTAL_RETURN_URL', 'http://upiik.app/account'],
    ])('when NODE_ENV=%s refuses an http %s', (nodeEnv, name, url) => {
      const env = nodeEnv === 'production' ? LIVE : STAGING;
      expect(problemsOf({ ...BASE_TEST_ENV, ...env, [name]: url })).toEqual([`${name}: must be https outside local development`]);
    });

    it.each(['staging', 'production'])('refuses a plaintext redis:// URL when NODE_ENV=%s', (nodeEnv) => {
      const env = nodeEnv === 'production' ? LIVE : STAGING;
      expect(problemsOf({ ...BASE_TEST_ENV, ...env, REDIS_URL: 'redis://cache.internal:6379' })).toEqual(['REDIS_URL: must be rediss:// (TLS) outside local development']);
    });

    it('allows http and redis:// for local development and tests', () => {
      const config = loadConfig({ ...BASE_TEST_ENV, NODE_ENV: 'development', STRIPE_WEBHOOK_URL: 'http://127.0.0.1:3000/api/webhooks/stripe', REDIS_URL: 'redis://127.0.0.1:6379' });
      expect(config.stripe.webhookUrl).toBe('http://127.0.0.1:3000/api/webhooks/stripe');
      expect(config.urls.checkoutSuccess).toMatch(/^http:\/\//);
    });
  });
});
