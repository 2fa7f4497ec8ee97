import type Stripe from 'stripe';
import { MemoryStore } from '../../../service/shared/store/memory-store';
import { eventJson, parseStripeEvent } from '../../../service/webhooks/event-schema';
import { DRAIN_LANES, drainLanes, noteAcknowledged, noteIntakeBatch } from '../../../service/webhooks/pressure';
import { verifyStripeEvent } from '../../../service/webhooks/signature';
import { sign } from './support';

/**
 * What keeps an acknowledgement cheap without changing what it stores or applies (issue 15): the
 * signed JSON text is stored as it came when it needs no cleaning (no second serialisation), and a
 * drain applies one customer at a time while deliveries arrive in a burst.
 */

const SECRET = 'whsec_ack_cost_0123456789';
const event = (name: string) => ({
  id: 'evt_ack_cost',
  object: 'event',
  type: 'customer.updated',
  api_version: '2025-09-30.clover',
  created: Math.floor(Date.now() / 1000),
  livemode: false,
  pending_webhooks: 1,
  request: { id: null, idempotency_key: null },
  data: { object: { id: 'cus_ack_cost', object: 'customer', name, metadata: {} } },
});

describe('the JSON stored for an event', () => {
  test('is the signed body itself when nothing needs cleaning, spacing and key order included', () => {
    const body = JSON.stringify(event('Ada Lovelace'), null, 2);
    const verified = verifyStripeEvent(Buffer.from(body), sign(SECRET, body), SECRET);
    expect(eventJson(verified)).toBe(body);
    expect(JSON.parse(eventJson(verified))).toEqual(verified);
  });

  test('is the cleaned event when the text could hide a NUL or a lone surrogate, and equals the body otherwise', () => {
    const nul = JSON.stringify(event('nul\u0000here'));
    const withNul = verifyStripeEvent(Buffer.from(nul), sign(SECRET, nul), SECRET);
    expect((withNul.data.object as Stripe.Customer).name).toBe('nulhere');
    expect(eventJson(withNul)).not.toContain('\\u0000');
    expect(JSON.parse(eventJson(withNul))).toEqual(withNul);

    const lone = JSON.stringify(event('x')).replace('"x"', '"a\\ud800b"');
    const withLone = verifyStripeEvent(Buffer.from(lone), sign(SECRET, lone), SECRET);
    expect((withLone.data.object as Stripe.Customer).name).toBe('a\uFFFDb');
    expect(JSON.parse(eventJson(withLone))).toEqual(withLone);

    // A valid pair escaped is only a false alarm: cleaned (a copy), the same value.
    const pair = JSON.stringify(event('x')).replace('"x"', '"\\ud83d\\ude00"');
    const withPair = verifyStripeEvent(Buffer.from(pair), sign(SECRET, pair), SECRET);
    expect((withPair.data.object as Stripe.Customer).name).toBe('😀');
    expect(JSON.parse(eventJson(withPair))).toEqual(withPair);
  });

  test('an event parsed without its text (replays, drains) is serialised', () => {
    const parsed = parseStripeEvent(event('Grace Hopper'));
    expect(eventJson(parsed)).toBe(JSON.stringify(parsed));
  });
});

describe('drain lanes under a burst of deliveries', () => {
  test('one while the intake writes five deliveries or more in one insert (acknowledgements queueing, whatever the rate), until a quiet window', () => {
    const store = new MemoryStore();
    noteIntakeBatch(store, 4, 2_000);
    expect(drainLanes(store, 2_001)).toBe(DRAIN_LANES);
    noteIntakeBatch(store, 5, 2_010);
    noteIntakeBatch(store, 1, 2_020); // the largest insert of the window counts, not the last
    expect(drainLanes(store, 2_021)).toBe(1);
    // Held through the next window, as a burst is; gone the one after.
    expect(drainLanes(store, 2_150)).toBe(1);
    noteIntakeBatch(store, 2, 2_160);
    expect(drainLanes(store, 2_250)).toBe(DRAIN_LANES);
    // Only a few deliveries meanwhile: the rate alone would never have called it a burst.
    for (let i = 0; i < 10; i++) noteAcknowledged(store, 3_000 + i);
    noteIntakeBatch(store, 6, 3_011);
    expect(drainLanes(store, 3_012)).toBe(1);
  });

  test(`${DRAIN_LANES} customers side by side normally; one while more than 50 deliveries arrive per 100 ms, until a quiet window`, async () => {
    const store = new MemoryStore();
    expect(DRAIN_LANES).toBeGreaterThan(1);
    expect(drainLanes(store, 1_000)).toBe(DRAIN_LANES);
    // 50 in one window is not a burst; the 51st is.
    for (let i = 0; i < 50; i++) noteAcknowledged(store, 1_000 + i);
    expect(drainLanes(store, 1_060)).toBe(DRAIN_LANES);
    noteAcknowledged(store, 1_061);
    expect(drainLanes(store, 1_062)).toBe(1);
    // The next window still counts the last one: a burst straddling a boundary stays a burst.
    expect(drainLanes(store, 1_150)).toBe(1);
    noteAcknowledged(store, 1_150);
    expect(drainLanes(store, 1_160)).toBe(1);
    // A window later with few deliveries, and then none at all: back to full lanes.
    expect(drainLanes(store, 1_250)).toBe(DRAIN_LANES);
    expect(drainLanes(store, 5_000)).toBe(DRAIN_LANES);
    // Per instance: another store's burst is not this one's.
    const other = new MemoryStore();
    for (let i = 0; i < 60; i++) noteAcknowledged(other, 6_000);
    expect(drainLanes(other, 6_001)).toBe(1);
    expect(drainLanes(store, 6_001)).toBe(DRAIN_LANES);
    await store.close();
    await other.close();
  });
});
