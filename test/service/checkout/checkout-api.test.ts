import request from 'supertest';
import { MAINTENANCE_KEY } from '../../../service/maintenance';
import { startTestService, type TestService } from '../../support/service';

describe('checkout API (through the Stripe sandbox)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  const auth = async (user: { id: string; email?: string; city?: string; admin?: boolean }) => `Bearer ${await svc.tokenFor(user)}`;

  async function activeSubscriptionFor(userId: string, status = 'active') {
    await svc.database.db
      .insertInto('subscriptions')
      .values({
        id: `sub_${userId}`,
        user_id: userId,
        customer_id: `cus_${userId}`,
        price_id: svc.config.stripe.prices.monthly,
        plan: 'monthly',
        status,
        amount: 400,
        currency: 'eur',
        interval: 'month',
        current_period_end: new Date('2030-01-01T00:00:00Z'),
        canceled_at: null,
        ended_at: null,
        stripe_updated_at: 1_700_000_000,
      })
      .execute();
  }

  it('answers 401 without a token', async () => {
    const res = await request(svc.url).post('/api/payments/checkout-session').send({ plan: 'monthly' });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('missing_token');
  });

  it('answers 400 for an unknown plan', async () => {
    const res = await request(svc.url)
      .post('/api/payments/checkout-session')
      .set('Authorization', await auth({ id: 'u_plan' }))
      .send({ plan: 'weekly' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_plan', param: 'plan' });
  });

  it('answers 400 for a body that is not JSON', async () => {
    const res = await request(svc.url)
      .post('/api/payments/checkout-session')
      .set('Authorization', await auth({ id: 'u_json' }))
      .set('Content-Type', 'application/json')
      .send('{"plan":');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_json');
  });

  it('creates a subscription Checkout Session for the configured price, linked to a Stripe customer that carries metadata.userId', async () => {
    const res = await request(svc.url)
      .post('/api/payments/checkout-session')
      .set('Authorization', await auth({ id: 'u_checkout', email: 'checkout@example.com', city: 'Lyon' }))
      .send({ plan: 'yearly' });
    expect(res.status).toBe(200);
    expect(res.body.id).toMatch(/^cs_test_/);
    expect(res.body.url.startsWith(svc.sandbox.url)).toBe(true);

    const session = await svc.stripe.checkout.sessions.retrieve(res.body.id, { expand: ['line_items'] });
    expect(session.mode).toBe('subscription');
    expect(session.client_reference_id).toBe('u_checkout');
    expect(session.success_url).toBe(svc.config.urls.checkoutSuccess);
    expect(session.cancel_url).toBe(svc.config.urls.checkoutCancel);
    expect(session.line_items?.data[0]?.price?.id).toBe(svc.config.stripe.prices.yearly);

    const customer = await svc.stripe.customers.retrieve(session.customer as string);
    expect(customer.deleted).not.toBe(true);
    if (!customer.deleted) {
      expect(customer.metadata).toMatchObject({ userId: 'u_checkout', city: 'Lyon' });
      expect(customer.email).toBe('checkout@example.com');
    }
    const row = await svc.database.db.selectFrom('stripe_customers').selectAll().where('user_id', '=', 'u_checkout').executeTakeFirstOrThrow();
    expect(row.customer_id).toBe(customer.id);
  });

  it('creates exactly one Stripe customer when a user double-clicks checkout', async () => {
    const header = await auth({ id: 'u_double', email: 'double@example.com' });
    const responses = await Promise.all(
      Array.from({ length: 4 }, () => request(svc.url).post('/api/payments/checkout-session').set('Authorization', header).send({ plan: 'monthly' })),
    );
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const customers = await svc.stripe.customers.list({ email: 'double@example.com', limit: 100 });
    expect(customers.data.filter((c) => c.metadata.userId === 'u_double')).toHaveLength(1);
    const rows = await svc.database.db.selectFrom('stripe_customers').selectAll().where('user_id', '=', 'u_double').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.customer_id).toBe(customers.data[0]?.id);
  });

  it('answers 409 when the user already has an active subscription', async () => {
    const header = await auth({ id: 'u_active' });
    await request(svc.url).get('/api/payments/subscription').set('Authorization', header); // registers nothing by itself
    await svc.database.db.insertInto('users').values({ id: 'u_active', email: null, city: null }).onConflict((oc) => oc.doNothing()).execute();
    await activeSubscriptionFor('u_active');
    const res = await request(svc.url).post('/api/payments/checkout-session').set('Authorization', header).send({ plan: 'monthly' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('subscription_exists');
  });

  it("reports the caller's subscription and premium state", async () => {
    const header = await auth({ id: 'u_view' });
    const before = await request(svc.url).get('/api/payments/subscription').set('Authorization', header);
    expect(before.body).toEqual({ userId: 'u_view', premium: false, subscription: null });

    await svc.database.db.insertInto('users').values({ id: 'u_view', email: null, city: null }).execute();
    await activeSubscriptionFor('u_view', 'trialing');
    const after = await request(svc.url).get('/api/payments/subscription').set('Authorization', header);
    expect(after.body.premium).toBe(true);
    expect(after.body.subscription).toMatchObject({ plan: 'monthly', status: 'trialing', currentPeriodEnd: '2030-01-01T00:00:00.000Z' });
  });

  it('opens a billing portal session only for users with a Stripe customer', async () => {
    const none = await request(svc.url).post('/api/payments/portal-session').set('Authorization', await auth({ id: 'u_noportal' }));
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe('no_billing_account');

    const header = await auth({ id: 'u_portal', email: 'portal@example.com' });
    await request(svc.url).post('/api/payments/checkout-session').set('Authorization', header).send({ plan: 'monthly' }).expect(200);
    const res = await request(svc.url).post('/api/payments/portal-session').set('Authorization', header);
    expect(res.status).toBe(200);
    expect(res.body.url.startsWith(svc.sandbox.url)).toBe(true);
  });

  it('pauses checkout during maintenance with 503 and Retry-After, and says so at /status', async () => {
    await svc.store.set(MAINTENANCE_KEY, JSON.stringify({ reason: 'rollback' }), { ttlSeconds: 120 });
    try {
      const status = await request(svc.url).get('/api/payments/status');
      expect(status.body).toMatchObject({ maintenance: true, reason: 'rollback' });
      expect(Date.parse(status.body.until)).toBeGreaterThan(Date.now());

      const res = await request(svc.url)
        .post('/api/payments/checkout-session')
        .set('Authorization', await auth({ id: 'u_maint' }))
        .send({ plan: 'monthly' });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('maintenance');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await svc.store.del(MAINTENANCE_KEY);
    }
    const after = await request(svc.url).get('/api/payments/status');
    expect(after.body).toEqual({ maintenance: false });
  });

  it('answers 403 on an admin route for a user without the admin role, and 200 for an admin', async () => {
    const denied = await request(svc.url).get('/api/admin/payments/users/u_checkout').set('Authorization', await auth({ id: 'u_plain' }));
    expect(denied.status).toBe(403);
    const allowed = await request(svc.url).get('/api/admin/payments/users/u_checkout').set('Authorization', await auth({ id: 'ops', admin: true }));
    expect(allowed.status).toBe(200);
    expect(allowed.body.local.customer.user_id).toBe('u_checkout');
    expect(allowed.body.stripe.customer.metadata.userId).toBe('u_checkout');
  });

  it('answers JSON 404 for unknown routes, with a request id', async () => {
    const res = await request(svc.url).get('/api/nope').set('X-Request-Id', 'req-test-123');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('route_not_found');
    expect(res.headers['x-request-id']).toBe('req-test-123');
    const line = svc.logs.lines().find((l) => l.requestId === 'req-test-123' && l.message === 'request completed');
    expect(line).toMatchObject({ status: 404, method: 'GET' });
  });
});

describe('checkout when Stripe is unreachable', () => {
  let svc: TestService;
  beforeAll(async () => {
    // Seeded against the sandbox, but the service's own client points at a closed port.
    svc = await startTestService({ serviceStripeApiBase: 'http://127.0.0.1:1' });
  });
  afterAll(async () => {
    await svc.close();
  });

  it('answers 503 with Retry-After so the app retries, and logs the cause', async () => {
    const res = await request(svc.url)
      .post('/api/payments/checkout-session')
      .set('Authorization', `Bearer ${await svc.tokenFor({ id: 'u_down', email: 'down@example.com' })}`)
      .send({ plan: 'monthly' });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('stripe_unavailable');
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body.error.stack).toBeUndefined();
    expect(svc.logs.lines().some((l) => l.level === 'error' && l.message === 'request failed')).toBe(true);
  });
});
