import express, { type Express } from 'express';
import type Stripe from 'stripe';
import { adminRouter } from './admin';
import { CheckoutService, checkoutRouter } from './checkout';
import { healthRouter } from './health';
import { errorHandler, notFoundHandler, requestContextMiddleware, requestLogMiddleware } from './http';
import type { Clock } from './shared/clock';
import type { Config } from './shared/config';
import type { Database } from './shared/db';
import type { Logger } from './shared/logger';
import type { PaymentObserver } from './shared/observer';
import type { Store } from './shared/store';

/** Everything the app talks to, passed in so tests and the local stack wire real or embedded parts alike. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Database;
  store: Store;
  stripe: Stripe;
  clock: Clock;
  /** Metrics/alerts hooks; the monitoring capability provides the real one. */
  observer: PaymentObserver;
}

/** JSON bodies of user routes are small; the webhook route keeps its own raw-body parser and cap. */
const JSON_BODY_LIMIT = '16kb';

/** Builds the Express app; `main.ts` (or a test) decides where it listens. */
export function buildApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Exactly one hop: the ALB. Client addresses come from its X-Forwarded-For, nothing further left.
  app.set('trust proxy', 1);

  app.use(requestContextMiddleware());
  app.use(requestLogMiddleware(deps.logger));

  app.use('/health', healthRouter({ db: deps.db, store: deps.store, logger: deps.logger }));

  // JSON is parsed per router, never globally: the Stripe webhook route must see the raw bytes.
  const json = express.json({ limit: JSON_BODY_LIMIT, strict: true });
  const checkout = new CheckoutService(deps);
  app.use('/api/payments', json, checkoutRouter({ checkout, store: deps.store, clock: deps.clock, auth: deps.config.auth }));

  app.use('/api/admin/payments', json, adminRouter({ db: deps.db, stripe: deps.stripe, auth: deps.config.auth }));

  app.use(notFoundHandler());
  app.use(errorHandler({ logger: deps.logger, exposeStack: deps.config.env === 'development' }));
  return app;
}
