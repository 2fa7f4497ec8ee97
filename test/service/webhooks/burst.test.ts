import type Stripe from 'stripe';
import { toNumber } from '../../../service/shared/db';
import type { TestService } from '../../support/service';
import { SETTLE_MS } from '../../support/wait';
import { DAY, listAll, startWebhookService, subscribe, useDecliningCard } from './support';

const USERS = 72;
const DECLINING = 10;
const CANCELING = 6;
const RENEWALS = 5;

let svc: TestService;
const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

beforeAll(async () => {
  // Four concurrent deliveries per endpoint: on Postgres that is real concurrency through the pool.
  svc = await startWebhookService({ deliveryConcurrency: 4 });
});
afterAll(async () => {
  await svc.close();
});

test('a burst of more than 1,000 events with duplicates and reordering ends equal to the state recomputed from Stripe', async () => {
  const { control } = svc.sandbox;
  control.setFaults({ duplicate: 1, reorder: true });
  const users = Array.from({ length: USERS }, (_, i) => `user_burst_${String(i).padStart(3, '0')}`);
  const subs = await Promise.all(users.map((u, i) => subscribe(svc, u, { plan: i % 8 === 0 ? 'yearly' : 'monthly' })));
  for (let i = 0; i < DECLINING; i++) await useDecliningCard(svc, subs[i]!.customerId, subs[i]!.subscriptionId);
  for (let i = DECLINING; i < DECLINING + CANCELING; i++) await svc.stripe.subscriptions.update(subs[i]!.subscriptionId, { cancel_at_period_end: true });
  for (let r = 0; r < RENEWALS; r++) await control.advanceClock(32 * DAY);
  await control.waitForDeliveries(SETTLE_MS);

  const delivered = new Set(control.deliveries().map((d) => d.event_id));
  expect(delivered.size).toBeGreaterThanOrEqual(1000);
  expect(control.deliveries().length).toBeGreaterThanOrEqual(2 * delivered.size);
  const failedDeliveries = control.deliveries().filter((d) => !d.succeeded);
  expect(failedDeliveries).toEqual([]);

  const db = svc.database.db;
  // Every delivered event applied exactly once.
  const inbox = await db.selectFrom('webhook_events').select(['event_id', 'status', 'attempts']).execute();
  expect(inbox.filter((e) => delivered.has(e.event_id))).toHaveLength(delivered.size);
  expect(inbox.every((e) => e.status === 'processed' && e.attempts === 1)).toBe(true);

  // Subscriptions equal Stripe's.
  const stripeSubs = await listAll(svc.stripe.subscriptions.list({ status: 'all', limit: 100 }));
  const localSubs = new Map((await db.selectFrom('subscriptions').selectAll().execute()).map((s) => [s.id, s]));
  expect(localSubs.size).toBe(stripeSubs.length);
  for (const sub of stripeSubs) {
    const local = localSubs.get(sub.id);
    expect({ id: sub.id, status: local?.status, periodEnd: local?.current_period_end?.getTime(), cap: local?.cancel_at_period_end }).toEqual({
      id: sub.id,
      status: sub.status,
      periodEnd: (sub.items.data[0] as Stripe.SubscriptionItem).current_period_end * 1000,
      cap: sub.cancel_at_period_end,
    });
  }
  const statuses = stripeSubs.map((s) => s.status);
  // Yearly subscriptions (every 8th user) do not reach a renewal within the burst.
  const monthlyIn = (from: number, to: number) => users.slice(from, to).filter((_, i) => (from + i) % 8 !== 0).length;
  expect(statuses.filter((s) => s === 'past_due')).toHaveLength(monthlyIn(0, DECLINING));
  expect(statuses.filter((s) => s === 'canceled')).toHaveLength(monthlyIn(DECLINING, DECLINING + CANCELING));

  // Payments equal Stripe's invoices: one row per invoice, final state, failed attempts counted once.
  const invoices = await listAll(svc.stripe.invoices.list({ limit: 100 }));
  const expected = invoices
    .filter((i) => i.attempt_count > 0)
    .map((i) => ({ key: i.id, status: i.status === 'paid' ? 'succeeded' : 'failed', amount: i.status === 'paid' ? i.amount_paid : i.amount_due, failedAttempts: i.attempt_count - (i.status === 'paid' ? 1 : 0) }))
    .sort(byKey);
  const payments = await db.selectFrom('payments').selectAll().orderBy('payment_key').execute();
  expect(payments.map((p) => ({ key: p.payment_key, status: p.status, amount: p.amount, failedAttempts: p.failed_attempts })).sort(byKey)).toEqual(expected);
  expect(payments.every((p) => p.payment_intent_id !== null && p.user_id !== null)).toBe(true);

  // The rollup equals the payments.
  const revenue = await db.selectFrom('daily_revenue').selectAll().execute();
  const succeeded = payments.filter((p) => p.status === 'succeeded');
  expect(revenue.reduce((s, r) => s + toNumber(r.gross_amount), 0)).toBe(succeeded.reduce((s, p) => s + p.amount, 0));
  expect(revenue.reduce((s, r) => s + r.payments_succeeded, 0)).toBe(succeeded.length);
  expect(revenue.reduce((s, r) => s + r.payments_failed, 0)).toBe(expected.reduce((s, p) => s + p.failedAttempts, 0));

  // Premium equals "has an active subscription" in Stripe.
  const localUsers = await db.selectFrom('users').select(['id', 'is_premium']).where('id', 'like', 'user_burst_%').orderBy('id').execute();
  const premiumInStripe = new Set(stripeSubs.filter((s) => s.status === 'active' || s.status === 'trialing').map((s) => s.metadata.userId));
  expect(localUsers.map((u) => [u.id, u.is_premium])).toEqual(users.map((u) => [u, premiumInStripe.has(u)]));
});
