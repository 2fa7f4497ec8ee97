import * as pulumi from '@pulumi/pulumi';
import { PriceProvider, ProductProvider } from './catalog-providers';
import { WEBHOOK_ENDPOINT_SECRET_OUTPUTS, WebhookEndpointProvider } from './webhook-endpoint-provider';

type InputsOf<T> = { [K in keyof T]: pulumi.Input<T[K]> };

export class StripeProduct extends pulumi.dynamic.Resource {
  declare public readonly productId: pulumi.Output<string>;
  constructor(name: string, args: InputsOf<import('./catalog-providers').ProductInputs>, opts?: pulumi.CustomResourceOptions) {
    super(new ProductProvider(), name, { ...args, productId: undefined, active: undefined }, opts, 'stripe', 'Product');
  }
}

export class StripePrice extends pulumi.dynamic.Resource {
  declare public readonly priceId: pulumi.Output<string>;
  constructor(name: string, args: InputsOf<import('./catalog-providers').PriceInputs>, opts?: pulumi.CustomResourceOptions) {
    super(new PriceProvider(), name, { ...args, priceId: undefined, active: undefined }, opts, 'stripe', 'Price');
  }
}

/** Adds the options every webhook endpoint needs: its signing secret is a secret output. */
export function webhookEndpointOptions(opts?: pulumi.CustomResourceOptions): pulumi.CustomResourceOptions {
  return { ...opts, additionalSecretOutputs: [...new Set([...(opts?.additionalSecretOutputs ?? []), ...WEBHOOK_ENDPOINT_SECRET_OUTPUTS])] };
}

export class StripeWebhookEndpoint extends pulumi.dynamic.Resource {
  declare public readonly endpointId: pulumi.Output<string>;
  /** The URL registered in Stripe: url with the API version as a query parameter. */
  declare public readonly endpointUrl: pulumi.Output<string>;
  /** Encrypted in state (additionalSecretOutputs); write it to Secrets Manager, never export it. */
  declare public readonly secret: pulumi.Output<string>;
  constructor(name: string, args: InputsOf<import('./webhook-endpoint-provider').WebhookEndpointInputs>, opts?: pulumi.CustomResourceOptions) {
    super(new WebhookEndpointProvider(), name, { ...args, endpointId: undefined, endpointUrl: undefined, status: undefined, secret: undefined }, webhookEndpointOptions(opts), 'stripe', 'WebhookEndpoint');
  }
}
