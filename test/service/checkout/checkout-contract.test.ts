import type Stripe from 'stripe';
import request from 'supertest';
import { planForPrice, priceIdFor } from '../../../service/checkout/plans';
import { linkCustomer } from '../../../service/checkout/repository';
import { MAINTENANCE_KEY } from '../../../service/maintenance';
import type { TestService } from '../../support/service';
import { type HopRequest, type StripeHop, startServiceBehindHop } from '../../support/stripe-hop';
import { waitUntil } from '../../support/wait';

/**
 * What checkout and the portal ask of Stripe, exactly: prices, metadata, idempotency keys (their
 * parts decide which double clicks collapse), the orphan-customer lookup as Stripe's lagging search
 * index makes it matter, the per-user lock, and the error bodies and log lines on-call and the app
 * read. The service's Stripe client goes through a recording hop in front of the sandbox
 * (test/support/stripe-hop.ts): every request is answered by the sandbox unless a test fails it.
 */

jest.setTimeout(300_000);

let svc: TestService;
let hop: StripeHop;
/** A client of the sandbox itself, for setup the hop should not see. */
let admin: Stripe;

let close: () => Promise<void> = async () => undefined;
beforeAll(async () => {
  ({ hop, svc, admin, close } = await startServiceBehindHop());
});
afterAll(async () => {
  await close();
});
afterEach(() => {
  hop.decide = () => ({ action: 'forward' });
  svc.sandbox.control.setSearchIndexLag(0);
});

const auth = async (user: { id: string; email?: string; city?: string }) => `Bearer ${await svc.tokenFor(user)}`;
const checkout = async (user: { id: string; email?: string; city?: string }, plan = 'monthly') =>
  request(svc.url).post('/api/payments/checkout-session').set('Authorization', await auth(user)).send({ plan });
/** Requests the service sent since `from`, about one user (by path, query or form). */
const sentFor = (userId: string, from = 0): HopRequest[] =>
  hop.requests.slice(from).filter((r) => r.query.toString().includes(userId) || r.form.toString().includes(userId) || (r.idempotencyKey ?? '').includes(`:${userId}:`));
const minute = (ms: number) => Math.floor(ms / 60_000);

describe('what a checkout asks of Stripe', () => {
  test.each(['monthly', 'yearly'] as const)('a %s checkout uses that price and tags the session and its subscription with the user and plan', async (plan) => {
    const userId = `u_contract_${plan}`;
    const from = hop.requests.length;
    const before = Date.now();
    const res = await checkout({ id: userId, email: `${userId}@example.com`, city: 'Rennes' }, plan);
    const after = Date.now();
    expect(res.status).toBe(200);

    const session = await admin.checkout.sessions.retrieve(res.body.id, { expand: ['line_items'] });
    expect(session.line_items?.data.map((item) => item.price?.id)).toEqual([svc.config.stripe.prices[plan]]);
    expect(session.metadata).toEqual({ userId, plan });
    await svc.sandbox.control.completeCheckoutSession(session.id, 'pm_card_visa');
    const paid = await admin.checkout.sessions.retrieve(session.id);
    const subscription = await admin.subscriptions.retrieve(paid.subscription as string);
    expect(subscription.metadata).toEqual({ userId, plan });

    // Idempotency keys: per user, per exact parameters (a 24-hex digest), per minute for sessions.
    const sent = sentFor(userId, from);
    const creation = sent.find((r) => r.method === 'POST' && r.path === '/v1/customers');
    expect(creation?.idempotencyKey).toMatch(new RegExp(`^customer-create:${userId}:[0-9a-f]{24}$`));
    const sessionCreation = sent.find((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions');
    const key = /^checkout-session:([^:]+):([0-9a-f]{24}):(\d+)$/.exec(sessionCreation?.idempotencyKey ?? '');
    expect(key?.[1]).toBe(userId);
    expect(Number(key?.[3])).toBeGreaterThanOrEqual(minute(before));
    expect(Number(key?.[3])).toBeLessThanOrEqual(minute(after));

    const created = svc.logs.lines().find((l) => l.message === 'checkout session created' && l.userId === userId);
    expect(created).toMatchObject({ level: 'info', plan, sessionId: session.id, customerId: session.customer });
    const linked = svc.logs.lines().find((l) => l.message === 'stripe customer linked' && l.userId === userId);
    expect(linked).toMatchObject({ level: 'info', customerId: session.customer });
  });

  test('the same request twice within a minute gets the same session back; a different plan is a different request', async () => {
    const user = { id: 'u_contract_dedup', email: 'dedup@example.com' };
    const first = await checkout(user);
    // Crossing a minute boundary between the two would start a new bucket: retry once in that case.
    let second = await checkout(user);
    if (second.body.id !== first.body.id) second = await checkout(user);
    const third = await checkout(user);
    expect(third.body.id).toBe(second.body.id);
    const yearly = await checkout(user, 'yearly');
    expect(yearly.body.id).not.toBe(third.body.id);
  });

  test('a user without an email is never looked up by email (a list without the filter would list every customer)', async () => {
    const from = hop.requests.length;
    expect((await checkout({ id: 'u_contract_noemail' })).status).toBe(200);
    const sent = hop.requests.slice(from);
    expect(sent.some((r) => r.method === 'GET' && r.path === '/v1/customers')).toBe(false);
    expect(sent.some((r) => r.path === '/v1/customers/search' && (r.query.get('query') ?? '').includes('u_contract_noemail'))).toBe(true);
  });
});

describe('the orphan customer, with Stripe search lagging writes', () => {
  test("an orphan created seconds ago (not yet searchable) is found by email and metadata.userId and linked, not duplicated", async () => {
    svc.sandbox.control.setSearchIndexLag(120);
    const userId = 'u_contract_orphan';
    const email = 'contract-orphan@example.com';
    // Another user's customer with the same email comes first in the list: it must be skipped.
    const orphan = await admin.customers.create({ email, name: 'Created before a failed database write', metadata: { userId } });
    const sibling = await admin.customers.create({ email, metadata: { userId: 'u_contract_sibling' } });
    // More customers created since than one unfiltered list page holds: only the email filter finds it.
    for (let i = 0; i < 12; i++) await admin.customers.create({ metadata: { userId: `u_contract_crowd_${i}` } });
    const search = await admin.customers.search({ query: `metadata['userId']:'${userId}'` });
    expect(search.data).toEqual([]); // the lag is in force: only the email list can find it

    const from = hop.requests.length;
    const res = await checkout({ id: userId, email });
    expect(res.status).toBe(200);
    expect(hop.requests.slice(from).filter((r) => r.method === 'POST' && r.path === '/v1/customers')).toEqual([]);
    const link = await svc.database.db.selectFrom('stripe_customers').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();
    expect(link.customer_id).toBe(orphan.id);
    expect(link.customer_id).not.toBe(sibling.id);
  });

  test("with the lag, a user whose email matches only another user's customer gets a customer of their own", async () => {
    svc.sandbox.control.setSearchIndexLag(120);
    const email = 'contract-shared@example.com';
    const theirs = await admin.customers.create({ email, metadata: { userId: 'u_contract_parent' } });
    expect((await checkout({ id: 'u_contract_child', email })).status).toBe(200);
    const link = await svc.database.db.selectFrom('stripe_customers').selectAll().where('user_id', '=', 'u_contract_child').executeTakeFirstOrThrow();
    expect(link.customer_id).not.toBe(theirs.id);
  });
});

describe('Stripe failing one step', () => {
  test.each([
    ['GET', '/v1/customers/search', 'customer lookup'],
    ['GET', '/v1/customers', 'customer lookup'],
    ['POST', '/v1/customers', 'customer creation'],
    ['POST', '/v1/checkout/sessions', 'checkout session creation'],
  ])('%s %s failing answers 503 naming the step (%s), links no customer, and the retry succeeds', async (method, path, step) => {
    const userId = `u_contract_fail_${method}${path.replace(/\//g, '_')}`;
    hop.decide = (req) => (req.method === method && req.path === path ? { action: 'fail', status: 500 } : { action: 'forward' });
    const res = await checkout({ id: userId, email: `${userId}@example.com` });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body.error).toMatchObject({ code: 'stripe_unavailable', message: `Stripe is temporarily unavailable (${step}); try again shortly` });
    if (step === 'customer lookup') {
      // A lookup that failed must not be taken for "no orphan": creating now could duplicate one.
      expect(hop.requests.some((r) => r.method === 'POST' && r.path === '/v1/customers' && r.form.get('metadata[userId]') === userId)).toBe(false);
      expect(await svc.database.db.selectFrom('stripe_customers').selectAll().where('user_id', '=', userId).execute()).toEqual([]);
    }

    hop.decide = () => ({ action: 'forward' });
    expect((await checkout({ id: userId, email: `${userId}@example.com` })).status).toBe(200);
  });

  test('the billing portal failing answers 503 naming the step', async () => {
    const user = { id: 'u_contract_portal_down', email: 'portal-down@example.com' };
    expect((await checkout(user)).status).toBe(200);
    hop.decide = (req) => (req.path === '/v1/billing_portal/sessions' ? { action: 'fail', status: 503 } : { action: 'forward' });
    const res = await request(svc.url).post('/api/payments/portal-session').set('Authorization', await auth(user));
    expect(res.status).toBe(503);
    expect(res.body.error).toMatchObject({ code: 'stripe_unavailable', message: 'Stripe is temporarily unavailable (billing portal session creation); try again shortly' });
  });
});

describe('the billing portal', () => {
  test('its session is keyed by user, parameters and minute, and names the configured return URL', async () => {
    const user = { id: 'u_contract_portal', email: 'contract-portal@example.com' };
    expect((await checkout(user)).status).toBe(200);
    const from = hop.requests.length;
    const before = Date.now();
    const res = await request(svc.url).post('/api/payments/portal-session').set('Authorization', await auth(user));
    const after = Date.now();
    expect(res.status).toBe(200);
    const sent = hop.requests.slice(from).find((r) => r.method === 'POST' && r.path === '/v1/billing_portal/sessions');
    expect(sent?.form.get('return_url')).toBe(svc.config.urls.portalReturn);
    const key = /^portal-session:([^:]+):([0-9a-f]{24}):(\d+)$/.exec(sent?.idempotencyKey ?? '');
    expect(key?.[1]).toBe(user.id);
    expect(Number(key?.[3])).toBeGreaterThanOrEqual(minute(before));
    expect(Number(key?.[3])).toBeLessThanOrEqual(minute(after));
  });

  test('before the first checkout: 404 no_billing_account with a message the app can show', async () => {
    const res = await request(svc.url).post('/api/payments/portal-session').set('Authorization', await auth({ id: 'u_contract_noportal' }));
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'no_billing_account', message: 'No billing account yet: start a subscription first' });
  });
});

describe('the per-user customer lock', () => {
  test("a user's first checkout waits while another instance holds that user's lock; other users do not", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let acquired!: () => void;
    const holding = new Promise<void>((resolve) => {
      acquired = resolve;
    });
    // "Another instance" creating this user's customer: the lock held in the shared store.
    const other = svc.store.withLock('stripe-customer:u_contract_locked', { ttlMs: 120_000, waitMs: 10_000 }, async () => {
      acquired();
      await released;
    });
    await holding;
    const from = hop.requests.length;
    let settled = false;
    const locked = checkout({ id: 'u_contract_locked', email: 'locked@example.com' }).then((res) => {
      settled = true;
      return res;
    });
    await waitUntil(async () => (await svc.database.db.selectFrom('users').select('id').where('id', '=', 'u_contract_locked').executeTakeFirst()) !== undefined, {
      what: 'the locked checkout reaching the customer step',
    });
    // Another user's whole checkout goes through meanwhile.
    expect((await checkout({ id: 'u_contract_free', email: 'free@example.com' })).status).toBe(200);
    expect(settled).toBe(false);
    expect(sentFor('u_contract_locked', from)).toEqual([]);

    release();
    await other;
    expect((await locked).status).toBe(200);
  });
});

describe('answers the app and on-call read', () => {
  test.each([
    ['an empty body', {}],
    ['a plan that is not a string', { plan: 1 }],
    ['an extra field', { plan: 'monthly', coupon: 'FREE' }],
    ['an array', [{ plan: 'monthly' }]],
  ])('%s is 400 invalid_body, and nothing is written', async (_label, body) => {
    const res = await request(svc.url).post('/api/payments/checkout-session').set('Authorization', await auth({ id: 'u_contract_badbody' })).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_body', message: 'Body must be {"plan": "monthly" | "yearly"}' });
    expect(await svc.database.db.selectFrom('users').select('id').where('id', '=', 'u_contract_badbody').execute()).toEqual([]);
  });

  test('an unknown plan is 400 invalid_plan naming the plans', async () => {
    const res = await checkout({ id: 'u_contract_weekly' }, 'weekly');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_plan', param: 'plan', message: 'Unknown plan; expected one of monthly, yearly' });
  });

  test('a second checkout while a subscription is live is 409 naming its status and plan', async () => {
    await svc.database.db.insertInto('users').values({ id: 'u_contract_live', email: null, city: null }).execute();
    await svc.database.db
      .insertInto('subscriptions')
      .values({
        id: 'sub_contract_live',
        user_id: 'u_contract_live',
        customer_id: 'cus_contract_live',
        price_id: svc.config.stripe.prices.yearly,
        plan: 'yearly',
        status: 'past_due',
        amount: 3000,
        currency: 'eur',
        interval: 'year',
        current_period_end: new Date('2030-01-01T00:00:00Z'),
        canceled_at: null,
        ended_at: null,
        stripe_updated_at: 1_700_000_000,
      })
      .execute();
    const res = await checkout({ id: 'u_contract_live' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({
      code: 'subscription_exists',
      message: 'You already have a past_due yearly subscription; manage it from the billing portal',
    });
  });

  test('maintenance: 503 with the message and a Retry-After from the flag; the banner is never cached', async () => {
    await svc.store.set(MAINTENANCE_KEY, JSON.stringify({ reason: 'release' }), { ttlSeconds: 90 });
    try {
      const res = await checkout({ id: 'u_contract_maint' });
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'maintenance', message: 'Payments are under maintenance; please try again later' });
      const status = await request(svc.url).get('/api/payments/status');
      expect(status.headers['cache-control']).toBe('no-store');
    } finally {
      await svc.store.del(MAINTENANCE_KEY);
    }
  });
});

describe('plans and customer links', () => {
  const prices = { monthly: 'price_m', yearly: 'price_y' };

  test('each plan maps to its own price and back; a price we do not know is unknown', () => {
    expect(priceIdFor('monthly', prices)).toBe('price_m');
    expect(priceIdFor('yearly', prices)).toBe('price_y');
    expect(planForPrice('price_m', prices)).toBe('monthly');
    expect(planForPrice('price_y', prices)).toBe('yearly');
    expect(planForPrice('price_other', prices)).toBe('unknown');
    expect(planForPrice(null, prices)).toBe('unknown');
    expect(planForPrice(undefined, prices)).toBe('unknown');
  });

  test('a Stripe customer already linked to another user is never linked to a second one', async () => {
    const { db } = svc.database;
    await db.insertInto('users').values([{ id: 'u_link_a', email: null, city: null }, { id: 'u_link_b', email: null, city: null }]).execute();
    expect(await linkCustomer(db, { userId: 'u_link_a', customerId: 'cus_link_shared', livemode: false })).toBe('cus_link_shared');
    await expect(linkCustomer(db, { userId: 'u_link_b', customerId: 'cus_link_shared', livemode: false })).rejects.toThrow('customer cus_link_shared is linked to another user');
    // A user already linked keeps their customer: the race's loser gets the winner's id back.
    expect(await linkCustomer(db, { userId: 'u_link_a', customerId: 'cus_link_other', livemode: false })).toBe('cus_link_shared');
  });
});
