import type { Store } from '../../../service/shared/store';
import { createTestStore } from '../../support/store';
import { startTestService, type TestService } from '../../support/service';

const withRedis = process.env.REDIS_URL ? describe : describe.skip;

async function checkout(svc: TestService, headers: Record<string, string>) {
  return fetch(`${svc.url}/api/payments/checkout-session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ plan: 'monthly' }),
  });
}

describe('rate limiting of checkout and portal (one instance)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  it(`uses the ${process.env.REDIS_URL ? 'Redis' : 'in-process'} store and answers the 6th checkout in the window with 429 JSON, Retry-After and RateLimit headers`, async () => {
    expect(svc.store.backend).toBe(process.env.REDIS_URL ? 'redis' : 'memory');
    const auth = { authorization: `Bearer ${await svc.tokenFor({ id: 'rl_single', email: 'rl@example.com' })}` };
    // The window starts with the first request: `reset` counts down from 900 from there, by however
    // long the machine took between requests (seconds on a loaded CI machine), never up.
    let lastReset = 900;
    for (let i = 1; i <= 5; i++) {
      const res = await checkout(svc, auth);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('5;w=900');
      const header = /^limit=5, remaining=(\d+), reset=(\d+)$/.exec(res.headers.get('ratelimit') ?? '');
      expect(header).not.toBeNull();
      expect(Number(header![1])).toBe(5 - i);
      const reset = Number(header![2]);
      if (i === 1) expect(reset).toBeGreaterThan(890);
      expect(reset).toBeGreaterThan(0);
      expect(reset).toBeLessThanOrEqual(lastReset);
      lastReset = reset;
    }
    const res = await checkout(svc, auth);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(900);
    expect(await res.json()).toEqual({ error: { code: 'rate_limited', message: expect.stringMatching(/^Too many requests; at most 5 per 900 s/) } });
    // Portal shares the user's budget.
    const portal = await fetch(`${svc.url}/api/payments/portal-session`, { method: 'POST', headers: auth });
    expect(portal.status).toBe(429);

    // Another user is not affected.
    const other = await checkout(svc, { authorization: `Bearer ${await svc.tokenFor({ id: 'rl_other' })}` });
    expect(other.status).toBe(200);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/^payments_rate_limit_rejections_total\{limiter="payments"\} 2$/m);
  });

  it('limits anonymous callers by the client address the load balancer reports (trust proxy = one hop)', async () => {
    // The ALB appends the real client address last; whatever the client put before it is ignored.
    for (let i = 0; i < 5; i++) {
      const res = await checkout(svc, { 'x-forwarded-for': `10.0.0.${i}, 203.0.113.7` });
      expect(res.status).toBe(401);
    }
    expect((await checkout(svc, { 'x-forwarded-for': '198.51.100.99, 203.0.113.7' })).status).toBe(429);
    // A different client address has its own budget.
    expect((await checkout(svc, { 'x-forwarded-for': '203.0.113.8' })).status).toBe(401);
  });

  it('counts requests with invalid tokens against their address: rotating junk tokens buys no fresh budget', async () => {
    const address = { 'x-forwarded-for': '198.51.100.40' };
    const junk = (i: number) => ({ ...address, authorization: `Bearer junk.${i}.token-${'x'.repeat(i)}` });
    for (let i = 0; i < 5; i++) expect((await checkout(svc, junk(i))).status).toBe(401);
    const sixth = await checkout(svc, junk(5));
    expect(sixth.status).toBe(429);
    // The address's budget is spent whatever it sends next, token or not.
    expect((await checkout(svc, address)).status).toBe(429);
    // A token signed with another secret is junk too.
    expect((await checkout(svc, { ...address, authorization: `Bearer ${await svc.tokenFor({ id: 'rl_forged' }).then((t) => `${t.slice(0, -4)}AAAA`)}` })).status).toBe(429);
  });

  it('counts an IPv6 client by its subnet: rotating addresses inside it buys no fresh budget', async () => {
    for (let i = 1; i <= 5; i++) expect((await checkout(svc, { 'x-forwarded-for': `2001:db8:40:1::${i.toString(16)}` })).status).toBe(401);
    expect((await checkout(svc, { 'x-forwarded-for': '2001:db8:40:1:ffff::6' })).status).toBe(429);
    expect((await checkout(svc, { 'x-forwarded-for': '2001:db8:41::1' })).status).toBe(401);
  });

  it('never rate-limits the Stripe webhook route, the status route or /metrics', async () => {
    for (let i = 0; i < 8; i++) {
      const hook = await fetch(`${svc.url}/api/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' }, body: '{}' });
      expect(hook.status).not.toBe(429);
      expect(hook.headers.get('ratelimit')).toBeNull();
      expect((await fetch(`${svc.url}/api/payments/status`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(200);
      expect((await fetch(`${svc.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(200);
    }
  });

  it('gives admin routes their own limit', async () => {
    const limited = await startTestService({ env: { ADMIN_RATE_LIMIT_MAX: '3' }, sandbox: svc.sandbox });
    try {
      const auth = { authorization: `Bearer ${await limited.tokenFor({ id: 'rl_admin', admin: true })}` };
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await fetch(`${limited.url}/api/admin/payments/users/nobody`, { headers: auth })).status);
      expect(statuses).toEqual([404, 404, 404, 429]);
      // The user budget is separate from the admin one.
      expect((await checkout(limited, auth)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

withRedis('rate limiting across two instances sharing Redis', () => {
  let store: Store;
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    store = await createTestStore();
    a = await startTestService({ store });
    b = await startTestService({ store, sandbox: a.sandbox, database: a.database });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await store?.close();
  });

  it('holds the limit across instances: the 6th checkout in the window is 429 on either one', async () => {
    const auth = { authorization: `Bearer ${await a.tokenFor({ id: 'rl_shared', email: 'shared@example.com' })}` };
    const statuses: number[] = [];
    for (const svc of [a, b, a, b, a]) statuses.push((await checkout(svc, auth)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect((await checkout(b, auth)).status).toBe(429);
    expect((await checkout(a, auth)).status).toBe(429);
  });
});
