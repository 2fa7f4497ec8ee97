import type Stripe from 'stripe';
import { AppError } from '../shared/errors';

/**
 * Thrown instead of calling the Stripe API while a live delivery is being prepared. An AppError, so
 * `stripeFailure` passes it through unchanged and nothing mistakes it for Stripe's answer; the
 * router stores the event, acknowledges it and lets a drain apply it with Stripe.
 */
export class StripeCallDeferred extends AppError {
  constructor(readonly call: string) {
    super(`applying this event needs the Stripe API (${call}); deferred to the drain`, { code: 'stripe_call_deferred', status: 503 });
    this.name = 'StripeCallDeferred';
  }
}

/**
 * The client as a live delivery's preparation sees it: every API method throws StripeCallDeferred
 * instead of calling Stripe. Wrapping the client (rather than asking each handler) keeps the rule
 * true for handlers written later.
 */
export function deferringStripe(stripe: Stripe): Stripe {
  const wrap = <T extends object>(target: T, path: string): T =>
    new Proxy(target, {
      get(object, property, receiver) {
        const value: unknown = Reflect.get(object, property, receiver);
        const name = typeof property === 'symbol' ? property.toString() : property;
        if (typeof value === 'function') {
          return () => {
            throw new StripeCallDeferred(`${path}.${name}`);
          };
        }
        if (typeof value === 'object' && value !== null) return wrap(value, `${path}.${name}`);
        return value;
      },
    });
  return wrap(stripe, 'stripe');
}
