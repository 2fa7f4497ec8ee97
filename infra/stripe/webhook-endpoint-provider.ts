import type * as pulumi from '@pulumi/pulumi';
import type Stripe from 'stripe';
import { asReadInputs, connectStripe, isMissing } from './connect';
import {
  MAX_WEBHOOK_ENDPOINTS,
  VERSION_PARAM,
  classifyExisting,
  enabledEventsProblems,
  registeredUrl,
  sameEvents,
  serviceUrlOf,
} from './webhook-endpoint-rules';

/**
 * Dynamic provider for the Stripe webhook endpoint.
 *
 * - url, events and description update in place; so does the status: an endpoint found disabled
 *   by `read` (pulumi refresh) is re-enabled by the next update.
 * - `api_version` cannot be changed on an existing endpoint (the update call takes none), so a new
 *   version replaces the endpoint *create-before-delete*: the new endpoint (its own URL, see
 *   registeredUrl) exists before the old one is deleted, so Stripe always has an enabled endpoint
 *   for the service. Its new signing secret flows into Secrets Manager in the same update.
 * - `read` reports what Stripe has (status, url, events, description, version) and an endpoint
 *   deleted in Stripe as gone, so Pulumi drops it from state and the next update creates it.
 *
 * The signing secret is returned only by the create call. It is an output of this provider and the
 * resource marks it with `additionalSecretOutputs` (returning pulumi.secret() from a dynamic
 * provider fails), so it is encrypted in state; `read` carries it over from the state it is given
 * (the engine keeps the secret flag of a property with the same name). Nothing here logs it.
 */
export interface WebhookEndpointInputs {
  /** The service's webhook URL; Stripe holds it with the API version as a query parameter. */
  url: string;
  enabledEvents: string[];
  description: string;
  apiVersion: string;
  /** Take over this existing endpoint instead of refusing; needs adoptedSecret. */
  adoptEndpointId?: string;
  /** The adopted endpoint's signing secret, which Stripe cannot return again. */
  adoptedSecret?: string;
}
export interface WebhookEndpointOutputs extends WebhookEndpointInputs {
  endpointId: string;
  /** The URL registered in Stripe (url + api_version). */
  endpointUrl: string;
  /** Stripe's status: `enabled` or `disabled` (drift, repaired by the next update). */
  status: string;
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
    if (!/^https?:\/\/[^/?#]+/.test(news.url)) failures.push({ property: 'url', reason: 'must be an http(s) URL' });
    else if (new URL(news.url).searchParams.has(VERSION_PARAM)) failures.push({ property: 'url', reason: `must not carry ${VERSION_PARAM}: the provider adds it` });
    for (const reason of enabledEventsProblems(news.enabledEvents)) failures.push({ property: 'enabledEvents', reason });
    if (!/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/.test(news.apiVersion ?? '')) failures.push({ property: 'apiVersion', reason: 'must be a Stripe API version (YYYY-MM-DD or YYYY-MM-DD.release)' });
    if (news.adoptEndpointId && !news.adoptedSecret?.startsWith('whsec_'))
      failures.push({ property: 'adoptedSecret', reason: 'adopting an endpoint needs its current signing secret (whsec_...): Stripe cannot return it again' });
    return { inputs: news, failures };
  }

  async diff(_id: string, olds: WebhookEndpointOutputs, news: WebhookEndpointInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = olds.apiVersion === news.apiVersion ? [] : ['apiVersion'];
    const changes =
      replaces.length > 0 ||
      // State written before endpointUrl existed holds the bare URL: the update registers the versioned one.
      (olds.endpointUrl ?? olds.url) !== registeredUrl(news.url, news.apiVersion) ||
      !sameEvents(olds.enabledEvents, news.enabledEvents) ||
      olds.description !== news.description ||
      (olds.status ?? 'enabled') !== 'enabled' ||
      rolledSecret(_id, olds, news) !== undefined;
    // Create-before-delete: the old endpoint keeps delivering until the new one exists.
    return { changes, replaces, deleteBeforeReplace: false };
  }

  async create(inputs: WebhookEndpointInputs): Promise<pulumi.dynamic.CreateResult<WebhookEndpointOutputs>> {
    const stripe = connectStripe(this.secretKey);
    const all: Stripe.WebhookEndpoint[] = [];
    for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) all.push(endpoint);
    let adopt: Stripe.WebhookEndpoint | undefined;
    for (const endpoint of all) {
      const kind = classifyExisting(endpoint, inputs);
      if (kind === 'adopt') adopt = endpoint;
      if (kind === 'conflict') {
        throw new Error(
          `A Stripe webhook endpoint for ${serviceUrlOf(endpoint.url)} already exists (${endpoint.id}). Refusing to adopt it: Stripe returns an ` +
            `endpoint's signing secret only when the endpoint is created, so Pulumi could not write it into Secrets Manager and ` +
            `the service would reject every event. Either delete ${endpoint.id} in the Stripe Dashboard so Pulumi creates a new ` +
            `endpoint (with a new secret), or adopt it explicitly: pulumi config set stripeAdoptEndpointId ${endpoint.id} and ` +
            `pulumi config set --secret stripeAdoptedWebhookSecret <its current whsec_ secret>.`,
        );
      }
    }
    if (adopt) {
      if (adopt.api_version && adopt.api_version !== inputs.apiVersion) {
        throw new Error(`Cannot adopt ${adopt.id}: it uses API version ${adopt.api_version}, not ${inputs.apiVersion}, and Stripe cannot change it in place`);
      }
      const updated = await stripe.webhookEndpoints.update(adopt.id, {
        url: registeredUrl(inputs.url, inputs.apiVersion),
        enabled_events: inputs.enabledEvents as Stripe.WebhookEndpointUpdateParams.EnabledEvent[],
        description: inputs.description,
        disabled: false,
        // Marks it managed: a later API version change replaces it rather than adopting it again.
        metadata: { managed_by: 'pulumi' },
      });
      return { id: updated.id, outs: outputsOf(updated, inputs, inputs.adoptedSecret as string) };
    }
    if (all.length >= MAX_WEBHOOK_ENDPOINTS) {
      throw new Error(
        `Stripe allows ${MAX_WEBHOOK_ENDPOINTS} webhook endpoints per account and this account has ${all.length}. ` +
          `Creating this endpoint (or the replacement for an API version change, which exists beside the old one until the update ends) ` +
          `needs a free slot: delete an endpoint nobody uses in the Stripe Dashboard and run pulumi up again.`,
      );
    }
    const created = await stripe.webhookEndpoints.create({
      url: registeredUrl(inputs.url, inputs.apiVersion),
      enabled_events: inputs.enabledEvents as Stripe.WebhookEndpointCreateParams.EnabledEvent[],
      description: inputs.description,
      api_version: inputs.apiVersion as Stripe.WebhookEndpointCreateParams.ApiVersion,
      metadata: { managed_by: 'pulumi' },
    });
    if (!created.secret) throw new Error(`Stripe created ${created.id} without returning its signing secret; delete it and retry`);
    return { id: created.id, outs: outputsOf(created, inputs, created.secret) };
  }

  async read(id: string, props?: WebhookEndpointOutputs): Promise<pulumi.dynamic.ReadResult<WebhookEndpointOutputs>> {
    let endpoint: Stripe.WebhookEndpoint;
    try {
      endpoint = await connectStripe(this.secretKey).webhookEndpoints.retrieve(id);
    } catch (error) {
      // Deleted in Stripe: no id tells Pulumi the resource is gone; the next update creates it.
      if (isMissing(error)) return {};
      throw error;
    }
    const known = props ?? ({} as Partial<WebhookEndpointOutputs>);
    const inputs: WebhookEndpointInputs = {
      url: serviceUrlOf(endpoint.url),
      enabledEvents: [...endpoint.enabled_events],
      description: endpoint.description ?? '',
      // null = the account's default version, which adoption accepted: keep the declared one.
      apiVersion: endpoint.api_version ?? (known.apiVersion as string),
      ...(known.adoptEndpointId ? { adoptEndpointId: known.adoptEndpointId } : {}),
      ...(known.adoptedSecret ? { adoptedSecret: known.adoptedSecret } : {}),
    };
    return { id: endpoint.id, props: outputsOf(endpoint, inputs, known.secret as string), inputs: asReadInputs(inputs) };
  }

  async update(id: string, olds: WebhookEndpointOutputs, news: WebhookEndpointInputs): Promise<pulumi.dynamic.UpdateResult<WebhookEndpointOutputs>> {
    const updated = await connectStripe(this.secretKey).webhookEndpoints.update(id, {
      url: registeredUrl(news.url, news.apiVersion),
      enabled_events: news.enabledEvents as Stripe.WebhookEndpointUpdateParams.EnabledEvent[],
      description: news.description,
      // Repairs a disabled endpoint. Stripe does not resend events created while it was disabled:
      // replay them from the Events API (docs/infra.md, "Stripe drift").
      disabled: false,
    });
    return { outs: outputsOf(updated, news, rolledSecret(id, olds, news) ?? olds.secret) };
  }

  async delete(id: string): Promise<void> {
    try {
      await connectStripe(this.secretKey).webhookEndpoints.del(id);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }
}

/**
 * A signing secret rolled in the Stripe Dashboard (runbooks/rotate-webhook-secret.md): Stripe shows
 * the new secret to a person only, so it comes back as the adopted secret of this same endpoint.
 * Undefined when nothing was rolled.
 */
function rolledSecret(id: string, olds: WebhookEndpointOutputs, news: WebhookEndpointInputs): string | undefined {
  return news.adoptEndpointId === id && news.adoptedSecret && news.adoptedSecret !== olds.secret ? news.adoptedSecret : undefined;
}

/** Outputs from what Stripe answered; no undefined values (the engine's protobuf structs refuse them). */
function outputsOf(endpoint: Stripe.WebhookEndpoint, inputs: WebhookEndpointInputs, secret: string): WebhookEndpointOutputs {
  const outs: WebhookEndpointOutputs = { ...inputs, endpointId: endpoint.id, endpointUrl: endpoint.url, status: endpoint.status, secret };
  for (const key of Object.keys(outs) as (keyof WebhookEndpointOutputs)[]) if (outs[key] === undefined) delete outs[key];
  return outs;
}
