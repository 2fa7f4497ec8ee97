import { Router } from 'express';
import type Stripe from 'stripe';
import { z } from 'zod';
import { loadDashboard, parseDashboardQuery } from '../dashboard';
import { noQueryParameters } from '../http';
import { syncUser } from '../reconciliation';
import { type AuthConfig, currentUser, requireRole, requireUser } from '../security';
import { type Clock, systemClock } from '../shared/clock';
import type { Config } from '../shared/config';
import type { Database } from '../shared/db';
import { badRequest, notFound } from '../shared/errors';
import { stripeFailure } from '../shared/stripe-errors';
import { loadUserRecords } from './repository';

export interface AdminRouterDeps {
  db: Database;
  stripe: Stripe;
  auth: AuthConfig;
  /** Reconciliation (`POST /users/:userId/sync`) needs the configured prices; absent = route not mounted. */
  config?: Config;
  /** "Today" for the dashboard's periods (default: the system clock). */
  clock?: Clock;
}

const USER_ID = /^[A-Za-z0-9_\-:.@]{1,128}$/;

/** `POST /users/:userId/sync` takes no options; `{}` is accepted for clients that always send a body. */
const syncBody = z.object({}).strict();

/** `/api/admin/payments/*`: admin role required on every route. */
export function adminRouter(deps: AdminRouterDeps): Router {
  const router = Router();
  router.use(requireUser(deps.auth), requireRole('admin'));

  // The one admin route with a query string: it validates its own (unknown parameters are a 400 too).
  router.get('/dashboard', async (req, res) => {
    const query = parseDashboardQuery(req.query as Record<string, unknown>, (deps.clock ?? systemClock).now());
    res.json(await loadDashboard(deps.db, query));
  });

  // Past the dashboard, no admin route reads the query string: a parameter there is a caller's
  // mistake, answered 400.
  router.use(noQueryParameters());

  router.get('/users/:userId', async (req, res) => {
    const userId = String(req.params.userId);
    if (!USER_ID.test(userId)) throw badRequest('Invalid user id', 'invalid_user_id', { param: 'userId' });
    const local = await loadUserRecords(deps.db, userId);
    if (!local.user) throw notFound('No such user is known to the payments service', 'user_not_found');
    let stripe: { customer: Stripe.Customer | Stripe.DeletedCustomer; subscriptions: Stripe.Subscription[] } | null = null;
    if (local.customer) {
      try {
        const [customer, subscriptions] = await Promise.all([
          deps.stripe.customers.retrieve(local.customer.customer_id),
          deps.stripe.subscriptions.list({ customer: local.customer.customer_id, status: 'all', limit: 20 }),
        ]);
        stripe = { customer, subscriptions: subscriptions.data };
      } catch (err) {
        throw stripeFailure(err, 'admin user lookup');
      }
    }
    res.json({ local, stripe });
  });

  if (deps.config) {
    const config = deps.config;
    router.post('/users/:userId/sync', async (req, res) => {
      const userId = String(req.params.userId);
      if (!USER_ID.test(userId)) throw badRequest('Invalid user id', 'invalid_user_id', { param: 'userId' });
      if (!syncBody.safeParse(req.body ?? {}).success) throw badRequest('This route takes no body (or {})', 'invalid_body');
      const requestId = res.getHeader('x-request-id');
      const summary = await syncUser({ db: deps.db, stripe: deps.stripe, config }, userId, {
        actor: `admin:${currentUser(res).id}`,
        requestId: typeof requestId === 'string' ? requestId : null,
      });
      res.json(summary);
    });
  }

  return router;
}
