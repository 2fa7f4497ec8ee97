import type Stripe from 'stripe';

/**
 * Who pays the smoke user's Checkout Session, as a customer would. The decision logic (run.ts) is
 * the same everywhere; only this adapter differs:
 *
 * - The Stripe sandbox (local, CI, the rehearsal) completes the session itself, exactly as the
 *   hosted page's button does (`POST /_sandbox/checkout_sessions/:id/complete` with `pm_card_visa`):
 *   the whole Checkout path runs, `checkout.session.completed` included.
 * - Stripe test mode (staging) has no server-side API that completes a hosted Checkout Session: only
 *   a browser on checkout.stripe.com can. The honest equivalent through the API is what the session
 *   would have produced: the monthly subscription, created directly for the session's customer
 *   with the session's price and metadata, paid at once with the test card `pm_card_visa`
 *   (`error_if_incomplete`: a refused card is an error here, not an incomplete subscription). The
 *   session is expired first so nobody can complete it later and subscribe the smoke user twice.
 *   Everything the service learns still arrives by signed webhooks (`customer.subscription.*`,
 *   `invoice.payment_succeeded`); what this path does not exercise is `checkout.session.completed`.
 */
export interface CheckoutPayer {
  /** For the report: which path paid. */
  readonly path: string;
  pay(session: Stripe.Checkout.Session, userId: string): Promise<{ subscriptionId: string; found: string }>;
}

export const PAYING_TEST_CARD = 'pm_card_visa';

/** The sandbox's control API (its base URL is the Stripe API base the SDK uses). */
export function sandboxCheckoutPayer(sandboxUrl: string, fetchFn: typeof fetch): CheckoutPayer {
  return {
    path: 'Stripe sandbox: Checkout Session completed as the customer would',
    async pay(session) {
      const res = await fetchFn(`${sandboxUrl}/_sandbox/checkout_sessions/${encodeURIComponent(session.id)}/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payment_method: PAYING_TEST_CARD }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await res.json().catch(() => null)) as { subscription?: string | null; status?: string; error?: { message?: string } } | null;
      if (res.status !== 200) throw new Error(`the sandbox refused to complete ${session.id}: ${res.status} ${body?.error?.message ?? ''}`.trim());
      if (!body?.subscription) throw new Error(`the sandbox completed ${session.id} (${body?.status ?? 'unknown status'}) without a subscription`);
      return { subscriptionId: body.subscription, found: `${session.id} completed with ${PAYING_TEST_CARD}: ${body.subscription}` };
    },
  };
}

/** Stripe test mode: the subscription the session would have created, paid with a test card. */
export function testModeSubscriptionPayer(stripe: Stripe): CheckoutPayer {
  return {
    path: 'Stripe test mode: the session\'s subscription created through the API with a test card',
    async pay(session, userId) {
      const customer = typeof session.customer === 'string' ? session.customer : session.customer?.id;
      if (!customer) throw new Error(`checkout session ${session.id} has no customer`);
      const items = await stripe.checkout.sessions.listLineItems(session.id, { limit: 10 });
      const prices = items.data.map((item) => item.price?.id).filter((id): id is string => typeof id === 'string');
      if (prices.length !== 1) throw new Error(`checkout session ${session.id} has ${prices.length} priced line items, expected the one plan`);
      // Expired first: from here on nobody can complete the session and subscribe the user twice.
      await stripe.checkout.sessions.expire(session.id);
      const card = await stripe.paymentMethods.attach(PAYING_TEST_CARD, { customer });
      const subscription = await stripe.subscriptions.create(
        {
          customer,
          items: [{ price: prices[0]!, quantity: 1 }],
          default_payment_method: card.id,
          payment_behavior: 'error_if_incomplete',
          // The service's own subscription_data metadata, so its webhooks resolve the user the same way.
          metadata: { ...(session.metadata ?? {}), userId },
        },
        { idempotencyKey: `smoke-subscription:${session.id}` },
      );
      if (subscription.status !== 'active') throw new Error(`subscription ${subscription.id} is ${subscription.status}, not active, after paying with ${PAYING_TEST_CARD}`);
      return { subscriptionId: subscription.id, found: `${subscription.id} created for ${customer} with ${PAYING_TEST_CARD} (session ${session.id} expired)` };
    },
  };
}
