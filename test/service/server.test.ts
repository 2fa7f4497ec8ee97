import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService } from '../../service/server';
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../../service/shared/db';
import { testConfig } from '../support/config';
import { createTestDatabase } from '../support/database';
import { captureLines } from '../support/capture';
import { captureLogger } from '../support/logger';
import { waitUntil } from '../support/wait';

/**
 * startService is what `npm run serve` and `npm start` run: it must apply events left pending by a
 * paused or crashed instance as soon as it is up, without anyone asking.
 */
describe('startService', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upiik-server-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('drains webhook events left pending in the inbox at startup, then stops cleanly', async () => {
    // The real server in CI (its own database), a file-backed PGlite otherwise: both outlive a restart.
    const ci = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    const pgliteDir = join(dir, 'pglite');
    const seed: DatabaseHandle = ci ?? (await openDatabase({ pgliteDir }));
    await migrateToLatest(seed.db);
    const event = {
      id: 'evt_left_pending',
      object: 'event',
      type: 'product.created',
      api_version: null,
      created: Math.floor(Date.now() / 1000) - 60,
      livemode: false,
      data: { object: { id: 'prod_x', object: 'product' } },
      pending_webhooks: 0,
      request: { id: null, idempotency_key: null },
    };
    await seed.db
      .insertInto('webhook_events')
      .values({ event_id: event.id, type: event.type, api_version: null, livemode: false, stripe_created_at: new Date(event.created * 1000), payload: JSON.stringify(event), status: 'pending', last_error: null, processed_at: null, duration_ms: null })
      .execute();
    if (!ci) await seed.close();

    const { logger } = captureLogger();
    const config = testConfig(ci ? { DATABASE_URL: ci.url, REDIS_URL: '' } : { PGLITE_DIR: pgliteDir, REDIS_URL: '' });
    const emf = captureLines();
    const service = await startService({ config, logger, host: '127.0.0.1', emfStream: emf.stream });
    try {
      const status = await waitUntil(
        async () => {
          const row = await service.database.db.selectFrom('webhook_events').select('status').where('event_id', '=', event.id).executeTakeFirstOrThrow();
          return row.status !== 'pending' && row.status;
        },
        { what: 'the pending event drained at startup' },
      );
      expect(status).toBe('ignored');
      // The drain's metric line went to the injected writer (not into the test output).
      await waitUntil(() => emf.lines().some((l) => l.WebhookProcessed === 1 && l.eventType === 'product.created'), { what: 'the drain EMF line' });
      expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
    } finally {
      await service.stop();
      await ci?.close();
    }
    await expect(fetch(`${service.url}/health/live`)).rejects.toThrow();
  });
});
