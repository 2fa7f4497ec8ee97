import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { invalidRequest, resourceMissing } from '../http/errors';
import { parseParams } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { typeMatches } from '../events/emit';
import { listShape } from './common';

/** Stripe lists and retrieves events for 30 days after they are created, on the sandbox clock here. */
export const EVENT_RETENTION_SECONDS = 30 * 86_400;

function retained(engine: Engine, event: Stripe.Event): boolean {
  return event.created >= engine.now() - EVENT_RETENTION_SECONDS;
}

/**
 * `delivery_success=false`: events still owed to at least one endpoint (pending or given up);
 * `true`: every endpoint subscribed at emission acknowledged it. `pending_webhooks` counts the
 * endpoints still owed, so both filters read it.
 */
function deliveryMatches(event: Stripe.Event, filter: boolean | undefined): boolean {
  if (filter === undefined) return true;
  return filter ? event.pending_webhooks === 0 : event.pending_webhooks > 0;
}

export function registerEvents(router: Router): void {
  router.get('/v1/events/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    const event = engine.state.events.get(path.id as string);
    if (!event || !retained(engine, event)) throw resourceMissing('event', path.id as string);
    return event;
  });

  router.get('/v1/events', ({ engine, params, url }) => {
    const p = parseParams<Stripe.EventListParams>(
      params,
      listShape({ type: 'string', types: 'strings', delivery_success: 'boolean' }),
    );
    if (p.type && p.types) throw invalidRequest('You may only specify one of these parameters: type, types.', 'types');
    if (p.types && p.types.length > 20) throw invalidRequest('You may pass at most 20 event types.', 'types');
    return paginate(engine.state.events.values(), p as never, url, (event) =>
      retained(engine, event) &&
      deliveryMatches(event, p.delivery_success) &&
      (!p.type || typeMatches(p.type, event.type)) &&
      (!p.types || p.types.includes(event.type)),
    );
  });
}
