import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../../../service/shared/errors';
import { MemoryStore } from '../../../service/shared/store/memory-store';
import { createStripeClient } from '../../../service/shared/stripe-client';
import { DRAIN_LANES, drainLanes, inBurst, noteAcknowledged, noteIntakeBatch } from '../../../service/webhooks/pressure';
import { resolveUser } from '../../../service/webhooks/users';
import { testConfig } from '../../support/config';
import { createTestDatabase, type TestDatabase } from '../../support/database';

/**
 * Boundaries the ingest suites did not reach (found by mutation testing): a quiet gap after a burst
 * of deliveries, and Stripe refusing a customer lookup with a 400 rather than a 404. Real parts:
 * the suite's database; Stripe is a local HTTP server answering as Stripe answers an invalid
 * request (the sandbox has no way to answer a lookup with a 400: a request it can serve it serves).
 */

jest.setTimeout(300_000);

describe('pressure after a quiet gap', () => {
  test('a burst two or more windows ago is forgotten: the window before now was quiet', () => {
    const store = new MemoryStore();
    for (let i = 0; i < 60; i++) noteAcknowledged(store, 10_000 + i);
    expect(inBurst(store, 10_070)).toBe(true);
    // Nothing asked in the window after it: the record moves straight from 10_000 to 10_200.
    expect(inBurst(store, 10_200)).toBe(false);
    expect(drainLanes(store, 10_201)).toBe(DRAIN_LANES);
  });

  test('a saturated insert two windows ago is forgotten the same way', () => {
    const store = new MemoryStore();
    noteIntakeBatch(store, 9, 20_000);
    expect(inBurst(store, 20_001)).toBe(true);
    expect(inBurst(store, 20_300)).toBe(false);
  });

  test('a burst in the window just before is still one, and counts what that window held, not this one', () => {
    const store = new MemoryStore();
    for (let i = 0; i < 51; i++) noteAcknowledged(store, 30_050);
    // The first look in the next window: the previous window's 51 still count.
    expect(inBurst(store, 30_100)).toBe(true);
    // Then a quiet window: the previous one (30_100-30_199) held nothing.
    expect(inBurst(store, 30_200)).toBe(false);
  });

  test('a store that never saw a delivery is not pressed, and asking does not make it so', () => {
    const store = new MemoryStore();
    expect(inBurst(store, 40_000)).toBe(false);
    noteAcknowledged(store, 40_001);
    expect(inBurst(store, 40_002)).toBe(false);
  });
});

describe('a customer lookup Stripe refuses', () => {
  let database: TestDatabase;
  let stripeHop: Server;
  let hopUrl = '';
  let answer: { status: number; body: unknown } = { status: 400, body: {} };

  beforeAll(async () => {
    database = await createTestDatabase();
    // Answers every request the way Stripe answers one it refuses.
    stripeHop = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'application/json', 'request-id': 'req_boundaries' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => stripeHop.listen(0, '127.0.0.1', resolve));
    hopUrl = `http://127.0.0.1:${(stripeHop.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => stripeHop?.close(() => resolve()));
    await database?.close();
  });

  const stripe = () => createStripeClient({ secretKey: 'sk_test_boundaries', apiVersion: testConfig().stripe.apiVersion, apiBase: hopUrl, maxNetworkRetries: 0 });

  test('a 400 is a failure to retry, not "no such customer": the event must not be recorded as unmatched', async () => {
    answer = { status: 400, body: { error: { type: 'invalid_request_error', message: 'Invalid API version', code: 'parameter_invalid' } } };
    const err = await resolveUser(database.db, stripe(), 'cus_refused').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'stripe_request_failed', status: 502, message: 'Stripe rejected customer lookup' });
  });

  test('a 404 is "no such customer": nobody, no error', async () => {
    answer = { status: 404, body: { error: { type: 'invalid_request_error', message: 'No such customer', code: 'resource_missing', param: 'id' } } };
    await expect(resolveUser(database.db, stripe(), 'cus_missing')).resolves.toBeUndefined();
  });
});
