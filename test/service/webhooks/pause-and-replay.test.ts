import type Stripe from 'stripe';
import { replayEvents } from '../../../service/reconciliation';
import { drainPendingEvents, eventLane, pauseWebhookProcessing, resumeWebhookProcessing, WEBHOOKS_PAUSED_KEY, type WebhookDeps } from '../../../service/webhooks';
import type { TestService } from '../../support/service';
import { SETTLE_MS } from '../../support/wait';
import { DAY, postWebhook, sign, startWebhookService, subscribe } from './support';

let svc: TestService;
let deps: WebhookDeps;

beforeAll(async () => {
  svc = await startWebhookService();
  deps = svc.deps;
});
afterAll(async () => {
  await svc.close();
});

const db = () => svc.database.db;
const settle = () => svc.sandbox.control.waitForDeliveries(SETTLE_MS);

test('paused: 100+ events are stored pending and answered 2xx; resume applies all of them once, each customer\'s in Stripe order', async () => {
  await pauseWebhookProcessing(svc.store, { reason: 'test rollback' });
  expect(await svc.store.get(WEBHOOKS_PAUSED_KEY)).not.toBeNull();
  const subs = [];
  for (let i = 0; i < 20; i++) subs.push(await subscribe(svc, `user_pause_${i}`));
  await svc.sandbox.control.advanceClock(32 * DAY);
  await settle();

  const deliveries = svc.sandbox.control.deliveries();
  expect(deliveries.length).toBeGreaterThanOrEqual(100);
  expect(deliveries.every((d) => d.status === 200)).toBe(true);
  const pending = await db().selectFrom('webhook_events').select(['event_id']).where('status', '=', 'pending').execute();
  expect(pending).toHaveLength(new Set(deliveries.map((d) => d.event_id)).size);
  expect(await db().selectFrom('payments').select('id').execute()).toHaveLength(0);
  expect(await db().selectFrom('subscriptions').select('id').execute()).toHaveLength(0);

  const summary = await resumeWebhookProcessing(deps);
  expect(summary).toMatchObject({ seen: pending.length, applied: pending.length, failed: 0, alreadyApplied: 0 });
  const rows = await db().selectFrom('webhook_events').select(['event_id', 'status', 'attempts', 'stripe_created_at', 'processed_at', 'payload']).execute();
  expect(rows.every((r) => r.status === 'processed' && r.attempts === 1)).toBe(true);
  // Customers are applied side by side (the drain's lanes); each customer's events in Stripe order.
  const lanes = new Map<string, typeof rows>();
  for (const r of rows) {
    const lane = eventLane(r.payload as Stripe.Event);
    lanes.set(lane, [...(lanes.get(lane) ?? []), r]);
  }
  expect(lanes.size).toBeGreaterThanOrEqual(20);
  for (const laneRows of lanes.values()) {
    const inStripeOrder = [...laneRows].sort((a, b) => a.stripe_created_at.getTime() - b.stripe_created_at.getTime() || (a.event_id < b.event_id ? -1 : 1)).map((r) => r.event_id);
    const inProcessingOrder = [...laneRows].sort((a, b) => a.processed_at!.getTime() - b.processed_at!.getTime()).map((r) => r.event_id);
    expect(inProcessingOrder).toEqual(inStripeOrder);
  }
  expect(await db().selectFrom('payments').select('id').where('status', '=', 'succeeded').execute()).toHaveLength(40);
  expect(await db().selectFrom('subscriptions').select('id').where('status', '=', 'active').execute()).toHaveLength(20);
  // A second drain finds nothing left.
  expect(await drainPendingEvents(deps)).toMatchObject({ seen: 0 });
});

test('a redelivery of an applied event while paused stays applied (duplicate), and a paused delivery is answered 200', async () => {
  const [row] = await db().selectFrom('webhook_events').select(['event_id', 'payload']).where('status', '=', 'processed').limit(1).execute();
  await pauseWebhookProcessing(svc.store);
  try {
    const body = JSON.stringify(row!.payload);
    const res = await postWebhook(svc, body, { 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) });
    expect(res.status).toBe(200);
    const after = await db().selectFrom('webhook_events').select('status').where('event_id', '=', row!.event_id).executeTakeFirstOrThrow();
    expect(after.status).toBe('processed');
  } finally {
    await resumeWebhookProcessing(deps);
  }
});

test('endpoint disabled: activity is missed; re-enable and replayEvents brings back everything, and a second replay applies nothing', async () => {
  const since = new Date(svc.sandbox.control.now() * 1000);
  await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: true });
  const before = await db().selectFrom('webhook_events').select('event_id').execute();
  const missed = [];
  for (let i = 0; i < 5; i++) missed.push(await subscribe(svc, `user_missed_${i}`));
  await settle();
  expect(await db().selectFrom('webhook_events').select('event_id').execute()).toHaveLength(before.length);
  await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: false });

  const dry = await replayEvents(deps, { since, dryRun: true });
  expect(dry.applied).toBeGreaterThanOrEqual(5 * 5);
  expect(await db().selectFrom('webhook_events').select('event_id').execute()).toHaveLength(before.length);

  const summary = await replayEvents(deps, { since });
  expect(summary).toMatchObject({ failed: 0, seen: dry.seen, applied: dry.applied, alreadyApplied: dry.alreadyApplied });
  for (const m of missed) {
    const sub = await db().selectFrom('subscriptions').select('status').where('id', '=', m.subscriptionId).executeTakeFirstOrThrow();
    expect(sub.status).toBe('active');
  }
  const users = missed.map((_, i) => `user_missed_${i}`);
  expect(await db().selectFrom('payments').select('id').where('user_id', 'in', users).where('status', '=', 'succeeded').execute()).toHaveLength(5);

  const again = await replayEvents(deps, { since });
  expect(again).toMatchObject({ seen: summary.seen, applied: 0, alreadyApplied: summary.seen, failed: 0 });
});

test('replay applies the same shape check as live deliveries: a NUL in customer-typed text is stripped, not a failure on every replay', async () => {
  const since = new Date(svc.sandbox.control.now() * 1000);
  await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: true });
  let customerId: string;
  try {
    const customer = await svc.stripe.customers.create({ email: 'nul@example.com', metadata: { userId: 'user_replay_nul' } });
    customerId = customer.id;
    // A subscription whose metadata carries a NUL (customer-typed text reaches metadata): PostgreSQL
    // refuses \u0000 in jsonb, so storing the raw event fails however often it is replayed.
    await svc.stripe.subscriptions.create({ customer: customer.id, items: [{ price: svc.config.stripe.prices.monthly }], metadata: { userId: 'user_replay_nul', note: 'a\u0000b' }, default_payment_method: (await svc.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id })).id });
    await settle();
  } finally {
    await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: false });
  }
  const summary = await replayEvents(deps, { since, types: ['customer.subscription.created'] });
  expect(summary).toMatchObject({ failed: 0, failures: [] });
  expect(summary.applied).toBeGreaterThanOrEqual(1);
  // The created event shows the subscription as Stripe created it (before its first payment).
  const sub = await db().selectFrom('subscriptions').select('user_id').where('customer_id', '=', customerId).executeTakeFirstOrThrow();
  expect(sub.user_id).toBe('user_replay_nul');
});
