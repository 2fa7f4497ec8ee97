import Stripe from 'stripe';

export interface StripeClientOptions {
  secretKey: string;
  /** The one pinned API version, shared with the webhook endpoint's `api_version`. */
  apiVersion: string;
  /** Base URL of the Stripe API; unset means api.stripe.com. Points the SDK at the sandbox. */
  apiBase?: string;
  /** Network retries the SDK performs itself (it reuses the idempotency key on each retry). */
  maxNetworkRetries?: number;
  timeoutMs?: number;
}

/**
 * The single way this repository builds a Stripe SDK client, so the service, the scripts, the
 * infra provider and the tests all address the same API (real or sandbox) the same way.
 */
export function createStripeClient(options: StripeClientOptions): Stripe {
  const config: Stripe.StripeConfig = {
    apiVersion: options.apiVersion as Stripe.LatestApiVersion,
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 20_000,
    appInfo: { name: 'upiik-payments' },
    telemetry: false,
  };
  if (options.apiBase) {
    const url = new URL(options.apiBase);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`STRIPE_API_BASE must be an http(s) URL, got protocol ${url.protocol}`);
    }
    config.protocol = url.protocol === 'http:' ? 'http' : 'https';
    config.host = url.hostname;
    config.port = url.port || (url.protocol === 'http:' ? 80 : 443);
  }
  return new Stripe(options.secretKey, config);
}

/** The API version the installed SDK is typed against; the sandbox renders this shape. */
export const SDK_API_VERSION: string = Stripe.API_VERSION;
