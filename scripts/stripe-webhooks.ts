/**
 * stripe:webhooks: break-glass reconcile of the Stripe webhook endpoint, for when Pulumi cannot run
 * (runbooks/stripe-drift.md says when to use which). Pulumi stays the normal path.
 *
 *   npm run stripe:webhooks -- --env local|staging|production            plan (default): what would change
 *   npm run stripe:webhooks -- --env … --apply [--yes] [--secret-file <path>]
 *
 * Matches the declaration (service/shared/catalog.ts): one endpoint for the service's webhook URL,
 * enabled, subscribed to exactly the service's events, on the service's API version. Plans or
 * applies a create (none exists) or an update (events, enabled). Never creates a second endpoint
 * for the URL: with extras it reconciles the one the stack manages and names the rest for a person
 * to delete (exit 1). An endpoint's API version cannot change in Stripe: `pulumi up` replaces it.
 *
 * Touches: the Stripe account's webhook endpoints (--apply only). A created endpoint's signing
 * secret, which Stripe shows once, goes straight to the stack's STRIPE_WEBHOOK_SECRET secret in
 * Secrets Manager (then force a new deployment so the tasks read it) or, for --env local, to a 0600
 * file it names (default .data/stripe-webhook-secret.local); it is never printed.
 * --apply on production needs --yes or a confirmation typed at a terminal.
 * Exit codes: 0 in sync (plan: nothing a person must do); 1 something only a person can fix, or a
 * step failed; 2 wrong invocation or no confirmation.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type Stripe from 'stripe';
import { WEBHOOK_EVENTS } from '../service/shared/catalog';
import { SDK_API_VERSION } from '../service/shared/stripe-client';
import { registeredUrl, sameEvents, servingEndpoint, serviceUrlOf } from '../infra/stripe/webhook-endpoint-rules';
import { parseFlags, runAsEntry, runScript, type ScriptIo, UsageError } from './lib/cli';
import { type OpsEnvDeps, type OpsEnvName, type OpsTarget, parseOpsEnv, resolveOpsTarget, stripeFor } from './lib/ops-env';

export { UsageError };

const USAGE = 'usage: npm run stripe:webhooks -- --env local|staging|production [--apply [--yes] [--secret-file <path, --env local>]] [--json]';
export const DEFAULT_LOCAL_SECRET_FILE = join(__dirname, '..', '.data', 'stripe-webhook-secret.local');

export interface WebhooksArgs {
  env: OpsEnvName;
  apply: boolean;
  yes: boolean;
  json: boolean;
  secretFile?: string;
}

export function parseWebhooksArgs(argv: string[]): WebhooksArgs {
  const values = parseFlags(argv, {
    env: { type: 'string' },
    apply: { type: 'boolean', default: false },
    yes: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'secret-file': { type: 'string' },
  });
  const env = parseOpsEnv(values.env);
  if (values['secret-file'] !== undefined && env !== 'local') throw new UsageError('--secret-file is for --env local: staging and production keep the secret in Secrets Manager');
  if (values.yes && !values.apply) throw new UsageError('--yes confirms --apply; a plan changes nothing');
  return { env, apply: values.apply, yes: values.yes, json: values.json, ...(values['secret-file'] !== undefined ? { secretFile: values['secret-file'] } : {}) };
}

/** What the endpoint must be. AWS endpoints carry the API version in their URL (infra/stripe/webhook-endpoint-rules.ts); the local one does not. */
export function declaredEndpoint(target: OpsTarget) {
  return {
    url: target.env === 'local' ? target.webhookUrl : registeredUrl(target.webhookUrl, SDK_API_VERSION),
    events: [...WEBHOOK_EVENTS] as string[],
    apiVersion: SDK_API_VERSION,
    description: `Upiik payments service (${target.env})`,
  };
}

export type Change =
  | { kind: 'create'; url: string; events: string[]; apiVersion: string }
  | { kind: 'update'; endpointId: string; enable?: true; events?: { add: string[]; remove: string[] } };

export interface EndpointPlan {
  /** The endpoint reconciled (none before a create). */
  endpointId: string | null;
  changes: Change[];
  /** What only a person can fix: extra endpoints, a version Stripe cannot change. */
  problems: string[];
}

/** The changes that make the account match the declaration (pure: tests feed it endpoint lists). */
export function planEndpoint(existing: Pick<Stripe.WebhookEndpoint, 'id' | 'url' | 'status' | 'enabled_events' | 'api_version' | 'created'>[], declared: ReturnType<typeof declaredEndpoint>, managedId?: string): EndpointPlan {
  const url = serviceUrlOf(declared.url);
  const mine = existing.filter((e) => serviceUrlOf(e.url) === url);
  if (mine.length === 0) return { endpointId: null, changes: [{ kind: 'create', url: declared.url, events: declared.events, apiVersion: declared.apiVersion }], problems: [] };
  const endpoint = servingEndpoint(mine, declared, managedId)!;
  const problems: string[] = [];
  const extras = mine.filter((e) => e !== endpoint);
  if (extras.length > 0) problems.push(`${extras.length} more endpoint(s) for ${url}: ${extras.map((e) => e.id).join(', ')}. Delete them in the Stripe Dashboard (each delivers every event again, signed with a secret the service does not have)`);
  if (endpoint.api_version !== declared.apiVersion) problems.push(`${endpoint.id} is on API version ${endpoint.api_version ?? 'account default'}, the service parses ${declared.apiVersion}: Stripe cannot change an endpoint's version; \`pulumi up\` replaces it`);
  const update: Extract<Change, { kind: 'update' }> = { kind: 'update', endpointId: endpoint.id };
  if (endpoint.status !== 'enabled') update.enable = true;
  if (!sameEvents(endpoint.enabled_events, declared.events)) {
    update.events = { add: declared.events.filter((e) => !endpoint.enabled_events.includes(e)), remove: endpoint.enabled_events.filter((e) => !declared.events.includes(e)) };
  }
  return { endpointId: endpoint.id, changes: update.enable || update.events ? [update] : [], problems };
}

const describe = (change: Change): string =>
  change.kind === 'create'
    ? `create an endpoint for ${change.url} (${change.events.length} events, API ${change.apiVersion})`
    : [
        change.enable && `enable ${change.endpointId}`,
        change.events && `${change.endpointId} events: ${[change.events.add.length && `+${change.events.add.join(' +')}`, change.events.remove.length && `-${change.events.remove.join(' -')}`].filter(Boolean).join(' ')}`,
      ]
        .filter(Boolean)
        .join('; ');

export interface WebhooksConnection {
  target: OpsTarget;
  stripe: Stripe;
  /** Where a created endpoint's secret goes (never printed). Returns where it went, to name it. */
  storeSecret(secret: string): Promise<string>;
  close(): Promise<void>;
}

/** Plans and, with --apply, applies; returns the exit code. */
export async function reconcileWebhooks(args: WebhooksArgs, connection: WebhooksConnection, out: (s: string) => void): Promise<number> {
  const declared = declaredEndpoint(connection.target);
  const existing: Stripe.WebhookEndpoint[] = [];
  for await (const endpoint of connection.stripe.webhookEndpoints.list({ limit: 100 })) existing.push(endpoint);
  const plan = planEndpoint(existing, declared, connection.target.stripe.endpointId);
  const applied: string[] = [];
  if (args.apply) {
    for (const change of plan.changes) {
      if (change.kind === 'create') {
        const created = await connection.stripe.webhookEndpoints.create({
          url: change.url,
          enabled_events: change.events as Stripe.WebhookEndpointCreateParams.EnabledEvent[],
          api_version: change.apiVersion as Stripe.WebhookEndpointCreateParams.ApiVersion,
          description: declared.description,
          metadata: { created_by: 'stripe:webhooks' },
        });
        if (!created.secret) throw new Error(`Stripe created ${created.id} without a signing secret; delete it and run again`);
        const where = await connection.storeSecret(created.secret);
        plan.endpointId = created.id;
        applied.push(`created ${created.id}; its signing secret is in ${where}`);
      } else {
        await connection.stripe.webhookEndpoints.update(change.endpointId, {
          ...(change.enable ? { disabled: false } : {}),
          ...(change.events ? { enabled_events: declared.events as Stripe.WebhookEndpointUpdateParams.EnabledEvent[] } : {}),
        });
        applied.push(`updated ${describe(change)}`);
      }
    }
  }
  const inSync = args.apply || plan.changes.length === 0;
  if (args.json) {
    out(`${JSON.stringify({ env: args.env, mode: args.apply ? 'apply' : 'plan', endpointId: plan.endpointId, changes: plan.changes, applied, problems: plan.problems, inSync }, null, 2)}\n`);
  } else {
    const lines = [`stripe:webhooks --env ${args.env} (${args.apply ? 'apply' : 'plan'})`, ''];
    if (plan.changes.length === 0) lines.push(`  in sync: ${plan.endpointId} matches the declaration`);
    else if (args.apply) lines.push(...applied.map((a) => `  ${a}`));
    else lines.push(...plan.changes.map((c) => `  would ${describe(c)}`), '', '  run again with --apply to make these changes');
    for (const p of plan.problems) lines.push(`  needs a person: ${p}`);
    if (args.apply && plan.changes.some((c) => c.kind === 'create') && connection.target.env !== 'local') {
      lines.push('', '  next: force a new deployment so the tasks read the new secret, then give Pulumi the endpoint (runbooks/stripe-drift.md)');
    }
    out(`${lines.join('\n')}\n`);
  }
  return plan.problems.length > 0 ? 1 : 0;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ScriptIo<WebhooksConnection> & { opsEnv?: Omit<OpsEnvDeps, 'env'>; stdin?: NodeJS.ReadStream } = {}): Promise<number> {
  let parsed: WebhooksArgs | undefined;
  return runScript<WebhooksArgs, WebhooksConnection>({
    name: 'stripe:webhooks',
    usage: USAGE,
    argv,
    env,
    io,
    parse: (a) => {
      parsed = parseWebhooksArgs(a);
      return parsed;
    },
    // At a terminal, the entry below asks first and adds --yes when the answer is right.
    refuse: (args) => (args.apply && args.env === 'production' && !args.yes ? 'changing the production webhook endpoint needs --yes (or a confirmation typed at a terminal)' : undefined),
    connect: async () => {
      const target = await resolveOpsTarget(parsed!.env, { env, ...io.opsEnv });
      const stripe = stripeFor(target, 1);
      const storeSecret = async (secret: string): Promise<string> => {
        if (target.aws) {
          const client = io.opsEnv?.secretsManager?.(target.aws.region) ?? new SecretsManagerClient({ region: target.aws.region });
          await client.send(new PutSecretValueCommand({ SecretId: target.aws.opsSecretArns.stripeWebhookSecret, SecretString: secret }));
          return `Secrets Manager (${target.aws.opsSecretArns.stripeWebhookSecret})`;
        }
        const file = parsed!.secretFile ?? DEFAULT_LOCAL_SECRET_FILE;
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, `${secret}\n`, { mode: 0o600 });
        chmodSync(file, 0o600);
        return `${file} (mode 0600)`;
      };
      return { target, stripe, storeSecret, close: async () => undefined };
    },
    run: (args, connection, out) => reconcileWebhooks(args, connection, out),
  });
}

if (require.main === module) {
  runAsEntry(main, (argv) => {
    const args = parseWebhooksArgs(argv);
    return args.apply && args.env === 'production' && !args.yes ? 'This changes the production Stripe webhook endpoint.' : undefined;
  });
}
