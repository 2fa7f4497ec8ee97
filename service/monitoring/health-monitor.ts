import type { Clock } from '../shared/clock';
import type { Database } from '../shared/db';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { AlertDispatcher } from './alerts/dispatcher';
import { computePaymentHealth, type PaymentHealth } from './health';

export interface HealthEvaluatorOptions {
  db: Database;
  clock: Clock;
  alerts: AlertDispatcher;
  logger: Logger;
  windowMs: number;
  minSample: number;
}

/**
 * Computes health and raises the state alerts it implies. Used by GET /api/payments/health and by
 * the background timer each instance runs (the alert throttle keeps N instances to one alert).
 */
export class HealthEvaluator {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly options: HealthEvaluatorOptions) {}

  async evaluate(): Promise<PaymentHealth> {
    const { db, clock, windowMs, minSample } = this.options;
    const health = await computePaymentHealth(db, { now: clock.now(), windowMs, minSample });
    this.alertOn(health);
    return health;
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
