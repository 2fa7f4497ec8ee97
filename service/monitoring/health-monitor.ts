import type { Clock } from '../shared/clock';
import { type Database, pingDatabase } from '../shared/db';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { AlertDispatcher } from './alerts/dispatcher';
import { computePaymentHealth, HEALTH_THRESHOLDS, type PaymentHealth, rateReport, type RateReport } from './health';
import type { UnrecordedWebhookFailures } from './unrecorded-failures';

/** How long the health check waits for the database to answer a ping before calling it unavailable. */
const DATABASE_PROBE_MS = 3_000;

export interface HealthEvaluatorOptions {
  db: Database;
  clock: Clock;
  alerts: AlertDispatcher;
  logger: Logger;
  windowMs: number;
  minSample: number;
  /** Webhook failures the inbox could not record; merged into the durable figures. */
  unrecorded?: UnrecordedWebhookFailures;
}

/** What this process alone knows (not in the database). */
export interface InProcessHealth {
  /** Webhook failures within the window that the inbox could not record (already in `window.webhookFailure`). */
  unrecordedWebhookFailures: number;
  /** The same since this process started. */
  unrecordedWebhookFailuresSinceStart: number;
}

export type EvaluatedHealth = PaymentHealth & { database: 'available'; inProcess: InProcessHealth };

/** The report while the database does not answer: only what this process counted, and why. */
export interface DatabaseDownHealth {
  status: 'critical';
  checkedAt: string;
  database: 'unavailable';
  /** Lifetime figures live in the database: unknown while it is down. */
  metrics: null;
  window: { durationMs: number; from: string; minSample: number; webhookFailure: RateReport };
  inProcess: InProcessHealth;
  reasons: string[];
}

export type HealthReport = EvaluatedHealth | DatabaseDownHealth;

/**
 * Computes health and raises the state alerts it implies. Used by GET /api/payments/health and by
 * the background timer each instance runs (the alert throttle keeps N instances to one alert).
 */
export class HealthEvaluator {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly options: HealthEvaluatorOptions) {}

  /**
   * Durable figures from the database, merged with the webhook failures only this process knows.
   * When the database does not answer, a `critical` report of what this process counted, never an
   * error: that is when on-call most needs the answer.
   */
  async evaluate(): Promise<HealthReport> {
    const { db, clock, windowMs, minSample, unrecorded } = this.options;
    const now = clock.now();
    const from = new Date(now.getTime() - windowMs);
    const inProcess: InProcessHealth = { unrecordedWebhookFailures: unrecorded?.since(from) ?? 0, unrecordedWebhookFailuresSinceStart: unrecorded?.total ?? 0 };
    let health: PaymentHealth;
    try {
      health = await computePaymentHealth(db, { now, windowMs, minSample, unrecordedWebhookFailures: inProcess.unrecordedWebhookFailures });
    } catch (error) {
      // A database that answers a ping is not down: the check itself is broken (a 500, not this).
      if (await databaseAnswers(db)) throw error;
      const down = databaseDownReport({ now, from, windowMs, minSample, inProcess, error });
      this.options.alerts.raise('status_critical', {
        count: inProcess.unrecordedWebhookFailures,
        message: `Payment health is critical: ${down.reasons.join('; ')}.`,
        details: { database: 'unavailable', webhookFailure: down.window.webhookFailure },
      });
      return down;
    }
    this.alertOn(health);
    return { ...health, database: 'available', inProcess };
  }

  /** Background evaluation every `intervalMs` (unref'd: it never keeps a stopping process alive). */
  start(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.evaluate()
        .catch((error: unknown) => this.options.logger.warn('background health check failed', { error: errorMessage(error) }))
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private alertOn(health: PaymentHealth): void {
    const { alerts } = this.options;
    if (health.status === 'critical') {
      const { paymentFailure, webhookFailure } = health.window;
      const failures = (paymentFailure.status === 'critical' ? paymentFailure.failed : 0) + (webhookFailure.status === 'critical' ? webhookFailure.failed : 0);
      alerts.raise('status_critical', {
        count: failures,
        message: `Payment health is critical: ${health.reasons.join('; ')}.`,
        details: { paymentFailure, webhookFailure },
      });
    }
    // Only once the service has ever heard from Stripe: a fresh deployment is quiet, not broken.
    if (!health.hasRecentActivity && health.metrics.lastWebhookAt !== null) {
      const hours = Math.floor((Date.parse(health.checkedAt) - Date.parse(health.metrics.lastWebhookAt)) / 3_600_000);
      alerts.raise('no_recent_activity', {
        count: hours,
        message: `No Stripe webhook event has arrived for ${hours} hours (last at ${health.metrics.lastWebhookAt}). Check the endpoint's status in the Stripe dashboard.`,
        details: { lastWebhookAt: health.metrics.lastWebhookAt },
      });
    }
  }
}

function databaseDownReport(input: { now: Date; from: Date; windowMs: number; minSample: number; inProcess: InProcessHealth; error: unknown }): DatabaseDownHealth {
  const failed = input.inProcess.unrecordedWebhookFailures;
  // Every one of these failed: the rate is 100 % of what could be counted, whatever the sample.
  const webhookFailure = { ...rateReport(failed, failed, HEALTH_THRESHOLDS.webhookFailure, 0), sampleTooSmall: failed < input.minSample };
  const minutes = Math.round(input.windowMs / 60_000);
  return {
    status: 'critical',
    checkedAt: input.now.toISOString(),
    database: 'unavailable',
    metrics: null,
    window: { durationMs: input.windowMs, from: input.from.toISOString(), minSample: input.minSample, webhookFailure },
    inProcess: input.inProcess,
    reasons: [
      `the database is unavailable${codeOf(input.error)}`,
      `${failed} webhook deliver${failed === 1 ? 'y' : 'ies'} failed on this instance in the last ${minutes} min and could not be recorded`,
    ],
  };
}

/** The error's code (57P01, ECONNREFUSED), never its message: hosts and addresses stay in the log. */
function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? ` (${code})` : '';
}

/** Whether the database answers a trivial query within a few seconds. */
async function databaseAnswers(db: Database): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), DATABASE_PROBE_MS);
  });
  try {
    return await Promise.race([pingDatabase(db).then(() => true, () => false), bound]);
  } finally {
    clearTimeout(timer);
  }
}
