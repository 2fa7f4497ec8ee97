import { sql } from 'kysely';
import type Stripe from 'stripe';
import { recordRefund } from '../../../service/webhooks/effects/refunds';
import type { TestService } from '../../support/service';
import { waitUntil } from '../../support/wait';
import { fakeEvent, postWebhook, sign, startWebhookService } from './support';

/**
 * A refund committed while its payment row is being inserted: each transaction reads before the
 * other commits, so without the per-payment lock both miss each other and the payment row never
 * shows the refund. Real PostgreSQL only: PGlite runs one transaction at a time, so the two can
 * never overlap there.
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
  await waitUntil(
    async () => {
      if (answered) return true;
      const waiting = await sql<{ n: string | number }>`select count(*) as n from pg_locks where not granted and database = (select oid from pg_database where datname = current_database())`.execute(svc.database.db);
      return Number(waiting.rows[0]?.n ?? 0) > 0;
    },
    { what: 'the payment delivery to wait on the refund or to finish' },
  );
  releaseRefund();
  await refundTx;
  expect((await delivery).status).toBe(200);

  const payment = await svc.database.db.selectFrom('payments').select(['status', 'refunded_amount']).where('payment_key', '=', pi).executeTakeFirstOrThrow();
  expect(payment).toEqual({ status: 'partially_refunded', refunded_amount: 300 });
});
