import { buildApp } from '../../../service/app';
import { loadConfig } from '../../../service/shared/config';
import { BASE_TEST_ENV } from '../../support/config';
import { startTestService, type TestService } from '../../support/service';
import { sql } from 'kysely';
import request from 'supertest';

describe('HTTP hardening', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ env: { CORS_ALLOWED_ORIGINS: 'https://upiik.app,https://staging.upiik.app' } });
  });
  afterAll(async () => {
    await svc.close();
  });

  it('sends helmet security headers and no X-Powered-By', async () => {
    const res = await fetch(`${svc.url}/api/payments/status`);
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('allows CORS only for configured origins, preflight included', async () => {
    const allowed = await fetch(`${svc.url}/api/payments/checkout-session`, {
      method: 'OPTIONS',
      headers: { origin: 'https://upiik.app', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://upiik.app');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('Authorization');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();

    const refused = await fetch(`${svc.url}/api/payments/checkout-session`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();

    const simple = await fetch(`${svc.url}/api/payments/status`, { headers: { origin: 'https://staging.upiik.app' } });
    expect(simple.headers.get('access-control-allow-origin')).toBe('https://staging.upiik.app');
    expect(simple.headers.get('access-control-expose-headers')).toContain('RateLimit');
  });
});

describe('errors in production', () => {
  it('never send a stack trace to clients in production, while development shows it', async () => {
    const svc = await startTestService();
    try {
      // Break the database under the app: the next query throws a real internal error.
      await sql`alter table subscriptions rename to subscriptions_gone`.execute(svc.database.db);
      const token = await svc.tokenFor({ id: 'stack_user' });
      const production = buildApp({ ...svc.deps, config: { ...svc.config, env: 'production', isDeployed: true }, monitoring: undefined });
      const development = buildApp({ ...svc.deps, config: { ...svc.config, env: 'development' }, monitoring: undefined });

      const prod = await request(production).get('/api/payments/subscription').set('Authorization', `Bearer ${token}`);
      expect(prod.status).toBe(500);
      expect(prod.body).toEqual({ error: { code: 'internal_error', message: 'Internal server error' } });
      expect(prod.text).not.toMatch(/\bat .+:\d+:\d+/);
      expect(prod.text).not.toContain('subscriptions');

      const dev = await request(development).get('/api/payments/subscription').set('Authorization', `Bearer ${token}`);
      expect(dev.status).toBe(500);
      expect(dev.body.error.stack).toMatch(/subscriptions/);
    } finally {
      await svc.close();
    }
  });
});

describe('live-key enforcement at startup', () => {
  const LIVE = {
    NODE_ENV: 'production',
    STRIPE_SECRET_KEY: 'sk_live_prod_key_0001',
    STRIPE_PUBLISHABLE_KEY: 'pk_live_prod_key_0001',
    DATABASE_URL: 'postgres://db.internal/payments',
    REDIS_URL: 'rediss://cache.internal:6379',
    CHECKOUT_SUCCESS_URL: 'https://upiik.app/premium/success?session_id={CHECKOUT_SESSION_ID}',
    CHECKOUT_CANCEL_URL: 'https://upiik.app/premium',
    BILLING_PORTAL_RETURN_URL: 'https://upiik.app/account',
  };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...BASE_TEST_ENV, ...env });
      return [];
    } catch (error) {
      return (error as { problems: string[] }).problems;
    }
  };

  it('accepts live keys only in production', () => {
    expect(problems(LIVE)).toEqual([]);
    expect(problems({ ...LIVE, NODE_ENV: 'staging' }).join('\n')).toMatch(/STRIPE_SECRET_KEY: live keys are refused outside production/);
    expect(problems({ ...LIVE, NODE_ENV: 'development' }).join('\n')).toMatch(/STRIPE_PUBLISHABLE_KEY: live keys are refused outside production/);
  });

  it('refuses test keys and the sandbox base URL in production, without echoing the key', () => {
    const found = problems({ ...LIVE, STRIPE_SECRET_KEY: 'sk_test_should_not_echo', STRIPE_API_BASE: 'http://127.0.0.1:12111' });
    expect(found.join('\n')).toMatch(/STRIPE_SECRET_KEY: NODE_ENV=production requires a live secret key/);
    expect(found.join('\n')).toMatch(/STRIPE_API_BASE: must be unset in production/);
    expect(found.join('\n')).not.toContain('sk_test_should_not_echo');
  });

  it('validates the CORS allow-list', () => {
    expect(problems({ CORS_ALLOWED_ORIGINS: 'https://upiik.app/path' }).join()).toMatch(/^CORS_ALLOWED_ORIGINS: must be a comma-separated list of origins/);
    expect(problems({ CORS_ALLOWED_ORIGINS: '*' }).join()).toMatch(/^CORS_ALLOWED_ORIGINS/);
    expect(loadConfig({ ...BASE_TEST_ENV, CORS_ALLOWED_ORIGINS: 'https://upiik.app, http://localhost:5173' }).http.corsAllowedOrigins).toEqual(['https://upiik.app', 'http://localhost:5173']);
  });
});
