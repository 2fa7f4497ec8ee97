import type Stripe from 'stripe';
import { toNumber } from '../../../service/shared/db';
import { startTestService, type TestService } from '../../support/service';
import { fakeEvent, postWebhook, sign } from './support';

/**
 * The payment counting rules with exact times and failure codes the sandbox cannot choose: signed
 * events built here, for a customer the service already maps locally (so no Stripe lookup decides
 * anything), posted to the real endpoint.
 */

jest.setTimeout(300_000);

let svc: TestService;
const USER = 'user_rules';
const CUSTOMER = 'cus_rules_mapped';

beforeAll(async () => {
  svc = await startTestService();
  await svc.database.db.insertInto('users').values({ id: USER, email: 'rules@example.com', city: null }).execute();
  await svc.database.db.insertInto('stripe_customers').values({ user_id: USER, customer_id: CUSTOMER, livemode: false }).execute();
});
afterAll(async () => {
  await svc.close();
});

const db = () => svc.database.db;
const at = (iso: string) => Math.floor(Date.parse(iso) / 1000);
let seq = 0;

async function deliver(type: string, object: Record<string, unknown>, created: number): Promise<Stripe.Event> {
  const event = fakeEvent(type, object, { id: `evt_rules_${++seq}`, created });
  const body = JSON.stringify(event);
  const res = await postWebhook(svc, body, { 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) });
  // Applied at once, or (when it needs the Stripe API) right after the 2xx by a drain.
  expect({ event: event.id, status: res.status, outcome: res.outcome }).toEqual({ event: event.id, status: 200, outcome: 'processed' });
  return event;
}

function invoice(id: string, fields: { paid?: number; due?: number; attempt: number; paidAt?: number | null; customer?: string | null }): Record<string, unknown> {
  return {
    id,
    object: 'invoice',
    customer: fields.customer === undefined ? CUSTOMER : fields.customer,
    amount_due: fields.due ?? 400,
    amount_paid: fields.paid ?? 0,
    currency: 'eur',
    attempt_count: fields.attempt,
    status_transitions: { paid_at: fields.paidAt ?? null },
    parent: { subscription_details: { subscription: null, metadata: {} } },
  };
}

function paymentIntent(id: string, fields: { charge: string; code?: string | null; message?: string | null; succeeded?: boolean; customer?: string | null }): Record<string, unknown> {
  return {
    id,
    object: 'payment_intent',
    amount: 900,
    amount_received: fields.succeeded ? 900 : 0,
    currency: 'eur',
    customer: fields.customer === undefined ? CUSTOMER : fields.customer,
    metadata: {},
    latest_charge: fields.charge,
    last_payment_error: fields.succeeded ? null : { code: fields.code ?? null, decline_code: null, message: fields.message ?? null },
  };
}

async function payment(key: string) {
  return db().selectFrom('payments').selectAll().where('payment_key', '=', key).executeTakeFirstOrThrow();
}

async function rollup(day: string) {
  const row = await db().selectFrom('daily_revenue').selectAll().where('day', '=', day as never).where('currency', '=', 'eur').executeTakeFirst();
  return row ? { gross: toNumber(row.gross_amount), succeeded: row.payments_succeeded, failed: row.payments_failed } : undefined;
}

test('revenue lands on the day the money moved (paid_at), not the day the event was created', async () => {
  const paidAt = at('2026-01-31T23:59:50Z');
  await deliver('invoice.payment_succeeded', invoice('in_rules_midnight', { paid: 400, attempt: 1, paidAt }), at('2026-02-01T00:00:10Z'));
  expect((await payment('in_rules_midnight')).occurred_at.getTime()).toBe(paidAt * 1000);
  expect(await rollup('2026-01-31')).toEqual({ gross: 400, succeeded: 1, failed: 0 });
  expect(await rollup('2026-02-01')).toBeUndefined();
});

test('each failed attempt of one invoice counts once on its own day; the success keeps the count and adds revenue once', async () => {
  const key = 'in_rules_retries';
  await deliver('invoice.payment_failed', invoice(key, { attempt: 1 }), at('2026-03-01T10:00:00Z'));
  await deliver('invoice.payment_failed', invoice(key, { attempt: 2 }), at('2026-03-04T10:00:00Z'));
  // The first attempt's event again under another id (a replay from the Events API): no new attempt.
  await deliver('invoice.payment_failed', invoice(key, { attempt: 1 }), at('2026-03-01T10:00:00Z'));
  expect(await payment(key)).toMatchObject({ status: 'failed', amount: 400, failed_attempts: 2 });
  await deliver('invoice.payment_succeeded', invoice(key, { paid: 400, attempt: 3, paidAt: at('2026-03-07T10:00:00Z') }), at('2026-03-07T10:00:00Z'));

  expect(await payment(key)).toMatchObject({ status: 'succeeded', amount: 400, failed_attempts: 2 });
  expect(await rollup('2026-03-01')).toEqual({ gross: 0, succeeded: 0, failed: 1 });
  expect(await rollup('2026-03-04')).toEqual({ gross: 0, succeeded: 0, failed: 1 });
  expect(await rollup('2026-03-07')).toEqual({ gross: 400, succeeded: 1, failed: 0 });
  const attempts = await db().selectFrom('payment_attempts').select('attempt_key').where('payment_key', '=', key).orderBy('attempt_key').execute();
  expect(attempts.map((a) => a.attempt_key)).toEqual([`${key}#1`, `${key}#2`]);
});

test('the newest failure describes a failed payment; an older one arriving late changes nothing; a newer one without a code keeps the known code', async () => {
  const key = 'pi_rules_declines';
  const t = at('2026-04-01T12:00:00Z');
  await deliver('payment_intent.payment_failed', paymentIntent(key, { charge: 'ch_rules_1', code: 'card_declined', message: 'first' }), t);
  await deliver('payment_intent.payment_failed', paymentIntent(key, { charge: 'ch_rules_3', code: 'insufficient_funds', message: 'third' }), t + 20);
  expect(await payment(key)).toMatchObject({ failure_code: 'insufficient_funds', failure_message: 'third', stripe_updated_at: expect.anything() });
  expect(Number((await payment(key)).stripe_updated_at)).toBe(t + 20);

  await deliver('payment_intent.payment_failed', paymentIntent(key, { charge: 'ch_rules_2', code: 'expired_card', message: 'second' }), t + 10);
  const afterLate = await payment(key);
  expect({ code: afterLate.failure_code, message: afterLate.failure_message, time: Number(afterLate.stripe_updated_at), attempts: afterLate.failed_attempts }).toEqual({
    code: 'insufficient_funds',
    message: 'third',
    time: t + 20,
    attempts: 3,
  });
  expect(afterLate.occurred_at.getTime()).toBe((t + 20) * 1000);

  await deliver('payment_intent.payment_failed', paymentIntent(key, { charge: 'ch_rules_4', code: null, message: null }), t + 30);
  const afterNull = await payment(key);
  expect({ code: afterNull.failure_code, message: afterNull.failure_message, time: Number(afterNull.stripe_updated_at), attempts: afterNull.failed_attempts }).toEqual({
    code: 'insufficient_funds',
    message: 'third',
    time: t + 30,
    attempts: 4,
  });
});

test('a payment intent without a customer is still recorded (no user), not left unmatched', async () => {
  await deliver('payment_intent.succeeded', paymentIntent('pi_rules_guest', { charge: 'ch_rules_guest', succeeded: true, customer: null }), at('2026-05-01T08:00:00Z'));
  expect(await payment('pi_rules_guest')).toMatchObject({ status: 'succeeded', amount: 900, user_id: null, customer_id: null, invoice_id: null });
  expect(await rollup('2026-05-01')).toEqual({ gross: 900, succeeded: 1, failed: 0 });
});
