import Stripe from 'stripe';
import { AppError } from '../shared/errors';

/** Stripe's default: a signed timestamp older than this is a replay, not a delivery. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * Verifies the `Stripe-Signature` header against the exact raw bytes and parses the event.
 * Every failure is a 400 the sender cannot retry its way out of; nothing has been written yet.
 */
export function verifyStripeEvent(rawBody: Buffer | undefined, header: string | string[] | undefined, secret: string): Stripe.Event {
  if (typeof header !== 'string' || header.trim() === '') {
    throw new AppError('Missing Stripe-Signature header', { code: 'missing_signature', status: 400 });
  }
  if (!Buffer.isBuffer(rawBody) || rawBody.length === 0) {
    throw new AppError('Empty webhook body', { code: 'empty_body', status: 400 });
  }
  try {
    // Static helper: verification needs no API client, only the secret (and Node's crypto).
    return Stripe.webhooks.constructEvent(rawBody, header, secret, SIGNATURE_TOLERANCE_SECONDS);
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    const stale = /timestamp outside the tolerance zone/i.test(message);
    throw new AppError(stale ? 'Webhook timestamp is outside the tolerance' : 'Invalid webhook signature', {
      code: stale ? 'stale_signature' : 'invalid_signature',
      status: 400,
      cause: err,
    });
  }
}
