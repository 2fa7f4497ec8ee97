import { MAINTENANCE_KEY } from '../../../service/maintenance';
import { startTestService, type TestService } from '../../support/service';

describe('maintenance mode admin routes', () => {
  let svc: TestService;
  let admin: string;
  let user: string;
  beforeAll(async () => {
    svc = await startTestService();
    admin = `Bearer ${await svc.tokenFor({ id: 'oncall_admin', admin: true })}`;
    user = `Bearer ${await svc.tokenFor({ id: 'plain_user', email: 'plain@example.com' })}`;
  });
  afterAll(async () => {
    await svc.close();
  });
  afterEach(async () => {
    await svc.store.del(MAINTENANCE_KEY);
  });

  const call = (method: 'POST' | 'DELETE', auth: string | undefined, body?: unknown) =>
    fetch(`${svc.url}/api/admin/payments/maintenance`, {
      method,
      headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('requires an admin: 401 without a token, 403 for a user', async () => {
    expect((await call('POST', undefined, {})).status).toBe(401);
    expect((await call('POST', user, {})).status).toBe(403);
    expect((await call('DELETE', user)).status).toBe(403);
    expect(await svc.store.get(MAINTENANCE_KEY)).toBeNull();
  });

  it('turns maintenance on with a reason and TTL: status shows it, checkout and portal answer 503 with Retry-After, webhooks still flow', async () => {
    const res = await call('POST', admin, { reason: 'Stripe incident', ttlSeconds: 600 });
    expect(res.status).toBe(200);
    const state = (await res.json()) as { until: string };
    expect(state).toMatchObject({ maintenance: true, reason: 'Stripe incident' });
    expect(await svc.store.ttlSeconds(MAINTENANCE_KEY)).toBeLessThanOrEqual(600);

    const status = (await (await fetch(`${svc.url}/api/payments/status`)).json()) as { until: string };
    expect(status).toMatchObject({ maintenance: true, reason: 'Stripe incident' });
    expect(Math.abs(Date.parse(status.until) - Date.parse(state.until))).toBeLessThan(2_000);

    // Every gated call, not only the first plan: checkout with each plan and the billing portal.
    const gated = [
      ['checkout-session', '{"plan":"monthly"}'],
      ['checkout-session', '{"plan":"yearly"}'],
      ['portal-session', undefined],
    ] as const;
    for (const [route, body] of gated) {
      const res = await fetch(`${svc.url}/api/payments/${route}`, { method: 'POST', headers: { authorization: user, 'content-type': 'application/json' }, body });
      const answer = { route, body, status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
      expect(answer).toEqual({ route, body, status: 503, code: 'maintenance' });
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(500);
      expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(600);
    }

    const webhook = await fetch(`${svc.url}/api/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(webhook.status).not.toBe(503);

    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/^payments_maintenance_mode 1$/m);
  });

  it('defaults the TTL to the seed\'s 3600 s and rejects bad bodies', async () => {
    expect((await call('POST', admin, { ttlSeconds: 5 })).status).toBe(400);
    expect((await call('POST', admin, { reason: 'x'.repeat(201) })).status).toBe(400);
    expect((await call('POST', admin, { extra: true })).status).toBe(400);
    expect((await call('POST', admin, {})).status).toBe(200);
    const ttl = await svc.store.ttlSeconds(MAINTENANCE_KEY);
    expect(ttl).toBeGreaterThan(3590);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('turns maintenance off, and audits both changes with actor and request id', async () => {
    await call('POST', admin, { reason: 'deploy' });
    const off = await call('DELETE', admin);
    expect(off.status).toBe(200);
    expect(await off.json()).toEqual({ maintenance: false, wasEnabled: true });
    expect(((await (await fetch(`${svc.url}/api/payments/status`)).json()) as { maintenance: boolean }).maintenance).toBe(false);
    expect((await (await fetch(`${svc.url}/metrics`)).text())).toMatch(/^payments_maintenance_mode 0$/m);

    const audit = await svc.database.db.selectFrom('audit_log').selectAll().where('target', '=', 'payments:maintenance').orderBy('id').execute();
    const actions = audit.map((r) => [r.actor, r.action]);
    expect(actions).toEqual(expect.arrayContaining([['oncall_admin', 'maintenance.enable'], ['oncall_admin', 'maintenance.disable']]));
    const last = audit[audit.length - 1]!;
    expect(last.details).toEqual({ wasEnabled: true });
    expect(last.request_id).toEqual(expect.any(String));
    expect(audit.find((r) => r.action === 'maintenance.enable' && (r.details as { reason?: string }).reason === 'deploy')).toBeDefined();
  });
});
