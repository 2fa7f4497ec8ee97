import { timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import { AppError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { HealthEvaluator } from './health-monitor';
import type { PaymentMetrics } from './metrics';

/** `GET /api/payments/health`: 200 healthy, 200 degraded, 503 critical, 500 when the check itself fails. */
export function paymentHealthRouter(deps: { health: HealthEvaluator; logger: Logger }): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    let report;
    try {
      report = await deps.health.evaluate();
    } catch (error) {
      throw new AppError('The payment health check could not run', { code: 'health_check_failed', status: 500, cause: error });
    }
    res
      .status(report.status === 'critical' ? 503 : 200)
      .set('Cache-Control', 'no-store')
      .json(report);
  });
  return router;
}

/**
 * `GET /metrics` in the Prometheus text format. Not for the public internet: the ALB does not
 * forward it (infra), and with METRICS_AUTH_TOKEN set a scraper must send it as a bearer token.
 * Never rate-limited: scrapes must not be the thing that gets throttled during an incident.
 */
export function metricsRouter(deps: { metrics: PaymentMetrics; token?: string }): Router {
  const router = Router();
  const expected = deps.token ? Buffer.from(`Bearer ${deps.token}`) : undefined;
  router.get('/metrics', async (req, res) => {
    if (expected) {
      const given = Buffer.from(req.get('authorization') ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new AppError('Send the metrics token as Authorization: Bearer <token>', {
          code: 'unauthorized',
          status: 401,
          headers: { 'WWW-Authenticate': 'Bearer' },
        });
      }
    }
    const { contentType, body } = await deps.metrics.render();
    res.set('Content-Type', contentType).set('Cache-Control', 'no-store').send(body);
  });
  return router;
}
