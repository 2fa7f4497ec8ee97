import type * as pulumi from '@pulumi/pulumi';
import { connectStripe, isMissing } from './connect';

/**
 * Dynamic provider for the Stripe webhook endpoint. url, events and description update in place.
 * `api_version` cannot be changed on an existing endpoint (the API's update takes no api_version),
 * so a new version replaces the endpoint, delete-first (two endpoints on one URL would be refused
 * by create, see below); the replacement's new signing secret flows into Secrets Manager, and the
 * service picks it up on its next deployment (docs/infra.md).
 *
 * The signing secret is returned only by the create call. It is an output of this provider and the
 * resource marks it with `additionalSecretOutputs` (returning pulumi.secret() from a dynamic
 * provider fails), so it is encrypted in state and never shown in plain text.
 */
export interface WebhookEndpointInputs {
  url: string;
  enabledEvents: string[];
  description: string;
  apiVersion: string;
  /** Take over this existing endpoint (same URL) instead of refusing; needs adoptedSecret. */
  adoptEndpointId?: string;
  /** The adopted endpoint's signing secret, which Stripe cannot return again. */
  adoptedSecret?: string;
}
export interface WebhookEndpointOutputs extends WebhookEndpointInputs {
  endpointId: string;
  secret: string;
}

/** Outputs that must be marked secret on the resource. */
export const WEBHOOK_ENDPOINT_SECRET_OUTPUTS = ['secret', 'adoptedSecret'];

export class WebhookEndpointProvider implements pulumi.dynamic.ResourceProvider<WebhookEndpointInputs, WebhookEndpointOutputs> {
  private secretKey?: string;

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.secretKey = req.config.get('stripeSecretKey');
  }

  async check(_olds: WebhookEndpointInputs, news: WebhookEndpointInputs): Promise<pulumi.dynamic.CheckResult<WebhookEndpointInputs>> {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!/^https?:\/\//.test(news.url)) failures.push({ property: 'url', reason: 'must be an http(s) URL' });
    if (!Array.isArray(news.enabledEvents) || news.enabledEvents.length === 0) failures.push({ property: 'enabledEvents', reason: 'must list at least one event type' });
    if (news.adoptEndpointId && !news.adoptedSecret?.startsWith('whsec_'))
      failures.push({ property: 'adoptedSecret', reason: 'adopting an endpoint needs its current signing secret (whsec_...): Stripe cannot return it again' });
    return { inputs: news, failures };
  }

  async diff(_id: string, olds: WebhookEndpointOutputs, news: WebhookEndpointInputs): Promise<pulumi.dynamic.DiffResult> {
    const sameEvents = [...olds.enabledEvents].sort().join(',') === [...news.enabledEvents].sort().join(',');
    const replaces = olds.apiVersion === news.apiVersion ? [] : ['apiVersion'];
    const changes = replaces.length > 0 || olds.url !== news.url || !sameEvents || olds.description !== news.description;
    return { changes, replaces, deleteBeforeReplace: replaces.length > 0 };
  }

  async create(inputs: WebhookEndpointInputs): Promise<pulumi.dynamic.CreateResult<WebhookEndpointOutputs>> {
    const stripe = connectStripe(this.secretKey);
    let sameUrl;
    for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) {
      if (endpoint.url === inputs.url) {
        sameUrl = endpoint;
        break;
      }
    }
    if (sameUrl && sameUrl.id !== inputs.adoptEndpointId) {
      throw new Error(
        `A Stripe webhook endpoint for ${inputs.url} already exists (${sameUrl.id}). Refusing to adopt it: Stripe returns an ` +
          `endpoint's signing secret only when the endpoint is created, so Pulumi could not write it into Secrets Manager and ` +
          `the service would reject every event. Either delete ${sameUrl.id} in the Stripe Dashboard so Pulumi creates a new ` +
          `endpoint (with a new secret), or adopt it explicitly: pulumi config set stripeAdoptEndpointId ${sameUrl.id} and ` +
          `pulumi config set --secret stripeAdoptedWebhookSecret <its current whsec_ secret>.`,
      );
    }
    if (sameUrl) {
      if (sameUrl.api_version && sameUrl.api_version !== inputs.apiVersion) {
        throw new Error(`Cannot adopt ${sameUrl.id}: it uses API version ${sameUrl.api_version}, not ${inputs.apiVersion}, and Stripe cannot change it in place`);
      }
      const updated = await stripe.webhookEndpoints.update(sameUrl.id, { enabled_events: inputs.enabledEvents as never, description: inputs.description });
      return { id: updated.id, outs: { ...inputs, endpointId: updated.id, secret: inputs.adoptedSecret as string } };
    }
    if (inputs.adoptEndpointId) throw new Error(`stripeAdoptEndpointId ${inputs.adoptEndpointId}: no endpoint with URL ${inputs.url} to adopt`);
    const created = await stripe.webhookEndpoints.create({
      url: inputs.url,
      enabled_events: inputs.enabledEvents as never,
      description: inputs.description,
      api_version: inputs.apiVersion as never,
      metadata: { managed_by: 'pulumi' },
    });
    if (!created.secret) throw new Error(`Stripe created ${created.id} without returning its signing secret; delete it and retry`);
    return { id: created.id, outs: { ...inputs, endpointId: created.id, secret: created.secret } };
  }

  async update(id: string, olds: WebhookEndpointOutputs, news: WebhookEndpointInputs): Promise<pulumi.dynamic.UpdateResult<WebhookEndpointOutputs>> {
    await connectStripe(this.secretKey).webhookEndpoints.update(id, {
      url: news.url,
      enabled_events: news.enabledEvents as never,
      description: news.description,
    });
    return { outs: { ...news, endpointId: id, secret: olds.secret } };
  }

  async delete(id: string): Promise<void> {
    try {
      await connectStripe(this.secretKey).webhookEndpoints.del(id);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }
}
