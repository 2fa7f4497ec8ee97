import express, { type Request, type Response, Router } from 'express';
import { AppError, errorMessage } from '../shared/errors';
import { storePending } from './inbox';
import { requestDrain, webhookDeliveryMode } from './pause';
import { processEvent, type WebhookDeps } from './processor';
import { verifyStripeEvent } from './signature';
import { StripeCallDeferred } from './stripe-deferral';

/** Stripe events are a few kB; anything near this is not from Stripe. */
export const WEBHOOK_BODY_LIMIT = '256kb';

/**
 * `POST /api/webhooks/stripe`. Raw body on this route only (signatures are over the exact bytes),
 * signature and then the event's shape verified before anything is read or written: a 400 for
 * what can never be applied, with no inbox row; 2xx once the event is applied, stored for later
 * (paused, or applying it needs the Stripe API: a drain applies it and retries it itself) or known
 * already; 5xx when a dependency failed, so Stripe retries.
 */
export function webhookRouter(deps: WebhookDeps): Router {
  const router = Router();
  const raw = express.raw({ type: '*/*', limit: WEBHOOK_BODY_LIMIT });

  router.post('/', raw, async (req: Request, res: Response) => {
    const event = verifyStripeEvent(req.body as Buffer | undefined, req.headers['stripe-signature'], deps.config.stripe.webhookSecret);
    const started = performance.now();
    // Stored and acknowledged, applied later by a drain: the pending status answers 2xx.
    const defer = async (afterwards?: () => void) => {
      const { stored, status } = await storePending(deps.db, event).catch((err: unknown) => {
        // Not stored, not recorded (the database failed): Stripe retries on the 5xx; count it in memory.
        deps.observer.webhookHandled({ eventId: event.id, type: event.type, outcome: 'failed', durationMs: performance.now() - started, error: errorMessage(err), unrecorded: true });
        throw err;
      });
      const outcome = stored ? 'pending' : 'duplicate';
      deps.observer.webhookHandled({ eventId: event.id, type: event.type, outcome, durationMs: performance.now() - started });
      res.json({ received: true, status: stored ? 'pending' : status });
      if (stored) afterwards?.();
    };
    // Paused, or the pause flag unreadable (Redis down): the resume (or the store's recovery) drains.
    if ((await webhookDeliveryMode(deps)) === 'defer') return defer();
    try {
      const result = await processEvent(deps, event, { deferStripeCalls: true });
      res.json({ received: true, outcome: result.outcome });
    } catch (err) {
      if (!(err instanceof StripeCallDeferred)) throw err;
      // Applying it needs the Stripe API: never inside an acknowledgement (Stripe's latency and
      // rate limits would become ours). A drain applies it at once, Stripe calls included.
      await defer(() => void requestDrain(deps).catch(() => undefined));
    }
  });

  router.all('/', () => {
    throw new AppError('Use POST for Stripe webhooks', { code: 'method_not_allowed', status: 405, headers: { Allow: 'POST' } });
  });

  return router;
}
