import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../sandbox';
import { ensureCatalog, registerWebhookEndpoint } from '../../scripts/lib/stripe-catalog';
import { type AppDeps, buildApp } from '../../service/app';
import { issueToken } from '../../service/security';
import { type Clock, systemClock } from '../../service/shared/clock';
import type { Config } from '../../service/shared/config';
import { WEBHOOK_PATH } from '../../service/shared/catalog';
import { type AlertSink, CaptureAlertSink, createMonitoring, type EmfLine, type Monitoring } from '../../service/monitoring';
import { noopObserver, type PaymentObserver } from '../../service/shared/observer';
import type { Store } from '../../service/shared/store';
import { drainsSettled } from '../../service/webhooks';
import { createStripeClient } from '../../service/shared/stripe-client';
import { captureLines } from './capture';
import { testConfig } from './config';
import { createTestDatabase, type TestDatabase } from './database';
import { captureLogger, type CapturedLogger } from './logger';
import { createTestStore } from './store';

export interface TestUser {
  id: string;
  email?: string;
  city?: string;
  admin?: boolean;
}

export interface TestService {
  url: string;
  config: Config;
  deps: AppDeps;
  database: TestDatabase;
  store: Store;
  /** The service's own SDK client, pointed at the sandbox. */
  stripe: Stripe;
  sandbox: RunningSandbox;
  logs: CapturedLogger;
  webhookEndpointId: string;
  /** Metrics, EMF, alerts and health of this instance. */
  monitoring: Monitoring;
  /** Alerts this instance delivered (unless the suite passed its own sinks). */
  alerts: CaptureAlertSink;
  /** EMF lines this instance wrote, parsed. */
  emfLines(): EmfLine[];
  tokenFor(user: TestUser): Promise<string>;
  close(): Promise<void>;
}

export interface StartTestServiceOptions {
  /** Share one sandbox between services (e.g. two instances); started and owned here when absent. */
  sandbox?: RunningSandbox;
  database?: TestDatabase;
  store?: Store;
  env?: Record<string, string | undefined>;
  clock?: Clock;
  /** Where the service's own Stripe client points (default: the sandbox); e.g. a closed port for "Stripe down". */
  serviceStripeApiBase?: string;
  observer?: PaymentObserver;
  /** Alert destinations; default a CaptureAlertSink exposed as `alerts`. */
  alertSinks?: AlertSink[];
  /** Pause before the single alert retry (default 1 s in production). */
  alertRetryDelayMs?: number;
}

/**
 * The whole service on a real HTTP port with real parts: the Stripe sandbox (catalog seeded, webhook
 * endpoint registered at this service's URL), a fresh database (Postgres in CI, PGlite otherwise)
 * and the store (Redis in CI, in-process otherwise).
 */
export async function startTestService(options: StartTestServiceOptions = {}): Promise<TestService> {
  // What is started before a later step fails (a sandbox error while seeding, say) is stopped here:
  // a listening server or an open pool left behind keeps the jest worker from exiting.
  const started: Array<() => Promise<unknown>> = [];
  try {
    return await assemble(options, started);
  } catch (err) {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
    throw err;
  }
}

async function assemble(options: StartTestServiceOptions, started: Array<() => Promise<unknown>>): Promise<TestService> {
  const ownsSandbox = !options.sandbox;
  // A slow (loaded) service must not look like a failed delivery: that would add retries tests do not expect.
  const sandbox = options.sandbox ?? (await startSandbox({ port: 0, deliveryTimeoutMs: 60_000 }));
  if (ownsSandbox) started.push(() => sandbox.close());
  const ownsDatabase = !options.database;
  const database = options.database ?? (await createTestDatabase());
  if (ownsDatabase) started.push(() => database.close());
  const ownsStore = !options.store;
  const store = options.store ?? (await createTestStore());
  if (ownsStore) started.push(() => store.close());

  const server: Server = createServer();
  // As service/server.ts does: a client's pooled keep-alive socket is never closed under it by the
  // 5 s default while a suite spends longer than that between two requests (ECONNRESET).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  started.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const bootstrapConfig = testConfig({ STRIPE_API_BASE: sandbox.url, ...options.env });
  const admin = createStripeClient({ secretKey: bootstrapConfig.stripe.secretKey, apiVersion: bootstrapConfig.stripe.apiVersion, apiBase: sandbox.url });
  const catalog = await ensureCatalog(admin);
  const endpoint = await registerWebhookEndpoint(admin, `${url}${WEBHOOK_PATH}`, bootstrapConfig.stripe.apiVersion);
  const config = testConfig({
    STRIPE_API_BASE: sandbox.url,
    STRIPE_PRICE_MONTHLY: catalog.prices.monthly,
    STRIPE_PRICE_YEARLY: catalog.prices.yearly,
    STRIPE_WEBHOOK_SECRET: endpoint.secret,
    ...options.env,
  });
  const logs = captureLogger();
  const stripe = createStripeClient({ secretKey: config.stripe.secretKey, apiVersion: config.stripe.apiVersion, apiBase: options.serviceStripeApiBase ?? sandbox.url, maxNetworkRetries: 0 });
  const clock = options.clock ?? systemClock;
  const alerts = new CaptureAlertSink();
  const emf = captureLines<EmfLine>();
  const monitoring = createMonitoring({
    config,
    logger: logs.logger,
    db: database.db,
    store,
    clock,
    alertSinks: options.alertSinks ?? [alerts],
    emfStream: emf.stream,
    alertRetryDelayMs: options.alertRetryDelayMs ?? 50,
  });
  started.push(() => monitoring.close());
  const deps: AppDeps = { config, logger: logs.logger, db: database.db, store, stripe, clock, observer: options.observer ?? noopObserver, monitoring };
  server.on('request', buildApp(deps));
  // Events that needed the Stripe API are acknowledged first and applied by a drain right after:
  // "every delivery answered" also waits for those drains, so a suite reads the applied state.
  const waitForDeliveries = sandbox.control.waitForDeliveries.bind(sandbox.control);
  sandbox.control.waitForDeliveries = async (timeoutMs) => {
    await waitForDeliveries(timeoutMs);
    await drainsSettled(store);
  };

  return {
    url,
    config,
    deps,
    database,
    store,
    stripe,
    sandbox,
    logs,
    webhookEndpointId: endpoint.id,
    monitoring,
    alerts,
    emfLines: emf.lines,
    tokenFor: (user) => issueToken(config.auth, { userId: user.id, email: user.email, city: user.city, admin: user.admin }),
    close: async () => {
      await monitoring.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownsSandbox) await sandbox.close();
      if (ownsStore) await store.close();
      if (ownsDatabase) await database.close();
    },
  };
}
