import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import express from 'express';
import Stripe from 'stripe';
import request from 'supertest';
import { errorHandler } from '../../../service/http';
import { MAINTENANCE_KEY } from '../../../service/maintenance';
import { startTestService, type TestService } from '../../support/service';

/**
 * Hostile input at the HTTP layer: whatever a client sends, it gets a 4xx naming the problem,
 * never a 5xx, and nothing is written. Raw node:http so headers and bytes go out exactly as written.
 */

let svc: TestService;
let admin: string;
let user: string;

beforeAll(async () => {
  // Limits high: this suite sends many requests from one user and one address on purpose.
  svc = await startTestService({ env: { STRIPE_RATE_LIMIT_MAX: '10000', ADMIN_RATE_LIMIT_MAX: '10000' } });
  admin = `Bearer ${await svc.tokenFor({ id: 'hostile_admin', admin: true })}`;
  user = `Bearer ${await svc.tokenFor({ id: 'hostile_user' })}`;
});
afterAll(async () => {
  await svc.close();
});

interface Answer {
  status: number;
  code?: string;
  text: string;
}

function send(method: string, path: string, headers: Record<string, string | string[]> = {}, body?: Buffer | string): Promise<Answer> {
  const url = new URL(svc.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, code, text });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** Every route that parses a body; `auth` is what a legitimate caller would send. */
const BODY_ROUTES = [
  { path: '/api/payments/checkout-session', auth: () => user },
  { path: '/api/payments/portal-session', auth: () => user },
  { path: '/api/admin/payments/maintenance', auth: () => admin },
  { path: '/api/admin/payments/users/hostile_user/sync', auth: () => admin },
  { path: '/api/webhooks/stripe', auth: () => 't=1,v1=00' },
];

const authHeader = (path: string, auth: string): Record<string, string> => (path.startsWith('/api/webhooks') ? { 'stripe-signature': auth } : { authorization: auth });

const maintenanceIsOff = async () => expect(await svc.store.get(MAINTENANCE_KEY)).toBeNull();

describe('undecodable bodies are 4xx on every body route, with or without credentials', () => {
  test.each(BODY_ROUTES)('gzip that is not gzip on $path is a 400', async ({ path, auth }) => {
    for (const headers of [{}, authHeader(path, auth())] as Record<string, string>[]) {
      const res = await send('POST', path, { 'content-type': 'application/json', 'content-encoding': 'gzip', ...headers }, Buffer.from('this is not gzip at all'));
      expect({ path, status: res.status, code: res.code }).toEqual({ path, status: 400, code: 'malformed_body' });
    }
  });

  test.each(BODY_ROUTES)('an unsupported Content-Encoding on $path is a 415', async ({ path, auth }) => {
    const res = await send('POST', path, { 'content-type': 'application/json', 'content-encoding': 'compress', ...authHeader(path, auth()) }, '{}');
    expect({ status: res.status, code: res.code }).toEqual({ status: 415, code: 'unsupported_encoding' });
  });

  test.each(BODY_ROUTES.filter((r) => !r.path.startsWith('/api/webhooks')))('an unsupported charset on $path is a 415', async ({ path, auth }) => {
    const res = await send('POST', path, { 'content-type': 'application/json; charset=ebcdic', authorization: auth() }, '{}');
    expect({ status: res.status, code: res.code }).toEqual({ status: 415, code: 'unsupported_charset' });
  });

  test('a real gzip JSON body still works (decoding is supported, not refused)', async () => {
    const res = await send(
      'POST',
      '/api/payments/checkout-session',
      { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: user },
      gzipSync('{"plan":"weekly"}'),
    );
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'invalid_plan' });
  });
});

describe('JSON routes take JSON only', () => {
  const JSON_ROUTES = BODY_ROUTES.filter((r) => !r.path.startsWith('/api/webhooks'));

  test.each(JSON_ROUTES)('a text/plain body on $path is a 415, before and after authentication', async ({ path, auth }) => {
    for (const headers of [{}, { authorization: auth() }] as Record<string, string>[]) {
      const res = await send('POST', path, { 'content-type': 'text/plain', ...headers }, '{"reason":"x"}');
      expect({ status: res.status, code: res.code }).toEqual({ status: 415, code: 'unsupported_media_type' });
    }
    await maintenanceIsOff();
  });

  test.each(JSON_ROUTES)('a body without any Content-Type on $path is a 415', async ({ path, auth }) => {
    const res = await send('POST', path, { authorization: auth(), 'content-length': '2' }, '{}');
    expect({ status: res.status, code: res.code }).toEqual({ status: 415, code: 'unsupported_media_type' });
  });

  test.each(JSON_ROUTES)('malformed JSON on $path is a 400 invalid_json', async ({ path, auth }) => {
    const res = await send('POST', path, { 'content-type': 'application/json', authorization: auth() }, '{"reason": ');
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'invalid_json' });
  });

  test.each(JSON_ROUTES)('a body over 16 kB on $path is a 413', async ({ path, auth }) => {
    const res = await send('POST', path, { 'content-type': 'application/json', authorization: auth() }, JSON.stringify({ reason: 'x'.repeat(20_000) }));
    expect({ status: res.status, code: res.code }).toEqual({ status: 413, code: 'payload_too_large' });
  });

  test('application/merge-patch+json style types are JSON too', async () => {
    const res = await send('POST', '/api/payments/checkout-session', { 'content-type': 'application/vnd.upiik+json', authorization: user }, '{"plan":"weekly"}');
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'invalid_plan' });
  });

  test('a DELETE without a body still works (no body, no content type needed)', async () => {
    const res = await send('DELETE', '/api/admin/payments/maintenance', { authorization: admin });
    expect(res.status).toBe(200);
  });
});

describe('admin bodies and queries are strict', () => {
  const maintenance = (body: string, extra: Record<string, string> = {}) =>
    send('POST', '/api/admin/payments/maintenance', { 'content-type': 'application/json', authorization: admin, ...extra }, body);

  test.each([
    ['an unknown field', '{"reason":"deploy","force":true}'],
    ['a wrong type', '{"ttlSeconds":"600"}'],
    ['a TTL out of range', '{"ttlSeconds":5}'],
    ['an array', '[]'],
    ['a __proto__ key', '{"__proto__":{"polluted":true},"reason":"x"}'],
    ['a constructor key', '{"constructor":{"prototype":{"polluted":true}}}'],
    ['deep nesting', `{"reason":${'['.repeat(2_000)}${']'.repeat(2_000)}}`],
  ])('maintenance with %s is a 400 and stays off', async (_what, body) => {
    const res = await maintenance(body);
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'invalid_body' });
    await maintenanceIsOff();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('a JSON null or number body is refused, not read as "no options"', async () => {
    for (const body of ['null', '42', '"on"']) {
      const res = await maintenance(body);
      expect(res.status).toBe(400);
    }
    await maintenanceIsOff();
  });

  test('an unknown query parameter or a repeated one on an admin route is a 400', async () => {
    for (const path of ['/api/admin/payments/users/hostile_user?debug=1', '/api/admin/payments/users/hostile_user?a=1&a=2', '/api/admin/payments/maintenance?ttlSeconds=60']) {
      const method = path.includes('maintenance') ? 'POST' : 'GET';
      const res = await send(method, path, { authorization: admin, 'content-type': 'application/json' }, method === 'POST' ? '{}' : undefined);
      expect({ path, status: res.status, code: res.code }).toEqual({ path, status: 400, code: 'invalid_query' });
    }
    await maintenanceIsOff();
  });

  test('a sync body is refused: the route takes none', async () => {
    const res = await send('POST', '/api/admin/payments/users/hostile_user/sync', { 'content-type': 'application/json', authorization: admin }, '{"all":true}');
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'invalid_body' });
  });
});

describe('URLs', () => {
  test.each(['/api/admin/payments/users/%E0%A4%A', '/api/admin/payments/users/%E0%A4%A/sync', '/api/admin/payments/users/%ZZ'])(
    'malformed percent-encoding in a path parameter (%s) is a 400, with and without a token',
    async (path) => {
      for (const headers of [{}, { authorization: admin }] as Record<string, string>[]) {
        const method = path.endsWith('/sync') ? 'POST' : 'GET';
        const res = await send(method, path, headers);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
      }
      const res = await send(path.endsWith('/sync') ? 'POST' : 'GET', path, { authorization: admin });
      expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'malformed_url' });
      // The raw parameter never comes back to the client.
      expect(res.text).not.toContain('%E0');
    },
  );

  test('an encoded user id that decodes to something invalid is a 400, not a lookup', async () => {
    const res = await send('GET', '/api/admin/payments/users/%00evil', { authorization: admin });
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'invalid_user_id' });
  });

  test('malformed percent-encoding on routes without parameters is never a 5xx', async () => {
    for (const path of ['/health/live%E0', '/api/payments/status?x=%E0%A4%A', '/metrics?%ZZ', '/api/payments/%E0%A4%A', '/api/webhooks/stripe%ZZ']) {
      const res = await send('GET', path);
      expect({ path, below500: res.status < 500 }).toEqual({ path, below500: true });
    }
  });

  test('query arrays where a string is expected are never a 5xx on public routes', async () => {
    for (const path of ['/api/payments/status?a=1&a=2', '/health/ready?x[]=1&x[]=2', '/api/payments/health?window=1&window=2', '/metrics?name[$ne]=x']) {
      const res = await send('GET', path);
      expect({ path, below500: res.status < 500 }).toEqual({ path, below500: true });
    }
  });
});

describe('headers', () => {
  test('a huge header is refused by the HTTP server with 431, not a 5xx', async () => {
    const res = await send('GET', '/api/payments/status', { 'x-padding': 'x'.repeat(64 * 1024) });
    expect(res.status).toBe(431);
  });

  test('a huge Authorization header is a 431 or 401, never a 5xx', async () => {
    const res = await send('GET', '/api/payments/subscription', { authorization: `Bearer ${'a'.repeat(12_000)}` });
    expect([401, 431]).toContain(res.status);
  });
});

describe('only the HTTP layer\'s own errors become 4xx', () => {
  test('a Stripe 400 escaping a route is our bug: it stays a 500 and is not blamed on the client', async () => {
    const app = express();
    app.get('/boom', () => {
      throw new Stripe.errors.StripeInvalidRequestError({ message: 'No such price', type: 'invalid_request_error', statusCode: 400 });
    });
    app.use(errorHandler({ logger: svc.logs.logger, exposeStack: false }));
    const res = await request(app).get('/boom');
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('internal_error');
  });
});
