import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../sandbox';
import { PREMIUM_PRICES, WEBHOOK_EVENTS, WEBHOOK_PATH } from '../../service/shared/catalog';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';
import type { OpsTarget } from '../../scripts/lib/ops-env';
import { findDrift, main } from '../../scripts/stripe-drift';
import { ensureCatalog, type SeededCatalog } from '../../scripts/lib/stripe-catalog';

/**
 * stripe:drift against the sandbox: the declared catalog and endpoint show no drift; each change an
 * operator could make in the Dashboard (an archived price, a moved lookup key, an event removed, a
 * second endpoint) is one line naming what, declared and actual, and exit 1. Read-only.
 */
jest.setTimeout(120_000);

const PORT = '3998';
const URL_ = `http://127.0.0.1:${PORT}${WEBHOOK_PATH}`;
let sandbox: RunningSandbox;
let stripe: Stripe;
let catalog: SeededCatalog;
let endpoint: Stripe.WebhookEndpoint;
let dir: string;
beforeAll(async () => {
  sandbox = await startSandbox({ port: 0 });
  stripe = createStripeClient({ secretKey: 'sk_test_drift', apiVersion: SDK_API_VERSION, apiBase: sandbox.url });
  catalog = await ensureCatalog(stripe);
  endpoint = await stripe.webhookEndpoints.create({ url: URL_, enabled_events: [...WEBHOOK_EVENTS], api_version: SDK_API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion });
  dir = mkdtempSync(join(tmpdir(), 'upiik-drift-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await sandbox?.close();
});

async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const env = { PORT, SANDBOX_PORT: new URL(sandbox.url).port, STRIPE_SECRET_KEY: 'sk_test_drift', AUTH_JWT_SECRET: 'drift-test-jwt-secret-0123456789-0123456' };
  const code = await main(argv, env, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), opsEnv: { localEnvFile: join(dir, 'none.env') } });
  return { code, stdout, stderr };
}

const local = (): OpsTarget => ({ env: 'local', serviceUrl: `http://127.0.0.1:${PORT}`, webhookUrl: URL_, stripe: { secretKey: 'sk_test_drift', apiBase: sandbox.url }, auth: { secret: 'x'.repeat(32), maxTokenLifetimeSeconds: { user: 60, admin: 60 } } });

test('as declared: no drift, exit 0', async () => {
  const { code, stdout, stderr } = await run('--env', 'local');
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  expect(stdout).toBe('stripe:drift --env local: no drift (catalog and webhook endpoint as declared)\n');
});

test('an event removed and a second endpoint: one line each, exit 1; nothing changed by looking', async () => {
  await stripe.webhookEndpoints.update(endpoint.id, { enabled_events: WEBHOOK_EVENTS.filter((e) => e !== 'charge.dispute.closed') as Stripe.WebhookEndpointUpdateParams.EnabledEvent[] });
  const extra = await stripe.webhookEndpoints.create({ url: URL_, enabled_events: ['charge.refunded'], api_version: SDK_API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion });
  try {
    const { code, stdout } = await run('--env', 'local', '--json');
    expect(code).toBe(1);
    expect(JSON.parse(stdout).drift).toEqual([
      { what: `webhook endpoint ${endpoint.id} events`, declared: 'includes charge.dispute.closed', actual: 'missing' },
      { what: 'webhook endpoints', declared: `one for ${URL_}`, actual: `2: ${[extra.id, endpoint.id].join(', ')}` },
    ]);
    expect((await stripe.webhookEndpoints.retrieve(endpoint.id)).enabled_events).not.toContain('charge.dispute.closed');
    const text = await run('--env', 'local');
    expect(text.stdout).toContain('2 difference(s)');
    expect(text.stdout).toContain(`  webhook endpoint ${endpoint.id} events\n    - declared: includes charge.dispute.closed\n    + actual:   missing`);
  } finally {
    await stripe.webhookEndpoints.del(extra.id);
    await stripe.webhookEndpoints.update(endpoint.id, { enabled_events: [...WEBHOOK_EVENTS] });
  }
});

test('what the stack applied: an archived price, and the lookup key moved to another price, are both drift', async () => {
  const applied = (): OpsTarget => ({ ...local(), stripe: { ...local().stripe, prices: catalog.prices, endpointId: endpoint.id } });
  expect(await findDrift(applied(), stripe)).toEqual([]);

  const product = (await stripe.prices.retrieve(catalog.prices.yearly)).product as string;
  const moved = await stripe.prices.create({ product, currency: 'eur', unit_amount: 3500, recurring: { interval: 'year' }, lookup_key: PREMIUM_PRICES.yearly.lookupKey, transfer_lookup_key: true });
  await stripe.prices.update(catalog.prices.yearly, { active: false });
  try {
    expect(await findDrift(applied(), stripe)).toEqual([
      { what: 'price yearly active', declared: 'true', actual: 'false' },
      { what: 'price yearly lookup key', declared: PREMIUM_PRICES.yearly.lookupKey, actual: 'none' },
      { what: `price yearly named by ${PREMIUM_PRICES.yearly.lookupKey}`, declared: catalog.prices.yearly, actual: moved.id },
    ]);
    // Without the stack's ids (local), the price the lookup key names is judged: its amount drifted.
    expect(await findDrift(local(), stripe)).toEqual([{ what: 'price yearly amount', declared: '3000', actual: '3500' }]);
  } finally {
    await stripe.prices.update(catalog.prices.yearly, { active: true, lookup_key: PREMIUM_PRICES.yearly.lookupKey, transfer_lookup_key: true });
    await stripe.prices.update(moved.id, { active: false });
  }
});

test('a wrong invocation is exit 2', async () => {
  expect((await run('--env', 'qa')).code).toBe(2);
  expect((await run('--env', 'local', '--apply')).code).toBe(2);
});
