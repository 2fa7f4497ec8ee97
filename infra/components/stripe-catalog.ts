import * as pulumi from '@pulumi/pulumi';
import type Stripe from 'stripe';
import { PREMIUM_PRICES, PREMIUM_PRODUCT, WEBHOOK_EVENTS, WEBHOOK_PATH } from '../../service/shared/catalog';
import { StripePrice, StripeProduct, StripeWebhookEndpoint } from '../stripe/resources';

export interface StripeCatalogArgs {
  /** Public base URL of the service (https://payments.example): the endpoint is <base>/api/webhooks/stripe. */
  serviceUrl: string;
  apiVersion: string;
  environment: string;
  /** Explicit adoption of an endpoint that already exists on the URL (see the provider). */
  adoptEndpointId?: string;
  adoptedSecret?: pulumi.Input<string>;
}

/**
 * The Stripe side of the stack: Upiik Premium, its monthly and yearly prices (service/shared/catalog.ts)
 * and the webhook endpoint the service verifies. Its signing secret is an output for the Secrets
 * component only.
 */
export class StripeCatalog extends pulumi.ComponentResource {
  public readonly productId: pulumi.Output<string>;
  public readonly monthlyPriceId: pulumi.Output<string>;
  public readonly yearlyPriceId: pulumi.Output<string>;
  public readonly webhookEndpointId: pulumi.Output<string>;
  /** The service's webhook URL (what STRIPE_WEBHOOK_URL names). */
  public readonly webhookUrl: string;
  /** The URL Stripe holds for the endpoint: webhookUrl?api_version=<apiVersion> (see webhook-endpoint-rules.ts). */
  public readonly webhookEndpointUrl: pulumi.Output<string>;
  /** Secret: goes to Secrets Manager, never to a stack output. */
  public readonly webhookSecret: pulumi.Output<string>;

  constructor(name: string, args: StripeCatalogArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:stripe:Catalog', name, {}, opts);
    if (!/^https:\/\/[^/]+$/.test(args.serviceUrl)) throw new Error(`StripeCatalog: serviceUrl must be https://host with no path, got ${args.serviceUrl}`);
    if (args.adoptEndpointId && !args.adoptedSecret) throw new Error('StripeCatalog: adoptEndpointId needs adoptedSecret (stripeAdoptedWebhookSecret)');
    const parent = { parent: this };

    const product = new StripeProduct(`${name}-product`, { key: PREMIUM_PRODUCT.key, name: PREMIUM_PRODUCT.name, description: PREMIUM_PRODUCT.description }, parent);
    const price = (plan: keyof typeof PREMIUM_PRICES) => {
      const p = PREMIUM_PRICES[plan];
      return new StripePrice(`${name}-${plan}-price`, {
        productId: product.productId,
        unitAmount: p.unitAmount,
        currency: p.currency,
        interval: p.interval,
        lookupKey: p.lookupKey,
        nickname: `${PREMIUM_PRODUCT.name} (${plan})`,
      }, parent);
    };
    const monthly = price('monthly');
    const yearly = price('yearly');

    this.webhookUrl = `${args.serviceUrl}${WEBHOOK_PATH}`;
    const endpoint = new StripeWebhookEndpoint(`${name}-webhook-endpoint`, {
      url: this.webhookUrl,
      // Typed against the SDK's list: an event type Stripe does not know fails typecheck, not the deploy.
      enabledEvents: [...WEBHOOK_EVENTS] satisfies Stripe.WebhookEndpointCreateParams.EnabledEvent[],
      description: `Upiik payments service (${args.environment}), managed by Pulumi`,
      apiVersion: args.apiVersion,
      ...(args.adoptEndpointId ? { adoptEndpointId: args.adoptEndpointId, adoptedSecret: pulumi.secret(args.adoptedSecret as pulumi.Input<string>) } : {}),
    }, parent);

    this.productId = product.productId;
    this.monthlyPriceId = monthly.priceId;
    this.yearlyPriceId = yearly.priceId;
    this.webhookEndpointId = endpoint.endpointId;
    this.webhookEndpointUrl = endpoint.endpointUrl;
    this.webhookSecret = pulumi.secret(endpoint.secret);
    this.registerOutputs({
      productId: this.productId,
      monthlyPriceId: this.monthlyPriceId,
      yearlyPriceId: this.yearlyPriceId,
      webhookEndpointId: this.webhookEndpointId,
      webhookEndpointUrl: this.webhookEndpointUrl,
      webhookSecret: this.webhookSecret,
    });
  }
}
