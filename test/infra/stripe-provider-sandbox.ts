import type Stripe from 'stripe';
import { startSandbox, type RunningSandbox, type SandboxOptions } from '../../sandbox';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';

/** Assigning undefined to process.env would store the string "undefined": unset instead. */
function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

export interface ProviderSandbox {
  sandbox: RunningSandbox;
  /** A client of the same account, for arranging and checking what the provider did. */
  stripe: Stripe;
}

/**
 * A sandbox for the Stripe dynamic providers, set up the way `pulumi up` sets up the provider
 * process: the key (here via env) and, for the sandbox only, the API base. Restores both after the
 * suite. Fields are filled in `beforeAll`.
 */
export function useProviderSandbox(key: string, options: Omit<SandboxOptions, 'port'> = {}): ProviderSandbox {
  const ctx = {} as ProviderSandbox;
  const saved = { key: process.env.STRIPE_SECRET_KEY, base: process.env.STRIPE_API_BASE };
  beforeAll(async () => {
    ctx.sandbox = await startSandbox({ ...options, port: 0 });
    process.env.STRIPE_SECRET_KEY = key;
    process.env.STRIPE_API_BASE = ctx.sandbox.url;
    ctx.stripe = createStripeClient({ secretKey: key, apiVersion: SDK_API_VERSION, apiBase: ctx.sandbox.url });
  });
  afterAll(async () => {
    restoreEnv('STRIPE_SECRET_KEY', saved.key);
    restoreEnv('STRIPE_API_BASE', saved.base);
    await ctx.sandbox.close();
  });
  return ctx;
}
