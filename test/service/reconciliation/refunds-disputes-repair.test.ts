import { replayEvents, syncUser } from '../../../service/reconciliation';
import { toNumber } from '../../../service/shared/db';
import type { TestService } from '../../support/service';
import { SETTLE_MS } from '../../support/wait';
import { startWebhookService, subscribe } from '../webhooks/support';

/**
 * Reconciliation repairs refunds and disputes that webhooks never delivered (the endpoint was
 * disabled: Stripe does not resend those events), through syncUser and through replay.
 */

jest.setTimeout(300_000);

let svc: TestService;

beforeAll(async () => {
  svc = await startWebhookService();
});
afterAll(async () => {
  await svc.close();
});

const db = () => svc.database.db;
const settle = () => svc.sandbox.control.waitForDeliveries(SETTLE_MS);
const disableEndpoint = (disabled: boolean) => svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled });

async function paidIntent(userId: string) {
  await subscribe(svc, userId);
  await settle();
  const payment = await db().selectFrom('payments').select(['payment_key', 'payment_intent_id']).where('user_id', '=', userId).executeTakeFirstOrThrow();
  const pi = await svc.stripe.paymentIntents.retrieve(payment.payment_intent_id!);
  return { paymentKey: payment.payment_key, intentId: pi.id, chargeId: pi.latest_charge as string };
}

async function ledgerTotals() {
  const rows = await db().selectFrom('daily_revenue').selectAll().execute();
  const sum = (pick: (r: (typeof rows)[number]) => unknown) => rows.reduce((s, r) => s + toNumber(pick(r) as number), 0);
  return {
    gross: sum((r) => r.gross_amount),
    refunded: sum((r) => r.refunded_amount),
    refunds: sum((r) => r.refunds),
    disputesOpened: sum((r) => r.disputes_opened),
    withdrawn: sum((r) => r.dispute_withdrawn_amount),
    reinstated: sum((r) => r.dispute_reinstated_amount),
  };
}

test('syncUser repairs missed refunds, a refund that failed unseen, and a dispute won unseen, and is idempotent', async () => {
  const { paymentKey, intentId, chargeId } = await paidIntent('user_sync_adjust');
  const early = await svc.stripe.refunds.create({ payment_intent: intentId, amount: 50 });
  await settle();
  expect((await db().selectFrom('payments').select('refunded_amount').where('payment_key', '=', paymentKey).executeTakeFirstOrThrow()).refunded_amount).toBe(50);

  await disableEndpoint(true);
  try {
    await svc.sandbox.control.failRefund(early.id);
    await svc.stripe.refunds.create({ payment_intent: intentId, amount: 100 });
    const dispute = await svc.sandbox.control.openDispute(chargeId);
    await svc.sandbox.control.closeDispute(dispute.id, 'won');
    await settle();
    // Nothing of that reached the ledger.
    expect(await db().selectFrom('payments').select(['status', 'refunded_amount', 'dispute_status']).where('payment_key', '=', paymentKey).executeTakeFirstOrThrow()).toEqual({
      status: 'partially_refunded',
      refunded_amount: 50,
      dispute_status: null,
    });
    const before = await ledgerTotals();

    const summary = await syncUser(svc.deps, 'user_sync_adjust', { actor: 'test' });
    expect(summary).toMatchObject({ refunds: 2, disputes: 1, refundsRepaired: 2, disputesRepaired: 1 });
    expect(await db().selectFrom('payments').select(['status', 'refunded_amount', 'dispute_status', 'disputed_amount', 'dispute_withdrawn_amount']).where('payment_key', '=', paymentKey).executeTakeFirstOrThrow()).toEqual({
      status: 'partially_refunded',
      refunded_amount: 100,
      dispute_status: 'won',
      disputed_amount: 300,
      dispute_withdrawn_amount: 0,
    });
    const after = await ledgerTotals();
    expect(after).toEqual({
      ...before,
      refunded: before.refunded - 50 + 100,
      refunds: before.refunds,
      disputesOpened: before.disputesOpened + 1,
      withdrawn: before.withdrawn + 300,
      reinstated: before.reinstated + 300,
    });

    const again = await syncUser(svc.deps, 'user_sync_adjust', { actor: 'test' });
    expect(again).toMatchObject({ refundsRepaired: 0, disputesRepaired: 0 });
    expect(await ledgerTotals()).toEqual(after);
  } finally {
    await disableEndpoint(false);
  }
});

test('replay applies refund and dispute events Stripe never delivered, once', async () => {
  const { paymentKey, intentId, chargeId } = await paidIntent('user_replay_adjust');
  const since = new Date(svc.sandbox.control.now() * 1000 - 1000);
  await disableEndpoint(true);
  try {
    await svc.stripe.refunds.create({ payment_intent: intentId, amount: 400 - 250 });
    const dispute = await svc.sandbox.control.openDispute(chargeId);
    await svc.sandbox.control.closeDispute(dispute.id, 'lost');
    await settle();
  } finally {
    await disableEndpoint(false);
  }
  expect((await db().selectFrom('payments').select('status').where('payment_key', '=', paymentKey).executeTakeFirstOrThrow()).status).toBe('succeeded');

  const first = await replayEvents(svc.deps, { since });
  expect(first.failed).toBe(0);
  expect(await db().selectFrom('payments').select(['status', 'refunded_amount', 'dispute_status', 'dispute_withdrawn_amount']).where('payment_key', '=', paymentKey).executeTakeFirstOrThrow()).toEqual({
    status: 'partially_refunded',
    refunded_amount: 150,
    dispute_status: 'lost',
    dispute_withdrawn_amount: 250,
  });
  const totals = await ledgerTotals();
  const second = await replayEvents(svc.deps, { since });
  expect(second.applied).toBe(0);
  expect(second.alreadyApplied).toBe(first.seen);
  expect(await ledgerTotals()).toEqual(totals);
});
