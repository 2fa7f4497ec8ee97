import { startTestService, type TestService } from '../../support/service';

/**
 * Checkout's rules per subscription status and per request: which statuses block a second checkout,
 * which subscription a user sees, what a later token may change about the user, and which clicks
 * Stripe's idempotency collapses into one Checkout Session.
 */

jest.setTimeout(300_000);

let svc: TestService;
beforeAll(async () => {
  // The per-user rate limit is not under test here.
  svc = await startTestService({ env: { STRIPE_RATE_LIMIT_MAX: '1000' } });
});
afterAll(async () => {
  await svc.close();
});

const db = () => svc.database.db;

async function call(method: 'GET' | 'POST', path: string, user: { id: string; email?: string; city?: string }, body?: unknown) {
  const res = await fetch(`${svc.url}/api/payments/${path}`, {
    method,
    headers: { authorization: `Bearer ${await svc.tokenFor(user)}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
}

async function givenSubscription(userId: string, id: string, status: string, stripeTime: number): Promise<void> {
  await db().insertInto('users').values({ id: userId, email: null, city: null }).onConflict((oc) => oc.doNothing()).execute();
  await db()
    .insertInto('subscriptions')
    .values({
      id,
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
      stripe_updated_at: stripeTime,
    })
    .execute();
}

describe('a second checkout', () => {
  test.each(['active', 'trialing', 'past_due', 'unpaid', 'incomplete'])('is refused (409) while a subscription is %s', async (status) => {
    const userId = `u_block_${status}`;
    await givenSubscription(userId, `sub_block_${status}`, status, 1_700_000_000);
    const res = await call('POST', 'checkout-session', { id: userId }, { plan: 'yearly' });
    expect({ status: res.status, code: res.json.error?.code }).toEqual({ status: 409, code: 'subscription_exists' });
  });

  test.each(['canceled', 'incomplete_expired'])('is allowed after a %s subscription', async (status) => {
    const userId = `u_allow_${status}`;
    await givenSubscription(userId, `sub_allow_${status}`, status, 1_700_000_000);
    const res = await call('POST', 'checkout-session', { id: userId, email: `${userId}@example.com` }, { plan: 'monthly' });
    expect(res.status).toBe(200);
  });
});

describe('the subscription a user sees', () => {
  test('a live subscription wins over a more recently changed ended one', async () => {
    await givenSubscription('u_view_live', 'sub_view_live_old', 'past_due', 1_700_000_000);
    await givenSubscription('u_view_live', 'sub_view_live_ended', 'canceled', 1_700_000_500);
    const res = await call('GET', 'subscription', { id: 'u_view_live' });
    expect(res.json).toMatchObject({ premium: false, subscription: { id: 'sub_view_live_old', status: 'past_due' } });
  });

  test('among ended ones, the most recently changed', async () => {
    await givenSubscription('u_view_ended', 'sub_view_ended_old', 'canceled', 1_700_000_000);
    await givenSubscription('u_view_ended', 'sub_view_ended_new', 'incomplete_expired', 1_700_000_900);
    await givenSubscription('u_view_ended', 'sub_view_ended_mid', 'canceled', 1_700_000_400);
    const res = await call('GET', 'subscription', { id: 'u_view_ended' });
    expect(res.json).toMatchObject({ premium: false, subscription: { id: 'sub_view_ended_new' } });
  });

  test('among live ones, the most recently changed; trialing is premium', async () => {
    await givenSubscription('u_view_two', 'sub_view_two_old', 'past_due', 1_700_000_000);
    await givenSubscription('u_view_two', 'sub_view_two_new', 'trialing', 1_700_000_900);
    const res = await call('GET', 'subscription', { id: 'u_view_two' });
    expect(res.json).toMatchObject({ premium: true, subscription: { id: 'sub_view_two_new', status: 'trialing' } });
  });
});

test('a later token updates the email and city the service knows; a token without them never blanks them', async () => {
  const id = 'u_profile';
  await givenSubscription(id, 'sub_profile', 'active', 1_700_000_000);
  const profile = async () => db().selectFrom('users').select(['email', 'city']).where('id', '=', id).executeTakeFirstOrThrow();
  expect((await call('POST', 'checkout-session', { id, email: 'old@example.com', city: 'Lyon' }, { plan: 'monthly' })).status).toBe(409);
  expect(await profile()).toEqual({ email: 'old@example.com', city: 'Lyon' });
  await call('POST', 'checkout-session', { id, email: 'new@example.com' }, { plan: 'monthly' });
  expect(await profile()).toEqual({ email: 'new@example.com', city: 'Lyon' });
  await call('POST', 'checkout-session', { id }, { plan: 'monthly' });
  expect(await profile()).toEqual({ email: 'new@example.com', city: 'Lyon' });
});

test('a double click returns the same Checkout Session; the other plan gets its own', async () => {
  const user = { id: 'u_clicks', email: 'clicks@example.com' };
  const first = await call('POST', 'checkout-session', user, { plan: 'monthly' });
  const again = await call('POST', 'checkout-session', user, { plan: 'monthly' });
  const yearly = await call('POST', 'checkout-session', user, { plan: 'yearly' });
  expect([first.status, again.status, yearly.status]).toEqual([200, 200, 200]);
  expect(again.json.id).toBe(first.json.id);
  expect(yearly.json.id).not.toBe(first.json.id);
  const session = await svc.stripe.checkout.sessions.retrieve(yearly.json.id as string, { expand: ['line_items'] });
  expect(session.line_items?.data[0]?.price?.id).toBe(svc.config.stripe.prices.yearly);
});
