import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../../sandbox';
import type { PaymentHealth } from '../../../service/monitoring';
import type { Clock } from '../../../service/shared/clock';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { startTestService, type TestService } from '../../support/service';
import { createTestStore } from '../../support/store';
import { SETTLE_MS } from '../../support/wait';
import type { Store } from '../../../service/shared/store';

/**
 * Payment health driven by real payments: subscriptions checked out and renewed in the Stripe
 * sandbox, declines from a failing card, signed webhook deliveries recorded by the webhook code.
 * The service clock follows the sandbox clock, plus an offset the test slides.
 */
const users = ['health_u1', 'health_u2', 'health_u3', 'health_u4', 'health_u5', 'health_u6'];

let sandbox: RunningSandbox;
let database: TestDatabase;
let store: Store;
let a: TestService;
let b: TestService;
let slideMs = 0;
const clock: Clock = { now: () => new Date(sandbox.control.now() * 1000 + slideMs) };
const subscriptions = new Map<string, { customerId: string; subscriptionId: string }>();

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, retrySchedule: [100, 300, 600, 1200] });
  database = await createTestDatabase();
  store = await createTestStore();
  // Six payments are enough to judge in this suite; the production default is 20.
  const env = { HEALTH_MIN_SAMPLE: '5' };
  a = await startTestService({ sandbox, database, store, clock, env });
  // The second instance shares database, Redis and sandbox; its webhook endpoint is registered too,
  // so both receive (and dedupe) every event, as two tasks behind one ALB would.
  b = await startTestService({ sandbox, database, store, clock, env });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await store?.close();
  await database?.close();
  await sandbox?.close();
});

const settle = () => sandbox.control.waitForDeliveries(SETTLE_MS);

/**
 * A health answer without its clock readings: two instances asked one after the other can straddle
 * a second of the sandbox clock (which runs with real time), so `checkedAt` and the window's start
 * may differ by one while the judgement is the same.
 */
function judgement(body: PaymentHealth): Omit<PaymentHealth, 'checkedAt' | 'window'> & { window: Omit<PaymentHealth['window'], 'from'> } {
  const { checkedAt: _checkedAt, window: { from: _from, ...window }, ...rest } = body;
  return { ...rest, window };
}

async function health(svc: TestService): Promise<{ status: number; body: PaymentHealth }> {
  const res = await fetch(`${svc.url}/api/payments/health`);
  return { status: res.status, body: (await res.json()) as PaymentHealth };
}

async function subscribe(userId: string): Promise<void> {
  const customer = await a.stripe.customers.create({ email: `${userId}@example.com`, metadata: { userId } });
  const session = await a.stripe.checkout.sessions.create({
    mode: 'subscription',
    customer: customer.id,
    client_reference_id: userId,
    line_items: [{ price: a.config.stripe.prices.monthly, quantity: 1 }],
    success_url: 'http://127.0.0.1/success',
    cancel_url: 'http://127.0.0.1/cancel',
    metadata: { userId },
    subscription_data: { metadata: { userId } },
  });
  const done = await sandbox.control.completeCheckoutSession(session.id, 'pm_card_visa');
  subscriptions.set(userId, { customerId: customer.id, subscriptionId: done.subscription as string });
}

async function decline(userId: string): Promise<void> {
  const { customerId, subscriptionId } = subscriptions.get(userId)!;
  const failing = await a.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customerId });
  await a.stripe.subscriptions.update(subscriptionId, { default_payment_method: failing.id });
}

/** Moves the sandbox just past the next renewal of `userId`'s subscription, so the renewals sit inside the window. */
async function renewAll(userId: string): Promise<void> {
  const sub = await a.stripe.subscriptions.retrieve(subscriptions.get(userId)!.subscriptionId);
  const periodEnd = (sub.items.data[0] as Stripe.SubscriptionItem).current_period_end;
  await sandbox.control.advanceClock(periodEnd - sandbox.control.now() + 60);
  await settle();
}

describe('payment health through real sandbox payments', () => {
  it('moves healthy -> degraded -> critical (503) and back to healthy as the window slides, identically on two instances', async () => {
    // Too few payments to judge: the rate shows, the status stays healthy.
    await subscribe(users[0]!);
    await settle();
    let res = await health(a);
    expect(res.status).toBe(200);
    expect(res.body.window.paymentFailure).toMatchObject({ total: 1, failed: 0, sampleTooSmall: true });

    for (const u of users.slice(1)) await subscribe(u);
    await settle();
    res = await health(a);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('healthy');
    expect(res.body.window.paymentFailure).toMatchObject({ total: 6, failed: 0, rate: 0, sampleTooSmall: false });
    expect(res.body.metrics).toMatchObject({ totalPayments: 6, successfulPayments: 6, failedPayments: 0 });
    expect(res.body.hasRecentActivity).toBe(true);

    // Month 1: one of six renewals declines (16.7 % > 10 %).
    await decline(users[0]!);
    await renewAll(users[5]!);
    res = await health(a);
    expect(res.body.window.paymentFailure).toMatchObject({ failed: 1, sampleTooSmall: false });
    expect(res.body.window.paymentFailure.rate).toBeGreaterThan(0.1);
    expect(res.body.window.paymentFailure.rate).toBeLessThanOrEqual(0.25);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.reasons.join(' ')).toMatch(/payment failure rate/);
    expect(judgement((await health(b)).body)).toEqual(judgement(res.body));

    // Month 2: two more cards decline (>= 2 of the renewals, well over 25 %).
    await decline(users[1]!);
    await decline(users[2]!);
    await renewAll(users[5]!);
    res = await health(a);
    expect(res.body.window.paymentFailure.failed).toBeGreaterThanOrEqual(2);
    expect(res.body.window.paymentFailure.rate).toBeGreaterThan(0.25);
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('critical');
    const fromB = await health(b);
    expect(fromB.status).toBe(503);
    expect(judgement(fromB.body)).toEqual(judgement(res.body));

    // An hour later nothing new has failed: the incident has left the window.
    slideMs = 61 * 60 * 1000;
    res = await health(a);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('healthy');
    expect(res.body.window.paymentFailure).toMatchObject({ total: 0, failed: 0, rate: 0 });
    // Lifetime totals still remember it.
    expect(res.body.metrics.failedPayments).toBeGreaterThanOrEqual(3);
    expect(judgement((await health(b)).body)).toEqual(judgement(res.body));
  });

  it('raised one status-critical alert for the incident across both instances', async () => {
    const critical = [...a.alerts.ofType('status_critical'), ...b.alerts.ofType('status_critical')];
    expect(critical).toHaveLength(1);
    expect(critical[0]!.count).toBeGreaterThanOrEqual(2);
  });
});
