import type Stripe from 'stripe';
import type { SmokeDeps } from './contract';
import type { ServiceClient } from './service-client';
import { describe, SmokeFailure } from './steps';

/** What a smoke run may have left in Stripe, as far as it got. */
export interface SmokeLeftovers {
  customerId?: string;
  sessionId?: string;
  subscriptionIds?: string[];
  /** Payment intents the run created (the declined one waits for another payment method). */
  intents: string[];
}

/** Subscription statuses that can still bill or become active again. */
const ENDED = new Set<Stripe.Subscription.Status>(['canceled', 'incomplete_expired']);

/**
 * Cancels whatever the run left live, wherever it stopped: every subscription of the smoke customer
 * (listed from Stripe, not only the one the run knows: a payer that failed half-way may have created
 * one), the Checkout Session if still open, the run's payment intents still awaiting a method. When
 * the run stopped before it learnt the customer, the service's admin API names it (the service
 * creates the customer before the session). The customer itself stays: it is the record of the run.
 * Every action is attempted; the ones that failed are named together.
 */
export async function cleanUp(deps: SmokeDeps, service: ServiceClient, left: SmokeLeftovers): Promise<string> {
  const { stripe } = deps;
  const done: string[] = [];
  const failed: string[] = [];
  const attempt = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
      done.push(what);
    } catch (error) {
      failed.push(`${what}: ${describe(error)}`);
    }
  };

  if (!left.customerId) {
    const known = await service.adminUser(deps.smokeUserId).catch(() => undefined);
    if (known?.status === 200) left.customerId = known.body.local.customer?.customer_id;
  }
  let listed = false;
  if (left.customerId) {
    const customer = left.customerId;
    try {
      for await (const sub of stripe.subscriptions.list({ customer, status: 'all', limit: 100 })) {
        if (!ENDED.has(sub.status)) await attempt(`cancelled ${sub.id}`, () => stripe.subscriptions.cancel(sub.id));
      }
      listed = true;
    } catch (error) {
      failed.push(`listing ${customer}'s subscriptions: ${describe(error)}`);
    }
  }
  // The listing covers them; without it, the run's own subscription is still cancelled by id.
  for (const sub of listed ? [] : (left.subscriptionIds ?? [])) {
    await attempt(`checked ${sub}`, async () => {
      const current = await stripe.subscriptions.retrieve(sub);
      if (ENDED.has(current.status)) return;
      await stripe.subscriptions.cancel(sub);
      done.push(`cancelled ${sub}`);
    });
  }
  if (left.sessionId) {
    const id = left.sessionId;
    await attempt(`checked ${id}`, async () => {
      const session = await stripe.checkout.sessions.retrieve(id);
      if (session.status === 'open') await stripe.checkout.sessions.expire(id);
    });
  }
  for (const id of left.intents) {
    await attempt(`checked ${id}`, async () => {
      const intent = await stripe.paymentIntents.retrieve(id);
      if (intent.status !== 'succeeded' && intent.status !== 'canceled') await stripe.paymentIntents.cancel(id);
    });
  }
  if (failed.length > 0) throw new SmokeFailure(`cleanup could not finish: ${failed.join('; ')}`, 'cancel what is left for the smoke customer by hand so it is never billed');
  const cancelled = done.filter((d) => d.startsWith('cancelled '));
  return cancelled.length > 0 ? `${cancelled.join(', ')}; nothing left live` : `nothing left live${left.customerId ? ` for ${left.customerId}` : ''}`;
}
