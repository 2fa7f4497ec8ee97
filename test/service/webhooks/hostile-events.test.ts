import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import type Stripe from 'stripe';
import { AppError } from '../../../service/shared/errors';
import { WEBHOOK_EVENTS } from '../../../service/shared/catalog';
import { EVENT_OBJECT_SCHEMAS, parseStripeEvent } from '../../../service/webhooks';
import { SIGNATURE_TOLERANCE_SECONDS } from '../../../service/webhooks/signature';
import { startTestService, type TestService } from '../../support/service';
import { countRows, postWebhook, sign } from './support';

/**
 * Correctly signed events that can never be applied: the route answers 400 with a code and
 * writes nothing (no inbox row that Stripe would retry for days). Signed with the endpoint's real
 * secret, so every case gets past the signature and exercises the shape check behind it.
 */

let svc: TestService;
/** Real sandbox objects the base events point at: a customer no Upiik user owns, its paid intent and charge. */
const real = { customer: '', paymentIntent: '', charge: '' };
beforeAll(async () => {
  svc = await startTestService();
  const customer = await svc.stripe.customers.create({ email: 'nobody@example.com' });
  const pi = await svc.stripe.paymentIntents.create({ amount: 400, currency: 'eur', customer: customer.id, payment_method: 'pm_card_visa', confirm: true });
  Object.assign(real, { customer: customer.id, paymentIntent: pi.id, charge: pi.latest_charge as string });
  // Its own events are delivered to the service now; the ledger must be still before cases count rows.
  await svc.sandbox.control.waitForDeliveries(60_000);
});
afterAll(async () => {
  await svc.close();
});

const secret = () => svc.config.stripe.webhookSecret;
const now = () => Math.floor(Date.now() / 1000);
let sequence = 0;
const eventId = () => `evt_hostile_${process.pid}_${++sequence}`;

/** Valid objects per handled type, in the shapes the SDK types give (unknown customer: no writes to the ledger). */
function baseObject(type: string): Record<string, unknown> {
  const t = now();
  const price = { id: 'price_hostile', object: 'price', unit_amount: 400, currency: 'eur', recurring: { interval: 'month' } };
  const refund = { id: 're_hostile', object: 'refund', amount: 100, currency: 'eur', created: t, status: 'succeeded', charge: real.charge, payment_intent: real.paymentIntent, metadata: {} };
  switch (type) {
    case 'checkout.session.completed':
      return { id: 'cs_test_hostile', object: 'checkout.session', customer: real.customer, customer_email: null, customer_details: { email: 'h@example.com' }, client_reference_id: null, metadata: {} };
    case 'customer.subscription.updated':
      return {
        id: 'sub_hostile',
        object: 'subscription',
        customer: real.customer,
        status: 'active',
        currency: 'eur',
        cancel_at_period_end: false,
        canceled_at: null,
        ended_at: null,
        metadata: {},
        items: { object: 'list', data: [{ id: 'si_hostile', object: 'subscription_item', current_period_end: t + 30 * 86_400, quantity: 1, price }] },
      };
    case 'invoice.payment_succeeded':
      return { id: 'in_hostile', object: 'invoice', customer: real.customer, amount_due: 400, amount_paid: 400, currency: 'eur', attempt_count: 1, status_transitions: { paid_at: t }, parent: null };
    case 'payment_intent.payment_failed':
      return { id: real.paymentIntent, object: 'payment_intent', amount: 400, amount_received: 0, currency: 'eur', customer: real.customer, metadata: {}, latest_charge: real.charge, last_payment_error: { code: 'card_declined', message: 'declined' } };
    case 'setup_intent.succeeded':
      return { id: 'seti_hostile', object: 'setup_intent', customer: real.customer, metadata: {} };
    case 'charge.refunded':
      return { id: real.charge, object: 'charge', amount: 400, amount_refunded: 100, currency: 'eur', created: t, customer: real.customer, payment_intent: real.paymentIntent, refunded: false, metadata: {}, refunds: { object: 'list', data: [refund] } };
    case 'refund.created':
      return refund;
    case 'charge.dispute.created':
      return { id: 'dp_hostile', object: 'dispute', amount: 400, currency: 'eur', created: t, status: 'needs_response', reason: 'fraudulent', charge: real.charge, payment_intent: real.paymentIntent, is_charge_refundable: false, evidence_details: { due_by: t + 7 * 86_400 }, balance_transactions: [{ id: 'txn_hostile', amount: -400, fee: 1500, currency: 'eur' }], metadata: {} };
    default:
      return { id: 'cus_hostile', object: 'customer', name: 'Hostile' };
  }
}

const HANDLED = ['checkout.session.completed', 'customer.subscription.updated', 'invoice.payment_succeeded', 'payment_intent.payment_failed', 'setup_intent.succeeded', 'charge.refunded', 'refund.created', 'charge.dispute.created'];

function baseEvent(type: string, object = baseObject(type)): Record<string, unknown> {
  return { id: eventId(), object: 'event', api_version: '2026-10-28.endive', created: now(), livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type, data: { object } };
}

/** Deep copy with `path` set to `value` (undefined deletes). */
function withChange(event: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(event);
  let node = copy as Record<string, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = path.at(-1)!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

const LEDGER = ['webhook_events', 'payments', 'subscriptions', 'users'] as const;
async function ledgerCounts(): Promise<number[]> {
  return Promise.all(LEDGER.map((table) => countRows(svc, table)));
}

async function postSigned(body: string, timestamp = now()) {
  return postWebhook(svc, body, { 'stripe-signature': sign(secret(), body, timestamp) });
}

const codeOf = (json: unknown) => (json as { error?: { code?: string } }).error?.code;

test('every event type the endpoint subscribes to has an object schema (a new type cannot skip the shape check)', () => {
  expect(Object.keys(EVENT_OBJECT_SCHEMAS).sort()).toEqual([...WEBHOOK_EVENTS].sort());
});

describe('a correctly signed event that can never be applied is a 400 and writes nothing', () => {
  const invoice = () => baseEvent('invoice.payment_succeeded');
  const cases: Array<[string, () => string, string]> = [
    ['JSON null', () => 'null', 'invalid_event'],
    ['an array', () => '[]', 'invalid_event'],
    ['a number', () => '42', 'invalid_event'],
    ['no created', () => JSON.stringify(withChange(invoice(), ['created'], undefined)), 'invalid_event'],
    ['created as a string', () => JSON.stringify(withChange(invoice(), ['created'], String(now()))), 'invalid_event'],
    ['created negative', () => JSON.stringify(withChange(invoice(), ['created'], -1)), 'invalid_event'],
    ['created past year 9999', () => JSON.stringify(withChange(invoice(), ['created'], 1e15)), 'invalid_event'],
    ['no data.object', () => JSON.stringify(withChange(invoice(), ['data', 'object'], undefined)), 'invalid_event'],
    ['data null', () => JSON.stringify(withChange(invoice(), ['data'], null)), 'invalid_event'],
    ['an id that is not evt_', () => JSON.stringify(withChange(invoice(), ['id'], 'in_not_an_event')), 'invalid_event'],
    ['a NUL inside the event id', () => JSON.stringify(withChange(invoice(), ['id'], 'evt_\u0000abc')), 'invalid_event'],
    ['a NUL inside the type', () => JSON.stringify(withChange(invoice(), ['type'], 'invoice.payment_succeeded\u0000')), 'invalid_event'],
    ['livemode as a string', () => JSON.stringify(withChange(invoice(), ['livemode'], 'false')), 'invalid_event'],
    ['a thin (v2) event', () => JSON.stringify(withChange(invoice(), ['object'], 'v2.core.event')), 'invalid_event'],
    ['an amount as a string', () => JSON.stringify(withChange(invoice(), ['data', 'object', 'amount_paid'], '400')), 'invalid_event_object'],
    ['a negative amount', () => JSON.stringify(withChange(invoice(), ['data', 'object', 'amount_paid'], -400)), 'invalid_event_object'],
    ['a fractional amount', () => JSON.stringify(withChange(invoice(), ['data', 'object', 'amount_due'], 4.5)), 'invalid_event_object'],
    ['an amount past 2^53', () => JSON.stringify(withChange(invoice(), ['data', 'object', 'amount_paid'], 2 ** 60)), 'invalid_event_object'],
    ['no currency', () => JSON.stringify(withChange(invoice(), ['data', 'object', 'currency'], undefined)), 'invalid_event_object'],
    ['a currency that is not ISO', () => JSON.stringify(withChange(invoice(), ['data', 'object', 'currency'], 'EURO')), 'invalid_event_object'],
    ['the wrong object for the type', () => JSON.stringify(baseEvent('invoice.payment_succeeded', baseObject('charge.refunded'))), 'invalid_event_object'],
    ['a subscription without items', () => JSON.stringify(withChange(baseEvent('customer.subscription.updated'), ['data', 'object', 'items'], undefined)), 'invalid_event_object'],
    ['a payment intent without amount', () => JSON.stringify(withChange(baseEvent('payment_intent.payment_failed'), ['data', 'object', 'amount'], undefined)), 'invalid_event_object'],
    ['a refund with a negative amount', () => JSON.stringify(withChange(baseEvent('refund.created'), ['data', 'object', 'amount'], -5)), 'invalid_event_object'],
    ['a charge refunded beyond its amount', () => JSON.stringify(withChange(baseEvent('charge.refunded'), ['data', 'object', 'amount_refunded'], 401)), 'invalid_event_object'],
    ['a dispute without its charge', () => JSON.stringify(withChange(baseEvent('charge.dispute.created'), ['data', 'object', 'charge'], undefined)), 'invalid_event_object'],
    ['a customer id carrying a NUL', () => JSON.stringify(withChange(invoice(), ['data', 'object', 'customer'], 'cus_\u0000x')), 'invalid_event_object'],
    [
      'nesting deeper than any Stripe object',
      () => JSON.stringify(baseEvent('customer.created', { id: 'cus_deep', object: 'customer', metadata: JSON.parse(`${'{"a":'.repeat(200)}1${'}'.repeat(200)}`) as unknown })),
      'event_too_deep',
    ],
    ['a body that is not JSON', () => '{"id": "evt_x", ', 'invalid_event'],
  ];

  test.each(cases)('%s', async (_what, body, code) => {
    const before = await ledgerCounts();
    const res = await postSigned(body());
    expect({ status: res.status, code: codeOf(res.json) }).toEqual({ status: 400, code });
    expect(await ledgerCounts()).toEqual(before);
  });

  test('a signed body that is not UTF-8 is a 400', async () => {
    const body = Buffer.concat([Buffer.from('{"id":"evt_x","name":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const timestamp = now();
    const { createHmac } = await import('node:crypto');
    const v1 = createHmac('sha256', secret()).update(Buffer.concat([Buffer.from(`${timestamp}.`), body])).digest('hex');
    const res = await fetch(`${svc.url}/api/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': `t=${timestamp},v1=${v1}` }, body });
    expect(res.status).toBe(400);
  });

  test('a handled type whose object is fine but unknown is applied as before, and an amount past 32 bits is not refused', async () => {
    const event = withChange(baseEvent('invoice.payment_succeeded'), ['data', 'object', 'amount_paid'], 2 ** 33);
    const res = await postSigned(JSON.stringify(event));
    expect(res.status).toBe(200);
    const row = await svc.database.db.selectFrom('webhook_events').select('status').where('event_id', '=', event.id as string).executeTakeFirstOrThrow();
    expect(row.status).toBe('unmatched');
  });
});

describe('an event naming an object Stripe does not have', () => {
  // Every prepare-time lookup: the invoice of a payment intent, the subscription re-fetch on a
  // same-second tie, the refunds of a charge. Each answered 502 (retried by Stripe for three days).
  const cases: [string, () => Record<string, unknown>][] = [
    ['a payment intent no invoice payment lookup can find', () => withChange(baseEvent('payment_intent.payment_failed'), ['data', 'object', 'id'], 'pi_never_existed')],
    ['a charge.refunded for a charge Stripe never had', () => withChange(baseEvent('charge.refunded'), ['data', 'object', 'id'], 'ch_never_existed')],
  ];
  test.each(cases)('%s is unmatched (2xx, final), not a 5xx', async (_what, build) => {
    const event = build();
    const res = await postSigned(JSON.stringify(event));
    expect(res.status).toBe(200);
    const row = await svc.database.db.selectFrom('webhook_events').select(['status', 'last_error']).where('event_id', '=', event.id as string).executeTakeFirstOrThrow();
    expect(row.status).toBe('unmatched');
  });

  test('a subscription Stripe does not have, re-fetched on a same-second tie, is unmatched', async () => {
    const customer = await svc.stripe.customers.create({ email: 'tie@example.com', metadata: { userId: 'u_hostile_tie' } });
    const t = now();
    const sub = (status: string) =>
      withChange(withChange(baseEvent('customer.subscription.updated'), ['data', 'object', 'customer'], customer.id), ['data', 'object', 'status'], status);
    const first: Record<string, unknown> = { ...sub('active'), created: t };
    expect((await postSigned(JSON.stringify(first))).status).toBe(200);
    // Same subscription, same second: the event alone cannot say which is newer, so the service asks Stripe.
    const second: Record<string, unknown> = { ...sub('past_due'), created: t };
    const res = await postSigned(JSON.stringify(second));
    expect(res.status).toBe(200);
    const row = await svc.database.db.selectFrom('webhook_events').select('status').where('event_id', '=', second.id as string).executeTakeFirstOrThrow();
    expect(row.status).toBe('unmatched');
    const stored = await svc.database.db.selectFrom('subscriptions').select('status').where('id', '=', 'sub_hostile').executeTakeFirstOrThrow();
    expect(stored.status).toBe('active');
  });
});

describe('user hints on Stripe objects', () => {
  test('a malformed user id in client_reference_id is not taken as a user: unmatched, no user row', async () => {
    const bad = "u 1'; select 1 --";
    const event = withChange(baseEvent('checkout.session.completed'), ['data', 'object', 'client_reference_id'], bad);
    const res = await postSigned(JSON.stringify(event));
    expect(res.status).toBe(200);
    const row = await svc.database.db.selectFrom('webhook_events').select('status').where('event_id', '=', event.id as string).executeTakeFirstOrThrow();
    expect(row.status).toBe('unmatched');
    expect(await svc.database.db.selectFrom('users').select('id').where('id', '=', bad).execute()).toEqual([]);
  });
});

describe('characters PostgreSQL cannot store', () => {
  test('a NUL and a lone surrogate in free text are stripped and replaced, and the event is stored', async () => {
    const event = baseEvent('customer.created', { id: 'cus_nul', object: 'customer', name: 'Ann\u0000e', description: 'half \ud83d pair', metadata: { 'k\u0000ey': 'v' } });
    const res = await postSigned(JSON.stringify(event));
    expect(res.status).toBe(200);
    const row = await svc.database.db.selectFrom('webhook_events').select(['status', 'payload']).where('event_id', '=', event.id as string).executeTakeFirstOrThrow();
    expect(row.status).toBe('ignored');
    const stored = (row.payload as { data: { object: { name: string; description: string; metadata: Record<string, string> } } }).data.object;
    expect(stored.name).toBe('Anne');
    expect(stored.description).toBe('half \uFFFD pair');
    expect(stored.metadata).toEqual({ key: 'v' });
  });

  test('a "__proto__" key in an event stays data: stored as sent, nothing polluted', async () => {
    const body = `{"id":"${eventId()}","object":"event","api_version":"2026-10-28.endive","created":${now()},"livemode":false,"type":"customer.created","data":{"object":{"id":"cus_proto","object":"customer","__proto__":{"polluted":true}}}}`;
    const res = await postSigned(body);
    expect(res.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const id = (JSON.parse(body) as { id: string }).id;
    const row = await svc.database.db.selectFrom('webhook_events').select('payload').where('event_id', '=', id).executeTakeFirstOrThrow();
    expect(Object.keys((row.payload as { data: { object: object } }).data.object)).toContain('__proto__');
  });
});

describe('signature timestamps', () => {
  const unhandled = () => JSON.stringify(baseEvent('customer.created'));

  test('rejects a webhook whose timestamp is further in the future than the tolerance', async () => {
    const before = await ledgerCounts();
    const res = await postSigned(unhandled(), now() + SIGNATURE_TOLERANCE_SECONDS + 60);
    expect({ status: res.status, code: codeOf(res.json) }).toEqual({ status: 400, code: 'future_signature' });
    expect(await ledgerCounts()).toEqual(before);
  });

  test('accepts a timestamp slightly ahead (clock skew within the tolerance)', async () => {
    const res = await postSigned(unhandled(), now() + 60);
    expect(res.status).toBe(200);
  });

  test('two Stripe-Signature headers (a second, forged timestamp) are refused', async () => {
    const body = unhandled();
    const url = new URL(svc.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/api/webhooks/stripe',
          headers: { 'content-type': 'application/json', 'stripe-signature': [sign(secret(), body), `t=${now() + 3600},v1=${'0'.repeat(64)}`] },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(400);
  });
});

describe('malformed-event fuzz', () => {
  const hostileValue = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.jsonValue({ maxDepth: 3 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.constantFrom('', '\u0000', 'evt_\u0000', '\ud800', 'EURO', 'eur', '400', 'NaN'),
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.constantFrom(-1, 0, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 2 ** 63, 1e21, Number.MAX_VALUE, 0.5),
    fc.boolean(),
  );

  /** Every path of an event (envelope and object fields), for a mutation to land on. */
  function paths(value: unknown, prefix: string[] = []): string[][] {
    if (value === null || typeof value !== 'object') return [prefix];
    const own = Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => paths(v, [...prefix, k]));
    return prefix.length === 0 ? own : [prefix, ...own];
  }

  const mutatedEvent = fc
    .record({
      type: fc.constantFrom(...HANDLED, 'customer.created'),
      changes: fc.array(fc.tuple(fc.nat(), hostileValue), { minLength: 1, maxLength: 3 }),
    })
    .map(({ type, changes }) => {
      let event = baseEvent(type);
      for (const [pick, value] of changes) {
        const all = paths(event);
        if (all.length === 0) break;
        event = withChange(event, all[pick % all.length]!, value);
      }
      return event;
    });

  /**
   * The fuzz invents ids (a subscription, a payment intent, a charge) that the sandbox does not
   * have: Stripe answering "no such object" makes the event unmatched (2xx), never a 5xx that
   * Stripe would retry for days. The sandbox stays up here, so no 5xx of any kind is acceptable.
   */
  test('the route never answers 5xx, and a rejected event writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedEvent, async (event) => {
        const before = await ledgerCounts();
        const res = await postSigned(JSON.stringify(event));
        if (res.status >= 500) {
          throw new Error(`${res.status} ${JSON.stringify(res.json)} for ${JSON.stringify(event)}`);
        }
        if (res.status >= 400) {
          expect(res.status).toBe(400);
          expect(await ledgerCounts()).toEqual(before);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('the shape check itself never throws anything but a 400 for any JSON value', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), mutatedEvent), (value) => {
        try {
          const event: Stripe.Event = parseStripeEvent(value);
          expect(typeof event.id).toBe('string');
        } catch (err) {
          expect(err).toBeInstanceOf(AppError);
          expect((err as AppError).status).toBe(400);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
