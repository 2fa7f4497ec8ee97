import type Stripe from 'stripe';
import { PREMIUM_PRICES, PREMIUM_PRODUCT, WEBHOOK_EVENTS } from '../../service/shared/catalog';

export interface SeededCatalog {
  productId: string;
  prices: { monthly: string; yearly: string };
}

/**
 * Makes sure the Premium product and both prices exist in a (sandbox or test-mode) account, reusing
 * them by lookup key so re-running is harmless. Production catalogs are owned by Pulumi instead.
 */
export async function ensureCatalog(stripe: Stripe): Promise<SeededCatalog> {
  const existing = await stripe.prices.list({
    lookup_keys: [PREMIUM_PRICES.monthly.lookupKey, PREMIUM_PRICES.yearly.lookupKey],
    active: true,
    limit: 10,
  });
  const byKey = new Map(existing.data.map((p) => [p.lookup_key, p]));
  const monthly = byKey.get(PREMIUM_PRICES.monthly.lookupKey);
  const yearly = byKey.get(PREMIUM_PRICES.yearly.lookupKey);
  if (monthly && yearly) {
    const productId = typeof monthly.product === 'string' ? monthly.product : monthly.product.id;
    return { productId, prices: { monthly: monthly.id, yearly: yearly.id } };
  }
  const product = await stripe.products.create(
    { name: PREMIUM_PRODUCT.name, description: PREMIUM_PRODUCT.description, metadata: { key: PREMIUM_PRODUCT.key } },
  );
  const create = (plan: 'monthly' | 'yearly') =>
    stripe.prices.create({
      product: product.id,
      unit_amount: PREMIUM_PRICES[plan].unitAmount,
      currency: PREMIUM_PRICES[plan].currency,
      recurring: { interval: PREMIUM_PRICES[plan].interval },
      lookup_key: PREMIUM_PRICES[plan].lookupKey,
      // Takes the lookup key over from any earlier (e.g. archived) price in this account.
      transfer_lookup_key: true,
      metadata: { plan },
    });
  const [m, y] = [await create('monthly'), await create('yearly')];
  return { productId: product.id, prices: { monthly: m.id, yearly: y.id } };
}

/**
 * Registers a webhook endpoint for the service's events and returns its signing secret, which
 * Stripe reveals only on creation. An existing endpoint for the same URL is replaced, because its
 * secret cannot be read back (local use only; in AWS, Pulumi owns the endpoint).
 */
export async function registerWebhookEndpoint(
  stripe: Stripe,
  url: string,
  apiVersion: string,
): Promise<{ id: string; secret: string }> {
  for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) {
    if (endpoint.url === url) await stripe.webhookEndpoints.del(endpoint.id);
  }
  const created = await stripe.webhookEndpoints.create({
    url,
    enabled_events: [...WEBHOOK_EVENTS],
    api_version: apiVersion as Stripe.WebhookEndpointCreateParams.ApiVersion,
    description: 'Upiik payments service (local)',
  });
  if (!created.secret) throw new Error(`Webhook endpoint ${created.id} was created without a signing secret`);
  return { id: created.id, secret: created.secret };
}
