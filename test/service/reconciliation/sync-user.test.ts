import { toNumber } from '../../../service/shared/db';
import type { TestService } from '../../support/service';
import { SETTLE_MS } from '../../support/wait';
import { DAY, startWebhookService, subscribe, useDecliningCard } from '../webhooks/support';

let svc: TestService;

beforeAll(async () => {
  svc = await startWebhookService();
});
afterAll(async () => {
  await svc.close();
});

const db = () => svc.database.db;

async function sync(userId: string, admin = true) {
  const token = await svc.tokenFor({ id: admin ? 'admin_1' : 'someone', admin });
  const res = await fetch(`${svc.url}/api/admin/payments/users/${userId}/sync`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('POST /users/:userId/sync repairs state missed by webhooks, is audited, and is idempotent', async () => {
  const { subscriptionId, customerId } = await subscribe(svc, 'user_sync');
  await svc.sandbox.control.waitForDeliveries(SETTLE_MS);
  // Lose local state: the renewal happens while the endpoint is disabled, and a payment row is gone.
  await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: true });
  await useDecliningCard(svc, customerId, subscriptionId);
  await svc.sandbox.control.advanceClock(32 * DAY);
  await svc.sandbox.control.waitForDeliveries(SETTLE_MS);
  expect((await db().selectFrom('subscriptions').select('status').where('id', '=', subscriptionId).executeTakeFirstOrThrow()).status).toBe('active');

  const first = await sync('user_sync');
  expect(first.status).toBe(200);
  expect(first.body).toMatchObject({ userId: 'user_sync', customerId, subscriptions: 1, invoices: 2, paymentsRepaired: 0, failedAttemptsRepaired: 1, premium: false });
  expect((await db().selectFrom('subscriptions').select('status').where('id', '=', subscriptionId).executeTakeFirstOrThrow()).status).toBe('past_due');
  const payments = await db().selectFrom('payments').select(['status', 'failed_attempts']).where('user_id', '=', 'user_sync').orderBy('occurred_at').execute();
  expect(payments).toEqual([
    { status: 'succeeded', failed_attempts: 0 },
    { status: 'failed', failed_attempts: 1 },
  ]);
  const audit = await db().selectFrom('audit_log').selectAll().where('target', '=', 'user:user_sync').execute();
  expect(audit).toHaveLength(1);
  expect(audit[0]).toMatchObject({ actor: 'admin:admin_1', action: 'payments.user_sync' });

  const revenueBefore = await db().selectFrom('daily_revenue').selectAll().execute();
  const second = await sync('user_sync');
  expect(second.body).toMatchObject({ paymentsRepaired: 0, failedAttemptsRepaired: 0 });
  const revenueAfter = await db().selectFrom('daily_revenue').selectAll().execute();
  const total = (rows: typeof revenueAfter) => rows.reduce((s, r) => s + toNumber(r.gross_amount) + r.payments_failed * 1_000_000, 0);
  expect(total(revenueAfter)).toBe(total(revenueBefore));
  await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: false });
});

test('sync requires the admin role and a known user', async () => {
  expect((await sync('user_sync', false)).status).toBe(403);
  expect((await sync('user_nobody')).status).toBe(404);
});
