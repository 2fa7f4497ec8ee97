import type Stripe from 'stripe';
import type { RunningSandbox } from '../../../sandbox';
import { REPLAY_CONCURRENCY, replayEvents } from '../../../service/reconciliation/replay-events';
import { eventLane as replayLane, inLanes } from '../../../service/webhooks/lanes';
import { DRAIN_LANES, pauseWebhookProcessing, resumeWebhookProcessing, type WebhookDeps } from '../../../service/webhooks';
import type { TestService } from '../../support/service';
import { type HopDecision, type StripeHop, startServiceBehindHop } from '../../support/stripe-hop';
import { recorded } from '../../support/statements';
import { SETTLE_MS, waitUntil } from '../../support/wait';
import { subscribe } from '../webhooks/support';

/**
 * A replay (and the drain that applies every delivery) runs customers side by side and each customer's events in Stripe order (issue 15: 10,000
 * missed events must not take one database round trip after another). The service's Stripe client
 * goes through a hop that holds the lookups a replayed payment intent makes, so the test sees how
 * many customers are in flight at once.
 */

jest.setTimeout(300_000);

const event = (object: Record<string, unknown>, id = 'evt_lane'): Stripe.Event => ({ id, object: 'event', type: 'invoice.paid', created: 1, data: { object } }) as unknown as Stripe.Event;

test('a lane is the customer (an id or an expanded customer), else the object, else the event', () => {
  expect(replayLane(event({ id: 'in_1', customer: 'cus_a' }))).toBe('cus_a');
  expect(replayLane(event({ id: 'in_2', customer: { id: 'cus_b', object: 'customer' } }))).toBe('cus_b');
  expect(replayLane(event({ id: 'pi_3', customer: null }))).toBe('pi_3');
  expect(replayLane(event({}, 'evt_only'))).toBe('evt_only');
});

test('lanes run at most `concurrency` at a time, each lane in order', async () => {
  const events = Array.from({ length: 12 }, (_, i) => event({ id: `in_${i}`, customer: `cus_${i % 6}` }, `evt_${i}`));
  let running = 0;
  let most = 0;
  const order: string[] = [];
  await inLanes(events, (e) => e, 2, async (e) => {
    running += 1;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    order.push(e.id);
    running -= 1;
  });
  expect(most).toBe(2);
  expect(order).toHaveLength(12);
  for (let lane = 0; lane < 6; lane++) expect(order.filter((id) => Number(id.slice(4)) % 6 === lane)).toEqual([`evt_${lane}`, `evt_${lane + 6}`]);
});

describe('on a service', () => {
  let sandbox: RunningSandbox;
  let hop: StripeHop;
  let svc: TestService;
  let close: () => Promise<void> = async () => undefined;
  beforeAll(async () => {
    ({ sandbox, hop, svc, close } = await startServiceBehindHop());
  });
  afterAll(async () => {
    await close();
  });

  /**
   * Which invoice a payment intent pays is a Stripe lookup: each lane's lookups are held until two
   * lanes wait at once (one-at-a-time application never gets there: the outer bound releases it).
   * Runs `apply` with deps whose observer records the order events were handled in.
   */
  async function withLookupsHeldUntilTwoLanes<T>(apply: (deps: WebhookDeps) => Promise<T>, order: string[]): Promise<{ summary: T; inFlightAtOnce: number }> {
    const held: Array<() => void> = [];
    let releaseAll!: () => void;
    const released = new Promise<void>((resolve) => (releaseAll = resolve));
    const outerBound = setTimeout(releaseAll, 60_000);
    let inFlightAtOnce = 0;
    hop.decide = (req): HopDecision => {
      if (req.path !== '/v1/invoice_payments') return { action: 'forward' };
      // A replay reads invoice payments in bulk first; refused, it asks per payment intent (held here).
      if (!req.query.has('payment[payment_intent]')) return { action: 'fail', status: 500 };
      const own = new Promise<void>((resolve) => held.push(resolve));
      inFlightAtOnce = Math.max(inFlightAtOnce, held.length);
      if (held.length >= 2) releaseAll();
      return { action: 'hold', release: Promise.race([own, released]) };
    };
    const deps: WebhookDeps = { db: svc.database.db, stripe: svc.stripe, store: svc.store, config: svc.config, logger: svc.logs.logger, observer: { ...svc.deps.observer, webhookHandled: (e) => order.push(e.eventId) } };
    try {
      return { summary: await apply(deps), inFlightAtOnce };
    } finally {
      clearTimeout(outerBound);
      hop.decide = () => ({ action: 'forward' });
    }
  }

  test('customers are replayed several at a time, each one in Stripe order, and every event is applied once', async () => {
    const since = new Date(sandbox.control.now() * 1000);
    await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: true });
    const users = Array.from({ length: 4 }, (_, i) => `user_lane_${i}`);
    for (const user of users) await subscribe(svc, user);
    await sandbox.control.waitForDeliveries(SETTLE_MS);
    await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: false });

    const order: string[] = [];
    const { summary, inFlightAtOnce } = await withLookupsHeldUntilTwoLanes((deps) => replayEvents(deps, { since }), order);
    expect(REPLAY_CONCURRENCY).toBeGreaterThan(1);
    expect(inFlightAtOnce).toBeGreaterThanOrEqual(2);
    expect(summary).toMatchObject({ failed: 0, alreadyApplied: 0 });
    expect(summary.applied).toBe(summary.seen);

    // Each customer's events were applied in Stripe's order (created, then Stripe's listing order).
    const listed: Stripe.Event[] = [];
    for await (const e of svc.stripe.events.list({ created: { gte: Math.floor(since.getTime() / 1000) }, limit: 100 })) listed.push(e);
    listed.reverse();
    listed.sort((a, b) => a.created - b.created);
    const applied = new Set(order);
    const byLane = new Map<string, string[]>();
    for (const e of listed.filter((x) => applied.has(x.id))) byLane.set(replayLane(e), [...(byLane.get(replayLane(e)) ?? []), e.id]);
    expect(byLane.size).toBeGreaterThanOrEqual(users.length);
    for (const ids of byLane.values()) expect(order.filter((id) => ids.includes(id))).toEqual(ids);
    const inbox = await svc.database.db.selectFrom('webhook_events').select(['status', 'attempts']).where('event_id', 'in', [...applied]).execute();
    expect(inbox.every((r) => r.attempts === 1 && ['processed', 'ignored', 'unmatched'].includes(r.status))).toBe(true);
  });

  test('a replay reads the links of its customers once, not once per event', async () => {
    const subscribed = [await subscribe(svc, 'user_lane_linked_0'), await subscribe(svc, 'user_lane_linked_1')];
    await sandbox.control.waitForDeliveries(SETTLE_MS);
    const pending = () => svc.database.db.selectFrom('webhook_events').select('event_id').where('status', '=', 'pending').execute();
    await waitUntil(async () => (await pending()).length === 0, { timeoutMs: SETTLE_MS, what: 'the deliveries applied' });
    const since = new Date(sandbox.control.now() * 1000);
    await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: true });
    for (const { subscriptionId } of subscribed) await svc.stripe.subscriptions.cancel(subscriptionId);
    await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: false });

    const { db, statements } = recorded(svc.database.db);
    const deps: WebhookDeps = { db, stripe: svc.stripe, store: svc.store, config: svc.config, logger: svc.logs.logger, observer: svc.deps.observer };
    const summary = await replayEvents(deps, { since });
    expect(summary.failed).toBe(0);
    expect(summary.applied).toBeGreaterThanOrEqual(subscribed.length);
    // One read of every listed customer's link (the listing since then may hold earlier tests' customers too), none per event.
    const links = statements.filter((s) => s.includes('from "stripe_customers"'));
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/^select "customer_id", "user_id" from "stripe_customers" where "customer_id" in \(\$1, \$2(, \$\d+)*\)$/);
    const rows = await svc.database.db.selectFrom('subscriptions').select('status').where('id', 'in', subscribed.map((s) => s.subscriptionId)).execute();
    expect(rows.map((r) => r.status)).toEqual(['canceled', 'canceled']);
  });

  test('the drain (what applies every delivery) runs customers side by side too, each one in Stripe order, every event once', async () => {
    await pauseWebhookProcessing(svc.store, { reason: 'lanes test' });
    const users = Array.from({ length: 4 }, (_, i) => `user_drain_lane_${i}`);
    for (const user of users) await subscribe(svc, user);
    await sandbox.control.waitForDeliveries(SETTLE_MS);
    const stored = await svc.database.db.selectFrom('webhook_events').select(['event_id', 'payload', 'stripe_created_at']).where('status', '=', 'pending').orderBy('stripe_created_at').orderBy('event_id').execute();
    expect(stored.length).toBeGreaterThanOrEqual(users.length * 3);

    const order: string[] = [];
    const { summary, inFlightAtOnce } = await withLookupsHeldUntilTwoLanes((deps) => resumeWebhookProcessing(deps), order);
    expect(DRAIN_LANES).toBeGreaterThan(1);
    expect(inFlightAtOnce).toBeGreaterThanOrEqual(2);
    expect(summary).toMatchObject({ seen: stored.length, applied: stored.length, failed: 0, alreadyApplied: 0 });
    const byLane = new Map<string, string[]>();
    for (const row of stored) {
      const lane = replayLane(row.payload as Stripe.Event);
      byLane.set(lane, [...(byLane.get(lane) ?? []), row.event_id]);
    }
    expect(byLane.size).toBeGreaterThanOrEqual(users.length);
    for (const ids of byLane.values()) expect(order.filter((id) => ids.includes(id))).toEqual(ids);
    const inbox = await svc.database.db.selectFrom('webhook_events').select(['status', 'attempts']).where('event_id', 'in', stored.map((r) => r.event_id)).execute();
    expect(inbox.every((r) => r.attempts === 1 && ['processed', 'ignored', 'unmatched'].includes(r.status))).toBe(true);
  });
});
