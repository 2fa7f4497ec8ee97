import type Stripe from 'stripe';
import { invalidRequest } from '../http/errors';
import { parseParams } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { typeMatches } from '../events/emit';
import { listShape, mustGet } from './common';

export function registerEvents(router: Router): void {
  router.get('/v1/events/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.events, path.id as string, 'event');
  });

  router.get('/v1/events', ({ engine, params, url }) => {
    const p = parseParams<Stripe.EventListParams>(
      params,
      listShape({ type: 'string', types: 'strings', delivery_success: 'boolean' }),
    );
    if (p.type && p.types) throw invalidRequest('You may only specify one of these parameters: type, types.', 'types');
    if (p.types && p.types.length > 20) throw invalidRequest('You may pass at most 20 event types.', 'types');
    return paginate(engine.state.events.values(), p as never, url, (event) =>
      (!p.type || typeMatches(p.type, event.type)) && (!p.types || p.types.includes(event.type)),
    );
  });
}
