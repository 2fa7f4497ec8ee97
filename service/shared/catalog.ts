/**
 * What Upiik sells, in one place: the local stack seeds it into the sandbox, the Pulumi Stripe
 * provider declares it in real accounts, and the validation scripts check it. Amounts in minor units.
 */
export const PREMIUM_PRODUCT = {
  name: 'Upiik Premium',
  description: 'Upiik Premium subscription',
  /** Stable handle for finding the product again (metadata, since product ids differ per account). */
  key: 'upiik_premium',
} as const;

export const PREMIUM_PRICES = {
  monthly: { lookupKey: 'upiik_premium_monthly', unitAmount: 400, currency: 'eur', interval: 'month' },
  yearly: { lookupKey: 'upiik_premium_yearly', unitAmount: 3000, currency: 'eur', interval: 'year' },
} as const;

/**
 * The events the webhook endpoint subscribes to: the seed's eight, checkout completion, and the
 * money that leaves after a payment (refunds, disputes). The Pulumi-declared endpoint, the local
 * seed, the handler and replay all read this list. Replay filters `/v1/events` by it, and Stripe
 * takes at most 20 types per listing: keep it at 20 or fewer.
 */
export const WEBHOOK_EVENTS = [
  'checkout.session.completed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'setup_intent.succeeded',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'charge.refunded',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.dispute.created',
  'charge.dispute.updated',
  'charge.dispute.closed',
  'charge.dispute.funds_withdrawn',
  'charge.dispute.funds_reinstated',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** The service's webhook route, relative to its base URL. */
export const WEBHOOK_PATH = '/api/webhooks/stripe';
