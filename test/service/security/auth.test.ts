import { createHmac } from 'node:crypto';
import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import { currentUser, issueToken, requireRole, requireUser, type AuthConfig } from '../../../service/security';
import { loadConfig } from '../../../service/shared/config';
import { AppError } from '../../../service/shared/errors';
import { BASE_TEST_ENV } from '../../support/config';

const SECRET = 'test-only-jwt-secret-of-at-least-32-bytes-0123456789';
const config: AuthConfig = { secret: SECRET };

function buildTestApp(authConfig: AuthConfig) {
  const app = express();
  app.get('/me', requireUser(authConfig), (_req, res) => {
    res.json({ user: currentUser(res) });
  });
  app.get('/admin', requireUser(authConfig), requireRole('admin'), (_req, res) => {
    res.json({ admin: currentUser(res).id });
  });
  const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
    if (err instanceof AppError) {
      if (err.headers) res.set(err.headers);
      res.status(err.status).json({ error: { code: err.code, message: err.message } });
      return;
    }
    res.status(500).json({ error: { code: 'internal', message: String(err) } });
  };
  app.use(errorHandler);
  return app;
}

const app = buildTestApp(config);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A token built by hand, for headers and claims issueToken would never produce. */
function handMadeToken(header: Record<string, unknown>, payload: Record<string, unknown>, sign: 'hs256' | 'none' = 'hs256'): string {
  const signingInput = `${b64url(header)}.${b64url(payload)}`;
  const signature = sign === 'none' ? '' : createHmac('sha256', SECRET).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

async function signWith(options: { secret?: string; alg?: string; payload: Record<string, unknown>; exp?: number; iss?: string; aud?: string }) {
  const { SignJWT } = await import('jose');
  const jwt = new SignJWT(options.payload).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setIssuedAt().setExpirationTime(options.exp ?? '1h');
  if (options.iss) jwt.setIssuer(options.iss);
  if (options.aud) jwt.setAudience(options.aud);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

const get = (path: string, token?: string, target = app) => {
  const req = request(target).get(path);
  return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
};

describe('requireUser', () => {
  test('accepts a valid token and exposes the user with email and city', async () => {
    const token = await issueToken(config, { userId: 'u_123', email: 'ana@example.com', city: 'Paris' });
    const res = await get('/me', token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user: { id: 'u_123', email: 'ana@example.com', city: 'Paris', role: 'user' } });
  });

  test('answers 401 missing_token with a Bearer challenge when there is no Authorization header', async () => {
    const res = await get('/me');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('missing_token');
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  test('answers 401 missing_token for a non-Bearer scheme', async () => {
    const token = await issueToken(config, { userId: 'u_123' });
    const res = await request(app).get('/me').set('Authorization', `Basic ${token}`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('missing_token');
  });

  test('rejects a token signed with another secret', async () => {
    const token = await issueToken({ secret: 'another-secret-that-is-also-32-bytes-long!!' }, { userId: 'u_123' });
    const res = await get('/me', token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
  });

  test('rejects a tampered payload', async () => {
    const [header, , signature] = (await issueToken(config, { userId: 'u_123' })).split('.');
    const forged = `${header}.${b64url({ sub: 'u_123', role: 'admin', exp: nowSeconds() + 3600 })}.${signature}`;
    const res = await get('/admin', forged);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
  });

  test('answers 401 token_expired for a token expired beyond the clock tolerance', async () => {
    const token = await signWith({ payload: { sub: 'u_123' }, exp: nowSeconds() - 60 });
    const res = await get('/me', token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('token_expired');
  });

  test('tolerates a few seconds of clock skew on expiry', async () => {
    const token = await signWith({ payload: { sub: 'u_123' }, exp: nowSeconds() - 2 });
    expect((await get('/me', token)).status).toBe(200);
  });

  test.each([
    ['alg none, unsigned', handMadeToken({ alg: 'none', typ: 'JWT' }, { sub: 'u_123', role: 'admin', exp: nowSeconds() + 3600 }, 'none')],
    ['an RS256 header over an HMAC of the secret (algorithm confusion)', handMadeToken({ alg: 'RS256', typ: 'JWT' }, { sub: 'u_123', exp: nowSeconds() + 3600 })],
    ['garbage', 'not.a.jwt'],
  ])('rejects %s', async (_name, token) => {
    const res = await get('/me', token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
  });

  test('rejects HS512 even with the right secret: only HS256 is accepted', async () => {
    const token = await signWith({ alg: 'HS512', payload: { sub: 'u_123' } });
    const res = await get('/me', token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
  });

  test.each([
    ['missing', {}],
    ['empty', { sub: '' }],
    ['not a string', { sub: 123 }],
    ['longer than 128 characters', { sub: 'u'.repeat(129) }],
    ['containing a space', { sub: 'u 123' }],
    ['containing a quote', { sub: "u_1'--" }],
  ])('rejects a subject that is %s', async (_name, payload) => {
    const res = await get('/me', await signWith({ payload }));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
  });

  test('accepts the widest subject the contract allows', async () => {
    const sub = `auth0:A.b@c_d-9${'z'.repeat(113)}`;
    expect(sub).toHaveLength(128);
    const res = await get('/me', await signWith({ payload: { sub } }));
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(sub);
  });

  test('rejects an email claim that is not a string', async () => {
    const res = await get('/me', await signWith({ payload: { sub: 'u_1', email: ['a@b.c'] } }));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
  });

  test('ignores issuer and audience when they are not configured', async () => {
    const token = await signWith({ payload: { sub: 'u_1' }, iss: 'anyone', aud: 'anything' });
    expect((await get('/me', token)).status).toBe(200);
  });

  describe('with issuer and audience configured', () => {
    const strict = { secret: SECRET, issuer: 'https://auth.upiik.app', audience: 'upiik-payments' };
    const strictApp = buildTestApp(strict);

    test('accepts a token issued for this audience by this issuer', async () => {
      const token = await issueToken(strict, { userId: 'u_1' });
      expect((await get('/me', token, strictApp)).status).toBe(200);
    });

    test.each([
      ['another issuer', { iss: 'https://evil.example', aud: 'upiik-payments' }, 'iss'],
      ['another audience', { iss: 'https://auth.upiik.app', aud: 'other-service' }, 'aud'],
      ['no issuer', { aud: 'upiik-payments' }, 'iss'],
    ])('rejects %s', async (_name, claims, claim) => {
      const res = await get('/me', await signWith({ payload: { sub: 'u_1' }, ...claims }), strictApp);
      expect(res.status).toBe(401);
      expect(res.body.error).toEqual({ code: 'invalid_token', message: `Token claim "${claim}" is not accepted` });
    });
  });
});

describe('requireRole', () => {
  test('answers 403 to an authenticated user without the admin role', async () => {
    const res = await get('/admin', await issueToken(config, { userId: 'u_1' }));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
  });

  test('ignores a role other than admin', async () => {
    const res = await get('/admin', await signWith({ payload: { sub: 'u_1', role: 'superuser' } }));
    expect(res.status).toBe(403);
  });

  test('lets an admin through', async () => {
    const res = await get('/admin', await issueToken(config, { userId: 'a_1', admin: true }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ admin: 'a_1' });
  });

  test('answers 401, not 403, when mounted without requireUser', async () => {
    const bare = express();
    bare.get('/admin', requireRole('admin'), (_req, res) => {
      res.json({ ok: true });
    });
    bare.use(((err, _req, res, _next) => {
      res.status((err as AppError).status).json({ code: (err as AppError).code });
    }) as ErrorRequestHandler);
    const res = await request(bare).get('/admin');
    expect(res.status).toBe(401);
  });
});

describe('issueToken', () => {
  test('refuses a user id that requireUser would reject', async () => {
    await expect(issueToken(config, { userId: 'has space' })).rejects.toThrow(RangeError);
  });

  test('signs HS256 with sub, role only for admins, and the requested expiry', async () => {
    const { decodeJwt, decodeProtectedHeader } = await import('jose');
    const userToken = await issueToken(config, { userId: 'u_1', expiresIn: '12h' });
    const adminToken = await issueToken(config, { userId: 'a_1', admin: true });
    expect(decodeProtectedHeader(userToken).alg).toBe('HS256');
    const claims = decodeJwt(userToken);
    expect(claims.sub).toBe('u_1');
    expect(claims.role).toBeUndefined();
    expect(claims.exp! - claims.iat!).toBe(12 * 3600);
    expect(decodeJwt(adminToken).role).toBe('admin');
  });
});

describe('token lifetime rules', () => {
  const hs256 = { alg: 'HS256', typ: 'JWT' };
  const now = nowSeconds;

  test.each([
    ['no exp at all', { sub: 'u_1', iat: now() }],
    ['an exp that is a string', { sub: 'u_1', iat: now(), exp: String(now() + 600) }],
    ['an iat two minutes in the future', { sub: 'u_1', iat: now() + 120, exp: now() + 600 }],
    ['a user token valid for two years', { sub: 'u_1', iat: now(), exp: now() + 2 * 365 * 86_400 }],
    ['a user token valid for 25 hours', { sub: 'u_1', iat: now(), exp: now() + 25 * 3600 }],
    ['an admin token valid for 12 hours', { sub: 'a_1', role: 'admin', iat: now(), exp: now() + 12 * 3600 }],
    ['no iat and an exp two days away', { sub: 'u_1', exp: now() + 2 * 86_400 }],
    ['an iat long ago and an exp a year after it', { sub: 'u_1', iat: now() - 300 * 86_400, exp: now() + 65 * 86_400 }],
  ])('rejects %s', async (_what, claims) => {
    const res = await get((claims as { role?: string }).role === 'admin' ? '/admin' : '/me', handMadeToken(hs256, claims));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
  });

  test.each([
    ['a user token valid for 24 hours', { sub: 'u_1', iat: now(), exp: now() + 24 * 3600 }],
    ['an admin token valid for one hour', { sub: 'a_1', role: 'admin', iat: now(), exp: now() + 3600 }],
    ['an iat a few seconds ahead (clock skew)', { sub: 'u_1', iat: now() + 3, exp: now() + 600 }],
    ['no iat and an exp within the day', { sub: 'u_1', exp: now() + 3600 }],
  ])('accepts %s', async (_what, claims) => {
    const res = await get((claims as { role?: string }).role === 'admin' ? '/admin' : '/me', handMadeToken(hs256, claims));
    expect(res.status).toBe(200);
  });

  test('the limits are configurable per role', async () => {
    const short = buildTestApp({ secret: SECRET, maxTokenLifetimeSeconds: { user: 600, admin: 300 } });
    expect((await get('/me', handMadeToken(hs256, { sub: 'u_1', iat: now(), exp: now() + 600 }), short)).status).toBe(200);
    expect((await get('/me', handMadeToken(hs256, { sub: 'u_1', iat: now(), exp: now() + 3600 }), short)).status).toBe(401);
    expect((await get('/admin', handMadeToken(hs256, { sub: 'a_1', role: 'admin', iat: now(), exp: now() + 600 }), short)).status).toBe(401);
  });

  test('the configuration parses the limits and refuses any past a week', () => {
    expect(loadConfig(BASE_TEST_ENV).auth.maxTokenLifetimeSeconds).toEqual({ user: 86_400, admin: 3_600 });
    expect(loadConfig({ ...BASE_TEST_ENV, AUTH_TOKEN_MAX_LIFETIME_SECONDS: '3600', AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS: '900' }).auth.maxTokenLifetimeSeconds).toEqual({
      user: 3600,
      admin: 900,
    });
    expect(() => loadConfig({ ...BASE_TEST_ENV, AUTH_TOKEN_MAX_LIFETIME_SECONDS: String(365 * 86_400) })).toThrow(/AUTH_TOKEN_MAX_LIFETIME_SECONDS: must be at most 604800/);
    expect(() => loadConfig({ ...BASE_TEST_ENV, AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS: '0' })).toThrow(/AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS/);
  });

  test('issueToken never issues a token the service would refuse', async () => {
    await expect(issueToken(config, { userId: 'u_1', expiresIn: '25h' })).rejects.toThrow(/maximum lifetime/);
    await expect(issueToken(config, { userId: 'a_1', admin: true, expiresIn: '2h' })).rejects.toThrow(/maximum lifetime/);
    const token = await issueToken(config, { userId: 'u_1', expiresIn: '24h' });
    expect((await get('/me', token)).status).toBe(200);
  });
});
