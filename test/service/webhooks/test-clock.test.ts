import type { RunningSandbox } from '../../../sandbox';
import type { TestService } from '../../support/service';
import { settleDeliveries, startWebhookService, subscribe } from './support';

/**
 * A Stripe account whose objects live on a test clock frozen in the past (staging simulations,
 * `npm run seed-demo`): events are dated by the clock, while Stripe's `Date` header stays real
 * time. The same-second re-fetch of a subscription must date its snapshot by the clock too; dated
 * by the header, the snapshot would look newer than every later event of the clock, and a
 * cancellation 30 days later would be ignored as stale (found by the demo: ended subscriptions
 * stayed active).
 */
const DAY = 86_400;
let svc: TestService & { ownSandbox: RunningSandbox };
let sandbox: RunningSandbox;

beforeAll(async () => {
  svc = await startWebhookService({ clockStart: Math.floor(Date.now() / 1000) - 60 * DAY });
  sandbox = svc.ownSandbox;
}, 120_000);
afterAll(async () => svc?.close());

test('objects carry the test clock, and the clock answers with the sandbox time as its frozen_time', async () => {
  const customer = await svc.stripe.customers.create({ email: 'clock@example.com', metadata: { userId: 'user_clock_0' } });
  expect(customer.test_clock).toMatch(/^clock_/);
  const clock = await svc.stripe.testHelpers.testClocks.retrieve(customer.test_clock as string);
  expect(clock.frozen_time).toBe(sandbox.control.now());
  expect(clock.frozen_time).toBeLessThan(Date.now() / 1000 - 59 * DAY);
  await expect(svc.stripe.testHelpers.testClocks.retrieve('clock_unknown')).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing' });
});

test('a subscription re-fetched on the clock keeps applying the clock\'s later events: its cancellation a month later ends it', async () => {
  const { subscriptionId } = await subscribe(svc, 'user_clock_1');
  await settleDeliveries(svc);
  const row = () => svc.database.db.selectFrom('subscriptions').select(['status', 'stripe_updated_at']).where('id', '=', subscriptionId).executeTakeFirstOrThrow();
  // created and activated in the same clock second: the re-fetch ran, dated by the clock, not by real time.
  expect(Number((await row()).stripe_updated_at)).toBeLessThan(Date.now() / 1000 - 59 * DAY);
  expect((await row()).status).toBe('active');

  await sandbox.control.advanceClock(10 * DAY);
  await svc.stripe.subscriptions.cancel(subscriptionId);
  await settleDeliveries(svc);
  expect((await row()).status).toBe('canceled');
  expect((await svc.database.db.selectFrom('users').select('is_premium').where('id', '=', 'user_clock_1').executeTakeFirstOrThrow()).is_premium).toBe(false);
});

test('a sync on the clock dates what it read by the clock: a refund that fails a month later still counts as failed', async () => {
  const { customerId } = await subscribe(svc, 'user_clock_2');
  await settleDeliveries(svc);
  const intent = (await svc.stripe.paymentIntents.list({ customer: customerId, limit: 1 })).data[0]!;
  await sandbox.control.pauseDeliveries();
  const refund = await svc.stripe.refunds.create({ payment_intent: intent.id, amount: 100 });
  // The admin's sync reads the refund (pending or succeeded) before any of its events arrive.
  const admin = await svc.tokenFor({ id: 'admin_clock', admin: true });
  const synced = await fetch(`${svc.url}/api/admin/payments/users/user_clock_2/sync`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
  expect(synced.status).toBe(200);
  const stored = () => svc.database.db.selectFrom('refunds').select(['status', 'counted', 'stripe_updated_at']).where('refund_id', '=', refund.id).executeTakeFirstOrThrow();
  expect(Number((await stored()).stripe_updated_at)).toBeLessThan(Date.now() / 1000 - 50 * DAY);
  sandbox.control.resumeDeliveries();
  await settleDeliveries(svc);
  await sandbox.control.advanceClock(DAY);
  await sandbox.control.failRefund(refund.id, 'expired_or_canceled_card');
  await settleDeliveries(svc);
  expect(await stored()).toMatchObject({ status: 'failed', counted: false });
});
