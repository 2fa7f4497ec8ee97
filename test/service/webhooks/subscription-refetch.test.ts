import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../../sandbox';
import { startTestService, type TestService } from '../../support/service';
import { SETTLE_MS, waitUntil } from '../../support/wait';
import { postWebhook, sign, subscribe } from './support';

/**
 * The same-second re-fetch of a subscription (the ordering guard's tie-break) talks to Stripe
 * before the database transaction, never inside it, and what it fetched carries the time Stripe
 * served it. The service's Stripe client reaches the sandbox through a small HTTP relay that can
 * hold subscription reads, so "Stripe is slow right now" is real, not mocked.
 */

interface HoldingRelay {
  url: string;
  /** From now on, GET /v1/subscriptions/<id> waits until release(). */
  hold(): void;
  release(): void;
  readonly held: number;
  close(): Promise<void>;
}

async function startRelay(target: string): Promise<HoldingRelay> {
  let holding = false;
  let waiting: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    const forward = () => {
      const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    if (holding && req.method === 'GET' && /^\/v1\/subscriptions\/sub_/.test(req.url ?? '')) waiting.push(forward);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: () => (holding = true),
    release: () => {
      holding = false;
      const go = waiting;
      waiting = [];
      go.forEach((f) => f());
    },
    get held() {
      return waiting.length;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let sandbox: RunningSandbox;
let relay: HoldingRelay;
let svc: TestService;

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, retrySchedule: [100, 300, 600, 1200] });
  relay = await startRelay(sandbox.url);
  svc = await startTestService({ sandbox, serviceStripeApiBase: relay.url });
});
afterAll(async () => {
  relay?.release();
  await svc?.close();
  await relay?.close();
  await sandbox?.close();
});

async function settle(): Promise<void> {
  await sandbox.control.waitForDeliveries(SETTLE_MS);
  expect(sandbox.control.deliveries().filter((d) => !d.succeeded)).toEqual([]);
}

async function storedTime(subscriptionId: string): Promise<number> {
  const row = await svc.database.db.selectFrom('subscriptions').select('stripe_updated_at').where('id', '=', subscriptionId).executeTakeFirstOrThrow();
  return Number(row.stripe_updated_at);
}

function subscriptionEvent(sub: Stripe.Subscription, created: number): string {
  return JSON.stringify({
    id: `evt_refetch_${randomBytes(6).toString('hex')}`,
    object: 'event',
    api_version: svc.config.stripe.apiVersion,
    created,
    data: { object: sub },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'customer.subscription.updated',
  });
}

const deliver = (body: string) => postWebhook(svc, body, { 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) });

test('a same-second tie is re-fetched from Stripe before the transaction: while Stripe is slow, no row lock and no connection is held', async () => {
  const { subscriptionId } = await subscribe(svc, 'user_refetch_outside');
  await settle();
  const tie = await storedTime(subscriptionId);
  const sub = await svc.stripe.subscriptions.retrieve(subscriptionId);

  relay.hold();
  const answered = deliver(subscriptionEvent(sub, tie));
  try {
    await waitUntil(() => relay.held > 0, { what: 'the service re-fetching the subscription' });
    // While the service waits on Stripe, the row can be locked by someone else at once. With the
    // re-fetch inside the transaction, Postgres refuses (NOWAIT: the row is locked); on PGlite (one
    // session) the test's transaction runs inside the service's open one and the delivery fails.
    const locked = svc.database.db.transaction().execute(async (trx) => {
      await sql`select id from subscriptions where id = ${subscriptionId} for update nowait`.execute(trx);
      return 'locked by the test';
    });
    const bound = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 20 s'), 20_000).unref());
    expect(await Promise.race([locked.catch((err: unknown) => `refused: ${(err as Error).message}`), bound])).toBe('locked by the test');
  } finally {
    relay.release();
  }
  expect((await answered).status).toBe(200);
});

test('a re-fetched snapshot carries the time Stripe served it, so an event created in between cannot overwrite it', async () => {
  const { subscriptionId } = await subscribe(svc, 'user_refetch_time');
  await settle();
  const tie = await storedTime(subscriptionId);
  // Stripe must serve the re-fetch at least two seconds after the tie for an event to fit between.
  await waitUntil(() => Math.floor(Date.now() / 1000) >= tie + 2, { what: 'two seconds past the stored snapshot' });
  const current = await svc.stripe.subscriptions.retrieve(subscriptionId);
  expect(current.cancel_at_period_end).toBe(false);

  expect((await deliver(subscriptionEvent(current, tie))).status).toBe(200);
  const afterRefetch = await storedTime(subscriptionId);
  expect(afterRefetch).toBeGreaterThanOrEqual(tie + 2);

  // An event created one second after the tie, i.e. before the state already written was served,
  // carrying a state Stripe no longer has: older than what is stored, so it must not be applied.
  const older = { ...current, cancel_at_period_end: true } as Stripe.Subscription;
  expect((await deliver(subscriptionEvent(older, tie + 1))).status).toBe(200);
  const row = await svc.database.db.selectFrom('subscriptions').selectAll().where('id', '=', subscriptionId).executeTakeFirstOrThrow();
  expect(row.cancel_at_period_end).toBe(false);
  expect(Number(row.stripe_updated_at)).toBe(afterRefetch);
});
