/**
 * stripe:validate: is this environment's Stripe side and service ready to take payments? Read-only.
 *
 *   npm run stripe:validate -- --env local|staging|production [--json] [--who <name>]
 *
 * One row per check, each with what was found and, when it failed, the fix: the key's mode (live
 * in production only); the account (reachable; production: charges enabled); the Premium product
 * and both prices (active, EUR 4/month and EUR 30/year, their lookup keys; in AWS the ids the stack
 * applied); the webhook URL (GET answers 405, an unsigned POST 400); exactly one Stripe endpoint
 * for that URL, enabled, subscribed to exactly the service's events, on the service's API version;
 * the service ready (`/health/ready` 200), not in maintenance, webhook processing not paused.
 *
 * Touches: reads the Stripe account (the sandbox for --env local), GETs the service's health and
 * `GET /api/admin/payments/ops` with a 5-minute admin token it signs (`ops:<who>`), and POSTs one
 * unsigned, empty event to the webhook URL (which the service refuses with 400 and never stores).
 * Changes nothing. --env staging|production read the stack outputs and Secrets Manager
 * (scripts/lib/ops-env.ts).
 * Exit codes: 0 every check ok; 1 a check failed (or the checks could not run); 2 wrong invocation.
 */
import type Stripe from 'stripe';
import { PREMIUM_PRICES, PREMIUM_PRODUCT, WEBHOOK_EVENTS } from '../service/shared/catalog';
import { SDK_API_VERSION } from '../service/shared/stripe-client';
import { sameEvents, servingEndpoint, serviceUrlOf } from '../infra/stripe/webhook-endpoint-rules';
import { parseFlags, runScript, type ScriptIo, UsageError } from './lib/cli';
import { type OpsEnvDeps, type OpsEnvName, opsToken, type OpsTarget, parseOpsEnv, parseWho, resolveOpsTarget, stripeFor } from './lib/ops-env';
import { printReport, type ReportRow } from './lib/report';

export { UsageError };

const USAGE = 'usage: npm run stripe:validate -- --env local|staging|production [--json] [--who <name, default $USER or the CI run>]';

export interface ValidateArgs {
  env: OpsEnvName;
  json: boolean;
  who: string;
}

export function parseValidateArgs(argv: string[], env: NodeJS.ProcessEnv = {}): ValidateArgs {
  const values = parseFlags(argv, { env: { type: 'string' }, json: { type: 'boolean', default: false }, who: { type: 'string' } });
  const who = parseWho(values.who, env);
  return { env: parseOpsEnv(values.env), json: values.json, who };
}

export interface ValidateClients {
  stripe: Stripe;
  fetch: typeof fetch;
}

const keyMode = (key: string): 'live' | 'test' | 'unknown' => (/^(sk|rk)_live_/.test(key) ? 'live' : /^(sk|rk)_test_/.test(key) ? 'test' : 'unknown');
const idOf = (value: string | { id: string } | null): string | null => (value === null ? null : typeof value === 'string' ? value : value.id);
const failure = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Every check, each its own row: one misconfiguration fails its row and only that row. */
export async function validateStripe(target: OpsTarget, clients: ValidateClients, who: string): Promise<ReportRow[]> {
  const rows: ReportRow[] = [];
  const { stripe } = clients;
  const row = (name: string, ok: boolean, found: string, fix: string) => rows.push({ name, ok, found, ...(ok ? {} : { fix }) });
  const production = target.env === 'production';

  // The key's mode, from its prefix (never printed).
  const mode = keyMode(target.stripe.secretKey);
  const wantedMode = production ? 'live' : 'test';
  row('key mode', mode === wantedMode, `${mode} key`, production ? 'production takes a live key (sk_live_ or rk_live_): put it in the stack\'s Stripe secret' : `${target.env} takes a test key (sk_test_ or rk_test_), never a live one`);

  try {
    const account = await stripe.accounts.retrieveCurrent();
    const charges = account.charges_enabled === true;
    row('account', !production || charges, `${account.id}, charges ${charges ? 'enabled' : 'not enabled'}`, 'finish the account\'s activation in the Stripe Dashboard (charges_enabled is false)');
  } catch (error) {
    row('account', false, `unreachable: ${failure(error)}`, 'check the secret key and that this machine reaches the Stripe API');
  }

  await checkCatalog(target, stripe, row);
  await checkWebhookUrl(target, clients.fetch, row);
  await checkEndpoint(target, stripe, row);
  await checkService(target, clients.fetch, who, row);
  return rows;
}

type Row = (name: string, ok: boolean, found: string, fix: string) => void;

async function checkCatalog(target: OpsTarget, stripe: Stripe, row: Row): Promise<void> {
  let prices: Stripe.Price[];
  try {
    const lookupKeys = [PREMIUM_PRICES.monthly.lookupKey, PREMIUM_PRICES.yearly.lookupKey];
    prices = target.stripe.prices
      ? await Promise.all([stripe.prices.retrieve(target.stripe.prices.monthly), stripe.prices.retrieve(target.stripe.prices.yearly)])
      : (await stripe.prices.list({ lookup_keys: lookupKeys, limit: 10 })).data;
  } catch (error) {
    row('product', false, `prices unreadable: ${failure(error)}`, 'check the key; in AWS, `pulumi up` declares the catalog');
    row('price monthly', false, 'not checked', 'see product');
    row('price yearly', false, 'not checked', 'see product');
    return;
  }
  const productIds = [...new Set(prices.map((p) => idOf(p.product)).filter((id): id is string => id !== null))];
  if (productIds.length !== 1) {
    row('product', false, productIds.length === 0 ? 'no Premium price found' : `prices belong to ${productIds.length} products: ${productIds.join(', ')}`, 'run `pulumi up` (AWS) or `npm start` (local): they declare the product and both prices');
  } else {
    try {
      const product = await stripe.products.retrieve(productIds[0]!);
      const problems = [!product.active && 'archived', product.name !== PREMIUM_PRODUCT.name && `named ${JSON.stringify(product.name)}`].filter(Boolean);
      row('product', problems.length === 0, `${product.id} ${JSON.stringify(product.name)}${problems.length ? `: ${problems.join(', ')}` : ', active'}`, `the product must be active and named ${JSON.stringify(PREMIUM_PRODUCT.name)}: run \`pulumi up\` to restore the declaration`);
    } catch (error) {
      row('product', false, `unreadable: ${failure(error)}`, 'run `pulumi up` to declare it');
    }
  }
  for (const plan of ['monthly', 'yearly'] as const) {
    const want = PREMIUM_PRICES[plan];
    const price = target.stripe.prices ? prices.find((p) => p.id === target.stripe.prices![plan]) : prices.find((p) => p.lookup_key === want.lookupKey);
    if (!price) {
      row(`price ${plan}`, false, `no price with lookup key ${want.lookupKey}`, 'run `pulumi up` (AWS) or `npm start` (local) to declare it');
      continue;
    }
    const problems = [
      !price.active && 'archived',
      price.unit_amount !== want.unitAmount && `amount ${price.unit_amount} (want ${want.unitAmount})`,
      price.currency !== want.currency && `currency ${price.currency} (want ${want.currency})`,
      price.recurring?.interval !== want.interval && `interval ${price.recurring?.interval ?? 'none'} (want ${want.interval})`,
      price.lookup_key !== want.lookupKey && `lookup key ${price.lookup_key ?? 'none'} (want ${want.lookupKey})`,
    ].filter(Boolean);
    row(
      `price ${plan}`,
      problems.length === 0,
      `${price.id} ${price.currency.toUpperCase()} ${((price.unit_amount ?? 0) / 100).toFixed(2)}/${price.recurring?.interval ?? '-'}${problems.length ? `: ${problems.join(', ')}` : ', active'}`,
      'prices are immutable in Stripe: `pulumi up` creates the declared price and moves the lookup key to it',
    );
  }
}

async function checkWebhookUrl(target: OpsTarget, fetchFn: typeof fetch, row: Row): Promise<void> {
  const url = serviceUrlOf(target.webhookUrl);
  try {
    const get = await fetchFn(url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    row('webhook URL GET', get.status === 405, `GET ${url} answered ${get.status}`, 'the URL must reach the payments service, which answers GET with 405: check DNS, the ALB listener rule and the path');
  } catch (error) {
    row('webhook URL GET', false, `GET ${url} failed: ${failure(error)}`, 'the webhook URL must be reachable from the internet (Stripe posts to it)');
  }
  try {
    const post = await fetchFn(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    row('webhook URL unsigned POST', post.status === 400, `unsigned POST answered ${post.status}`, 'an unsigned POST must be refused with 400: if it is accepted, signature verification is off; if it is 5xx, see the service logs');
  } catch (error) {
    row('webhook URL unsigned POST', false, `POST ${url} failed: ${failure(error)}`, 'the webhook URL must be reachable from the internet (Stripe posts to it)');
  }
}

async function checkEndpoint(target: OpsTarget, stripe: Stripe, row: Row): Promise<void> {
  let all: Stripe.WebhookEndpoint[];
  try {
    all = [];
    for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) all.push(endpoint);
  } catch (error) {
    for (const name of ['endpoint count', 'endpoint status', 'endpoint events', 'endpoint API version']) row(name, false, `endpoints unreadable: ${failure(error)}`, 'check the key');
    return;
  }
  const url = serviceUrlOf(target.webhookUrl);
  const mine = all.filter((e) => serviceUrlOf(e.url) === url);
  row('endpoint count', mine.length === 1, `${mine.length} endpoint(s) for ${url}${mine.length > 1 ? `: ${mine.map((e) => e.id).join(', ')}` : ''}`, mine.length === 0 ? 'run `pulumi up` (or `npm run stripe:webhooks -- --apply` when Pulumi cannot run) to create it' : 'delete the extra endpoints Pulumi does not manage (two endpoints deliver every event twice, and one of them with a secret the service does not have)');
  const endpoint = servingEndpoint(mine, { apiVersion: SDK_API_VERSION, events: WEBHOOK_EVENTS }, target.stripe.endpointId);
  if (!endpoint) {
    for (const name of ['endpoint status', 'endpoint events', 'endpoint API version']) row(name, false, 'no endpoint', 'see endpoint count');
    return;
  }
  row('endpoint status', endpoint.status === 'enabled', `${endpoint.id} ${endpoint.status}`, 'enable it (`npm run restore` if a rollback disabled it): Stripe does not resend events created while an endpoint is disabled, replay them with `npm run replay-events`');
  const missing = WEBHOOK_EVENTS.filter((e) => !endpoint.enabled_events.includes(e));
  const extra = endpoint.enabled_events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
  row(
    'endpoint events',
    sameEvents(endpoint.enabled_events, WEBHOOK_EVENTS),
    missing.length + extra.length === 0 ? `the service's ${WEBHOOK_EVENTS.length} events` : [missing.length && `missing ${missing.join(', ')}`, extra.length && `extra ${extra.join(', ')}`].filter(Boolean).join('; '),
    'run `pulumi up` (or `npm run stripe:webhooks -- --apply`): the endpoint subscribes to exactly service/shared/catalog.ts WEBHOOK_EVENTS',
  );
  row('endpoint API version', endpoint.api_version === SDK_API_VERSION, `${endpoint.api_version ?? 'account default'} (service ${SDK_API_VERSION})`, 'the endpoint must send events in the version the service parses: `pulumi up` replaces it with one on the service\'s version');
}

async function checkService(target: OpsTarget, fetchFn: typeof fetch, who: string, row: Row): Promise<void> {
  try {
    const ready = await fetchFn(`${target.serviceUrl}/health/ready`, { signal: AbortSignal.timeout(15_000) });
    row('service ready', ready.status === 200, `/health/ready answered ${ready.status}`, 'see runbooks/ (database or Redis unreachable is named in the answer and the logs)');
  } catch (error) {
    row('service ready', false, `unreachable: ${failure(error)}`, `check ${target.serviceUrl} is up`);
  }
  try {
    const token = await opsToken(target, who);
    const res = await fetchFn(`${target.serviceUrl}/api/admin/payments/ops`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
    if (res.status !== 200) throw new Error(`GET /api/admin/payments/ops answered ${res.status}`);
    const ops = (await res.json()) as { maintenance: { maintenance: boolean; reason?: string }; webhooks: { paused: boolean; reason?: string; pendingEvents: number } };
    row('maintenance', !ops.maintenance.maintenance, ops.maintenance.maintenance ? `on${ops.maintenance.reason ? `: ${ops.maintenance.reason}` : ''}` : 'off', 'finish the rollback (`npm run restore`) or switch it off: DELETE /api/admin/payments/maintenance');
    row('webhook processing', !ops.webhooks.paused, ops.webhooks.paused ? `paused${ops.webhooks.reason ? `: ${ops.webhooks.reason}` : ''}, ${ops.webhooks.pendingEvents} pending` : `running, ${ops.webhooks.pendingEvents} pending`, '`npm run restore` resumes and drains (or POST /api/admin/payments/webhooks/resume)');
  } catch (error) {
    row('maintenance', false, `unknown: ${failure(error)}`, 'check the service and its JWT secret');
    row('webhook processing', false, 'unknown (see maintenance)', 'check the service and its JWT secret');
  }
}

export interface ValidateConnection extends ValidateClients {
  target: OpsTarget;
  close(): Promise<void>;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<ValidateConnection> & { opsEnv?: Omit<OpsEnvDeps, 'env'> } = {}): Promise<number> {
  let parsed: ValidateArgs | undefined;
  return runScript<ValidateArgs, ValidateConnection>({
    name: 'stripe:validate',
    usage: USAGE,
    argv,
    env,
    io,
    parse: (a) => (parsed = parseValidateArgs(a, env)),
    connect: async () => {
      const target = await resolveOpsTarget(parsed!.env, { env, ...io.opsEnv });
      const stripe = stripeFor(target, 1);
      return { target, stripe, fetch, close: async () => undefined };
    },
    run: async (args, connection, out) => {
      const rows = await validateStripe(connection.target, connection, args.who);
      await printReport(rows, { title: `stripe:validate --env ${args.env}`, json: args.json, out, env });
      return rows.every((r) => r.ok) ? 0 : 1;
    },
  });
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
