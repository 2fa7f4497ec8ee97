import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type Stripe from 'stripe';
import { issueToken } from '../../service/security';
import type { Environment } from './environment';
import { REHEARSAL_JWT_SECRET } from './environment';

/**
 * The users of production during the rehearsal: each one keeps doing what Upiik's users do, through
 * the load balancer (so the canary gets its share), while the sandbox plays Stripe's side (renewals
 * as its clock advances, declines, the back office's refunds and cancellations) and delivers the
 * signed webhooks through the same balancer.
 *
 * Per user, one action a tick: mostly reading their subscription (the app does on every screen),
 * sometimes a checkout paid with a card or declined, a cancellation, a refund of their last charge.
 * A clock task advances the sandbox a day every half second (never past real time, which it reaches
 * after 30 s from its start 60 days back), so the first subscribers' monthly renewals happen while the
 * release is under way. Deterministic choices for a given seed; timing is not.
 */

export interface PopulationFigures {
  users: number;
  requests: number;
  /** Answers by class, as the users saw them through the balancer. */
  answers: { '2xx': number; '4xx': number; '5xx': number; network: number };
  checkouts: { created: number; paid: number; declined: number; refusedBusy: number };
  cancellations: number;
  refunds: number;
  clockDays: number;
  /** Errors from the back office's own Stripe calls (not the service's doing), first few. */
  stripeErrors: string[];
}

export interface Population {
  figures(): PopulationFigures;
  /** The customers the users own (for the final proof). */
  customers(): Map<string, string>;
  /** Stops starting new actions and waits for those in flight. */
  stop(): Promise<void>;
}

interface User {
  id: string;
  /** Keeps their subscription (one user in three): the ones whose renewals the run sees. */
  loyal: boolean;
  customerId?: string;
  subscriptionId?: string;
}

export function startPopulation(options: {
  production: Environment;
  users?: number;
  tickMs?: number;
  seed?: number;
  /** Sandbox days advanced per clock step, and how often (0 = never). */
  clockStepMs?: number;
}): Population {
  const env = options.production;
  const rng = xoroshiro128plus(options.seed ?? 1729);
  const int = (min: number, max: number) => uniformInt(rng, min, max);
  const chance = (percent: number) => int(1, 1000) <= percent * 10;
  const tickMs = options.tickMs ?? 500;
  const users: User[] = Array.from({ length: options.users ?? 24 }, (_, i) => ({ id: `rehearsal_u${String(i + 1).padStart(3, '0')}`, loyal: i % 3 === 0 }));
  const figures: PopulationFigures = {
    users: users.length,
    requests: 0,
    answers: { '2xx': 0, '4xx': 0, '5xx': 0, network: 0 },
    checkouts: { created: 0, paid: 0, declined: 0, refusedBusy: 0 },
    cancellations: 0,
    refunds: 0,
    clockDays: 0,
    stripeErrors: [],
  };
  let stopping = false;
  const inFlight = new Set<Promise<void>>();

  const request = async (user: User, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> | null }> => {
    figures.requests += 1;
    try {
      const token = await issueToken({ secret: REHEARSAL_JWT_SECRET }, { userId: user.id, email: `${user.id}@example.com`, expiresIn: '15m' });
      const answer = await fetch(`${env.balancer.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(20_000),
      });
      const json = (await answer.json().catch(() => null)) as Record<string, unknown> | null;
      figures.answers[answer.status >= 500 ? '5xx' : answer.status >= 400 ? '4xx' : '2xx'] += 1;
      return { status: answer.status, json };
    } catch {
      figures.answers.network += 1;
      return { status: 0, json: null };
    }
  };

  const backOffice = async (what: () => Promise<unknown>) => {
    try {
      await what();
      return true;
    } catch (error) {
      if (figures.stripeErrors.length < 5) figures.stripeErrors.push((error as Error).message.slice(0, 200));
      return false;
    }
  };

  const checkout = async (user: User) => {
    const plan = chance(30) ? 'yearly' : 'monthly';
    const answer = await request(user, 'POST', '/api/payments/checkout-session', { plan });
    if (answer.status === 409) {
      figures.checkouts.refusedBusy += 1;
      return;
    }
    const id = answer.json?.id;
    if (answer.status !== 200 || typeof id !== 'string') return;
    figures.checkouts.created += 1;
    // One visitor in ten pays with a card that is declined; a few leave the page.
    if (chance(5)) return;
    const declined = chance(10);
    try {
      const session = await env.sandbox.control.completeCheckoutSession(id, declined ? 'pm_card_chargeDeclined' : 'pm_card_visa');
      figures.checkouts.paid += 1;
      user.customerId = typeof session.customer === 'string' ? session.customer : session.customer?.id;
      user.subscriptionId = typeof session.subscription === 'string' ? session.subscription : session.subscription?.id;
    } catch {
      figures.checkouts.declined += 1;
    }
  };

  const refundLast = async (user: User) => {
    if (!user.customerId) return;
    const intent = (await env.stripe.paymentIntents.list({ customer: user.customerId, limit: 1, expand: ['data.latest_charge'] })).data[0];
    const charge = intent?.latest_charge as Stripe.Charge | null | undefined;
    if (!charge || charge.status !== 'succeeded' || charge.amount_refunded > 0 || charge.disputed) return;
    if (await backOffice(() => env.stripe.refunds.create({ charge: charge.id, ...(chance(50) ? {} : { amount: Math.floor(charge.amount / 2) }), reason: 'requested_by_customer' })))
      figures.refunds += 1;
  };

  /**
   * A user without a subscription mostly tries to get one; a subscriber mostly reads, and now and
   * then cancels (and comes back later) or is refunded. The churn is far above production's, on
   * purpose: a one-minute bake at 10 % must see enough checkouts to judge them. One user in three
   * never cancels, so subscriptions live long enough for the sandbox clock to renew them.
   */
  const act = async (user: User) => {
    const roll = int(1, 100);
    if (!user.subscriptionId) {
      if (roll <= 55) await checkout(user);
      else if (roll <= 90) await request(user, 'GET', '/api/payments/subscription');
      else await request(user, 'GET', '/api/payments/status');
      return;
    }
    if (roll <= 80) {
      await request(user, 'GET', '/api/payments/subscription');
    } else if (roll <= 85) {
      await request(user, 'GET', '/api/payments/status');
    } else if (roll <= 94) {
      if (user.loyal) {
        await request(user, 'GET', '/api/payments/subscription');
        return;
      }
      if (await backOffice(() => env.stripe.subscriptions.cancel(user.subscriptionId!))) {
        figures.cancellations += 1;
        user.subscriptionId = undefined;
      }
    } else if (roll <= 97) {
      await backOffice(() => refundLast(user));
    } else {
      // A double click on "subscribe" from a subscriber: 409.
      await checkout(user);
    }
  };

  const loop = async (user: User, offset: number) => {
    await new Promise((r) => setTimeout(r, offset));
    while (!stopping) {
      const started = Date.now();
      await act(user);
      await new Promise((r) => setTimeout(r, Math.max(50, tickMs - (Date.now() - started))));
    }
  };

  const clockLoop = async () => {
    const step = options.clockStepMs ?? 500;
    if (step <= 0) return;
    while (!stopping) {
      await new Promise((r) => setTimeout(r, step));
      if (stopping) break;
      const room = Math.floor(Date.now() / 1000) - env.sandbox.control.now();
      if (room < 86_400) continue;
      await backOffice(() => env.sandbox.control.advanceClock(86_400));
      figures.clockDays += 1;
    }
  };

  for (const [i, user] of users.entries()) {
    const p = loop(user, Math.floor((tickMs * i) / users.length));
    inFlight.add(p);
  }
  inFlight.add(clockLoop());

  return {
    figures: () => structuredClone(figures),
    customers: () => new Map(users.filter((u) => u.customerId).map((u) => [u.id, u.customerId!])),
    async stop() {
      stopping = true;
      await Promise.allSettled([...inFlight]);
    },
  };
}
