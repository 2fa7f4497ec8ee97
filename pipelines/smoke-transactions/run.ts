import type { StepResult } from '../lib/step';
import type { Inputs, SmokeDeps } from './contract';
import { runFull } from './full';
import { runReadonly } from './readonly';

export { isLiveKey, LIVE_KEY_REFUSAL, MODES, type Inputs, type SmokeDeps, type SmokeMode } from './contract';

/**
 * smoke-transactions: does the deployed service take a payment end to end?
 *
 * - `full` (staging on Stripe test keys; local on the sandbox): an internal smoke user subscribes
 *   through the service, pays with a test card, becomes premium through the service's webhooks,
 *   has a declined card recorded as a failed attempt, is cancelled and becomes free again; whatever
 *   it left live in Stripe is cancelled in a `finally`, even after a failure.
 * - `readonly` (production on live keys, where Stripe forbids test cards): readiness, the webhook
 *   route's answers, stripe:validate, maintenance off, recent events acknowledged. It creates no
 *   charge, payment intent or subscription.
 *
 * Nothing here reads process.env: main.ts resolves the target and passes everything in.
 */
export async function run(inputs: Inputs, deps: SmokeDeps): Promise<StepResult> {
  return inputs.mode === 'full' ? runFull(inputs, deps) : runReadonly(inputs, deps);
}
