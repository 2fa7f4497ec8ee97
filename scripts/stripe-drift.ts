/**
 * stripe:drift: does the Stripe account still match what the repository declares and what the
 * Pulumi stack last applied? Read-only; the nightly pipeline runs it.
 *
 *   npm run stripe:drift -- --env local|staging|production [--json]
 *
 * Compares the Premium product (name, active), both prices (amount, currency, interval, lookup
 * key, active; in AWS also that the lookup keys still name the prices the stack applied), and the
 * webhook endpoint (one for the service's URL, enabled, exactly the service's events, the service's
 * API version; in AWS the one the stack manages) with service/shared/catalog.ts. Prints one line
 * per difference: what, declared, actual.
 *
 * Touches: reads the Stripe account (the sandbox for --env local); staging and production read the
 * stack outputs and Secrets Manager (scripts/lib/ops-env.ts). Changes nothing: `pulumi up` repairs
 * drift (`npm run stripe:webhooks -- --apply` for the endpoint when Pulumi cannot run).
 * Exit codes: 0 no drift; 1 drift found (or the account could not be read); 2 wrong invocation.
 */
import type Stripe from 'stripe';
import { PREMIUM_PRICES, PREMIUM_PRODUCT } from '../service/shared/catalog';
import { SDK_API_VERSION } from '../service/shared/stripe-client';
import { serviceUrlOf } from '../infra/stripe/webhook-endpoint-rules';
import { parseFlags, runScript, type ScriptIo, UsageError } from './lib/cli';
import { type OpsEnvDeps, type OpsEnvName, type OpsTarget, parseOpsEnv, resolveOpsTarget, stripeFor } from './lib/ops-env';
import { declaredEndpoint, planEndpoint } from './stripe-webhooks';

export { UsageError };

const USAGE = 'usage: npm run stripe:drift -- --env local|staging|production [--json]';

export interface DriftArgs {
  env: OpsEnvName;
  json: boolean;
}

export function parseDriftArgs(argv: string[]): DriftArgs {
  const values = parseFlags(argv, { env: { type: 'string' }, json: { type: 'boolean', default: false } });
  return { env: parseOpsEnv(values.env), json: values.json };
}

/** One difference between the declaration (or the stack's last apply) and the account. */
export interface Drift {
  what: string;
  declared: string;
  actual: string;
}

const idOf = (value: string | { id: string } | null): string | null => (value === null ? null : typeof value === 'string' ? value : value.id);

export async function findDrift(target: OpsTarget, stripe: Stripe): Promise<Drift[]> {
  const drift: Drift[] = [];
  const differs = (what: string, declared: unknown, actual: unknown) => {
    if (declared !== actual) drift.push({ what, declared: String(declared), actual: String(actual) });
  };

  const byLookup = new Map((await stripe.prices.list({ lookup_keys: [PREMIUM_PRICES.monthly.lookupKey, PREMIUM_PRICES.yearly.lookupKey], limit: 10 })).data.map((p) => [p.lookup_key, p]));
  const productIds = new Set<string>();
  for (const plan of ['monthly', 'yearly'] as const) {
    const want = PREMIUM_PRICES[plan];
    const applied = target.stripe.prices?.[plan];
    const price = applied ? await stripe.prices.retrieve(applied) : byLookup.get(want.lookupKey);
    if (!price) {
      drift.push({ what: `price ${plan}`, declared: `${want.lookupKey}: ${want.currency} ${want.unitAmount}/${want.interval}`, actual: 'missing' });
      continue;
    }
    const owner = idOf(price.product);
    if (owner) productIds.add(owner);
    differs(`price ${plan} active`, true, price.active);
    differs(`price ${plan} amount`, want.unitAmount, price.unit_amount);
    differs(`price ${plan} currency`, want.currency, price.currency);
    differs(`price ${plan} interval`, want.interval, price.recurring?.interval ?? 'none');
    differs(`price ${plan} lookup key`, want.lookupKey, price.lookup_key ?? 'none');
    // The stack's price must still be the one the lookup key names (checkout finds prices by id, people by key).
    if (applied) differs(`price ${plan} named by ${want.lookupKey}`, applied, byLookup.get(want.lookupKey)?.id ?? 'no price');
  }
  if (productIds.size > 1) drift.push({ what: 'product', declared: 'one product for both prices', actual: [...productIds].join(', ') });
  for (const productId of productIds) {
    const product = await stripe.products.retrieve(productId);
    differs(`product ${productId} name`, PREMIUM_PRODUCT.name, product.name);
    differs(`product ${productId} active`, true, product.active);
  }

  const endpoints: Stripe.WebhookEndpoint[] = [];
  for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) endpoints.push(endpoint);
  const declared = declaredEndpoint(target);
  const plan = planEndpoint(endpoints, declared, target.stripe.endpointId);
  const url = serviceUrlOf(declared.url);
  for (const change of plan.changes) {
    if (change.kind === 'create') drift.push({ what: 'webhook endpoint', declared: `one for ${url}`, actual: 'none' });
    else {
      if (change.enable) drift.push({ what: `webhook endpoint ${change.endpointId} status`, declared: 'enabled', actual: 'disabled' });
      if (change.events?.add.length) drift.push({ what: `webhook endpoint ${change.endpointId} events`, declared: `includes ${change.events.add.join(', ')}`, actual: 'missing' });
      if (change.events?.remove.length) drift.push({ what: `webhook endpoint ${change.endpointId} events`, declared: 'not listed', actual: `also ${change.events.remove.join(', ')}` });
    }
  }
  const mine = endpoints.filter((e) => serviceUrlOf(e.url) === url);
  if (mine.length > 1) drift.push({ what: 'webhook endpoints', declared: `one for ${url}`, actual: `${mine.length}: ${mine.map((e) => e.id).join(', ')}` });
  const serving = mine.find((e) => e.id === plan.endpointId);
  if (serving) differs(`webhook endpoint ${serving.id} API version`, SDK_API_VERSION, serving.api_version ?? 'account default');
  if (target.stripe.endpointId && plan.endpointId !== target.stripe.endpointId) {
    drift.push({ what: 'webhook endpoint the stack manages', declared: target.stripe.endpointId, actual: plan.endpointId ?? 'none for the URL' });
  }
  return drift;
}

export interface DriftConnection {
  target: OpsTarget;
  stripe: Stripe;
  close(): Promise<void>;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<DriftConnection> & { opsEnv?: Omit<OpsEnvDeps, 'env'> } = {}): Promise<number> {
  let parsed: DriftArgs | undefined;
  return runScript<DriftArgs, DriftConnection>({
    name: 'stripe:drift',
    usage: USAGE,
    argv,
    env,
    io,
    parse: (a) => (parsed = parseDriftArgs(a)),
    connect: async () => {
      const target = await resolveOpsTarget(parsed!.env, { env, ...io.opsEnv });
      const stripe = stripeFor(target, 1);
      return { target, stripe, close: async () => undefined };
    },
    run: async (args, connection, out) => {
      const drift = await findDrift(connection.target, connection.stripe);
      if (args.json) out(`${JSON.stringify({ env: args.env, drift }, null, 2)}\n`);
      else if (drift.length === 0) out(`stripe:drift --env ${args.env}: no drift (catalog and webhook endpoint as declared)\n`);
      else {
        const lines = drift.map((d) => `  ${d.what}\n    - declared: ${d.declared}\n    + actual:   ${d.actual}`);
        out(`stripe:drift --env ${args.env}: ${drift.length} difference(s)\n\n${lines.join('\n')}\n\n  repair: \`pulumi up --stack ${args.env}\` (the endpoint alone, when Pulumi cannot run: npm run stripe:webhooks -- --env ${args.env} --apply)\n`);
      }
      if (env.GITHUB_ACTIONS === 'true' && drift.length > 0) {
        const core = await import('@actions/core');
        for (const d of drift) core.error(`declared ${d.declared}, actual ${d.actual}`, { title: `stripe drift (${args.env}): ${d.what}` });
      }
      return drift.length === 0 ? 0 : 1;
    },
  });
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
