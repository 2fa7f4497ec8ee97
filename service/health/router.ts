import { Router } from 'express';
import { type Database, pingDatabase } from '../shared/db';
import { errorMessage } from '../shared/errors';
import { redactString } from '../shared/redact';
import type { Logger } from '../shared/logger';
import type { Store } from '../shared/store';

export interface HealthRouterDeps {
  db: Database;
  store: Store;
  logger: Logger;
  /** Per-dependency probe timeout; the ALB health check times out at 5 s. */
  timeoutMs?: number;
}

type CheckResult = { ok: true; latencyMs: number } | { ok: false; error: string };

async function probe(name: string, fn: () => Promise<void>, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name} did not answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, error: redactString(errorMessage(err)).slice(0, 200) };
  } finally {
    clearTimeout(timer);
  }
}

/** `/health/live` for "is the process up", `/health/ready` for "can it serve" (ALB target group). */
export function healthRouter(deps: HealthRouterDeps): Router {
  const router = Router();
  const timeoutMs = deps.timeoutMs ?? 2_000;

  router.get('/live', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });

  router.get('/ready', async (_req, res) => {
    const [database, redis] = await Promise.all([
      probe('database', () => pingDatabase(deps.db), timeoutMs),
      probe('redis', () => deps.store.ping(), timeoutMs),
    ]);
    const failed = [database.ok ? null : 'database', redis.ok ? null : 'redis'].filter((n): n is string => n !== null);
    if (failed.length > 0) deps.logger.warn('readiness check failed', { failed, database, redis });
    res
      .status(failed.length === 0 ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({
        status: failed.length === 0 ? 'ready' : 'not_ready',
        ...(failed.length > 0 ? { failed } : {}),
        checks: { database, redis: { ...redis, backend: deps.store.backend } },
      });
  });

  return router;
}
