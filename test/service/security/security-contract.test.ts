import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import { corsAllowList, createRateLimiter, currentUser, issueToken, requireRole, requireUser, securityHeaders, verifyToken, type AuthConfig } from '../../../service/security';
import { AppError } from '../../../service/shared/errors';
import { createStore, isRedisStore, type Store } from '../../../service/shared/store';
import { captureLogger } from '../../support/logger';
import { createTestStore } from '../../support/store';
import { startProxy } from '../../support/tcp-proxy';
import { waitUntil } from '../../support/wait';

/**
 * The security middleware built inside each test, with exact answers: header values, CORS lists,
 * every 401 message and boundary of the token rules, how the rate limiter keys and words its 429,
 * and its Redis failover log lines. (The service-level suites build the app once per suite; code
 * run while building it is not attributed to any one test, so they cannot pin these values for
 * mutation testing.)
 */

jest.setTimeout(300_000);

const auth: AuthConfig = { secret: 'a-test-secret-of-at-least-32-bytes!!' };
// The token-time boundaries are checked against Date.now(), pinned to this second in those tests
// (jose reads the clock through new Date(), left real: it only decides expiry, minutes away here).
const NOW = Math.floor(Date.now() / 1000);

/** Renders AppErrors the way the service's error middleware does (status, code, message). */
const renderErrors: ErrorRequestHandler = (err, _req, res, _next) => {
  if (err instanceof AppError) res.status(err.status).json({ error: { code: err.code, message: err.message } });
  else res.status(500).json({ error: { code: 'internal_error', message: String(err) } });
};

function authApp(config: AuthConfig = auth) {
  const app = express();
  app.get('/me', requireUser(config), (_req, res) => {
    res.json(currentUser(res));
  });
  app.get('/admin', requireUser(config), requireRole('admin'), (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/forgot-auth', (_req, res) => {
    res.json(currentUser(res));
  });
  app.use(renderErrors);
  return app;
}

async function sign(claims: Record<string, unknown>, options: { iat?: number | null; exp?: number | null; secret?: string } = {}): Promise<string> {
  const { SignJWT } = await import('jose');
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' });
  if (options.iat !== null) jwt.setIssuedAt(options.iat ?? NOW);
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? NOW + 600);
  return jwt.sign(new TextEncoder().encode(options.secret ?? auth.secret));
}

describe('tokens: every refusal names its reason', () => {
  beforeEach(() => {
    jest.spyOn(Date, 'now').mockReturnValue(NOW * 1000);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  const get = async (path: string, token: string | undefined, header = token === undefined ? undefined : `Bearer ${token}`) => {
    const req = request(authApp()).get(path);
    if (header !== undefined) req.set('Authorization', header);
    const res = await req;
    return { status: res.status, ...(res.body as object) } as { status: number; error?: { code: string; message: string } } & Record<string, unknown>;
  };

  test.each([
    ['no header', undefined, 'missing_token', 'Send Authorization: Bearer <token>'],
    ['a Basic header', 'Basic dXNlcjpwYXNz', 'missing_token', 'Send Authorization: Bearer <token>'],
    ['Bearer glued to a prefix', 'XBearer abc.def.ghi', 'missing_token', 'Send Authorization: Bearer <token>'],
    ['two tokens', 'Bearer abc def', 'missing_token', 'Send Authorization: Bearer <token>'],
    ['a token that is not a JWT', 'Bearer not-a-jwt', 'invalid_token', 'Token is invalid'],
  ])('%s: 401 %s', async (_label, header, code, message) => {
    expect(await get('/me', undefined, header)).toEqual({ status: 401, error: { code, message } });
  });

  test('a Bearer header with several spaces or any case still carries the token', async () => {
    const token = await sign({ sub: 'u_spaces' });
    expect(await get('/me', undefined, `Bearer   ${token}`)).toMatchObject({ status: 200, id: 'u_spaces' });
    expect(await get('/me', undefined, `bearer ${token}`)).toMatchObject({ status: 200, id: 'u_spaces' });
  });

  test('wrong signature, expiry, missing exp, bad subject: each its own message', async () => {
    expect(await get('/me', await sign({ sub: 'u1' }, { secret: 'another-secret-of-at-least-32-bytes!' }))).toEqual({ status: 401, error: { code: 'invalid_token', message: 'Token is invalid' } });
    expect(await get('/me', await sign({ sub: 'u1' }, { exp: NOW - 60 }))).toEqual({ status: 401, error: { code: 'token_expired', message: 'Token has expired' } });
    expect(await get('/me', await sign({ sub: 'u1' }, { exp: null }))).toEqual({ status: 401, error: { code: 'invalid_token', message: 'Token must carry a numeric "exp" claim' } });
    expect(await get('/me', await sign({ sub: 'u1' }, { iat: NOW + 100, exp: NOW + 200 }))).toEqual({
      status: 401,
      error: { code: 'invalid_token', message: 'Token claim "iat" is in the future' },
    });
    expect(await get('/me', await sign({ sub: 'u 1' }))).toEqual({
      status: 401,
      error: { code: 'invalid_token', message: 'Token subject must be 1-128 characters of A-Z a-z 0-9 _ - : . @' },
    });
    const withIssuer = await request(authApp({ ...auth, issuer: 'https://id.upiik.app' })).get('/me').set('Authorization', `Bearer ${await sign({ sub: 'u1', iss: 'https://evil' })}`);
    expect(withIssuer.body).toEqual({ error: { code: 'invalid_token', message: 'Token claim "iss" is not accepted' } });
  });

  test('iat may run 5 s ahead of our clock (skew), not 6', async () => {
    expect(await get('/me', await sign({ sub: 'u_skew' }, { iat: NOW + 5, exp: NOW + 600 }))).toMatchObject({ status: 200 });
    expect(await get('/me', await sign({ sub: 'u_skew' }, { iat: NOW + 6, exp: NOW + 600 }))).toMatchObject({ status: 401 });
  });

  test('a token may live its role’s lifetime plus 5 s of skew, not a second more, and the message names the role', async () => {
    const user = { sub: 'u_life' };
    const admin = { sub: 'ops_life', role: 'admin' };
    expect(await get('/me', await sign(user, { exp: NOW + 86_405 }))).toMatchObject({ status: 200 });
    expect(await get('/me', await sign(user, { exp: NOW + 86_406 }))).toEqual({
      status: 401,
      error: { code: 'invalid_token', message: 'Token lives longer than 86400 s, the most a user token may' },
    });
    expect(await get('/me', await sign(admin, { exp: NOW + 3_605 }))).toMatchObject({ status: 200, role: 'admin' });
    expect(await get('/me', await sign(admin, { exp: NOW + 3_606 }))).toEqual({
      status: 401,
      error: { code: 'invalid_token', message: 'Token lives longer than 3600 s, the most an admin token may' },
    });
    // Without iat, the lifetime counts from now.
    expect(await get('/me', await sign(user, { iat: null, exp: NOW + 86_406 }))).toMatchObject({ status: 401 });
  });

  test('email and city: optional, strings, bounded; empty means absent', async () => {
    expect(await get('/me', await sign({ sub: 'u_claims', email: '', city: null }))).toEqual({ status: 200, id: 'u_claims', role: 'user' });
    expect(await get('/me', await sign({ sub: 'u_claims', email: `${'e'.repeat(242)}@example.com`, city: 'c'.repeat(100) }))).toMatchObject({ status: 200, city: 'c'.repeat(100) });
    expect(await get('/me', await sign({ sub: 'u_claims', email: `${'e'.repeat(243)}@example.com` }))).toEqual({
      status: 401,
      error: { code: 'invalid_token', message: 'Token claim "email" must be a string of at most 254 characters' },
    });
    expect(await get('/me', await sign({ sub: 'u_claims', city: 42 }))).toEqual({
      status: 401,
      error: { code: 'invalid_token', message: 'Token claim "city" must be a string of at most 100 characters' },
    });
  });

  test('roles: 403 naming the role; a route that forgot requireUser answers 401, not 500', async () => {
    expect(await get('/admin', await sign({ sub: 'u_plain' }))).toEqual({ status: 403, error: { code: 'forbidden', message: 'This route requires the admin role' } });
    expect(await get('/admin', await sign({ sub: 'ops', role: 'admin' }))).toEqual({ status: 200, ok: true });
    expect((await get('/forgot-auth', undefined)).status).toBe(401);
  });
});

describe('issueToken refuses what verification would refuse', () => {
  test('a userId outside the pattern, quoting it', async () => {
    await expect(issueToken(auth, { userId: 'has space' })).rejects.toThrow('userId must be 1-128 characters of A-Z a-z 0-9 _ - : . @, got "has space"');
  });

  test('a lifetime over the role’s ceiling, naming the role and the default 1h', async () => {
    const short: AuthConfig = { ...auth, maxTokenLifetimeSeconds: { user: 600, admin: 300 } };
    await expect(issueToken(short, { userId: 'u1' })).rejects.toThrow('expiresIn 1h exceeds the 600 s maximum lifetime of a user token');
    await expect(issueToken(short, { userId: 'ops', admin: true, expiresIn: '10m' })).rejects.toThrow('expiresIn 10m exceeds the 300 s maximum lifetime of an admin token');
  });

  test('what it signs is a typed HS256 JWT the service accepts', async () => {
    const token = await issueToken(auth, { userId: 'u_issued', email: 'a@example.com', city: 'Lyon', admin: true, expiresIn: '15m' });
    const { decodeProtectedHeader } = await import('jose');
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    await expect(verifyToken(auth, token)).resolves.toEqual({ id: 'u_issued', email: 'a@example.com', city: 'Lyon', role: 'admin' });
  });
});

describe('security headers and CORS, exactly', () => {
  const app = () => {
    const a = express();
    a.use(securityHeaders());
    a.use(corsAllowList(['https://upiik.app']));
    a.get('/x', (_req, res) => {
      res.json({ ok: true });
    });
    return a;
  };

  test('CSP forbids framing and foreign form targets; resources are same-site; no referrer', async () => {
    const res = await request(app()).get('/x');
    const csp = String(res.headers['content-security-policy']).split(';').map((d) => d.trim());
    expect(csp).toEqual(expect.arrayContaining(["frame-ancestors 'none'", "form-action 'self'", "default-src 'self'"]));
    expect(res.headers['cross-origin-resource-policy']).toBe('same-site');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  test('a preflight from the app gets exactly our methods, headers and cache time, without credentials', async () => {
    const res = await request(app())
      .options('/x')
      .set('Origin', 'https://upiik.app')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://upiik.app');
    expect(res.headers['access-control-allow-methods']).toBe('GET,POST,DELETE');
    expect(res.headers['access-control-allow-headers']).toBe('Authorization,Content-Type,X-Request-Id,Idempotency-Key');
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    const simple = await request(app()).get('/x').set('Origin', 'https://upiik.app');
    expect(simple.headers['access-control-expose-headers']).toBe('RateLimit,RateLimit-Policy,Retry-After,X-Request-Id');
    const none = await request(app()).get('/x');
    expect(none.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('the rate limiter', () => {
  let store: Store;
  beforeEach(async () => {
    store = await createTestStore();
  });
  afterEach(async () => {
    await store.close();
  });

  function limitedApp(options: { store: Store; max?: number; logger?: ReturnType<typeof captureLogger> }) {
    const logs = options.logger ?? captureLogger();
    const limiter = createRateLimiter({ name: 'contract', windowMs: 60_000, max: options.max ?? 2, store: options.store, auth, logger: logs.logger });
    const app = express();
    app.set('trust proxy', 1);
    app.use(limiter.middleware);
    app.get('/x', (_req, res) => {
      res.json({ ok: true });
    });
    return { app, logs, limiter };
  }

  test('the 429 says the limit, the window and when to retry, and the rejection is logged with the limiter', async () => {
    const { app, logs } = limitedApp({ store });
    const ip = '203.0.113.7';
    await request(app).get('/x').set('X-Forwarded-For', ip).expect(200);
    await request(app).get('/x').set('X-Forwarded-For', ip).expect(200);
    const res = await request(app).get('/x').set('X-Forwarded-For', ip);
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ error: { code: 'rate_limited', message: `Too many requests; at most 2 per 60 s. Retry after ${res.headers['retry-after']} s.` } });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    // The IETF draft-7 headers only, not the legacy X-RateLimit-* set.
    expect(res.headers['ratelimit-policy']).toBe('2;w=60');
    expect(Object.keys(res.headers).filter((h) => h.startsWith('x-ratelimit'))).toEqual([]);
    expect(logs.lines().find((l) => l.message === 'rate limit exceeded')).toMatchObject({ level: 'warn', limiter: 'contract', method: 'GET', path: '/x' });
  });

  test('a valid token counts against its user (several spaces after Bearer included); anything else against the address', async () => {
    const { app } = limitedApp({ store });
    const ip = '203.0.113.8';
    const alice = await issueToken(auth, { userId: 'u_alice' });
    const bob = await issueToken(auth, { userId: 'u_bob' });
    for (let i = 0; i < 2; i++) await request(app).get('/x').set('X-Forwarded-For', ip).set('Authorization', `Bearer  ${alice}`).expect(200);
    expect((await request(app).get('/x').set('X-Forwarded-For', ip).set('Authorization', `Bearer ${alice}`)).status).toBe(429);
    // Bob, same address: his own budget.
    expect((await request(app).get('/x').set('X-Forwarded-For', ip).set('Authorization', `Bearer ${bob}`)).status).toBe(200);
    // The address's own budget is untouched by the users' requests, then spent by anonymous ones...
    for (let i = 0; i < 2; i++) await request(app).get('/x').set('X-Forwarded-For', ip).expect(200);
    // ...and a valid token behind a prefix is not a Bearer token: it counts against the address.
    expect((await request(app).get('/x').set('X-Forwarded-For', ip).set('Authorization', `XBearer ${bob}`)).status).toBe(429);
  });

  const withRedis = process.env.REDIS_URL ? test : test.skip;
  withRedis('with Redis it logs each change of backend once: to per-instance counting when Redis stops answering, back when it answers', async () => {
    const url = new URL(process.env.REDIS_URL!);
    const proxy = await startProxy({ host: url.hostname, port: Number(url.port || 6379) });
    const keyPrefix = `upiik-test:limit-contract:${process.pid}:`;
    const redis = await createStore({ redisUrl: `redis://${proxy.host}:${proxy.port}`, keyPrefix, onError: () => undefined });
    try {
      const { app, logs, limiter } = limitedApp({ store: redis, max: 100 });
      expect(limiter.backend).toBe('redis');
      const changes = () => logs.lines().filter((l) => String(l.message).startsWith('rate limiter: Redis'));
      await request(app).get('/x').set('X-Forwarded-For', '203.0.113.9').expect(200);
      expect(changes()).toEqual([]); // healthy from the start: nothing to report
      // Counted in Redis under the limiter's own name, beside the store's other keys.
      if (!isRedisStore(redis)) throw new Error('expected the Redis store');
      // (ioredis does not prefix KEYS patterns.)
      expect((await redis.redis.keys(`${keyPrefix}ratelimit:contract:*`)).length).toBeGreaterThan(0);

      proxy.cut();
      await waitUntil(async () => (await request(app).get('/x').set('X-Forwarded-For', '203.0.113.9')).status === 200 && changes().length === 1, { what: 'the failover log line' });
      await request(app).get('/x').set('X-Forwarded-For', '203.0.113.9').expect(200);
      expect(changes()).toEqual([
        expect.objectContaining({ level: 'warn', message: 'rate limiter: Redis unavailable, counting per instance until it answers', limiter: 'contract', error: expect.any(String) }),
      ]);

      proxy.restore();
      await waitUntil(async () => (await request(app).get('/x').set('X-Forwarded-For', '203.0.113.9')).status === 200 && changes().length === 2, { what: 'the recovery log line' });
      expect(changes()[1]).toMatchObject({ level: 'info', message: 'rate limiter: Redis answers again, counting across instances', limiter: 'contract' });
    } finally {
      await redis.close();
      await proxy.close();
    }
  });
});
