import type { Writable } from 'node:stream';
import { readMaintenance } from '../maintenance';
import type { Clock } from '../shared/clock';
import type { Config } from '../shared/config';
import type { Database } from '../shared/db';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logger';
import { FailoverStore, type Store } from '../shared/store';
import { AlertDispatcher } from './alerts/dispatcher';
import { FileAlertSink, LogAlertSink } from './alerts/sinks';
import { SnsAlertSink } from './alerts/sns-sink';
import type { AlertSink } from './alerts/types';
import { EmfWriter } from './emf';
import { HealthEvaluator } from './health-monitor';
import { PaymentMetrics } from './metrics';
import { MonitoringObserver } from './observer';
import { UnrecordedWebhookFailures } from './unrecorded-failures';

export interface MonitoringOptions {
  config: Config;
  logger: Logger;
  db: Database;
  store: Store;
  clock: Clock;
  /** Default: from configuration (createAlertSinks). */
  alertSinks?: AlertSink[];
  /** EMF lines; default stdout. */
  emfStream?: Writable;
  /** Pause before retrying a failed alert delivery (tests shorten it). */
  alertRetryDelayMs?: number;
  /** Process metrics are global to the process; tests running many apps may turn them off. */
  processMetrics?: boolean;
}

/** Everything monitoring owns for one app instance. */
export interface Monitoring {
  metrics: PaymentMetrics;
  emf: EmfWriter;
  alerts: AlertDispatcher;
  health: HealthEvaluator;
  observer: MonitoringObserver;
  /** Stops background work and waits for in-flight alerts. */
  close(): Promise<void>;
}

/**
 * Alert sinks by configuration: SNS in AWS (ALERT_SNS_TOPIC_ARN), a local file for `npm start`
 * (ALERT_FILE), and always the log so every alert is also in CloudWatch Logs.
 */
export function createAlertSinks(config: Config, logger: Logger): AlertSink[] {
  const sinks: AlertSink[] = [new LogAlertSink(logger)];
  if (config.monitoring.snsTopicArn) sinks.push(new SnsAlertSink({ topicArn: config.monitoring.snsTopicArn }));
  if (config.monitoring.alertFile) sinks.push(new FileAlertSink(config.monitoring.alertFile));
  return sinks;
}

export function createMonitoring(options: MonitoringOptions): Monitoring {
  const { config, logger, store, clock, db } = options;
  const metrics = new PaymentMetrics({
    readMaintenance: async () => (await readMaintenance(store, clock.now())).maintenance,
    onCollectError: (error) => logger.warn('metrics: maintenance flag unreadable at scrape', { error: errorMessage(error) }),
    processMetrics: options.processMetrics,
  });
  const emf = new EmfWriter({ environment: config.env, version: config.version, clock, stream: options.emfStream ?? process.stdout });
  // Alert throttling keeps working in this process while Redis is down (per-instance windows then).
  const alertStore = new FailoverStore(store, (failing, detail) =>
    failing ? logger.warn('alerts: shared store unavailable, throttling per instance', { error: detail }) : logger.info('alerts: shared store answers again'),
  );
  const alerts = new AlertDispatcher({
    sinks: options.alertSinks ?? createAlertSinks(config, logger),
    store: alertStore,
    logger,
    clock,
    environment: config.env,
    enabled: config.monitoring.enabled,
    windowMs: config.monitoring.alertWindowMs,
    coalesceMs: config.monitoring.alertCoalesceMs,
    retryDelayMs: options.alertRetryDelayMs,
    onResult: (type, result) => metrics.alerts.inc({ type, result }),
  });
  const unrecorded = new UnrecordedWebhookFailures(config.monitoring.healthWindowMs);
  const health = new HealthEvaluator({
    db,
    clock,
    alerts,
    logger,
    windowMs: config.monitoring.healthWindowMs,
    minSample: config.monitoring.healthMinSample,
    unrecorded,
  });
  return {
    metrics,
    emf,
    alerts,
    health,
    observer: new MonitoringObserver(metrics, emf, alerts, { failures: unrecorded, now: () => clock.now() }),
    close: async () => {
      await health.stop();
      await alerts.close();
      await alertStore.close();
    },
  };
}
