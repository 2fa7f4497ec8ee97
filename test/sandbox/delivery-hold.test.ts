import type Stripe from 'stripe';
import { type Harness, type Receiver, sandboxOnly, verifiedEvents, useHarnessAndReceiver } from './support';

/**
 * The hold fault: Stripe delivers out of order across seconds and API calls (an old snapshot after a
 * newer one, a failure after the success), which shuffling inside one batch never produces.
 */

jest.setTimeout(300_000);

let h: Harness;
let receiver: Receiver;
let secret: string;

useHarnessAndReceiver((harness, received) => {
  h = harness;
  receiver = received;
});
beforeEach(async () => {
  const we = (await h.stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: ['customer.created', 'customer.updated'] })) as Stripe.WebhookEndpoint & { secret: string };
  secret = we.secret;
});

const settle = () => h.control.waitForDeliveries(120_000);
const received = () => verifiedEvents(h.stripe, receiver, secret).map((e) => `${e.type}:${(e.data.object as Stripe.Customer).name ?? ''}`);

sandboxOnly('holds matching deliveries across API calls and clock seconds, then delivers them newest first after the later ones', async () => {
  h.control.setFaults({ hold: { types: ['customer.updated'] } });
  const customer = await h.stripe.customers.create({ name: 'v0' });
  await h.stripe.customers.update(customer.id, { name: 'v1' });
  await h.control.advanceClock(5);
  await h.stripe.customers.update(customer.id, { name: 'v2' });
  await h.stripe.customers.create({ name: 'other' });
  await settle();
  // Held deliveries are not pending: the wait resolved with only the unheld ones delivered.
  expect(received()).toEqual(['customer.created:v0', 'customer.created:other']);

  h.control.clearFaults();
  await settle();
  expect(received()).toEqual(['customer.created:v0', 'customer.created:other', 'customer.updated:v2', 'customer.updated:v1']);
  const updates = verifiedEvents(h.stripe, receiver, secret).filter((e) => e.type === 'customer.updated');
  expect(updates[0]!.created).toBeGreaterThan(updates[1]!.created);
});

sandboxOnly('count bounds the hold; hold: null releases it without clearing the other faults', async () => {
  h.control.setFaults({ duplicate: 1, hold: { types: ['customer.*'], count: 1 } });
  await h.stripe.customers.create({ name: 'a' });
  await settle();
  // Two copies of the delivery: the first is held, the copy passes (count 1).
  expect(received()).toEqual(['customer.created:a']);
  h.control.setFaults({ hold: null });
  await settle();
  expect(received()).toEqual(['customer.created:a', 'customer.created:a']);
  // The duplicate fault is still on after the hold ended.
  await h.stripe.customers.create({ name: 'b' });
  await settle();
  expect(received().filter((r) => r === 'customer.created:b')).toHaveLength(2);
});

sandboxOnly('the control API validates the hold and a reset drops what was held', async () => {
  const post = (body: unknown) => fetch(`${h.sandbox.url}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const zero = await post({ hold: { count: 0 } });
  expect(zero.status).toBe(400);
  expect(((await zero.json()) as { error: { param: string } }).error.param).toBe('hold.count');
  expect((await post({ hold: { types: 'customer.created' } })).status).toBe(400);

  expect((await post({ hold: {} })).status).toBe(200);
  await h.stripe.customers.create({ name: 'held' });
  await settle();
  expect(received()).toEqual([]);
  h.reset();
  const we = (await h.stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: ['customer.created'] })) as Stripe.WebhookEndpoint & { secret: string };
  secret = we.secret;
  h.control.clearFaults();
  await settle();
  expect(received()).toEqual([]);
  expect(h.control.deliveries()).toEqual([]);
});
