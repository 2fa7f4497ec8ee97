import { ConfigError, loadConfig } from '../../../service/shared/config';
import { SDK_API_VERSION } from '../../../service/shared/stripe-client';
import { BASE_TEST_ENV } from '../../support/config';

const LIVE = {
  NODE_ENV: 'production',
  STRIPE_SECRET_KEY: 'sk_live_placeholder_not_a_key',
  STRIPE_PUBLISHABLE_KEY: 'pk_live_placeholder_not_a_key',
  DATABASE_URL: 'postgres://payments@db.internal:5432/payments',
  REDIS_URL: 'rediss://:token@cache.internal:6379',
};

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

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
});
