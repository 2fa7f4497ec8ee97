import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { routeLabel } from '../http/route-label';

export { routeLabel };

/**
 * The Prometheus view of this process. Its own Registry (never prom-client's global one), so two
 * app instances in one process — tests, the local rehearsal — each expose only their own numbers.
 */
export interface PaymentMetricsOptions {
  /** Read on every scrape; throwing leaves the gauge at its last value. */
  readMaintenance?: () => Promise<boolean>;
  onCollectError?: (error: unknown) => void;
  /** Process metrics (CPU, memory, event loop, GC); on by default. */
  processMetrics?: boolean;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class PaymentMetrics {
  readonly registry = new Registry();
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly webhookEvents: Counter<'type' | 'outcome'>;
  readonly webhookDuration: Histogram<'type' | 'outcome'>;
  readonly webhookFailuresUnrecorded: Counter<'type'>;
  readonly payments: Counter<'outcome'>;
  readonly checkoutSessions: Counter<'plan'>;
  readonly rateLimitRejections: Counter<'limiter'>;
  readonly alerts: Counter<'type' | 'result'>;
  readonly maintenance: Gauge;

  constructor(options: PaymentMetricsOptions = {}) {
    const registers = [this.registry];
    this.httpRequestDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route template and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.webhookEvents = new Counter({
      name: 'payments_webhook_events_total',
      help: 'Stripe webhook events handled, by event type and outcome',
      labelNames: ['type', 'outcome'],
      registers,
    });
    this.webhookDuration = new Histogram({
      name: 'payments_webhook_processing_duration_seconds',
      help: 'Time to verify, record and apply one Stripe webhook event',
      labelNames: ['type', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.webhookFailuresUnrecorded = new Counter({
      name: 'payments_webhook_failures_unrecorded_total',
      help: 'Webhook deliveries that failed and could not be recorded in the inbox either (the database was unavailable)',
      labelNames: ['type'],
      registers,
    });
    this.payments = new Counter({
      name: 'payments_total',
      help: 'Payment outcomes recorded (succeeded, failed, refunded, disputed)',
      labelNames: ['outcome'],
      registers,
    });
    this.checkoutSessions = new Counter({
      name: 'payments_checkout_sessions_created_total',
      help: 'Stripe Checkout Sessions created, by plan',
      labelNames: ['plan'],
      registers,
    });
    this.rateLimitRejections = new Counter({
      name: 'payments_rate_limit_rejections_total',
      help: 'Requests answered 429 by a rate limiter',
      labelNames: ['limiter'],
      registers,
    });
    this.alerts = new Counter({
      name: 'payments_alerts_total',
      help: 'Alerts by type and result (sent, failed, suppressed)',
      labelNames: ['type', 'result'],
      registers,
    });
    const readMaintenance = options.readMaintenance;
    const onCollectError = options.onCollectError;
    this.maintenance = new Gauge({
      name: 'payments_maintenance_mode',
      help: '1 while payments maintenance mode is on (read from the shared store at scrape time)',
      registers,
      async collect() {
        if (!readMaintenance) return;
        try {
          this.set((await readMaintenance()) ? 1 : 0);
        } catch (error) {
          onCollectError?.(error);
        }
      },
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Exposition text for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Times every request; labels by route template (never the raw path, which would explode cardinality). */
  requestDurationMiddleware(): RequestHandler {
    return (req, res, next) => {
      const end = this.httpRequestDuration.startTimer();
      res.once('finish', () => {
        end({ method: req.method, route: routeLabel(req, res.statusCode), status: String(res.statusCode) });
      });
      next();
    };
  }
}
