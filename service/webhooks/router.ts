import express, { type Request, type RequestHandler, type Response } from 'express';
import { AppError, errorMessage } from '../shared/errors';
import type { InboxStatus } from './inbox';
import { createIntake } from './intake';
import { requestDrain } from './pause';
import { noteAcknowledged, noteIntakeBatch } from './pressure';
import type { WebhookDeps } from './processor';
import { verifyStripeEvent } from './signature';

/** Stripe events are a few kB; anything near this is not from Stripe. */
export const WEBHOOK_BODY_LIMIT = '256kb';

/**
 * `POST /api/webhooks/stripe`. Raw body on this route only (signatures are over the exact bytes),
 * signature and then the event's shape verified before anything is read or written: a 400 for
 * what can never be applied, with no inbox row. Then the acknowledgement is the durable insert and
 * nothing else (intake.ts: group commit): 200 `{received, status}` once the event is stored
 * `pending` (a drain applies it right after, in Stripe order, Stripe calls included) or known
 * already (`processed`, `ignored`, `unmatched`); 5xx when storing failed, so Stripe retries. No
 * Stripe call, no pause-flag read and no effect runs inside an acknowledgement (issue 15); while
 * processing is paused the drain leaves what is stored, and the resume applies it.
 *
 * `post` are the POST handlers, `otherMethods` the 405 for the rest: the app mounts them as routes
 * of its own at the webhook path (no nested router to walk on every delivery).
 */
export function webhookHandlers(deps: WebhookDeps): { post: RequestHandler[]; otherMethods: RequestHandler } {
  const raw = express.raw({ type: '*/*', limit: WEBHOOK_BODY_LIMIT });
  // Its batch sizes tell the drain when acknowledgements queue behind each other (pause.ts).
  const intake = createIntake(deps.db, undefined, (size) => noteIntakeBatch(deps.store, size));

  const accept = async (req: Request, res: Response) => {
    const event = verifyStripeEvent(req.body as Buffer | undefined, req.headers['stripe-signature'], deps.config.stripe.webhookSecret);
    const started = performance.now();
    const accepted = await intake.accept(event).catch((err: unknown) => {
      // Not stored, not recorded (the database failed): Stripe retries on the 5xx; count it in memory.
      deps.observer.webhookHandled({ eventId: event.id, type: event.type, outcome: 'failed', durationMs: performance.now() - started, error: errorMessage(err), unrecorded: true });
      throw err;
    });
    deps.observer.webhookHandled({ eventId: event.id, type: event.type, outcome: accepted.pending ? 'pending' : 'duplicate', durationMs: performance.now() - started });
    noteAcknowledged(deps.store);
    sendAcknowledgement(res, accepted.status);
    // Many deliveries in a burst start one drain (plus one queued): requestDrain coalesces.
    if (accepted.pending) void requestDrain(deps).catch(() => undefined);
  };

  const otherMethods: RequestHandler = () => {
    throw new AppError('Use POST for Stripe webhooks', { code: 'method_not_allowed', status: 405, headers: { Allow: 'POST' } });
  };
  return { post: [raw, accept], otherMethods };
}

/** The acknowledgement's body per inbox status, serialised once (a handful of statuses). */
const acknowledgementBodies = new Map<InboxStatus, Buffer>();

/**
 * 200 `{received: true, status}`: what `res.json` would send, written directly (issue 15). Express's
 * `send` also serialises, hashes the body for an ETag and checks request freshness on every call:
 * nothing a webhook sender caches or revalidates, and a few percent of an acknowledgement's CPU.
 */
function sendAcknowledgement(res: Response, status: InboxStatus): void {
  let body = acknowledgementBodies.get(status);
  if (body === undefined) {
    body = Buffer.from(JSON.stringify({ received: true, status }));
    acknowledgementBodies.set(status, body);
  }
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}
