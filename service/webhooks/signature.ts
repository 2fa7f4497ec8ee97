import Stripe from 'stripe';
import { AppError } from '../shared/errors';
import { parseStripeEvent } from './event-schema';

/** Stripe's default: a signed timestamp further than this from now is a replay, not a delivery. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const reject = (code: string, message: string, cause?: unknown) => new AppError(message, { code, status: 400, cause });

/**
 * Verifies the `Stripe-Signature` header against the exact raw bytes and returns the parsed JSON
 * (its shape is checked next, by parseStripeEvent). Every failure is a 400 the sender cannot
 * retry its way out of; nothing has been written yet.
 *
 * The SDK only refuses timestamps older than the tolerance; a timestamp from the future is
 * refused here too (a signature made ahead of time must not stay valid until then). A header
 * with several timestamps (two `Stripe-Signature` headers arrive joined by a comma) is refused:
 * the SDK would silently take the last one.
 */
export function verifyStripeSignature(
  rawBody: Buffer | undefined,
  header: string | string[] | undefined,
  secret: string,
  nowMs: number = Date.now(),
): unknown {
  return verifySignedJson(rawBody, header, secret, nowMs).parsed;
}

function verifySignedJson(rawBody: Buffer | undefined, header: string | string[] | undefined, secret: string, nowMs: number): { parsed: unknown; text: string } {
  if (typeof header !== 'string' || header.trim() === '') throw reject('missing_signature', 'Missing Stripe-Signature header');
  if (!Buffer.isBuffer(rawBody) || rawBody.length === 0) throw reject('empty_body', 'Empty webhook body');
  const timestamps = header
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.startsWith('t='));
  if (timestamps.length !== 1 || !/^t=\d{1,12}$/.test(timestamps[0]!)) {
    throw reject('invalid_signature', 'Stripe-Signature must carry exactly one timestamp (t=<unix seconds>)');
  }
  const signature = Stripe.webhooks.signature;
  if (!signature) throw new Error('The stripe SDK has no webhook signature helper');
  try {
    // Static helper: verification needs no API client, only the secret (and Node's crypto).
    signature.verifyHeader(rawBody, header, secret, SIGNATURE_TOLERANCE_SECONDS, undefined, nowMs);
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    if (/timestamp outside the tolerance zone/i.test(message)) throw reject('stale_signature', 'Webhook timestamp is older than the tolerance', err);
    throw reject('invalid_signature', 'Invalid webhook signature', err);
  }
  const signedAt = Number(timestamps[0]!.slice(2));
  if (signedAt - Math.floor(nowMs / 1000) > SIGNATURE_TOLERANCE_SECONDS) {
    throw reject('future_signature', 'Webhook timestamp is further in the future than the tolerance');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(rawBody);
  } catch (err) {
    throw reject('invalid_event', 'Webhook body is not UTF-8', err);
  }
  try {
    return { parsed: JSON.parse(text) as unknown, text };
  } catch (err) {
    throw reject('invalid_event', 'Webhook body is not JSON', err);
  }
}

/**
 * The webhook route's whole check: signature, then the event's shape. What it returns is safe to
 * store and hand to the handlers; what it refuses is a 400 with nothing written.
 */
export function verifyStripeEvent(rawBody: Buffer | undefined, header: string | string[] | undefined, secret: string, nowMs: number = Date.now()): Stripe.Event {
  const { parsed, text } = verifySignedJson(rawBody, header, secret, nowMs);
  return parseStripeEvent(parsed, text);
}
