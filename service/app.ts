import express, { type Express } from 'express';
import type Stripe from 'stripe';
import { adminRouter } from './admin';
import { CheckoutService, checkoutRouter } from './checkout';
import { consoleRouter } from './console/router';
import { healthRouter } from './health';
import { errorHandler, jsonBody, notFoundHandler, requestContextMiddleware, requestLogMiddleware } from './http';
import { maintenanceRouter } from './maintenance';
import { createMonitoring, fanOutObserver, metricsRouter, type Monitoring, paymentHealthRouter } from './monitoring';
import { opsRouter } from './ops';
import { corsAllowList, createRateLimiter, securityHeaders } from './security';
import type { Clock } from './shared/clock';
import type { Config } from './shared/config';
import type { Database } from './shared/db';
import { WEBHOOK_PATH } from './shared/catalog';
import type { Logger } from './shared/logger';
import { noopObserver, type PaymentObserver } from './shared/observer';
import type { Store } from './shared/store';
import { webhookHandlers } from './webhooks';

/** Everything the app talks to, passed in so tests and the local stack wire real or embedded parts alike. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Database;
  store: Store;
  stripe: Stripe;
  clock: Clock;
  /**
   * Extra payment hooks (e.g. a test's recorder). buildApp always adds the monitoring observer, so
   * routes read `deps.observer` after buildApp has rebound it to the combination.
   */
  observer: PaymentObserver;
  /** Metrics, EMF, alerts and health; built from config (log/file/SNS sinks) when absent. */
  monitoring?: Monitoring;
}

/** JSON bodies of user routes are small; the webhook route keeps its own raw-body parser and cap. */
const JSON_BODY_LIMIT = '16kb';

/** Builds the Express app; `main.ts` (or a test) decides where it listens. */
export function buildApp(appDeps: AppDeps): Express {
  const monitoring = appDeps.monitoring ?? createMonitoring(appDeps);
  const extra = appDeps.observer === noopObserver || appDeps.observer === monitoring.observer ? [] : [appDeps.observer];
  // From here on every flow (checkout, webhooks) reports through monitoring, plus any extra observer.
  const deps: AppDeps & { monitoring: Monitoring } = {
    ...appDeps,
    monitoring,
    observer: extra.length === 0 ? monitoring.observer : fanOutObserver([monitoring.observer, ...extra]),
  };
  const { config } = deps;

  const app = express();
  app.disable('x-powered-by');
  // Exactly one hop: the ALB. Client addresses come from its X-Forwarded-For, nothing further left.
  app.set('trust proxy', 1);

  // Stripe's webhook route first, on an edge of its own (issue 15): request id and log context,
  // request log, latency metric and security headers as every route has them, but not the CORS
  // check (Stripe calls server to server; no browser may read it) nor the walk through the other
  // routes' layers: routes of the app itself, not a router mounted under the path (one layer
  // fewer to walk on every delivery). Raw body and its own size cap inside; never behind a JSON
  // parser or a limiter (Stripe's retries must never see a 429). Its errors reach the error
  // handler at the end.
  const requestContext = requestContextMiddleware();
  const requestLog = requestLogMiddleware(deps.logger);
  const requestDuration = monitoring.metrics.requestDurationMiddleware();
  const headers = securityHeaders();
  const webhook = webhookHandlers(deps);
  app.post(WEBHOOK_PATH, requestContext, requestLog, requestDuration, headers, ...webhook.post);
  app.all(WEBHOOK_PATH, requestContext, requestLog, requestDuration, headers, webhook.otherMethods);

  app.use(requestContext);
  app.use(requestLog);
  app.use(requestDuration);
  app.use(headers);
  app.use(corsAllowList(config.http.corsAllowedOrigins));

  app.use('/health', healthRouter({ db: deps.db, store: deps.store, logger: deps.logger }));
  // Never rate-limited; kept off the public internet (see metricsRouter).
  app.use(metricsRouter({ metrics: monitoring.metrics, token: config.monitoring.metricsToken }));

  // Limiters are built once, here, and shared by every request (Redis-backed across instances).
  // The Stripe webhook route, mounted above, is behind neither.
  const onRejected = (limiter: string) => monitoring.metrics.rateLimitRejections.inc({ limiter });
  const limiterDeps = { store: deps.store, auth: config.auth, logger: deps.logger, onRejected };
  const paymentsLimiter = createRateLimiter({ name: 'payments', ...config.rateLimit, ...limiterDeps });
  const adminLimiter = createRateLimiter({ name: 'admin', ...config.adminRateLimit, ...limiterDeps });
  app.post(['/api/payments/checkout-session', '/api/payments/portal-session'], paymentsLimiter.middleware);
  app.use(['/api/admin', '/admin'], adminLimiter.middleware);

  // JSON is parsed per router, never globally: the Stripe webhook route must see the raw bytes.
  // A body in another media type is a 415, never silently read as "no body".
  const json = jsonBody({ limit: JSON_BODY_LIMIT });
  const checkout = new CheckoutService(deps);
  app.use('/api/payments', paymentHealthRouter({ health: monitoring.health, logger: deps.logger }));
  app.use('/api/payments', json, checkoutRouter({ checkout, store: deps.store, clock: deps.clock, auth: deps.config.auth }));
  app.use('/api/admin/payments', json, maintenanceRouter({ db: deps.db, store: deps.store, clock: deps.clock, auth: config.auth, logger: deps.logger }));

  // Pause, resume, rollback markers and the ops status: what the rollback and restore commands drive.
  app.use('/api/admin/payments', json, opsRouter({ ...deps, alerts: monitoring.alerts }));
  app.use('/api/admin/payments', json, adminRouter({ db: deps.db, stripe: deps.stripe, auth: deps.config.auth, config: deps.config, clock: deps.clock }));

  // The web console (static files; it calls the admin API above with the admin's own token).
  app.use('/admin', consoleRouter());

  app.use(notFoundHandler());
  // Stack traces reach clients only in local development; never in test, staging or production.
  app.use(errorHandler({ logger: deps.logger, exposeStack: config.env === 'development' }));
  return app;
}
