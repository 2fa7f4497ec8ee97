import type Stripe from 'stripe';
import type { RunningSandbox } from '../../../sandbox';
import { drainPendingEvents, drainsSettled, pauseWebhookProcessing, requestDrain, startDrainSweep, type WebhookDeps } from '../../../service/webhooks';
import type { TestService } from '../../support/service';
import { type StripeHop, startServiceBehindHop } from '../../support/stripe-hop';
import { SETTLE_MS } from '../../support/wait';
import { sign, subscribe } from './support';

/**
 * An acknowledgement never waits on the Stripe API (issue 15): every delivery is stored and answered
 * 2xx, and a drain applies it right after, Stripe calls included (a charge's refunds, a customer
 * nobody has mapped yet, a same-second tie). Stripe will not redeliver what got a
 * 2xx, so a drain that fails is retried by the service itself. The service's Stripe client goes
 * through a hop that can hold or fail its requests; the sandbox answers everything it forwards.
 */

jest.setTimeout(300_000);

let sandbox: RunningSandbox;
let hop: StripeHop;
let svc: TestService;
let admin: Stripe;
let close: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  ({ sandbox, hop, svc, admin, close } = await startServiceBehindHop());
});
afterAll(async () => {
  await close();
});
afterEach(() => {
  hop.decide = () => ({ action: 'forward' });
});

const deps = (): WebhookDeps => ({ db: svc.database.db, stripe: svc.stripe, store: svc.store, config: svc.config, logger: svc.logs.logger, observer: svc.deps.observer });
const inbox = (id: string) => svc.database.db.selectFrom('webhook_events').select(['status', 'attempts', 'retry_at', 'last_error']).where('event_id', '=', id).executeTakeFirstOrThrow();
const refundsOf = (paymentIntent: string) => svc.database.db.selectFrom('refunds').select(['refund_id', 'amount']).where('payment_key', 'in', svc.database.db.selectFrom('payments').select('payment_key').where('payment_intent_id', '=', paymentIntent)).execute();

/** A paid subscription, then a refund on it whose `charge.refunded` event is kept from the service and returned. */
async function refundedChargeEvent(userId: string, amount: number): Promise<{ event: Stripe.Event; paymentIntent: string }> {
  await subscribe(svc, userId);
  await sandbox.control.waitForDeliveries(SETTLE_MS);
  const paid = await svc.database.db.selectFrom('payments').select('payment_intent_id').where('user_id', '=', userId).executeTakeFirstOrThrow();
  // The endpoint is disabled meanwhile, so the sandbox never delivers the refund's events: the test's own delivery is the only one.
  await admin.webhookEndpoints.update(svc.webhookEndpointId, { disabled: true });
  try {
    await admin.refunds.create({ payment_intent: paid.payment_intent_id!, amount });
    const event = (await admin.events.list({ type: 'charge.refunded', limit: 1 })).data[0]!;
    expect(event.data.object).toMatchObject({ payment_intent: paid.payment_intent_id });
    return { event, paymentIntent: paid.payment_intent_id! };
  } finally {
    await admin.webhookEndpoints.update(svc.webhookEndpointId, { disabled: false });
  }
}

async function post(event: Stripe.Event): Promise<{ status: number; json: unknown }> {
  const body = JSON.stringify(event);
  const res = await fetch(`${svc.url}/api/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) }, body });
  return { status: res.status, json: await res.json() };
}


test('a delivery that needs the Stripe API is answered 2xx while Stripe has not answered, then applied by a drain', async () => {
  const { event, paymentIntent } = await refundedChargeEvent('user_deferred_ack', 150);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let releasedAt: number | undefined;
  hop.decide = (req) => (req.path === '/v1/refunds' ? { action: 'hold', release: released } : { action: 'forward' });
  // Outer bound only: if the acknowledgement waited on Stripe, it would come after this release.
  const safety = setTimeout(() => {
    releasedAt = Date.now();
    release();
  }, 60_000);
  const answer = await post(event);
  expect(answer).toEqual({ status: 200, json: { received: true, status: 'pending' } });
  expect(releasedAt).toBeUndefined();
  expect((await inbox(event.id)).status).toBe('pending');

  clearTimeout(safety);
  release();
  await drainsSettled(svc.store);
  expect(await inbox(event.id)).toMatchObject({ status: 'processed', attempts: 1, retry_at: null });
  expect((await refundsOf(paymentIntent)).map((r) => r.amount)).toEqual([150]);
  expect(hop.requests.some((r) => r.path === '/v1/refunds')).toBe(true);
});

test('a deferred event whose drain fails is retried by the service on its schedule, not while paused, and applied once Stripe answers', async () => {
  const { event, paymentIntent } = await refundedChargeEvent('user_deferred_retry', 100);
  hop.decide = (req) => (req.path === '/v1/refunds' ? { action: 'fail', status: 500 } : { action: 'forward' });
  expect(await post(event)).toEqual({ status: 200, json: { received: true, status: 'pending' } });
  await drainsSettled(svc.store);
  const failed = await inbox(event.id);
  expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
  expect(failed.retry_at).not.toBeNull();
  expect(failed.last_error).toMatch(/Stripe/);
  expect(await refundsOf(paymentIntent)).toEqual([]);

  // Not due yet: a drain leaves it.
  await requestDrain(deps());
  expect((await inbox(event.id)).attempts).toBe(1);

  hop.decide = () => ({ action: 'forward' });
  await svc.database.db.updateTable('webhook_events').set({ retry_at: new Date(Date.now() - 1000) }).where('event_id', '=', event.id).execute();
  await pauseWebhookProcessing(svc.store, { reason: 'deferral test' });
  const sweep = startDrainSweep(deps(), 50);
  try {
    // Paused: the sweep applies nothing (absence, so a short fixed look).
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await inbox(event.id)).status).toBe('failed');
    await svc.store.del('stripe:webhooks:paused');
    const deadline = Date.now() + 60_000;
    while ((await inbox(event.id)).status !== 'processed' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    sweep.stop();
  }
  await drainsSettled(svc.store);
  expect(await inbox(event.id)).toMatchObject({ status: 'processed', attempts: 2, retry_at: null });
  expect((await refundsOf(paymentIntent)).map((r) => r.amount)).toEqual([100]);
});

test('a burst of drain requests while a drain runs queues exactly one more drain, and drainsSettled waits for both', async () => {
  const running = drainPendingEvents(deps());
  const queued = [requestDrain(deps()), requestDrain(deps()), requestDrain(deps())];
  expect(queued[1]).toBe(queued[0]);
  expect(queued[2]).toBe(queued[0]);
  expect(queued[0]).not.toBe(running);
  let settled = false;
  const waiting = drainsSettled(svc.store).then(() => (settled = true));
  await running;
  expect(settled).toBe(false);
  await queued[0];
  await waiting;
  expect(settled).toBe(true);
  // Nothing runs or is queued now: the next request starts a drain of its own.
  const next = requestDrain(deps());
  expect(next).not.toBe(queued[0]);
  await next;
});
