import type Stripe from 'stripe';
import type { OpsEnvName, OpsTarget } from '../../scripts/lib/ops-env';
import type { StepClock } from '../lib/clock';
import type { CheckoutPayer } from './payers';
import type { SmokeTokens } from './service-client';

/** The step's inputs (the workflow's contract, snake_case there) and what it is given to act with. */
export const MODES = ['full', 'readonly'] as const;
export type SmokeMode = (typeof MODES)[number];

export interface Inputs {
  mode: SmokeMode;
  env: OpsEnvName;
  /** Overrides the target's service URL (a preview host, the rehearsal's load balancer). */
  serviceUrl?: string;
  /** Bound of each wait (webhooks, event acknowledgement), in seconds. */
  timeoutSeconds: number;
  pollMs: number;
}

export interface SmokeDeps {
  /** Where: the service URL (already overridden by service_url), the webhook URL, the Stripe key's mode, the token secret for stripe:validate. */
  target: OpsTarget;
  stripe: Stripe;
  fetch: typeof fetch;
  clock: StepClock;
  tokens: SmokeTokens;
  /** The internal smoke user, e.g. `smoke-staging-1234-1`. */
  smokeUserId: string;
  /** Full mode only: how the Checkout Session gets paid on this target (payers.ts). */
  payer: CheckoutPayer;
  /** The ops token's name for stripe:validate's admin read (`ops:<who>`). */
  who: string;
}

/** A live key never runs the full round trip: Stripe forbids test cards in live mode. */
export const isLiveKey = (key: string): boolean => /^(sk|rk)_live_/.test(key);

export const LIVE_KEY_REFUSAL =
  'mode full refused: the target\'s Stripe key is live (sk_live_/rk_live_) and Stripe forbids test cards in live mode; run mode readonly on production, mode full only on test keys (staging, local)';
