import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import type Stripe from 'stripe';
import { buildApp } from './app';
import { connectDependencies } from './dependencies';
import { type Clock, systemClock } from './shared/clock';
import type { Config } from './shared/config';
import type { DatabaseHandle } from './shared/db';
import { errorMessage } from './shared/errors';
import type { Logger } from './shared/logger';
import type { Store } from './shared/store';
import { noopObserver, type PaymentObserver } from './shared/observer';
import { drainPendingEvents, haltDrains, startDrainSweep } from './webhooks';
import { type AlertSink, createMonitoring, fanOutObserver } from './monitoring';

export interface RunningService {
  url: string;
  port: number;
  server: Server;
  database: DatabaseHandle;
  store: Store;
  stripe: Stripe;
  /** Graceful stop: refuse new connections, finish in-flight requests, then close the pool and Redis. */
  stop(): Promise<void>;
}

export interface StartServiceOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** Listen address; default all interfaces (the container), tests pass 127.0.0.1. */
  host?: string;
  observer?: PaymentObserver;
  /** Alert destinations; default from configuration (log, plus SNS and/or a local file). */
  alertSinks?: AlertSink[];
  /** Where EMF metric lines go; default stdout (the container's log driver ships them). */
  emfStream?: Writable;
}

/**
 * Wires real dependencies from configuration and listens. Shared by `npm run serve` (main.ts) and
 * `npm start` (scripts/start-local.ts) so both start the service the same way.
 */
/** How often each instance looks for acknowledged events whose retry time has come. */
const WEBHOOK_SWEEP_MS = 5_000;

export async function startService(options: StartServiceOptions): Promise<RunningService> {
  const { config, logger } = options;
  const { database, store, stripe, close: closeDependencies } = await connectDependencies(config, logger);
  const clock = options.clock ?? systemClock;
  const monitoring = createMonitoring({ config, logger, db: database.db, store, clock, alertSinks: options.alertSinks, emfStream: options.emfStream });
  if (config.isDeployed && config.monitoring.enabled && !config.monitoring.snsTopicArn) {
    logger.warn('ALERT_SNS_TOPIC_ARN is unset: alerts go to the log only');
  }
  if (!config.monitoring.enabled) logger.warn('STRIPE_MONITORING_ENABLED=false: alerts are off (metrics stay on)');
  const app = buildApp({ config, logger, db: database.db, store, stripe, clock, observer: options.observer ?? noopObserver, monitoring });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, options.host ?? '0.0.0.0', () => resolve(s));
    s.once('error', reject);
  });
  // Longer than the ALB idle timeout (60 s), so the ALB never reuses a socket we just closed.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const port = (server.address() as AddressInfo).port;
  monitoring.health.start(config.monitoring.healthCheckIntervalMs);
  // Events stored while processing was paused (or left pending by a crash) are applied in Stripe
  // order; in the background, so a long backlog never delays readiness.
  const observer = options.observer ? fanOutObserver([monitoring.observer, options.observer]) : monitoring.observer;
  const webhookDeps = { db: database.db, stripe, store, config, logger, observer };
  void drainPendingEvents(webhookDeps).catch((err: unknown) => logger.error('draining pending webhooks at startup failed', { error: errorMessage(err) }));
  // Then every few seconds: the retries of events the service acknowledged itself fall due.
  const sweep = startDrainSweep(webhookDeps, WEBHOOK_SWEEP_MS);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await new Promise<void>((resolve) => {
        // Keep-alive sockets (the ALB keeps many) would hold close() open until they time out:
        // close each one as soon as its in-flight request has been answered.
        const sweep = setInterval(() => server.closeIdleConnections(), 100);
        server.close((err) => {
          clearInterval(sweep);
          if (err) logger.warn('server close reported an error', { error: errorMessage(err) });
          resolve();
        });
        server.closeIdleConnections();
      });
      sweep.stop();
      // A drain ends after the events it is applying; the rest stays pending for the other
      // instances' sweeps (or this service's next start).
      await haltDrains(store);
      // In-flight alerts finish before the store they throttle through closes.
      await monitoring.close().catch(() => undefined);
      await closeDependencies();
    })());

  return { url: `http://127.0.0.1:${port}`, port, server, database, store, stripe, stop };
}
