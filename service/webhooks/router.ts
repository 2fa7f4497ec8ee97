import express, { type Request, type Response, Router } from 'express';
import { AppError, errorMessage } from '../shared/errors';
import { storePending } from './inbox';
import { webhookDeliveryMode } from './pause';
import { processEvent, type WebhookDeps } from './processor';
import { verifyStripeEvent } from './signature';

/** Stripe events are a few kB; anything near this is not from Stripe. */
export const WEBHOOK_BODY_LIMIT = '256kb';

/**
 * `POST /api/webhooks/stripe`. Raw body on this route only (signatures are over the exact bytes),
 * signature and then the event's shape verified before anything is read or written: a 400 for
 * what can never be applied, with no inbox row; 2xx once the event is applied, stored for later
 * (paused) or known already; 5xx when a dependency failed, so Stripe retries.
 */
export function webhookRouter(deps: WebhookDeps): Router {
  const router = Router();
  const raw = express.raw({ type: '*/*', limit: WEBHOOK_BODY_LIMIT });

  router.post('/', raw, async (req: Request, res: Response) => {
    const event = verifyStripeEvent(req.body as Buffer | undefined, req.headers['stripe-signature'], deps.config.stripe.webhookSecret);
    // Paused, or the pause flag unreadable (Redis down): stored and acknowledged, drained later.
    if ((await webhookDeliveryMode(deps)) === 'defer') {
      const started = performance.now();
      const { stored, status } = await storePending(deps.db, event).catch((err: unknown) => {
        // Not stored, not recorded (the database failed): Stripe retries on the 5xx; count it in memory.
        deps.observer.webhookHandled({ eventId: event.id, type: event.type, outcome: 'failed', durationMs: performance.now() - started, error: errorMessage(err), unrecorded: true });
        throw err;
      });
      const outcome = stored ? 'pending' : 'duplicate';
      deps.observer.webhookHandled({ eventId: event.id, type: event.type, outcome, durationMs: performance.now() - started });
      res.json({ received: true, status: stored ? 'pending' : status });
      return;
    }
    const result = await processEvent(deps, event);
    res.json({ received: true, outcome: result.outcome });
  });

  router.all('/', () => {
    throw new AppError('Use POST for Stripe webhooks', { code: 'method_not_allowed', status: 405, headers: { Allow: 'POST' } });
  });

  return router;
}
