import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Stripe from 'stripe';
import { PREMIUM_PRICES, WEBHOOK_EVENTS, WEBHOOK_PATH } from '../../service/shared/catalog';
import { SDK_API_VERSION } from '../../service/shared/stripe-client';
import type { OpsTarget } from '../../scripts/lib/ops-env';
import type { ReportRow } from '../../scripts/lib/report';
import { main, parseValidateArgs, validateStripe } from '../../scripts/stripe-validate';
import type { TestService } from '../support/service';
import { startWebhookService } from '../service/webhooks/support';

/**
 * stripe:validate against the sandbox and a running service: a correct setup passes every row,
 * and each seeded misconfiguration fails its own row and only that row (the fix it names is the
 * one to apply). The misconfigurations are made in the sandbox and the service the way an operator
 * or a bad deploy would make them, and undone after each case.
 */
jest.setTimeout(300_000);

let svc: TestService;
let admin: string;
let fake: Server;
let fakeUrl: string;
beforeAll(async () => {
  svc = await startWebhookService();
  admin = await svc.tokenFor({ id: 'ops_validate', admin: true });
  // A URL that answers GET with 200 (a catch-all web server in front of the service, say) and
  // refuses an unsigned POST with 400, as the service would.
  fake = createServer((req, res) => {
    res.statusCode = req.method === 'GET' ? 200 : 400;
    res.end();
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}${WEBHOOK_PATH}`;
});
afterAll(async () => {
  await new Promise((resolve) => fake?.close(resolve));
  await svc?.close();
});

const target = (over: Partial<OpsTarget> = {}): OpsTarget => ({
  env: 'local',
  serviceUrl: svc.url,
  webhookUrl: `${svc.url}${WEBHOOK_PATH}`,
  stripe: { secretKey: 'sk_test_validate', apiBase: svc.sandbox.url },
  auth: svc.config.auth,
  ...over,
});
const validate = (t: OpsTarget = target()) => validateStripe(t, { stripe: svc.stripe, fetch }, 'test');
const failed = (rows: ReportRow[]) => rows.filter((r) => !r.ok).map((r) => r.name);
const serviceEndpoint = async () => (await svc.stripe.webhookEndpoints.list({ limit: 100 })).data.find((e) => e.url === `${svc.url}${WEBHOOK_PATH}`)!;

test('a correct setup passes every row', async () => {
  const rows = await validate();
  expect(failed(rows)).toEqual([]);
  expect(rows.map((r) => r.name)).toEqual([
    'key mode',
    'account',
    'product',
    'price monthly',
    'price yearly',
    'webhook URL GET',
    'webhook URL unsigned POST',
    'endpoint count',
    'endpoint status',
    'endpoint events',
    'endpoint API version',
    'service ready',
    'maintenance',
    'webhook processing',
  ]);
  expect(rows.find((r) => r.name === 'price monthly')?.found).toMatch(/EUR 4\.00\/month, active$/);
  expect(rows.find((r) => r.name === 'price yearly')?.found).toMatch(/EUR 30\.00\/year, active$/);
});

async function otherPrice(params: Partial<Stripe.PriceCreateParams>): Promise<Stripe.Price> {
  const monthly = await svc.stripe.prices.retrieve(svc.config.stripe.prices.monthly);
  return svc.stripe.prices.create({ product: monthly.product as string, currency: 'eur', unit_amount: 400, recurring: { interval: 'month' }, ...params });
}

/** Each case: make one thing wrong, expect exactly its row to fail, undo it. */
const CASES: Array<[string, string, () => Promise<{ target?: OpsTarget; undo?: () => Promise<unknown> }>]> = [
  [
    'a price with the wrong amount',
    'price monthly',
    async () => {
      const wrong = await otherPrice({ unit_amount: 500 });
      return { target: target({ stripe: { ...target().stripe, prices: { monthly: wrong.id, yearly: svc.config.stripe.prices.yearly } } }) };
    },
  ],
  [
    'an archived price',
    'price yearly',
    async () => {
      const archived = await otherPrice({ unit_amount: PREMIUM_PRICES.yearly.unitAmount, recurring: { interval: 'year' }, lookup_key: 'upiik_premium_yearly_old' });
      await svc.stripe.prices.update(archived.id, { active: false, lookup_key: PREMIUM_PRICES.yearly.lookupKey, transfer_lookup_key: true });
      const undo = () => svc.stripe.prices.update(svc.config.stripe.prices.yearly, { lookup_key: PREMIUM_PRICES.yearly.lookupKey, transfer_lookup_key: true });
      return { target: target({ stripe: { ...target().stripe, prices: { monthly: svc.config.stripe.prices.monthly, yearly: archived.id } } }), undo };
    },
  ],
  [
    'an event missing from the endpoint',
    'endpoint events',
    async () => {
      const endpoint = await serviceEndpoint();
      await svc.stripe.webhookEndpoints.update(endpoint.id, { enabled_events: WEBHOOK_EVENTS.filter((e) => e !== 'charge.refunded') as Stripe.WebhookEndpointUpdateParams.EnabledEvent[] });
      return { undo: () => svc.stripe.webhookEndpoints.update(endpoint.id, { enabled_events: [...WEBHOOK_EVENTS] }) };
    },
  ],
  [
    'a second endpoint for the URL',
    'endpoint count',
    async () => {
      const extra = await svc.stripe.webhookEndpoints.create({ url: `${svc.url}${WEBHOOK_PATH}?api_version=${SDK_API_VERSION}`, enabled_events: [...WEBHOOK_EVENTS], api_version: SDK_API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion });
      return { undo: () => svc.stripe.webhookEndpoints.del(extra.id) };
    },
  ],
  [
    'a disabled endpoint',
    'endpoint status',
    async () => {
      const endpoint = await serviceEndpoint();
      await svc.stripe.webhookEndpoints.update(endpoint.id, { disabled: true });
      return { undo: () => svc.stripe.webhookEndpoints.update(endpoint.id, { disabled: false }) };
    },
  ],
  [
    'a webhook URL that answers 200 to GET',
    'webhook URL GET',
    async () => {
      const endpoint = await svc.stripe.webhookEndpoints.create({ url: fakeUrl, enabled_events: [...WEBHOOK_EVENTS], api_version: SDK_API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion });
      return { target: target({ webhookUrl: fakeUrl }), undo: () => svc.stripe.webhookEndpoints.del(endpoint.id) };
    },
  ],
  [
    'the service in maintenance',
    'maintenance',
    async () => {
      const on = await fetch(`${svc.url}/api/admin/payments/maintenance`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'validate test' }) });
      expect(on.status).toBe(200);
      return { undo: () => fetch(`${svc.url}/api/admin/payments/maintenance`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } }) };
    },
  ],
  ['a test key in production', 'key mode', async () => ({ target: target({ env: 'production' }) })],
  [
    // Last: the endpoint is replaced, so the service's signing secret no longer matches it.
    'an endpoint on another API version',
    'endpoint API version',
    async () => {
      const endpoint = await serviceEndpoint();
      await svc.stripe.webhookEndpoints.del(endpoint.id);
      await svc.stripe.webhookEndpoints.create({ url: endpoint.url, enabled_events: [...WEBHOOK_EVENTS], api_version: '2025-01-27.acacia' as Stripe.WebhookEndpointCreateParams.ApiVersion });
      return {};
    },
  ],
];

test.each(CASES)('%s fails the %s row, and only it', async (_what, rowName, make) => {
  const { target: t, undo } = await make();
  try {
    const rows = await validate(t);
    expect(failed(rows)).toEqual([rowName]);
    const row = rows.find((r) => r.name === rowName)!;
    expect(row.fix).toEqual(expect.any(String));
    expect(row.fix!.length).toBeGreaterThan(10);
  } finally {
    await undo?.();
  }
});

describe('the command', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'upiik-validate-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    let stdout = '';
    let stderr = '';
    const localEnv = {
      PORT: new URL(svc.url).port,
      SANDBOX_PORT: new URL(svc.sandbox.url).port,
      STRIPE_SECRET_KEY: 'sk_test_validate_cmd',
      AUTH_JWT_SECRET: svc.config.auth.secret,
      ...env,
    };
    const code = await main(argv, localEnv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), opsEnv: { localEnvFile: join(dir, 'none.env') } });
    return { code, stdout, stderr };
  };

  test('--env local --json: exit 1 with the failing row (the endpoint replaced above), the rest ok, no secret printed', async () => {
    const { code, stdout, stderr } = await run(['--env', 'local', '--json']);
    expect(stderr).toBe('');
    const report = JSON.parse(stdout) as { ok: boolean; rows: ReportRow[] };
    expect(report.ok).toBe(false);
    expect(failed(report.rows)).toEqual(['endpoint API version']);
    expect(code).toBe(1);
    expect(stdout).not.toContain(svc.config.auth.secret);
    expect(stdout).not.toContain('sk_test_validate_cmd');
  });

  test('a table for people; in GitHub Actions also a job summary and an ::error annotation per failed row', async () => {
    const summary = join(dir, 'summary.md');
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    // @actions/core reads the summary file's name from the process environment; the runner creates the file.
    writeFileSync(summary, '');
    process.env.GITHUB_STEP_SUMMARY = summary;
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run(['--env', 'local'], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary, GITHUB_RUN_ID: '987' });
    } finally {
      spy.mockRestore();
      delete process.env.GITHUB_STEP_SUMMARY;
    }
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAILED +endpoint API version +2025-01-27\.acacia \(service /m);
    expect(result.stdout).toMatch(/^ok +price monthly +price_\w+ EUR 4\.00\/month, active$/m);
    expect(result.stdout).toContain('1 of 14 failed');
    expect(written.join('')).toMatch(/^::error title=stripe%3Avalidate --env local%3A endpoint API version::2025-01-27\.acacia \(service [^)]+\)\. Fix: /m);
    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('<h3>stripe:validate --env local</h3>');
    expect(md).toContain('❌ failed');
  });

  test('a wrong invocation is exit 2 with the usage', async () => {
    expect(() => parseValidateArgs(['--env', 'prod'])).toThrow('--env must be one of local, staging, production');
    const { code, stderr } = await run(['--env', 'prod']);
    expect(code).toBe(2);
    expect(stderr).toContain('usage: npm run stripe:validate');
    expect((await run([])).code).toBe(2);
    expect((await run(['--env', 'local', '--verbose'])).code).toBe(2);
  });
});
