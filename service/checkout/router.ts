import { Router } from 'express';
import { z } from 'zod';
import { maintenanceForRequest } from '../maintenance';
import { type AuthConfig, currentUser, requireUser } from '../security';
import type { Clock } from '../shared/clock';
import { badRequest, serviceUnavailable } from '../shared/errors';
import type { Store } from '../shared/store';
import type { CheckoutService } from './checkout-service';
import { isPlan, PLANS } from './plans';

const checkoutBody = z.object({ plan: z.string() }).strict();

export interface CheckoutRouterDeps {
  checkout: CheckoutService;
  store: Store;
  clock: Clock;
  auth: AuthConfig;
}

/** `/api/payments/*` for users of the Upiik app. */
export function checkoutRouter(deps: CheckoutRouterDeps): Router {
  const router = Router();
  const user = requireUser(deps.auth);

  /** Checkout and portal pause during maintenance; webhooks and reads keep flowing. */
  const refuseDuringMaintenance = async (): Promise<void> => {
    const state = await maintenanceForRequest(deps.store, deps.clock.now());
    // The flag cannot be read (Redis down): refuse, as maintenance would. A checkout taken during a
    // rollback nobody can see is worse than a user retrying in a minute.
    if (state.unknown) throw serviceUnavailable('Payments are temporarily unavailable; please try again shortly', 'maintenance_unknown', undefined, 30);
    if (!state.maintenance) return;
    const retryAfter = state.until ? Math.max(1, Math.ceil((Date.parse(state.until) - deps.clock.now().getTime()) / 1000)) : 300;
    throw serviceUnavailable('Payments are under maintenance; please try again later', 'maintenance', undefined, retryAfter);
  };

  router.post('/checkout-session', user, async (req, res) => {
    const parsed = checkoutBody.safeParse(req.body ?? {});
    if (!parsed.success) throw badRequest('Body must be {"plan": "monthly" | "yearly"}', 'invalid_body');
    const plan = parsed.data.plan;
    if (!isPlan(plan)) {
      throw badRequest(`Unknown plan; expected one of ${PLANS.join(', ')}`, 'invalid_plan', { param: 'plan' });
    }
    await refuseDuringMaintenance();
    res.json(await deps.checkout.createCheckoutSession(currentUser(res), plan));
  });

  router.post('/portal-session', user, async (_req, res) => {
    await refuseDuringMaintenance();
    res.json(await deps.checkout.createPortalSession(currentUser(res)));
  });

  router.get('/subscription', user, async (_req, res) => {
    res.json(await deps.checkout.getSubscription(currentUser(res).id));
  });

  router.get('/status', async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    // The banner shows the last known state (marked unknown) rather than failing while Redis is down.
    res.json(await maintenanceForRequest(deps.store, deps.clock.now()));
  });

  return router;
}
