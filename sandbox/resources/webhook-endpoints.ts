import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { invalidRequest } from '../http/errors';
import { mergeMetadata, parseParams } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import type { StoredWebhookEndpoint } from '../state';
import { isStripeEventType } from '../events/event-types';
import { listShape, mustGet } from './common';

/** The API shows an endpoint's secret only in the response that created it. */
function publicView(endpoint: StoredWebhookEndpoint): Stripe.WebhookEndpoint {
  const { secret: _secret, ...rest } = endpoint;
  return rest;
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidRequest(`Invalid URL: ${url}`, 'url', 'url_invalid');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidRequest(`Invalid URL: ${url}`, 'url', 'url_invalid');
}

function checkEvents(events: string[]): void {
  if (events.length === 0) throw invalidRequest('Missing required param: enabled_events.', 'enabled_events', 'parameter_missing');
  events.forEach((e, i) => {
    // Stripe accepts `*` or an event type it has; prefix wildcards only work in event list filters.
    if (e !== '*' && !isStripeEventType(e)) throw invalidRequest(`Invalid enabled_events[${i}]: ${e} is not a valid event type`, `enabled_events[${i}]`);
  });
}

export function registerWebhookEndpoints(router: Router): void {
  router.post('/v1/webhook_endpoints', ({ engine, params }) => {
    const p = parseParams<Stripe.WebhookEndpointCreateParams>(
      params,
      { url: 'string', enabled_events: 'strings', description: 'string', metadata: 'metadata', api_version: 'string', connect: 'boolean' },
      ['url', 'enabled_events'],
    );
    checkUrl(p.url);
    checkEvents(p.enabled_events);
    const endpoint: StoredWebhookEndpoint = {
      id: newId('we'),
      object: 'webhook_endpoint',
      api_version: p.api_version ?? null,
      application: null,
      created: engine.now(),
      description: p.description ?? null,
      enabled_events: p.enabled_events,
      livemode: false,
      metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
      secret: `whsec_${newId('x', 32).slice(2)}`,
      status: 'enabled',
      url: p.url,
    };
    engine.state.webhookEndpoints.set(endpoint.id, endpoint);
    return { ...endpoint };
  });

  router.get('/v1/webhook_endpoints/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return publicView(mustGet(engine.state.webhookEndpoints, path.id as string, 'webhook endpoint'));
  });

  router.post('/v1/webhook_endpoints/:id', ({ engine, path, params }) => updateEndpoint(engine, path.id as string, params));

  router.delete('/v1/webhook_endpoints/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    const endpoint = mustGet(engine.state.webhookEndpoints, path.id as string, 'webhook endpoint');
    engine.state.webhookEndpoints.delete(endpoint.id);
    return { id: endpoint.id, object: 'webhook_endpoint', deleted: true };
  });

  router.get('/v1/webhook_endpoints', ({ engine, params, url }) => {
    const p = parseParams<Stripe.WebhookEndpointListParams>(params, listShape({}));
    const page = paginate(engine.state.webhookEndpoints.values(), p as never, url);
    return { ...page, data: page.data.map(publicView) };
  });
}

function updateEndpoint(engine: Engine, id: string, params: Parameters<typeof parseParams>[0]): Stripe.WebhookEndpoint {
  const endpoint = mustGet(engine.state.webhookEndpoints, id, 'webhook endpoint');
  const p = parseParams<Stripe.WebhookEndpointUpdateParams>(params, {
    url: 'string',
    enabled_events: 'strings',
    description: 'string',
    metadata: 'metadata',
    disabled: 'boolean',
  });
  if (p.url !== undefined) {
    checkUrl(p.url);
    endpoint.url = p.url;
  }
  if (p.enabled_events !== undefined) {
    checkEvents(p.enabled_events);
    endpoint.enabled_events = p.enabled_events;
  }
  if (p.description !== undefined) endpoint.description = (p.description as string) || null;
  if (p.metadata !== undefined) endpoint.metadata = mergeMetadata(endpoint.metadata, p.metadata as Record<string, string> | null);
  if (p.disabled !== undefined) endpoint.status = p.disabled ? 'disabled' : 'enabled';
  return publicView(endpoint);
}
