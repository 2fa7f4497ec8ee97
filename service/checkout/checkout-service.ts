import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import type { AuthenticatedUser } from '../security';
import type { Clock } from '../shared/clock';
import type { Config } from '../shared/config';
import type { Database } from '../shared/db';
import { conflict, notFound } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { PaymentObserver } from '../shared/observer';
import type { Store } from '../shared/store';
import { stripeFailure } from '../shared/stripe-errors';
import { type Plan, PREMIUM_STATUSES, priceIdFor } from './plans';
import * as repo from './repository';

export interface CheckoutDeps {
  config: Config;
  db: Database;
  store: Store;
  stripe: Stripe;
  logger: Logger;
  clock: Clock;
  observer: PaymentObserver;
}

export interface SubscriptionView {
  userId: string;
  premium: boolean;
  subscription: null | {
    id: string;
    plan: string;
    status: string;
    amount: number | null;
    currency: string | null;
    interval: string | null;
    currentPeriodEnd: string | null;
    cancelAtPeriodEnd: boolean;
    canceledAt: string | null;
  };
}

/** Double clicks inside this window get the same Checkout Session back (Stripe idempotency replay). */
const CHECKOUT_DEDUP_WINDOW_MS = 60_000;

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 24);
}

export class CheckoutService {
  constructor(private readonly deps: CheckoutDeps) {}

  async createCheckoutSession(user: AuthenticatedUser, plan: Plan): Promise<{ id: string; url: string }> {
    const { db, stripe, config, clock } = this.deps;
    await repo.upsertUser(db, user);
    const blocking = await repo.findBlockingSubscription(db, user.id);
    if (blocking) {
      throw conflict(
        `You already have a ${blocking.status} ${blocking.plan} subscription; manage it from the billing portal`,
        'subscription_exists',
      );
    }
    const customerId = await this.ensureCustomer(user);
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: 'subscription',
      customer: customerId,
      client_reference_id: user.id,
      line_items: [{ price: priceIdFor(plan, config.stripe.prices), quantity: 1 }],
      success_url: config.urls.checkoutSuccess,
      cancel_url: config.urls.checkoutCancel,
      metadata: { userId: user.id, plan },
      subscription_data: { metadata: { userId: user.id, plan } },
    };
    const bucket = Math.floor(clock.now().getTime() / CHECKOUT_DEDUP_WINDOW_MS);
    try {
      const session = await stripe.checkout.sessions.create(params, {
        idempotencyKey: `checkout-session:${user.id}:${digest(params)}:${bucket}`,
      });
      if (!session.url) throw new Error(`Checkout Session ${session.id} has no url`);
      this.deps.observer.checkoutCreated({ plan, userId: user.id });
      this.deps.logger.info('checkout session created', { userId: user.id, plan, sessionId: session.id, customerId });
      return { id: session.id, url: session.url };
    } catch (err) {
      throw stripeFailure(err, 'checkout session creation');
    }
  }

  async createPortalSession(user: AuthenticatedUser): Promise<{ url: string }> {
    const { db, stripe, config } = this.deps;
    const customerId = await repo.findCustomerId(db, user.id);
    if (!customerId) throw notFound('No billing account yet: start a subscription first', 'no_billing_account');
    const params: Stripe.BillingPortal.SessionCreateParams = { customer: customerId, return_url: config.urls.portalReturn };
    const bucket = Math.floor(this.deps.clock.now().getTime() / CHECKOUT_DEDUP_WINDOW_MS);
    try {
      const session = await stripe.billingPortal.sessions.create(params, {
        idempotencyKey: `portal-session:${user.id}:${digest(params)}:${bucket}`,
      });
      return { url: session.url };
    } catch (err) {
      throw stripeFailure(err, 'billing portal session creation');
    }
  }

  async getSubscription(userId: string): Promise<SubscriptionView> {
    const sub = await repo.findCurrentSubscription(this.deps.db, userId);
    return {
      userId,
      premium: sub !== undefined && PREMIUM_STATUSES.includes(sub.status),
      subscription: sub
        ? {
            id: sub.id,
            plan: sub.plan,
            status: sub.status,
            amount: sub.amount,
            currency: sub.currency,
            interval: sub.interval,
            currentPeriodEnd: sub.current_period_end?.toISOString() ?? null,
            cancelAtPeriodEnd: sub.cancel_at_period_end,
            canceledAt: sub.canceled_at?.toISOString() ?? null,
          }
        : null,
    };
  }

  /**
   * Exactly one Stripe customer per user, even for two concurrent first checkouts: a short store
   * lock serialises creation across instances, the DB unique constraint is the last word, and a
   * customer created by an earlier attempt whose DB write failed is found again (by email and
   * metadata.userId) instead of created twice.
   */
  async ensureCustomer(user: AuthenticatedUser): Promise<string> {
    const { db, store } = this.deps;
    const existing = await repo.findCustomerId(db, user.id);
    if (existing) return existing;
    return store.withLock(`stripe-customer:${user.id}`, { ttlMs: 20_000, waitMs: 15_000 }, async () => {
      const linked = await repo.findCustomerId(db, user.id);
      if (linked) return linked;
      const customer = (await this.findOrphanCustomer(user)) ?? (await this.createCustomer(user));
      const customerId = await repo.linkCustomer(db, { userId: user.id, customerId: customer.id, livemode: customer.livemode });
      this.deps.logger.info('stripe customer linked', { userId: user.id, customerId });
      return customerId;
    });
  }

  /**
   * A customer an earlier attempt created in Stripe but never linked here (its database write
   * failed). By email first: the list is read-after-write consistent, so an attempt seconds ago is
   * found. Then by `metadata.userId` through search, which also finds the customer of a user without
   * an email (or whose email changed); search lags writes by up to a minute on Stripe, which the
   * email lookup and the idempotency key (24 h) cover. Never by email alone: a family sharing an
   * address must not share a customer.
   */
  private async findOrphanCustomer(user: AuthenticatedUser): Promise<Stripe.Customer | undefined> {
    try {
      if (user.email) {
        const list = await this.deps.stripe.customers.list({ email: user.email, limit: 20 });
        const byEmail = list.data.find((c) => c.metadata?.userId === user.id);
        if (byEmail) return byEmail;
      }
      // User ids never contain quotes or backslashes (the token's `sub` pattern), so the query is literal.
      const found = await this.deps.stripe.customers.search({ query: `metadata['userId']:'${user.id}'`, limit: 10 });
      return found.data.find((c) => c.metadata?.userId === user.id);
    } catch (err) {
      throw stripeFailure(err, 'customer lookup');
    }
  }

  private async createCustomer(user: AuthenticatedUser): Promise<Stripe.Customer> {
    const params: Stripe.CustomerCreateParams = {
      ...(user.email ? { email: user.email } : {}),
      metadata: { userId: user.id, ...(user.city ? { city: user.city } : {}) },
    };
    try {
      return await this.deps.stripe.customers.create(params, { idempotencyKey: `customer-create:${user.id}:${digest(params)}` });
    } catch (err) {
      throw stripeFailure(err, 'customer creation');
    }
  }
}
