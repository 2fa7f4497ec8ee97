import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type Stripe from 'stripe';
import type { RunningSandbox } from '../../sandbox';

/**
 * A realistic 90 days for the local stack (`npm run seed-demo`), played through the same paths as
 * production: each user signs up through the service's checkout API with their own token, pays on
 * the sandbox's hosted page, and everything after (renewals, declined renewals, refunds,
 * cancellations, a few disputes) happens in the sandbox and reaches the service as signed webhooks.
 * The sandbox clock starts `days` ago and is advanced a day at a time to now, so every payment is
 * dated on its own day. Deterministic for a given seed.
 */
export const DEMO_CITIES: ReadonlyArray<readonly [string, number]> = [
  ['Paris', 30],
  ['Lyon', 12],
  ['Marseille', 11],
  ['Toulouse', 9],
  ['Bordeaux', 8],
  ['Lille', 7],
  ['Nantes', 7],
  ['Strasbourg', 5],
  ['Montpellier', 5],
  ['Rennes', 4],
  ['Nice', 4],
  ['Grenoble', 3],
];

export interface DemoOptions {
  serviceUrl: string;
  sandbox: RunningSandbox;
  /** The Stripe API as the business's own back office (refunds, cancellations). */
  stripe: Stripe;
  /** Signs a user token the way the Upiik app does. */
  tokenFor(user: { id: string; email: string; city?: string }): Promise<string>;
  days?: number;
  /** New users a day, on average. */
  signupsPerDay?: number;
  seed?: number;
  progress?: (line: string) => void;
}

export interface DemoSummary {
  days: number;
  users: number;
  checkouts: number;
  monthly: number;
  yearly: number;
  decliningCards: number;
  refunds: number;
  cancellations: number;
  disputes: number;
}

interface DemoUser {
  id: string;
  customerId: string;
  subscriptionId: string;
  plan: 'monthly' | 'yearly';
  /** What already happened to them: each user gets at most one of these. */
  fate?: 'declining' | 'canceling' | 'refunded';
}

export async function seedDemo(options: DemoOptions): Promise<DemoSummary> {
  const days = options.days ?? 90;
  const signups = options.signupsPerDay ?? 4;
  const rng = xoroshiro128plus(options.seed ?? 20261128);
  const int = (min: number, max: number) => uniformInt(rng, min, max);
  const chance = (percent: number) => int(1, 1000) <= percent * 10;
  const cityTotal = DEMO_CITIES.reduce((sum, [, weight]) => sum + weight, 0);
  const pickCity = (): string | undefined => {
    // One user in twenty never told the app their city.
    if (chance(5)) return undefined;
    let n = int(1, cityTotal);
    for (const [city, weight] of DEMO_CITIES) if ((n -= weight) <= 0) return city;
    return DEMO_CITIES[0]![0];
  };
  const { control } = options.sandbox;
  const summary: DemoSummary = { days, users: 0, checkouts: 0, monthly: 0, yearly: 0, decliningCards: 0, refunds: 0, cancellations: 0, disputes: 0 };
  const users: DemoUser[] = [];

  async function signUp(n: number): Promise<void> {
    const city = pickCity();
    const user = { id: `demo_${String(n).padStart(4, '0')}`, email: `demo${n}@example.com`, city };
    const plan = chance(30) ? 'yearly' : 'monthly';
    const token = await options.tokenFor(user);
    const res = await fetch(`${options.serviceUrl}/api/payments/checkout-session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ plan }),
    });
    if (!res.ok) throw new Error(`checkout for ${user.id} answered ${res.status}: ${await res.text()}`);
    const session = (await res.json()) as { id: string };
    summary.users++;
    // Some visitors leave the hosted page without paying.
    if (chance(8)) return;
    const done = await control.completeCheckoutSession(session.id, 'pm_card_visa');
    summary.checkouts++;
    summary[plan]++;
    users.push({ id: user.id, customerId: done.customer as string, subscriptionId: done.subscription as string, plan });
  }

  /** The user's latest paid charge (its payment intent's), if nothing was taken back from it yet. */
  async function latestCharge(user: DemoUser): Promise<Stripe.Charge | undefined> {
    const intent = (await options.stripe.paymentIntents.list({ customer: user.customerId, limit: 1, expand: ['data.latest_charge'] })).data[0];
    const charge = intent?.latest_charge;
    if (!charge || typeof charge === 'string' || charge.status !== 'succeeded' || charge.amount_refunded > 0 || charge.disputed) return undefined;
    return charge;
  }

  async function refundLatest(user: DemoUser): Promise<boolean> {
    const charge = await latestCharge(user);
    if (!charge) return false;
    const full = chance(60);
    await options.stripe.refunds.create({ charge: charge.id, ...(full ? {} : { amount: Math.floor(charge.amount / 2) }), reason: 'requested_by_customer' });
    summary.refunds++;
    return true;
  }

  let n = 0;
  for (let day = 0; day < days; day++) {
    const today = Math.max(0, signups + int(-2, 2) + (new Date(control.now() * 1000).getUTCDay() % 6 === 0 ? 2 : 0));
    for (let i = 0; i < today; i++) await signUp(++n);
    for (const user of users) {
      if (user.fate) continue;
      if (chance(0.4)) {
        // A card that will decline its next renewals (expired, blocked): dunning starts.
        const failing = await options.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: user.customerId });
        await options.stripe.subscriptions.update(user.subscriptionId, { default_payment_method: failing.id });
        user.fate = 'declining';
        summary.decliningCards++;
      } else if (chance(0.3)) {
        await options.stripe.subscriptions.update(user.subscriptionId, { cancel_at_period_end: true });
        user.fate = 'canceling';
        summary.cancellations++;
      } else if (chance(0.15) && (await refundLatest(user))) {
        user.fate = 'refunded';
      }
    }
    if (day % 30 === 17 && users.length > 0) {
      const victim = users[int(0, users.length - 1)]!;
      const charge = await latestCharge(victim);
      if (charge) {
        const dispute = await control.openDispute(charge.id);
        summary.disputes++;
        if (chance(50)) await control.closeDispute(dispute.id, chance(50) ? 'won' : 'lost');
      }
    }
    await control.waitForDeliveries(120_000);
    // The last step lands exactly on now: the demo's last day is today.
    const remaining = Math.floor(Date.now() / 1000) - control.now();
    await control.advanceClock(day === days - 1 ? Math.max(0, remaining) : Math.min(86_400, Math.max(0, remaining)));
    await control.waitForDeliveries(120_000);
    if (day % 10 === 9) options.progress?.(`  day ${day + 1}/${days}: ${summary.users} users, ${summary.checkouts} subscriptions`);
  }
  return summary;
}
