import type Stripe from 'stripe';

/**
 * Builds a Stripe client inside a provider method. Dynamic providers are serialized into the
 * state file and re-run in the engine's provider process, so nothing here is captured at
 * program time: `stripe` is required on call, and the key comes from (in order)
 *   1. the stack config `stripeSecretKey`, handed to the provider's `configure()` by the engine;
 *   2. `STRIPE_SECRET_KEY` in the environment of the `pulumi` process (CI, break-glass, tests).
 * The key is never a resource input, so it is never written to state or shown in a diff.
 * `STRIPE_API_BASE` (environment only) points at the sandbox and is refused with a live key.
 * Keep this function free of imports: it is serialized by value with the provider.
 */
export function connectStripe(configuredKey: string | undefined): Stripe {
  const secretKey = configuredKey || process.env.STRIPE_SECRET_KEY;
  if (!secretKey) {
    throw new Error(
      'Stripe provider: no secret key. Set it with `pulumi config set --secret stripeSecretKey sk_...` ' +
        '(or export STRIPE_SECRET_KEY for this pulumi run).',
    );
  }
  const apiBase = process.env.STRIPE_API_BASE;
  if (apiBase && /^(sk|rk)_live_/.test(secretKey)) {
    throw new Error('Stripe provider: STRIPE_API_BASE is set but the key is live; live keys only ever go to api.stripe.com');
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const StripeSdk = require('stripe') as typeof import('stripe');
  const config: Stripe.StripeConfig = { maxNetworkRetries: 2, timeout: 20_000, telemetry: false, appInfo: { name: 'upiik-payments-pulumi' } };
  if (apiBase) {
    const url = new URL(apiBase);
    config.protocol = url.protocol === 'http:' ? 'http' : 'https';
    config.host = url.hostname;
    config.port = url.port || (url.protocol === 'http:' ? 80 : 443);
  }
  return new StripeSdk(secretKey, config);
}

/** True for Stripe's "No such ..." 404: the object is already gone. */
export function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { statusCode?: number }).statusCode === 404;
}

/**
 * `ReadResult.inputs` is typed as the outputs type, but the engine stores it as the resource's
 * inputs (what a preview after refresh compares the program with): only the declared inputs belong there.
 */
export function asReadInputs<Outputs>(inputs: object): Outputs {
  return inputs as Outputs;
}
