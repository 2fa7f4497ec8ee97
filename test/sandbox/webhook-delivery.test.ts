import type Stripe from 'stripe';
import { Harness, Receiver, sandboxOnly, verifiedEvents, useHarnessAndReceiver } from './support';
import { SETTLE_MS } from '../support/wait';

let h: Harness;
let receiver: Receiver;

useHarnessAndReceiver((harness, received) => {
  h = harness;
  receiver = received;
});

async function endpoint(enabledEvents: Stripe.WebhookEndpointCreateParams.EnabledEvent[] = ['*']): Promise<Stripe.WebhookEndpoint & { secret: string }> {
  return (await h.stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: enabledEvents })) as Stripe.WebhookEndpoint & { secret: string };
}

describe('webhook endpoints', () => {
  test('shows the whsec_ secret only in the create response', async () => {
    // A public-looking URL so the same case runs against real Stripe; nothing is delivered to it.
    const created = await h.stripe.webhookEndpoints.create({ url: 'https://example.com/webhooks/stripe', enabled_events: ['customer.created'] });
    expect(created.secret).toMatch(/^whsec_/);
    expect(created.id).toMatch(/^we_/);
    const retrieved = await h.stripe.webhookEndpoints.retrieve(created.id);
    expect(retrieved.secret).toBeUndefined();
    expect((await h.stripe.webhookEndpoints.list()).data.every((we) => we.secret === undefined)).toBe(true);
    const updated = await h.stripe.webhookEndpoints.update(created.id, { description: 'service', enabled_events: ['invoice.paid'], metadata: { env: 'test' } });
    expect(updated).toMatchObject({ description: 'service', enabled_events: ['invoice.paid'], metadata: { env: 'test' }, status: 'enabled' });
    expect(await h.stripe.webhookEndpoints.del(created.id)).toMatchObject({ id: created.id, deleted: true });
  });

  test('rejects an endpoint without enabled_events', async () => {
    await expect(h.stripe.webhookEndpoints.create({ url: 'https://example.com/webhooks/stripe' } as Stripe.WebhookEndpointCreateParams)).rejects.toMatchObject({
      statusCode: 400,
      param: 'enabled_events',
    });
  });
});

describe('delivery', () => {
  sandboxOnly('signs each delivery so stripe.webhooks.constructEvent accepts it, with Stripe headers', async () => {
    const we = await endpoint();
    const customer = await h.stripe.customers.create({ email: 'signed@example.com' });
    await h.control.waitForDeliveries(SETTLE_MS);
    const [event] = verifiedEvents(h.stripe, receiver, we.secret);
    expect(event).toMatchObject({ type: 'customer.created', object: 'event', livemode: false, pending_webhooks: 1 });
    expect((event?.data.object as Stripe.Customer).id).toBe(customer.id);
    expect(event?.request?.id).toMatch(/^req_/);
    const headers = receiver.received[0]?.headers;
    expect(headers?.['content-type']).toBe('application/json; charset=utf-8');
    expect(headers?.['user-agent']).toBe('Stripe/1.0 (+https://stripe.com/docs/webhooks)');
    expect(() => h.stripe.webhooks.constructEvent(receiver.received[0]?.rawBody ?? '', receiver.received[0]?.signature ?? '', 'whsec_wrong')).toThrow();
  });

  sandboxOnly('signs with real time after a clock advance, so a 300 s tolerance still passes', async () => {
    const we = await endpoint();
    await h.control.advanceClock(90 * 86_400);
    await h.stripe.customers.create({ email: 'later@example.com' });
    await h.control.waitForDeliveries(SETTLE_MS);
    const [event] = verifiedEvents(h.stripe, receiver, we.secret);
    expect(event?.created).toBeGreaterThan(Date.now() / 1000 + 89 * 86_400);
  });

  sandboxOnly('delivers only subscribed types', async () => {
    const we = await endpoint(['product.created', 'product.updated']);
    await h.stripe.customers.create({ email: 'ignored@example.com' });
    const product = await h.stripe.products.create({ name: 'Delivered' });
    await h.stripe.products.update(product.id, { name: 'Renamed' });
    await h.control.waitForDeliveries(SETTLE_MS);
    const events = verifiedEvents(h.stripe, receiver, we.secret);
    expect(events.map((e) => e.type)).toEqual(['product.created', 'product.updated']);
    expect(events[1]?.data.previous_attributes).toEqual({ name: 'Delivered' });
  });

  sandboxOnly('a disabled endpoint receives nothing while the events stay listable', async () => {
    const we = await endpoint();
    await h.stripe.webhookEndpoints.update(we.id, { disabled: true });
    const customer = await h.stripe.customers.create({ email: 'quiet@example.com' });
    await h.control.waitForDeliveries(SETTLE_MS);
    expect(receiver.received).toHaveLength(0);
    expect(h.control.deliveries()).toHaveLength(0);
    const listed = await h.stripe.events.list({ type: 'customer.created' });
    expect(listed.data.map((e) => (e.data.object as Stripe.Customer).id)).toEqual([customer.id]);
    const event = await h.stripe.events.retrieve(listed.data[0]?.id as string);
    expect(event.pending_webhooks).toBe(0);
  });

  sandboxOnly('retries a failing endpoint on the schedule until it succeeds', async () => {
    const we = await endpoint(['customer.created']);
    receiver.failNext(2);
    await h.stripe.customers.create({ email: 'retry@example.com' });
    await h.control.waitForDeliveries(SETTLE_MS);
    const attempts = h.control.deliveries({ endpoint_id: we.id });
    expect(attempts.map((a) => [a.attempt, a.status, a.succeeded])).toEqual([
      [1, 500, false],
      [2, 500, false],
      [3, 200, true],
    ]);
    expect(verifiedEvents(h.stripe, receiver, we.secret)).toHaveLength(1);
  });

  sandboxOnly('gives up after the last scheduled retry and records every attempt', async () => {
    const we = await endpoint(['customer.created']);
    h.control.setFaults({ failEndpoint: { id: we.id, attempts: 'always' } });
    await h.stripe.customers.create({ email: 'never@example.com' });
    await h.control.waitForDeliveries(SETTLE_MS);
    const attempts = h.control.deliveries({ endpoint_id: we.id });
    expect(attempts).toHaveLength(4);
    expect(attempts.every((a) => !a.succeeded && a.error?.includes('injected'))).toBe(true);
    expect(receiver.received).toHaveLength(0);
  });

  sandboxOnly('the failEndpoint fault fails a set number of attempts, then delivery succeeds', async () => {
    const we = await endpoint(['customer.created']);
    h.control.setFaults({ failEndpoint: { url: receiver.url, attempts: 1 } });
    await h.stripe.customers.create({ email: 'once@example.com' });
    await h.control.waitForDeliveries(SETTLE_MS);
    expect(h.control.deliveries({ endpoint_id: we.id }).map((a) => a.succeeded)).toEqual([false, true]);
    expect(receiver.received).toHaveLength(1);
  });

  sandboxOnly('the duplicate fault delivers extra identical, verifiable copies', async () => {
    const we = await endpoint(['customer.created']);
    h.control.setFaults({ duplicate: 2 });
    await h.stripe.customers.create({ email: 'dupe@example.com' });
    await h.control.waitForDeliveries(SETTLE_MS);
    const events = verifiedEvents(h.stripe, receiver, we.secret);
    expect(events).toHaveLength(3);
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
  });

  sandboxOnly('the reorder fault shuffles one batch but delivers every event once', async () => {
    const we = await endpoint();
    h.control.setFaults({ reorder: true });
    const product = await h.stripe.products.create({ name: 'Shuffled' });
    const session = await h.stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: (await h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 400, recurring: { interval: 'month' } })).id, quantity: 1 }],
      success_url: 'https://app.example/ok',
    });
    await h.control.completeCheckoutSession(session.id, 'pm_card_visa');
    await h.control.waitForDeliveries(SETTLE_MS);
    const received = verifiedEvents(h.stripe, receiver, we.secret).map((e) => e.id).sort();
    const listed = (await h.stripe.events.list({ limit: 100 })).data.map((e) => e.id).sort();
    expect(received).toEqual(listed);
  });

  sandboxOnly('the delay fault postpones attempts, and pause/resume hold and release the queue', async () => {
    await endpoint(['customer.created']);
    h.control.pauseDeliveries();
    await h.stripe.customers.create({ email: 'held@example.com' });
    await new Promise((r) => setTimeout(r, 50));
    expect(receiver.received).toHaveLength(0);
    h.control.setFaults({ delayMs: 100 });
    const started = Date.now();
    h.control.resumeDeliveries();
    await h.control.waitForDeliveries(SETTLE_MS);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(receiver.received).toHaveLength(1);
  });
});

describe('events API', () => {
  test('filters by types[] and created range', async () => {
    const start = Math.floor(Date.now() / 1000) - 5;
    await h.stripe.customers.create({ email: 'range@example.com' });
    await h.stripe.products.create({ name: 'Range' });
    const both = await h.stripe.events.list({ types: ['customer.created', 'product.created'], created: { gte: start } });
    expect(both.data.map((e) => e.type).slice(0, 2)).toEqual(['product.created', 'customer.created']);
    const none = await h.stripe.events.list({ created: { gt: start + 3600 } });
    expect(none.data).toHaveLength(0);
  });
});

describe('control API over HTTP and hosted pages', () => {
  sandboxOnly('serves a hosted checkout page and completes a session through /_sandbox', async () => {
    await endpoint(['checkout.session.completed']);
    const product = await h.stripe.products.create({ name: 'Page' });
    const price = await h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 400, recurring: { interval: 'month' } });
    const session = await h.stripe.checkout.sessions.create({ mode: 'subscription', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no' });
    expect(session.url).toBe(`${h.apiBase}/checkout/${session.id}`);
    const page = await fetch(session.url as string);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('Pay with test card');
    expect(html).toContain('Decline');

    const declined = await fetch(`${h.apiBase}/_sandbox/checkout_sessions/${session.id}/complete`, { method: 'POST', body: JSON.stringify({ payment_method: 'pm_card_chargeDeclined' }) });
    expect(declined.status).toBe(402);
    const ok = await fetch(`${h.apiBase}/_sandbox/checkout_sessions/${session.id}/complete`, { method: 'POST', body: JSON.stringify({ payment_method: 'pm_card_visa' }) });
    expect(((await ok.json()) as Stripe.Checkout.Session).status).toBe('complete');
    const waited = await fetch(`${h.apiBase}/_sandbox/deliveries/wait`, { method: 'POST', body: '{}' });
    expect(waited.status).toBe(200);
    expect(receiver.received).toHaveLength(1);

    const portal = await h.stripe.billingPortal.sessions.create({ customer: (await h.stripe.checkout.sessions.retrieve(session.id)).customer as string, return_url: 'https://app.example/account' });
    expect(portal.id).toMatch(/^bps_/);
    expect(await (await fetch(portal.url)).text()).toContain('billing portal');
  });

  sandboxOnly('advances the clock through /_sandbox/clock/advance', async () => {
    const before = h.control.now();
    const res = await fetch(`${h.apiBase}/_sandbox/clock/advance`, { method: 'POST', body: JSON.stringify({ seconds: 3600 }) });
    const body = (await res.json()) as { now: number };
    expect(body.now - before).toBeGreaterThanOrEqual(3600);
  });
});
