import { StripeApiError } from './errors';

const MAX_KEYS = 100_000;
/** Stripe's documented limit for an `Idempotency-Key`. */
const MAX_KEY_LENGTH = 255;

interface StoredResponse {
  fingerprint: string;
  status: number;
  body: string;
  inFlight: boolean;
}

/**
 * Stripe's `Idempotency-Key` rules, keyed per API key: the first completed response is replayed
 * for the same key and the same request; a different request under that key is an
 * `idempotency_error`; a second request while the first is still running is a 409.
 */
export class IdempotencyStore {
  private readonly entries = new Map<string, StoredResponse>();

  /** Returns a stored response to replay, throws on conflicts, or reserves the key. */
  begin(apiKey: string, key: string, fingerprint: string): { status: number; body: string } | undefined {
    if (key.length > MAX_KEY_LENGTH) {
      throw new StripeApiError(`Idempotency keys can be up to ${MAX_KEY_LENGTH} characters long; this one has ${key.length}.`, { status: 400, type: 'invalid_request_error' });
    }
    const scoped = `${apiKey}\u0000${key}`;
    const existing = this.entries.get(scoped);
    if (!existing) {
      // Stripe forgets keys after 24 h; a bounded map keeps long runs and benchmarks flat.
      if (this.entries.size >= MAX_KEYS) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(scoped, { fingerprint, status: 0, body: '', inFlight: true });
      return undefined;
    }
    if (existing.fingerprint !== fingerprint) {
      throw new StripeApiError(
        `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        { status: 400, type: 'idempotency_error' },
      );
    }
    if (existing.inFlight) {
      throw new StripeApiError(
        'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ' +
          `${key}. Please try again later.`,
        { status: 409, type: 'idempotency_error', code: 'idempotency_key_in_use' },
      );
    }
    return { status: existing.status, body: existing.body };
  }

  complete(apiKey: string, key: string, status: number, body: string, save: boolean): void {
    const scoped = `${apiKey}\u0000${key}`;
    const entry = this.entries.get(scoped);
    if (!entry) return;
    // Like Stripe, a request rejected before it executed (validation, 404) is not remembered.
    if (!save) this.entries.delete(scoped);
    else Object.assign(entry, { status, body, inFlight: false });
  }

  clear(): void {
    this.entries.clear();
  }
}
