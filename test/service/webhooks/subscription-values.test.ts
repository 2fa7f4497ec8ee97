import type Stripe from 'stripe';
import type { TestService } from '../../support/service';
import { settleDeliveries, startWebhookService } from './support';

/** What the local subscription row says, for shapes the checkout flow alone never produces. */

jest.setTimeout(300_000);

let svc: TestService;
beforeAll(async () => {
  svc = await startWebhookService();
});
afterAll(async () => {
  await svc.close();
});

const db = () => svc.database.db;

async function subscribeDirectly(userId: string, price: string, quantity: number): Promise<Stripe.Subscription> {
  const customer = await svc.stripe.customers.create({
    email: `${userId}@example.com`,
    metadata: { userId },
    payment_method: 'pm_card_visa',
    invoice_settings: { default_payment_method: 'pm_card_visa' },
  });
  return svc.stripe.subscriptions.create({ customer: customer.id, items: [{ price, quantity }], metadata: { userId } });
}

async function row(id: string) {
  return db().selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

test('a yearly subscription of quantity 2: plan, amount (unit × quantity), interval and period end as Stripe has them', async () => {
  const sub = await subscribeDirectly('user_values_yearly', svc.config.stripe.prices.yearly, 2);
  await settleDeliveries(svc);
  const fresh = await svc.stripe.subscriptions.retrieve(sub.id);
  const item = fresh.items.data[0]!;
  expect(await row(sub.id)).toMatchObject({
    user_id: 'user_values_yearly',
    plan: 'yearly',
    price_id: svc.config.stripe.prices.yearly,
    amount: 3000 * 2,
    currency: 'eur',
    interval: 'year',
    status: 'active',
    current_period_end: new Date(item.current_period_end * 1000),
  });
  expect((await db().selectFrom('users').select('is_premium').where('id', '=', 'user_values_yearly').executeTakeFirstOrThrow()).is_premium).toBe(true);
});

test("a price the service does not sell is plan 'unknown', with its own amount and interval", async () => {
  const product = await svc.stripe.products.create({ name: 'Legacy weekly' });
  const weekly = await svc.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 150, recurring: { interval: 'week' } });
  const sub = await subscribeDirectly('user_values_unknown', weekly.id, 1);
  await settleDeliveries(svc);
  expect(await row(sub.id)).toMatchObject({ plan: 'unknown', price_id: weekly.id, amount: 150, interval: 'week' });
});

test('an immediate cancel records canceled_at and ended_at and ends premium; started_at stays Stripe\'s start_date', async () => {
  const sub = await subscribeDirectly('user_values_cancel', svc.config.stripe.prices.monthly, 1);
  await settleDeliveries(svc);
  expect((await row(sub.id)).started_at?.getTime()).toBe(sub.start_date * 1000);
  await svc.sandbox.control.advanceClock(5);
  const canceled = await svc.stripe.subscriptions.cancel(sub.id);
  await settleDeliveries(svc);
  const local = await row(sub.id);
  expect({ status: local.status, canceledAt: local.canceled_at?.getTime(), endedAt: local.ended_at?.getTime() }).toEqual({
    status: 'canceled',
    canceledAt: canceled.canceled_at! * 1000,
    endedAt: canceled.ended_at! * 1000,
  });
  expect(local.started_at?.getTime()).toBe(sub.start_date * 1000);
  expect((await db().selectFrom('users').select('is_premium').where('id', '=', 'user_values_cancel').executeTakeFirstOrThrow()).is_premium).toBe(false);
});
