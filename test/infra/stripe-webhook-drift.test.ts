import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import type { RunningSandbox } from '../../sandbox';
import { useProviderSandbox } from './stripe-provider-sandbox';
import { SDK_API_VERSION } from '../../service/shared/stripe-client';
import { WebhookEndpointProvider, WebhookEndpointInputs, WebhookEndpointOutputs } from '../../infra/stripe/webhook-endpoint-provider';
import { registeredUrl, serviceUrlOf } from '../../infra/stripe/webhook-endpoint-rules';
import { WEBHOOK_EVENTS } from '../../service/shared/catalog';

/**
 * The webhook endpoint provider against the sandbox as `pulumi refresh` + `pulumi up` drive it:
 * read (refresh) reports what Stripe has, diff proposes the repair, update applies it.
 */
const KEY = 'sk_test_infraWebhookDriftSuite';
const OLD_VERSION = '2025-01-27.acacia';
const env = useProviderSandbox(KEY, { retrySchedule: [50, 100] });
let sandbox: RunningSandbox;
let stripe: Stripe;
beforeAll(() => {
  ({ sandbox, stripe } = env);
});
beforeEach(() => sandbox.control.reset());

const provider = new WebhookEndpointProvider();
const inputsFor = (url: string, overrides: Partial<WebhookEndpointInputs> = {}): WebhookEndpointInputs => ({
  url, enabledEvents: [...WEBHOOK_EVENTS], description: 'Upiik payments (test)', apiVersion: SDK_API_VERSION, ...overrides,
});
const SERVICE_URL = 'https://payments.example.test/api/webhooks/stripe';

/** `pulumi refresh` then `pulumi up`: what the engine does with the provider, step by step. */
async function refreshThenUp(id: string, state: WebhookEndpointOutputs, program: WebhookEndpointInputs) {
  const refreshed = await provider.read(id, state);
  const plan = await provider.diff(id, refreshed.props as WebhookEndpointOutputs, program);
  const applied = plan.changes ? await provider.update(id, refreshed.props as WebhookEndpointOutputs, program) : undefined;
  return { refreshed, plan, applied };
}

async function enabledEndpointsFor(url: string): Promise<Stripe.WebhookEndpoint[]> {
  const { data } = await stripe.webhookEndpoints.list({ limit: 100 });
  return data.filter((e) => serviceUrlOf(e.url) === url && e.status === 'enabled');
}

describe('refresh sees drift in Stripe and the next update repairs it', () => {
  test('an endpoint disabled in Stripe reads as disabled, keeps its secret, and is re-enabled', async () => {
    const logged = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const inputs = inputsFor(SERVICE_URL);
      const created = await provider.create(inputs);
      await stripe.webhookEndpoints.update(created.id, { disabled: true });

      const { refreshed, plan, applied } = await refreshThenUp(created.id, created.outs!, inputs);
      expect(refreshed).toMatchObject({ id: created.id, props: { status: 'disabled', secret: created.outs!.secret } });
      // The inputs a refresh records carry no output and no secret.
      expect(refreshed.inputs).toEqual(inputs);
      expect(plan).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
      expect(applied?.outs).toMatchObject({ status: 'enabled', endpointId: created.id, secret: created.outs!.secret });
      expect((await stripe.webhookEndpoints.retrieve(created.id)).status).toBe('enabled');

      const again = await refreshThenUp(created.id, applied!.outs!, inputs);
      expect(again.plan.changes).toBe(false);
      // Nothing the provider did printed the signing secret.
      for (const call of [...logged.mock.calls, ...errors.mock.calls]) expect(JSON.stringify(call)).not.toContain(created.outs!.secret);
    } finally {
      logged.mockRestore();
      errors.mockRestore();
    }
  });

  test('changed events, URL and description read as they are in Stripe and are set back', async () => {
    const inputs = inputsFor(SERVICE_URL);
    const created = await provider.create(inputs);
    await stripe.webhookEndpoints.update(created.id, {
      enabled_events: ['invoice.paid'], url: 'https://elsewhere.example.test/hook', description: 'edited by hand',
    });

    const { refreshed, plan } = await refreshThenUp(created.id, created.outs!, inputs);
    expect(refreshed.inputs).toMatchObject({ url: 'https://elsewhere.example.test/hook', enabledEvents: ['invoice.paid'], description: 'edited by hand' });
    expect(plan).toMatchObject({ changes: true, replaces: [] });
    expect(await stripe.webhookEndpoints.retrieve(created.id)).toMatchObject({
      url: registeredUrl(SERVICE_URL, SDK_API_VERSION), enabled_events: inputs.enabledEvents, description: inputs.description, status: 'enabled',
    });
  });

  test('each drift alone is a change: one event type removed, the URL alone, the status alone', async () => {
    const inputs = inputsFor(SERVICE_URL);
    const created = await provider.create(inputs);
    const state = created.outs!;
    const plan = (drift: Partial<WebhookEndpointOutputs>) => provider.diff(created.id, { ...state, ...drift }, inputs);
    expect((await plan({})).changes).toBe(false);
    expect((await plan({ enabledEvents: state.enabledEvents.slice(1) })).changes).toBe(true);
    expect((await plan({ endpointUrl: registeredUrl('https://elsewhere.example.test/hook', SDK_API_VERSION) })).changes).toBe(true);
    expect((await plan({ status: 'disabled' })).changes).toBe(true);
    expect((await plan({ description: 'x' })).changes).toBe(true);
  });

  test('an endpoint deleted in Stripe reads as gone, and the next create makes a new one with a new secret', async () => {
    const inputs = inputsFor(SERVICE_URL);
    const created = await provider.create(inputs);
    await stripe.webhookEndpoints.del(created.id);
    const refreshed = await provider.read(created.id, created.outs!);
    expect(refreshed.id).toBeUndefined();
    const recreated = await provider.create(inputs);
    expect(recreated.id).not.toBe(created.id);
    expect(recreated.outs!.secret).toMatch(/^whsec_/);
    expect(recreated.outs!.secret).not.toBe(created.outs!.secret);
  });

  test('state written before endpointUrl and status existed is migrated by an in-place update, not a replacement', async () => {
    const inputs = inputsFor(SERVICE_URL);
    const created = await provider.create(inputs);
    const { endpointUrl: _u, status: _s, ...legacy } = created.outs!;
    expect(await provider.diff(created.id, { ...legacy, url: SERVICE_URL } as WebhookEndpointOutputs, inputs)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  });
});

/** A webhook receiver that records each delivery with the URL it was sent to. */
async function startReceiver() {
  const received: { path: string; body: string; signature: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['stripe-signature']) });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/webhooks/stripe`,
    received,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('an API version change replaces the endpoint create-before-delete', () => {
  test('the new endpoint exists before the old one is deleted, and at every step an enabled endpoint serves the URL', async () => {
    const receiver = await startReceiver();
    try {
      const v1 = inputsFor(receiver.url, { enabledEvents: ['customer.created'], apiVersion: OLD_VERSION });
      const v2 = { ...v1, apiVersion: SDK_API_VERSION };
      const old = await provider.create(v1);
      expect(await enabledEndpointsFor(receiver.url)).toHaveLength(1);

      // What Pulumi plans: replace, creating first.
      expect(await provider.diff(old.id, old.outs!, v2)).toEqual({ changes: true, replaces: ['apiVersion'], deleteBeforeReplace: false });
      const next = await provider.create(v2);
      const both = await enabledEndpointsFor(receiver.url);
      expect(both.map((e) => e.id).sort()).toEqual([old.id, next.id].sort());
      expect(next.outs!.endpointUrl).not.toBe(old.outs!.endpointUrl);
      expect(next.outs!.secret).not.toBe(old.outs!.secret);

      // While both exist each event reaches both, each copy verifiable only with its endpoint's secret:
      // old tasks accept the old endpoint's copy, new tasks the new one's; the service dedupes by event id.
      const customer = await stripe.customers.create({ email: 'both@example.test' });
      await sandbox.control.waitForDeliveries();
      expect(receiver.received).toHaveLength(2);
      for (const delivery of receiver.received) {
        const secret = delivery.path.includes(encodeURIComponent(OLD_VERSION)) ? old.outs!.secret : next.outs!.secret;
        const other = secret === old.outs!.secret ? next.outs!.secret : old.outs!.secret;
        expect(stripe.webhooks.constructEvent(delivery.body, delivery.signature, secret).data.object).toMatchObject({ id: customer.id });
        expect(() => stripe.webhooks.constructEvent(delivery.body, delivery.signature, other)).toThrow();
      }
      expect(new Set(receiver.received.map((d) => JSON.parse(d.body).id)).size).toBe(1);

      // Pulumi deletes the replaced endpoint last; the new one carries on alone.
      await provider.delete(old.id);
      expect((await enabledEndpointsFor(receiver.url)).map((e) => e.id)).toEqual([next.id]);
      receiver.received.length = 0;
      await stripe.customers.create({ email: 'after@example.test' });
      await sandbox.control.waitForDeliveries();
      expect(receiver.received.map((d) => d.path)).toEqual([new URL(next.outs!.endpointUrl).pathname + new URL(next.outs!.endpointUrl).search]);
    } finally {
      await receiver.close();
    }
  });

  test('an adopted endpoint is replaced on a version change, not adopted again', async () => {
    const existing = await stripe.webhookEndpoints.create({ url: SERVICE_URL, enabled_events: ['invoice.paid'], api_version: OLD_VERSION as never });
    const adoptInputs = inputsFor(SERVICE_URL, { apiVersion: OLD_VERSION, adoptEndpointId: existing.id, adoptedSecret: existing.secret });
    const adopted = await provider.create(adoptInputs);
    expect(adopted).toMatchObject({ id: existing.id, outs: { secret: existing.secret, status: 'enabled' } });

    const replacement = await provider.create({ ...adoptInputs, apiVersion: SDK_API_VERSION });
    expect(replacement.id).not.toBe(existing.id);
    expect(replacement.outs!.secret).not.toBe(existing.secret);
    expect((await enabledEndpointsFor(SERVICE_URL)).map((e) => e.id).sort()).toEqual([existing.id, replacement.id].sort());
  });

  test('a second endpoint on the same URL and version that the state does not know (a lost state) is refused', async () => {
    const inputs = inputsFor(SERVICE_URL);
    const first = await provider.create(inputs);
    await expect(provider.create(inputs)).rejects.toThrow(new RegExp(`already exists \\(${first.id}\\)`));
  });
});

describe("Stripe's limits", () => {
  test('stops before a 17th endpoint (Stripe allows 16 per account), saying a replacement needs a free slot', async () => {
    for (let i = 0; i < 16; i++) await stripe.webhookEndpoints.create({ url: `https://other${i}.example.test/hook`, enabled_events: ['invoice.paid'] });
    await expect(provider.create(inputsFor(SERVICE_URL))).rejects.toThrow(/16 webhook endpoints per account and this account has 16[\s\S]*free slot/);
    expect((await stripe.webhookEndpoints.list({ limit: 100 })).data).toHaveLength(16);
  });

  test('check refuses event lists Stripe would refuse, and a malformed API version, before calling Stripe', async () => {
    const failures = async (overrides: Partial<WebhookEndpointInputs>) =>
      ((await provider.check(inputsFor(SERVICE_URL), inputsFor(SERVICE_URL, overrides))).failures ?? []).map((f) => `${f.property}: ${f.reason}`);
    expect(await failures({})).toEqual([]);
    expect(await failures({ enabledEvents: [] })).toEqual(['enabledEvents: must list at least one event type']);
    expect(await failures({ enabledEvents: ['invoice.paid', 'invoice.paid'] })).toEqual(['enabledEvents: invoice.paid is listed twice']);
    expect(await failures({ enabledEvents: ['Invoice Paid'] })).toEqual([`enabledEvents: "Invoice Paid" is not an event type (type.action, or '*')`]);
    expect(await failures({ enabledEvents: ['*', 'invoice.paid'] })).toEqual([`enabledEvents: '*' already enables every event: list it alone or not at all`]);
    expect(await failures({ apiVersion: 'latest' })).toEqual(['apiVersion: must be a Stripe API version (YYYY-MM-DD or YYYY-MM-DD.release)']);
    expect(await failures({ url: `${SERVICE_URL}?api_version=x` })).toEqual(['url: must not carry api_version: the provider adds it']);
  });
});
