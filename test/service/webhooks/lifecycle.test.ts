import type Stripe from 'stripe';
import { toNumber } from '../../../service/shared/db';
import type { TestService } from '../../support/service';
import { SETTLE_MS } from '../../support/wait';
import { DAY, startWebhookService, subscribe, useDecliningCard } from './support';

let svc: TestService;

beforeAll(async () => {
  svc = await startWebhookService();
});
afterAll(async () => {
  await svc.close();
});

const db = () => svc.database.db;
const settle = () => svc.sandbox.control.waitForDeliveries(SETTLE_MS);

async function subscriptionRow(id: string) {
  return db().selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}
async function paymentsOf(userId: string) {
  return db().selectFrom('payments').selectAll().where('user_id', '=', userId).orderBy('occurred_at').orderBy('id').execute();
}
async function premium(userId: string) {
  return (await db().selectFrom('users').select('is_premium').where('id', '=', userId).executeTakeFirstOrThrow()).is_premium;
}

describe('subscription lifecycle through real signed deliveries', () => {
  test('a completed checkout activates the subscription, turns premium on and records one payment (invoice and intent are one row)', async () => {
    const { subscriptionId, customerId } = await subscribe(svc, 'user_e2e_checkout');
    await settle();

    const sub = await subscriptionRow(subscriptionId);
    const stripeSub = await svc.stripe.subscriptions.retrieve(subscriptionId);
    expect(sub).toMatchObject({ user_id: 'user_e2e_checkout', customer_id: customerId, plan: 'monthly', status: 'active', amount: 400, currency: 'eur', interval: 'month', cancel_at_period_end: false });
    expect(sub.current_period_end?.getTime()).toBe((stripeSub.items.data[0] as Stripe.SubscriptionItem).current_period_end * 1000);
    expect(await premium('user_e2e_checkout')).toBe(true);

    const payments = await paymentsOf('user_e2e_checkout');
    expect(payments).toHaveLength(1);
    expect(payments[0]).toMatchObject({ status: 'succeeded', amount: 400, currency: 'eur', subscription_id: subscriptionId, failed_attempts: 0 });
    expect(payments[0]?.payment_key).toBe(payments[0]?.invoice_id);
    expect(payments[0]?.payment_intent_id).toMatch(/^pi_/);
    const link = await db().selectFrom('stripe_customers').selectAll().where('user_id', '=', 'user_e2e_checkout').executeTakeFirstOrThrow();
    expect(link.customer_id).toBe(customerId);
    const statuses = await db().selectFrom('webhook_events').select(['type', 'status', 'attempts', 'duration_ms']).execute();
    expect(statuses.every((e) => e.status === 'processed' && e.attempts === 1 && e.duration_ms !== null)).toBe(true);
  });

  test('a renewal by clock advance records a second payment and moves the period end', async () => {
    const { subscriptionId } = await subscribe(svc, 'user_e2e_renewal');
    await settle();
    const before = await subscriptionRow(subscriptionId);
    await svc.sandbox.control.advanceClock(32 * DAY);
    await settle();

    const after = await subscriptionRow(subscriptionId);
    expect(after.status).toBe('active');
    expect(after.current_period_end!.getTime()).toBeGreaterThan(before.current_period_end!.getTime());
    const payments = await paymentsOf('user_e2e_renewal');
    expect(payments.map((p) => [p.status, p.amount])).toEqual([
      ['succeeded', 400],
      ['succeeded', 400],
    ]);
    expect(new Set(payments.map((p) => p.invoice_id)).size).toBe(2);
  });

  test('a renewal with a declining card records a failed payment with its failure code and makes the subscription past_due', async () => {
    const { subscriptionId, customerId } = await subscribe(svc, 'user_e2e_decline');
    await useDecliningCard(svc, customerId, subscriptionId);
    await settle();
    await svc.sandbox.control.advanceClock(32 * DAY);
    await settle();

    expect((await subscriptionRow(subscriptionId)).status).toBe('past_due');
    expect(await premium('user_e2e_decline')).toBe(false);
    const payments = await paymentsOf('user_e2e_decline');
    expect(payments.map((p) => p.status)).toEqual(['succeeded', 'failed']);
    expect(payments[1]).toMatchObject({ amount: 400, failed_attempts: 1 });
    expect(payments[1]?.failure_code).toBeTruthy();
    const attempts = await db().selectFrom('payment_attempts').selectAll().where('payment_key', '=', payments[1]!.payment_key).execute();
    expect(attempts).toHaveLength(1);
  });

  test('cancel at period end: deleted at the boundary, premium off, canceled is kept', async () => {
    const { subscriptionId } = await subscribe(svc, 'user_e2e_cancel');
    await svc.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
    await settle();
    expect(await subscriptionRow(subscriptionId)).toMatchObject({ status: 'active', cancel_at_period_end: true });
    expect(await premium('user_e2e_cancel')).toBe(true);

    await svc.sandbox.control.advanceClock(32 * DAY);
    await settle();
    const row = await subscriptionRow(subscriptionId);
    expect(row.status).toBe('canceled');
    expect(row.ended_at).not.toBeNull();
    expect(await premium('user_e2e_cancel')).toBe(false);
    expect((await paymentsOf('user_e2e_cancel')).filter((p) => p.status === 'succeeded')).toHaveLength(1);
  });

  test('the revenue rollup equals the sum of succeeded payments and counts failed attempts', async () => {
    const payments = await db().selectFrom('payments').selectAll().execute();
    const revenue = await db().selectFrom('daily_revenue').selectAll().execute();
    const gross = revenue.reduce((s, r) => s + toNumber(r.gross_amount), 0);
    expect(gross).toBe(payments.filter((p) => p.status === 'succeeded').reduce((s, p) => s + p.amount, 0));
    expect(revenue.reduce((s, r) => s + r.payments_succeeded, 0)).toBe(payments.filter((p) => p.status === 'succeeded').length);
    expect(revenue.reduce((s, r) => s + r.payments_failed, 0)).toBe(payments.reduce((s, p) => s + p.failed_attempts, 0));
  });
});
