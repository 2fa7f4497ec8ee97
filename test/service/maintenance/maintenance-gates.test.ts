import { MAINTENANCE_KEY } from '../../../service/maintenance';
import { drainsSettled } from '../../../service/webhooks';
import { startTestService, type TestService } from '../../support/service';
import { fakeEvent, sign } from '../webhooks/support';

/**
 * What maintenance gates: every route that starts a Stripe-side change for a user (checkout with
 * either plan, the billing portal) answers 503 with Retry-After and makes no Stripe call, however the
 * flag was set (admin route, rollback tooling JSON, or by hand in redis-cli); reads and webhooks flow.
 */

jest.setTimeout(300_000);

let svc: TestService;
let portalUser: string;
beforeAll(async () => {
  // The per-user rate limit (5 per 15 min) is not under test here: every gated call is counted.
  svc = await startTestService({ env: { STRIPE_RATE_LIMIT_MAX: '1000' } });
  // A user with a Stripe customer, so the portal route would succeed outside maintenance.
  portalUser = `Bearer ${await svc.tokenFor({ id: 'u_gate_portal', email: 'gate-portal@example.com' })}`;
  const first = await post('/api/payments/checkout-session', portalUser, { plan: 'monthly' });
  expect(first.status).toBe(200);
});
afterAll(async () => {
  await svc.close();
});
afterEach(async () => {
  await svc.store.del(MAINTENANCE_KEY);
});

async function post(path: string, auth: string, body?: unknown) {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as { error?: { code: string }; url?: string };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json };
}

const gatedCalls: Array<[string, string, unknown]> = [
  ['checkout, monthly plan', '/api/payments/checkout-session', { plan: 'monthly' }],
  ['checkout, yearly plan', '/api/payments/checkout-session', { plan: 'yearly' }],
  ['billing portal', '/api/payments/portal-session', undefined],
];

/** Runs `fn` and returns the Stripe API calls the service made meanwhile. */
async function stripeCallsDuring(fn: () => Promise<void>): Promise<string[]> {
  const calls: string[] = [];
  const onRequest = (req: { method: string; path: string }) => calls.push(`${req.method} ${req.path}`);
  svc.stripe.on('request', onRequest);
  try {
    await fn();
  } finally {
    svc.stripe.off('request', onRequest);
  }
  return calls;
}

describe.each([
  ['JSON flag with a TTL (admin route, rollback tooling)', JSON.stringify({ reason: 'rollback', since: new Date().toISOString() }), 120, [1, 120]],
  ['flag set by hand to "1" with no TTL', '1', undefined, [300, 300]],
  ['flag set by hand to "on" with a TTL', 'on', 600, [1, 600]],
] as const)('maintenance flag: %s', (_label, value, ttlSeconds, [minRetry, maxRetry]) => {
  beforeEach(async () => {
    await svc.store.set(MAINTENANCE_KEY, value, ttlSeconds ? { ttlSeconds } : {});
  });

  test('/status reports maintenance to the app banner', async () => {
    const status = (await (await fetch(`${svc.url}/api/payments/status`)).json()) as { maintenance: boolean; until?: string };
    expect(status.maintenance).toBe(true);
    if (ttlSeconds) expect(Date.parse(status.until!)).toBeGreaterThan(Date.now());
    else expect(status.until).toBeUndefined();
  });

  test.each(gatedCalls)('%s answers 503 maintenance with Retry-After and calls no Stripe API', async (_what, path, body) => {
    const user = path.endsWith('portal-session') ? portalUser : `Bearer ${await svc.tokenFor({ id: 'u_gate_new', email: 'gate-new@example.com' })}`;
    let res: Awaited<ReturnType<typeof post>> | undefined;
    const calls = await stripeCallsDuring(async () => {
      res = await post(path, user, body);
    });
    expect(res!.status).toBe(503);
    expect(res!.json.error?.code).toBe('maintenance');
    const retryAfter = Number(res!.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(minRetry);
    expect(retryAfter).toBeLessThanOrEqual(maxRetry);
    expect(calls).toEqual([]);
  });
});

test('without the flag the same calls go through (the 503s above came from maintenance)', async () => {
  expect(await svc.store.get(MAINTENANCE_KEY)).toBeNull();
  const portal = await post('/api/payments/portal-session', portalUser);
  expect(portal.status).toBe(200);
  const checkout = await post('/api/payments/checkout-session', `Bearer ${await svc.tokenFor({ id: 'u_gate_after', email: 'gate-after@example.com' })}`, { plan: 'yearly' });
  expect(checkout.status).toBe(200);
});

test('Retry-After counts down to the flag expiry and never says 0', async () => {
  await svc.store.set(MAINTENANCE_KEY, '{}', { ttlSeconds: 1 });
  const res = await post('/api/payments/portal-session', portalUser);
  // The flag may expire between the read and the answer: 503 with at least 1 s, or already open.
  if (res.status === 503) expect(Number(res.retryAfter)).toBe(1);
  else expect(res.status).toBe(200);
});

test('webhooks are applied during maintenance, and so are reads', async () => {
  await svc.store.set(MAINTENANCE_KEY, '1');
  const event = fakeEvent('customer.created', { id: 'cus_gate_webhook', object: 'customer' });
  const body = JSON.stringify(event);
  const res = await fetch(`${svc.url}/api/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) },
    body,
  });
  expect(res.status).toBe(200);
  // Acknowledged when stored; the drain it started applies it, maintenance or not.
  await drainsSettled(svc.store);
  const row = await svc.database.db.selectFrom('webhook_events').select('status').where('event_id', '=', event.id).executeTakeFirst();
  expect(row?.status).toBe('ignored');
  const sub = await fetch(`${svc.url}/api/payments/subscription`, { headers: { authorization: portalUser } });
  expect(sub.status).toBe(200);
});
