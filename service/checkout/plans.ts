import type { Config } from '../shared/config';

export const PLANS = ['monthly', 'yearly'] as const;
export type Plan = (typeof PLANS)[number];

export function isPlan(value: unknown): value is Plan {
  return typeof value === 'string' && (PLANS as readonly string[]).includes(value);
}

export function priceIdFor(plan: Plan, prices: Config['stripe']['prices']): string {
  return plan === 'monthly' ? prices.monthly : prices.yearly;
}

/** Reverse mapping for webhooks and reconciliation; a price we do not know is 'unknown', not an error. */
export function planForPrice(priceId: string | null | undefined, prices: Config['stripe']['prices']): Plan | 'unknown' {
  if (priceId === prices.monthly) return 'monthly';
  if (priceId === prices.yearly) return 'yearly';
  return 'unknown';
}

/** Stripe statuses that still grant Premium. */
export const PREMIUM_STATUSES: readonly string[] = ['active', 'trialing'];
/** Statuses that block a second checkout: the user must manage the existing one in the portal. */
export const BLOCKING_STATUSES: readonly string[] = ['active', 'trialing', 'past_due', 'unpaid', 'incomplete'];
