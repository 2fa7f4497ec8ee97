import type Stripe from 'stripe';
import { syncUser } from '../../../service/reconciliation';
import { lockPayment } from '../../../service/webhooks/effects/ledger';
import { recordRefund } from '../../../service/webhooks/effects/refunds';
import { processEvent } from '../../../service/webhooks/processor';
import { ensureUserLinked } from '../../../service/webhooks/users';
import type { WebhookOutcome } from '../../../service/shared/observer';
import type { TestService } from '../../support/service';
import { waitUntil } from '../../support/wait';
import { fakeEvent, postWebhook, sign, startWebhookService, waitingLocks } from './support';

/**
 * Interleavings of concurrent transactions over one payment: a refund committed while its payment
 * row is being inserted (each reads before the other commits, so without the per-payment lock both
 * miss each other and the payment row never shows the refund), and a user sync against a webhook
 * of the same user (lock order), and two applications of one event at once (two instances'
 * drains, a replay beside a drain), which meet only at the inbox row the end of each takes. Real PostgreSQL only: PGlite runs one transaction at a time, so
 * they can never overlap there.
 */

jest.setTimeout(300_000);

let svc: TestService;

beforeAll(async () => {
  svc = await startWebhookService();
});
afterAll(async () => {
  await svc.close();
});

// The suite's database is on the real server exactly when DATABASE_URL is set (test/support/database.ts).
const onPostgres = process.env.DATABASE_URL ? test : test.skip;

onPostgres('a payment event that runs while a refund of it is uncommitted still ends with the refund applied', async () => {
  const pi = `pi_race_${Date.now()}`;
  const t = Math.floor(Date.now() / 1000);
  let releaseRefund!: () => void;
  const gate = new Promise<void>((resolve) => (releaseRefund = resolve));
  let refundWritten!: () => void;
  const written = new Promise<void>((resolve) => (refundWritten = resolve));

  // The refund's transaction writes and then stays open.
  const refundTx = svc.database.db.transaction().execute(async (trx) => {
    await recordRefund(trx, {
      refundId: `re_race_${t}`,
      paymentKey: pi,
      userId: null,
      chargeId: null,
      paymentIntentId: pi,
      amount: 300,
      currency: 'eur',
      status: 'succeeded',
      reason: null,
      failureReason: null,
      refundedAt: new Date(t * 1000),
      stripeTime: t,
    });
    refundWritten();
    await gate;
  });
  await written;

  const intent = { id: pi, object: 'payment_intent', amount: 1000, amount_received: 1000, currency: 'eur', customer: null, metadata: {}, latest_charge: null, last_payment_error: null };
  // Paid days before the refund: the two share no rollup row whose lock would order them by accident.
  const body = JSON.stringify(fakeEvent('payment_intent.succeeded', intent, { created: t - 3 * 86_400 }) as Stripe.Event);
  let answered = false;
  const delivery = postWebhook(svc, body, { 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) }).finally(() => (answered = true));

  // Either the payment's transaction is now waiting for the refund's (the lock), or it finished
  // without waiting (no lock): both are states to leave, never a fixed sleep.
  try {
    await waitUntil(async () => answered || (await waitingLocks(svc.database.db)) > 0, { what: 'the payment delivery to wait on the refund or to finish' });
  } finally {
    releaseRefund();
  }
  await refundTx;
  expect((await delivery).status).toBe(200);

  const payment = await svc.database.db.selectFrom('payments').select(['status', 'refunded_amount']).where('payment_key', '=', pi).executeTakeFirstOrThrow();
  expect(payment).toEqual({ status: 'partially_refunded', refunded_amount: 300 });
});

onPostgres('a user sync running while a webhook of that user holds the user lock waits for it instead of deadlocking', async () => {
  // A user with a one-off payment (no subscription: nothing else in the sync takes the user lock
  // early), refunded in part, so the sync has a payment's lock to take.
  const customer = await svc.stripe.customers.create({ email: 'lock-order@example.com', metadata: { userId: 'user_sync_lock_order' } });
  const intent = await svc.stripe.paymentIntents.create({ amount: 900, currency: 'eur', customer: customer.id, payment_method: 'pm_card_visa', confirm: true });
  await svc.sandbox.control.waitForDeliveries(120_000);
  const payment = await svc.database.db.selectFrom('payments').select(['payment_key']).where('payment_intent_id', '=', intent.id).executeTakeFirstOrThrow();
  expect(await svc.database.db.selectFrom('subscriptions').select('id').where('user_id', '=', 'user_sync_lock_order').execute()).toEqual([]);
  await svc.stripe.refunds.create({ payment_intent: intent.id, amount: 100 });
  await svc.sandbox.control.waitForDeliveries(120_000);

  let releaseWebhook!: () => void;
  const gate = new Promise<void>((resolve) => (releaseWebhook = resolve));
  let userLocked!: () => void;
  const locked = new Promise<void>((resolve) => (userLocked = resolve));
  // What every webhook of this user does first (the user's row lock), then, later, its payment's lock.
  const webhookTx = svc.database.db.transaction().execute(async (trx) => {
    await ensureUserLinked(trx, { userId: 'user_sync_lock_order', customerId: null });
    userLocked();
    await gate;
    await lockPayment(trx, payment.payment_key);
  });
  await locked;

  let syncDone = false;
  const sync = syncUser(svc.deps, 'user_sync_lock_order', { actor: 'test' }).finally(() => (syncDone = true));
  try {
    // The sync is now blocked on a lock held by the webhook's transaction (or already failed).
    await waitUntil(async () => syncDone || (await waitingLocks(svc.database.db)) > 0, { what: 'the sync to wait on the webhook transaction' });
  } finally {
    releaseWebhook();
  }
  // Taking the user lock after the payment locks, the two would deadlock and PostgreSQL would abort one.
  await expect(webhookTx).resolves.toBeUndefined();
  await expect(sync).resolves.toMatchObject({ userId: 'user_sync_lock_order' });
});

onPostgres('two applications of one event at once: one applies it, the other rolls back as a duplicate and reports nothing', async () => {
  const pi = `pi_twice_${Date.now()}`;
  const t = Math.floor(Date.now() / 1000);
  const intent = { id: pi, object: 'payment_intent', amount: 700, amount_received: 700, currency: 'eur', customer: null, metadata: {}, latest_charge: null, last_payment_error: null };
  const event = fakeEvent('payment_intent.succeeded', intent, { created: t - 5 * 86_400 }) as Stripe.Event;
  const day = new Date((t - 5 * 86_400) * 1000).toISOString().slice(0, 10);
  const handled: WebhookOutcome[] = [];
  const payments: string[] = [];
  const deps = {
    ...svc.deps,
    observer: { ...svc.deps.observer, webhookHandled: (e: { outcome: WebhookOutcome }) => handled.push(e.outcome), paymentRecorded: (p: { outcome: string }) => payments.push(p.outcome) },
  };

  // Both applications wait on the payment's lock, held here, so both run their effects before
  // either reaches the inbox row: the interleaving a late claim has to get right.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held!: () => void;
  const locked = new Promise<void>((resolve) => (held = resolve));
  const holder = svc.database.db.transaction().execute(async (trx) => {
    await lockPayment(trx, pi);
    held();
    await gate;
  });
  await locked;
  let settled = 0;
  const runs = [0, 1].map(() => processEvent(deps, event, { storedStatus: null }).finally(() => (settled += 1)));
  try {
    await waitUntil(async () => settled === 2 || (await waitingLocks(svc.database.db)) >= 2, { what: 'both applications to wait on the payment lock' });
  } finally {
    release();
  }
  await holder;
  const outcomes = (await Promise.all(runs)).map((r) => r.outcome).sort();
  expect(outcomes).toEqual(['duplicate', 'processed']);
  expect(handled.sort()).toEqual(['duplicate', 'processed']);
  expect(payments).toEqual(['succeeded']);

  const inbox = await svc.database.db.selectFrom('webhook_events').select(['status', 'attempts', 'duplicate_deliveries']).where('event_id', '=', event.id).executeTakeFirstOrThrow();
  expect(inbox).toEqual({ status: 'processed', attempts: 1, duplicate_deliveries: 1 });
  const rows = await svc.database.db.selectFrom('payments').select(['status', 'amount']).where('payment_key', '=', pi).execute();
  expect(rows).toEqual([{ status: 'succeeded', amount: 700 }]);
  const revenue = await svc.database.db.selectFrom('daily_revenue').select(['payments_succeeded', 'gross_amount']).where('day', '=', day).where('currency', '=', 'eur').execute();
  expect(revenue.map((r) => [r.payments_succeeded, Number(r.gross_amount)])).toEqual([[1, 700]]);
});
