import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../sandbox';
import { WEBHOOK_EVENTS, WEBHOOK_PATH } from '../../service/shared/catalog';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';
import { main, parseWebhooksArgs, planEndpoint } from '../../scripts/stripe-webhooks';

/**
 * stripe:webhooks against the sandbox: plan changes nothing, apply makes the account match the
 * declaration and a second apply changes nothing, a created endpoint's secret goes to a 0600 file
 * and never to the output, and it never creates a second endpoint for the URL.
 */
jest.setTimeout(120_000);

const PORT = '3999';
const URL_ = `http://127.0.0.1:${PORT}${WEBHOOK_PATH}`;
let sandbox: RunningSandbox;
let stripe: Stripe;
let dir: string;
beforeAll(async () => {
  sandbox = await startSandbox({ port: 0 });
  stripe = createStripeClient({ secretKey: 'sk_test_webhooks', apiVersion: SDK_API_VERSION, apiBase: sandbox.url });
  dir = mkdtempSync(join(tmpdir(), 'upiik-webhooks-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await sandbox?.close();
});
afterEach(async () => {
  for (const e of (await stripe.webhookEndpoints.list({ limit: 100 })).data) await stripe.webhookEndpoints.del(e.id);
});

const secretFile = () => join(dir, 'secret');
async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const env = { PORT, SANDBOX_PORT: new URL(sandbox.url).port, STRIPE_SECRET_KEY: 'sk_test_webhooks', AUTH_JWT_SECRET: 'webhooks-test-jwt-secret-0123456789-0123' };
  const code = await main(argv, env, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), opsEnv: { localEnvFile: join(dir, 'none.env') } });
  return { code, stdout, stderr };
}
const endpoints = async () => (await stripe.webhookEndpoints.list({ limit: 100 })).data.filter((e) => e.url === URL_);

test('with no endpoint: plan says create and changes nothing; apply creates it, the secret only in a 0600 file; apply again changes nothing', async () => {
  const plan = await run('--env', 'local', '--secret-file', secretFile());
  expect(plan).toMatchObject({ code: 0, stderr: '' });
  expect(plan.stdout).toContain(`would create an endpoint for ${URL_} (${WEBHOOK_EVENTS.length} events, API ${SDK_API_VERSION})`);
  expect(await endpoints()).toEqual([]);

  const apply = await run('--env', 'local', '--apply', '--secret-file', secretFile());
  expect(apply).toMatchObject({ code: 0, stderr: '' });
  const [created] = await endpoints();
  expect(created).toMatchObject({ status: 'enabled', api_version: SDK_API_VERSION, metadata: { created_by: 'stripe:webhooks' } });
  expect([...created!.enabled_events].sort()).toEqual([...WEBHOOK_EVENTS].sort());
  expect(apply.stdout).toContain(`created ${created!.id}; its signing secret is in ${secretFile()} (mode 0600)`);
  const secret = readFileSync(secretFile(), 'utf8').trim();
  expect(secret).toMatch(/^whsec_/);
  expect(statSync(secretFile()).mode & 0o777).toBe(0o600);
  expect(apply.stdout + apply.stderr).not.toContain(secret);

  const again = await run('--env', 'local', '--apply', '--json', '--secret-file', secretFile());
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout)).toMatchObject({ mode: 'apply', endpointId: created!.id, changes: [], applied: [], problems: [] });
  expect(await endpoints()).toHaveLength(1);
  expect(readFileSync(secretFile(), 'utf8').trim()).toBe(secret);
});

test('a disabled endpoint missing an event with an extra one: plan names each change, apply makes it match, again nothing', async () => {
  const endpoint = await stripe.webhookEndpoints.create({ url: URL_, enabled_events: [...WEBHOOK_EVENTS.filter((e) => e !== 'refund.failed'), 'customer.created'], api_version: SDK_API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion });
  await stripe.webhookEndpoints.update(endpoint.id, { disabled: true });
  const plan = await run('--env', 'local', '--json');
  expect(JSON.parse(plan.stdout)).toMatchObject({ mode: 'plan', endpointId: endpoint.id, changes: [{ kind: 'update', endpointId: endpoint.id, enable: true, events: { add: ['refund.failed'], remove: ['customer.created'] } }], inSync: false });
  expect((await stripe.webhookEndpoints.retrieve(endpoint.id)).status).toBe('disabled');

  const apply = await run('--env', 'local', '--apply');
  expect(apply.code).toBe(0);
  expect(apply.stdout).toContain(`updated enable ${endpoint.id}; ${endpoint.id} events: +refund.failed -customer.created`);
  const after = await stripe.webhookEndpoints.retrieve(endpoint.id);
  expect(after.status).toBe('enabled');
  expect([...after.enabled_events].sort()).toEqual([...WEBHOOK_EVENTS].sort());
  expect((await run('--env', 'local', '--apply')).stdout).toContain(`in sync: ${endpoint.id} matches the declaration`);
});

test('two endpoints for the URL: never a third; the extra is named for a person (exit 1)', async () => {
  const a = await stripe.webhookEndpoints.create({ url: URL_, enabled_events: [...WEBHOOK_EVENTS], api_version: SDK_API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion });
  const b = await stripe.webhookEndpoints.create({ url: URL_, enabled_events: ['charge.refunded'], api_version: SDK_API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion });
  const apply = await run('--env', 'local', '--apply', '--secret-file', secretFile());
  expect(apply.code).toBe(1);
  expect(apply.stdout).toContain(`needs a person: 1 more endpoint(s) for ${URL_}: ${b.id}`);
  expect((await endpoints()).map((e) => e.id).sort()).toEqual([a.id, b.id].sort());
  // The one already right is the one reconciled; the extra is left as it was for the person.
  expect((await stripe.webhookEndpoints.retrieve(b.id)).enabled_events).toEqual(['charge.refunded']);
});

test('planEndpoint: a version Stripe cannot change is a problem, not a change; the managed endpoint is the one reconciled', () => {
  const declared = { url: `https://pay.example/api/webhooks/stripe?api_version=${SDK_API_VERSION}`, events: [...WEBHOOK_EVENTS] as string[], apiVersion: SDK_API_VERSION, description: 'x' };
  const old = { id: 'we_old', url: 'https://pay.example/api/webhooks/stripe?api_version=2025-01-27.acacia', status: 'enabled', enabled_events: [...WEBHOOK_EVENTS], api_version: '2025-01-27.acacia', created: 1_700_000_000 };
  expect(planEndpoint([old], declared)).toEqual({ endpointId: 'we_old', changes: [], problems: [expect.stringContaining('Stripe cannot change an endpoint\'s version; `pulumi up` replaces it')] });
  const managed = { ...old, id: 'we_managed', api_version: SDK_API_VERSION, status: 'disabled' };
  const plan = planEndpoint([old, managed], declared, 'we_managed');
  expect(plan.endpointId).toBe('we_managed');
  expect(plan.changes).toEqual([{ kind: 'update', endpointId: 'we_managed', enable: true }]);
  expect(plan.problems).toEqual([expect.stringContaining('1 more endpoint(s) for https://pay.example/api/webhooks/stripe: we_old')]);
  expect(planEndpoint([{ ...old, url: 'https://other.example/hook' }], declared).changes).toEqual([{ kind: 'create', url: declared.url, events: declared.events, apiVersion: SDK_API_VERSION }]);
});

test('wrong invocations and production without confirmation are exit 2 and touch nothing', async () => {
  expect(() => parseWebhooksArgs(['--env', 'staging', '--secret-file', '/tmp/x'])).toThrow('--secret-file is for --env local');
  expect(() => parseWebhooksArgs(['--env', 'local', '--yes'])).toThrow('--yes confirms --apply');
  const refused = await run('--env', 'production', '--apply');
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('changing the production webhook endpoint needs --yes');
  expect((await run('--env', 'local', '--bogus')).code).toBe(2);
});
