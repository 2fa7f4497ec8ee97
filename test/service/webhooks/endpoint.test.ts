import { sql } from 'kysely';
import { toNumber } from '../../../service/shared/db';
import type { PaymentObserver } from '../../../service/shared/observer';
import { requestDrain } from '../../../service/webhooks';
import type { TestService } from '../../support/service';
import { SETTLE_MS, waitUntil } from '../../support/wait';
import { countRows, fakeEvent, postWebhook, sign, startWebhookService, subscribe } from './support';

let svc: TestService;
const handled: Array<{ eventId: string; outcome: string }> = [];
const observer: PaymentObserver = {
  webhookHandled: (e) => handled.push({ eventId: e.eventId, outcome: e.outcome }),
  paymentRecorded: () => undefined,
  checkoutCreated: () => undefined,
};

beforeAll(async () => {
  svc = await startWebhookService({ observer, env: { CORS_ALLOWED_ORIGINS: 'https://upiik.app' } });
});
afterAll(async () => {
  await svc.close();
});

const db = () => svc.database.db;
const secret = () => svc.config.stripe.webhookSecret;

describe("the route's own edge (mounted ahead of the shared middleware, issue 15)", () => {
  test('answers with the request id and the security headers, never CORS, and counts its latency under its route', async () => {
    const event = fakeEvent('customer.created', { id: 'cus_edge', object: 'customer' });
    const body = JSON.stringify(event);
    const res = await fetch(`${svc.url}/api/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(secret(), body), origin: 'https://upiik.app', 'x-request-id': 'req-edge-1' },
      body,
    });
    expect(res.status).toBe(200);
    // Written without res.json (issue 15): the same JSON, its type and length, and no ETag.
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ received: true, status: 'pending' });
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(res.headers.get('etag')).toBeNull();
    expect(res.headers.get('x-request-id')).toBe('req-edge-1');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // An allow-listed origin gets CORS headers from every other route; Stripe is no browser.
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const other = await fetch(`${svc.url}/health/live`, { headers: { origin: 'https://upiik.app' } });
    expect(other.headers.get('access-control-allow-origin')).toBe('https://upiik.app');
    const refused = await fetch(`${svc.url}/api/webhooks/stripe`, { headers: { origin: 'https://upiik.app', 'x-request-id': 'req-edge-2' } });
    expect(refused.status).toBe(405);
    expect(refused.headers.get('x-request-id')).toBe('req-edge-2');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const series = (await svc.monitoring.metrics.httpRequestDuration.get()).values.filter((v) => v.metricName?.endsWith('_count') && v.labels.route === '/api/webhooks/stripe');
    expect(series.map((v) => v.labels.status).sort()).toEqual(['200', '405']);
    // The refusal's log line carries its request id; the drain the delivery started logs outside it.
    await waitUntil(async () => svc.logs.lines().some((l) => l.message === 'pending webhooks drained'), { timeoutMs: 120_000 });
    expect(svc.logs.lines().find((l) => l.message === 'request rejected' && l.status === 405)).toMatchObject({ requestId: 'req-edge-2', route: '/api/webhooks/stripe' });
    for (const line of svc.logs.lines().filter((l) => l.message === 'pending webhooks drained')) expect(line.requestId).toBeUndefined();
  });
});

describe('rejections write nothing', () => {
  const body = JSON.stringify(fakeEvent('customer.created', { id: 'cus_reject', object: 'customer' }));

  test('a missing signature is a 400 and writes nothing', async () => {
    const before = await countRows(svc, 'webhook_events');
    const res = await postWebhook(svc, body);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'missing_signature' } });
    expect(await countRows(svc, 'webhook_events')).toBe(before);
  });

  test('a signature made with another secret is a 400 and writes nothing', async () => {
    const before = await countRows(svc, 'webhook_events');
    const res = await postWebhook(svc, body, { 'stripe-signature': sign('whsec_not_the_right_one', body) });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'invalid_signature' } });
    expect(await countRows(svc, 'webhook_events')).toBe(before);
  });

  test('a body altered after signing is a 400', async () => {
    const res = await postWebhook(svc, body.replace('cus_reject', 'cus_evil'), { 'stripe-signature': sign(secret(), body) });
    expect(res.status).toBe(400);
  });

  test('rejects a webhook whose timestamp is older than the 300 s tolerance', async () => {
    const before = await countRows(svc, 'webhook_events');
    const res = await postWebhook(svc, body, { 'stripe-signature': sign(secret(), body, Math.floor(Date.now() / 1000) - 301) });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'stale_signature' } });
    expect(await countRows(svc, 'webhook_events')).toBe(before);
  });

  test('a body above 256 kB is a 413 even when signed, and writes nothing', async () => {
    const before = await countRows(svc, 'webhook_events');
    const big = JSON.stringify(fakeEvent('customer.created', { id: 'cus_big', object: 'customer', padding: 'x'.repeat(300 * 1024) }));
    const res = await postWebhook(svc, big, { 'stripe-signature': sign(secret(), big) });
    expect(res.status).toBe(413);
    expect(await countRows(svc, 'webhook_events')).toBe(before);
  });

  test('GET answers 405 with Allow: POST', async () => {
    const res = await fetch(`${svc.url}/api/webhooks/stripe`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});

describe('events', () => {
  test('an event type the service does not handle is stored as ignored and answered 200', async () => {
    const event = fakeEvent('customer.created', { id: 'cus_ignored', object: 'customer' });
    const body = JSON.stringify(event);
    const res = await postWebhook(svc, body, { 'stripe-signature': sign(secret(), body) });
    expect(res.status).toBe(200);
    expect((await db().selectFrom('webhook_events').select('status').where('event_id', '=', event.id).executeTakeFirstOrThrow()).status).toBe('ignored');
  });

  test('an invoice of a customer nobody can map is stored unmatched, reported, and answered 200', async () => {
    const customer = await svc.stripe.customers.create({ email: 'stranger@example.com' });
    const event = fakeEvent('invoice.payment_succeeded', { id: 'in_stranger', object: 'invoice', customer: customer.id, amount_paid: 400, amount_due: 400, currency: 'eur', attempt_count: 1, status: 'paid', status_transitions: { paid_at: Math.floor(Date.now() / 1000) } });
    const body = JSON.stringify(event);
    const res = await postWebhook(svc, body, { 'stripe-signature': sign(secret(), body) });
    expect(res.status).toBe(200);
    const row = await db().selectFrom('webhook_events').selectAll().where('event_id', '=', event.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('unmatched');
    expect(row.last_error).toContain(customer.id);
    expect(handled).toContainEqual({ eventId: event.id, outcome: 'unmatched' });
    expect(await db().selectFrom('payments').select('id').where('payment_key', '=', 'in_stranger').executeTakeFirst()).toBeUndefined();
  });

  test('the same signed payload delivered concurrently is applied once', async () => {
    svc.sandbox.control.pauseDeliveries();
    try {
      await subscribe(svc, 'user_concurrent');
      const events = (await svc.stripe.events.list({ types: ['invoice.payment_succeeded', 'payment_intent.succeeded'], limit: 2 })).data;
      expect(events).toHaveLength(2);
      const deliveries = events.flatMap((event) => {
        const body = JSON.stringify(event, null, 2);
        return Array.from({ length: 5 }, () => postWebhook(svc, body, { 'stripe-signature': sign(secret(), body) }));
      });
      const results = await Promise.all(deliveries);
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));

      const payments = await db().selectFrom('payments').selectAll().where('user_id', '=', 'user_concurrent').execute();
      expect(payments).toHaveLength(1);
      const rows = await db().selectFrom('webhook_events').selectAll().where('event_id', 'in', events.map((e) => e.id)).orderBy('type').execute();
      // Every delivery is stored and acknowledged; a drain applies each event once. Deliveries that
      // arrive after it was applied count as redeliveries; the ones before found it pending.
      expect(rows.map((r) => [r.type, r.status, r.attempts])).toEqual([
        ['invoice.payment_succeeded', 'processed', 1],
        ['payment_intent.succeeded', 'processed', 1],
      ]);
      for (const row of rows) expect(row.duplicate_deliveries).toBeLessThanOrEqual(4);
      const day = payments[0]!.occurred_at.toISOString().slice(0, 10);
      const revenue = await db().selectFrom('daily_revenue').selectAll().where(sql`day::text`, '=', day).executeTakeFirstOrThrow();
      const succeededThatDay = await db().selectFrom('payments').select((eb) => eb.fn.sum<string>('amount').as('sum')).where('status', '=', 'succeeded').where(sql`(occurred_at at time zone 'UTC')::date::text`, '=', day).executeTakeFirstOrThrow();
      expect(toNumber(revenue.gross_amount)).toBe(toNumber(succeededThatDay.sum));
    } finally {
      svc.sandbox.control.resumeDeliveries();
      await svc.sandbox.control.waitForDeliveries(SETTLE_MS);
    }
    expect(await db().selectFrom('payments').select('id').where('user_id', '=', 'user_concurrent').execute()).toHaveLength(1);
  });

  test('a database failure while applying leaves nothing half-applied; the service retries what it acknowledged and applies it', async () => {
    await sql`create or replace function upiik_test_fail() returns trigger as $$ begin raise exception 'injected rollup failure'; end $$ language plpgsql`.execute(db());
    await sql`create trigger upiik_test_fail before insert or update on daily_revenue for each row execute function upiik_test_fail()`.execute(db());
    let failedEvent: { event_id: string; attempts: number; last_error: string | null; retry_at: Date | null } | undefined;
    try {
      await subscribe(svc, 'user_db_failure');
      failedEvent = await waitUntil(
        () =>
          db()
            .selectFrom('webhook_events')
            .select(['event_id', 'attempts', 'last_error', 'retry_at'])
            .where('status', '=', 'failed')
            .where('type', '=', 'invoice.payment_succeeded')
            .executeTakeFirst(),
        { what: 'a failed payment event in the inbox' },
      );
      expect(failedEvent?.last_error).toContain('injected rollup failure');
      // Acknowledged before it was applied: Stripe will not redeliver it, the service retries it.
      expect(failedEvent?.retry_at).not.toBeNull();
      // The payment row was written before the rollup failed: it must have been rolled back with it.
      expect(await db().selectFrom('payments').select('id').where('user_id', '=', 'user_db_failure').execute()).toHaveLength(0);
    } finally {
      await sql`drop trigger if exists upiik_test_fail on daily_revenue`.execute(db());
    }
    await svc.sandbox.control.waitForDeliveries(SETTLE_MS);
    expect(svc.sandbox.control.deliveries({ event_id: failedEvent!.event_id }).map((d) => d.status)).toEqual([200]);
    // Its retry time comes (brought forward here), and the sweep's drain applies it.
    await db().updateTable('webhook_events').set({ retry_at: new Date(Date.now() - 1000) }).where('event_id', '=', failedEvent!.event_id).execute();
    await requestDrain(svc.deps);
    const row = await db().selectFrom('webhook_events').selectAll().where('event_id', '=', failedEvent!.event_id).executeTakeFirstOrThrow();
    expect(row.status).toBe('processed');
    expect(row.attempts).toBeGreaterThanOrEqual(2);
    const payments = await db().selectFrom('payments').selectAll().where('user_id', '=', 'user_db_failure').execute();
    expect(payments).toHaveLength(1);
    expect(payments[0]?.status).toBe('succeeded');
  });

});

