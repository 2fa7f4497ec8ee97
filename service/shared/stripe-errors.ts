import Stripe from 'stripe';
import { AppError } from './errors';

/**
 * The one place Stripe SDK failures become service errors. Our own request mistakes (invalid
 * request, auth, permissions) are 502: the caller did nothing wrong and cannot fix it. Stripe being
 * slow, down or rate limiting us is 503 with Retry-After so clients back off and retry.
 */
export function stripeFailure(err: unknown, operation: string): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof Stripe.errors.StripeError) {
    const transient =
      err instanceof Stripe.errors.StripeConnectionError ||
      err instanceof Stripe.errors.StripeAPIError ||
      err instanceof Stripe.errors.StripeRateLimitError ||
      (err.statusCode !== undefined && err.statusCode >= 500) ||
      err.code === 'lock_timeout';
    if (transient) {
      return new AppError(`Stripe is temporarily unavailable (${operation}); try again shortly`, {
        code: 'stripe_unavailable',
        status: 503,
        cause: err,
        headers: { 'Retry-After': '5' },
      });
    }
    if (err instanceof Stripe.errors.StripeIdempotencyError) {
      return new AppError(`A conflicting ${operation} request is in progress; try again`, { code: 'request_in_progress', status: 409, cause: err });
    }
    return new AppError(`Stripe rejected ${operation}`, { code: 'stripe_request_failed', status: 502, cause: err });
  }
  return new AppError(`Unexpected failure during ${operation}`, { code: 'internal_error', status: 500, cause: err });
}

/**
 * True when Stripe answered that an object the request named does not exist in this account
 * (404 for an id in the path, 400 `resource_missing` for an id in a parameter), whether the SDK
 * error is bare or already wrapped by `stripeFailure`. Retrying such a request can never succeed.
 */
export function isMissingInStripe(err: unknown): boolean {
  const inner = err instanceof AppError ? err.cause : err;
  return inner instanceof Stripe.errors.StripeInvalidRequestError && (inner.statusCode === 404 || inner.code === 'resource_missing');
}
