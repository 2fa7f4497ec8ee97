/**
 * `npm start`: the whole local stack on embedded defaults, no network and no installs.
 * Starts the Stripe sandbox, seeds Upiik Premium (EUR 4/month, EUR 30/year) there, registers the
 * local webhook endpoint and wires its secret and the price ids into the service, then starts the
 * service on embedded PGlite (.data/pglite) and the in-process store (unless DATABASE_URL /
 * REDIS_URL are set). Touches only .data/ and local ports. Never for staging or production.
 *
 * `npm run seed-demo` (`npm start -- --demo`): the same stack on a fresh embedded database and
 * sandbox under .data/demo/ (wiped first), with the sandbox clock started 90 days ago and a
 * realistic population played through checkout and webhooks up to now (scripts/lib/demo.ts), so the
 * admin console at /admin has something to show. Refuses DATABASE_URL: it never writes a real server.
 *
 * Precedence: the sandbox wiring (STRIPE_API_BASE, STRIPE_WEBHOOK_SECRET) > environment variables >
 * values seeded here (price ids, PGlite directory) > env/local.env.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'dotenv';
import { startSandbox } from '../sandbox';
import { startService } from '../service/server';
import { WEBHOOK_PATH } from '../service/shared/catalog';
import { ConfigError, loadConfig } from '../service/shared/config';
import { createLogger } from '../service/shared/logger';
import { redactString } from '../service/shared/redact';
import { issueToken } from '../service/security';
import { createStripeClient } from '../service/shared/stripe-client';
import { parseFlags, UsageError } from './lib/cli';
import { seedDemo } from './lib/demo';
import { ensureCatalog, registerWebhookEndpoint } from './lib/stripe-catalog';

const ROOT = join(__dirname, '..');
const DATA_DIR = join(ROOT, '.data');

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

const DEMO_DAYS = 90;

async function main(): Promise<void> {
  const started = performance.now();
  let demo = false;
  try {
    demo = parseFlags(process.argv.slice(2), { demo: { type: 'boolean', default: false } }).demo;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\nusage: npm start [-- --demo]   (npm run seed-demo = npm start -- --demo)`);
    process.exit(2);
  }
  const fileEnv = parse(readFileSync(join(ROOT, 'env', 'local.env')));
  const shellEnv = definedOnly(process.env);
  const env: Record<string, string | undefined> = { ...fileEnv, ...shellEnv };
  if (env.NODE_ENV === 'production' || env.NODE_ENV === 'staging') {
    console.error(`npm start is the local stack only; NODE_ENV=${env.NODE_ENV} is refused. Use npm run serve.`);
    process.exit(1);
  }
  if (demo && env.DATABASE_URL) {
    console.error('--demo fills a fresh embedded database under .data/demo and never writes a real server: unset DATABASE_URL.');
    process.exit(1);
  }
  const dataDir = demo ? join(DATA_DIR, 'demo') : DATA_DIR;
  if (demo) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });

  const sandboxPort = Number(env.SANDBOX_PORT ?? 12111);
  // Persisted beside the PGlite directory: a local database that outlives a forgetful sandbox would
  // point at customers and subscriptions that no longer exist.
  const sandbox = await startSandbox({
    port: sandboxPort,
    persistPath: demo ? join(dataDir, 'sandbox-state.json') : (env.SANDBOX_STATE_FILE ?? join(DATA_DIR, 'sandbox-state.json')),
    ...(demo ? { clockStart: Math.floor(Date.now() / 1000) - DEMO_DAYS * 86_400 } : {}),
  });
  const port = Number(env.PORT ?? 3000);
  const apiVersion = env.STRIPE_API_VERSION ?? '';
  const admin = createStripeClient({ secretKey: env.STRIPE_SECRET_KEY ?? '', apiVersion, apiBase: sandbox.url });
  const catalog = await ensureCatalog(admin);
  const endpoint = await registerWebhookEndpoint(admin, `http://127.0.0.1:${port}${WEBHOOK_PATH}`, apiVersion);

  // Defaults the shell may override (seeded prices, where PGlite lives)…
  const seeded = {
    STRIPE_PRICE_MONTHLY: catalog.prices.monthly,
    STRIPE_PRICE_YEARLY: catalog.prices.yearly,
    PGLITE_DIR: env.DATABASE_URL ? undefined : demo ? join(dataDir, 'pglite') : resolve(ROOT, env.PGLITE_DIR ?? '.data/pglite'),
    // `npm run rollback -- --env local` backs up through the service (the one process that may open the embedded database).
    OPS_BACKUP_DIR: join(dataDir, 'backups'),
  };
  // …and the wiring to the sandbox just started, which nothing may override.
  const sandboxWiring = { STRIPE_API_BASE: sandbox.url, STRIPE_WEBHOOK_SECRET: endpoint.secret };
  let config;
  try {
    config = loadConfig({ ...fileEnv, ...seeded, ...shellEnv, ...sandboxWiring });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      await sandbox.close();
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, environment: config.env });
  const service = await startService({ config, logger, host: '127.0.0.1' });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);

  console.log(`
  Upiik payments — local stack ready in ${seconds}s

  service        ${service.url}          (health: ${service.url}/health/ready)
  Stripe sandbox ${sandbox.url}          (STRIPE_API_BASE; control API under /_sandbox)
  database       ${service.database.backend}${config.database.pgliteDir ? ` at ${config.database.pgliteDir}` : ''}
  store          ${service.store.backend}
  prices         monthly ${catalog.prices.monthly} (EUR 4) · yearly ${catalog.prices.yearly} (EUR 30)
  webhooks       ${endpoint.id} -> ${service.url}${WEBHOOK_PATH}

  Get a dev token and start a checkout:
    TOKEN=$(npm run -s token -- --user u_123 --email you@example.com)
    curl -s -X POST ${service.url}/api/payments/checkout-session \\
      -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"plan":"monthly"}'
  Admin token: npm run -s token -- --user ops_1 --admin
`);

  if (demo) {
    console.log(`  Seeding ${DEMO_DAYS} days of demo data through checkout and webhooks (a minute or two)…`);
    const summary = await seedDemo({
      serviceUrl: service.url,
      sandbox,
      stripe: admin,
      days: DEMO_DAYS,
      tokenFor: (user) => issueToken(config.auth, { userId: user.id, email: user.email, city: user.city }),
      progress: (line) => console.log(line),
    });
    console.log(`
  Demo ready: ${summary.users} users, ${summary.checkouts} subscriptions (${summary.monthly} monthly, ${summary.yearly} yearly),
  ${summary.decliningCards} declining cards, ${summary.refunds} refunds, ${summary.cancellations} cancellations, ${summary.disputes} disputes.
  Console: ${service.url}/admin  (sign in with: npm run -s token -- --user ops_1 --admin)
`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the local stack…`);
    await service.stop();
    await sandbox.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

if (!existsSync(join(ROOT, 'env', 'local.env'))) {
  console.error('env/local.env is missing; it ships with the repository. Restore it with git checkout env/local.env.');
  process.exit(1);
}
main().catch((err: unknown) => {
  // Printed past the logger: a dependency's error can quote a URL with its password.
  console.error('The local stack failed to start:', redactString(err instanceof Error ? err.message : String(err)));
  process.exit(1);
});
