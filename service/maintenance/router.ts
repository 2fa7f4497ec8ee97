import { Router } from 'express';
import { z } from 'zod';
import { noQueryParameters } from '../http';
import { type AuthConfig, currentUser, requireRole, requireUser } from '../security';
import { recordAudit } from '../shared/audit';
import type { Clock } from '../shared/clock';
import type { Database } from '../shared/db';
import { badRequest } from '../shared/errors';
import { requestContext } from '../shared/logger';
import type { Logger } from '../shared/logger';
import { redactString } from '../shared/redact';
import type { Store } from '../shared/store';
import { disableMaintenance, enableMaintenance, readMaintenance } from './maintenance';

export interface MaintenanceRouterDeps {
  db: Database;
  store: Store;
  clock: Clock;
  auth: AuthConfig;
  logger: Logger;
}

/** A day at most: maintenance that outlives that should be a deploy, not a flag. */
const MAX_TTL_SECONDS = 86_400;
const MIN_TTL_SECONDS = 60;

const enableBody = z
  .object({
    reason: z.string().trim().min(1).max(200).optional(),
    ttlSeconds: z.number().int().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).optional(),
  })
  .strict();

/**
 * `POST` / `DELETE /api/admin/payments/maintenance`: admins switch payments maintenance on (with an
 * optional reason and TTL, default 3600 s) and off. Every change is written to the audit log.
 * Checkout and portal answer 503 while it is on; webhooks keep flowing.
 */
export function maintenanceRouter(deps: MaintenanceRouterDeps): Router {
  const router = Router();
  const admin = [requireUser(deps.auth), requireRole('admin'), noQueryParameters()];

  const audit = async (actor: string, action: string, details: Record<string, unknown>) => {
    await recordAudit(deps.db, { actor, action, target: 'payments:maintenance', details, requestId: requestContext.getStore()?.requestId ?? null });
  };

  router.post('/maintenance', ...admin, async (req, res) => {
    const parsed = enableBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      throw badRequest(`Body must be {"reason"?: string (1-200 chars), "ttlSeconds"?: integer ${MIN_TTL_SECONDS}-${MAX_TTL_SECONDS}}`, 'invalid_body');
    }
    const actor = currentUser(res).id;
    // The reason is served to anyone by GET /api/payments/status: it is stored redacted.
    const reason = parsed.data.reason === undefined ? undefined : redactString(parsed.data.reason);
    const state = await enableMaintenance(deps.store, { reason, ttlSeconds: parsed.data.ttlSeconds, now: deps.clock.now() });
    await audit(actor, 'maintenance.enable', { reason: reason ?? null, ttlSeconds: parsed.data.ttlSeconds ?? null, until: state.until ?? null });
    deps.logger.warn('payments maintenance enabled', { actor, reason, until: state.until });
    res.status(200).json(state);
  });

  router.delete('/maintenance', ...admin, async (_req, res) => {
    const actor = currentUser(res).id;
    const wasEnabled = await disableMaintenance(deps.store);
    await audit(actor, 'maintenance.disable', { wasEnabled });
    deps.logger.warn('payments maintenance disabled', { actor, wasEnabled });
    res.status(200).json({ ...(await readMaintenance(deps.store, deps.clock.now())), wasEnabled });
  });

  return router;
}
