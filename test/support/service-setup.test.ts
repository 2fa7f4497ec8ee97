import { startTestService } from './service';
import { createTestDatabase } from './database';
import { waitUntil } from './wait';

/**
 * A suite whose setup fails halfway (a bad setting, a sandbox error while seeding) must not leave
 * a listening server or an open pool behind: that handle is what kept a jest worker from exiting.
 */
const listening = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
/** Handles go away a moment after their close callbacks; a leaked one never does. */
const backTo = (count: number) => waitUntil(() => listening() === count, { timeoutMs: 30_000, what: `${count} listening servers` });

describe('startTestService when a later step fails', () => {
  it('stops the sandbox, the HTTP server, the store and the database it had started, then rethrows', async () => {
    const before = listening();
    // Rejected by config validation after the sandbox, database, store and server are up.
    await expect(startTestService({ env: { STRIPE_RATE_LIMIT_MAX: '-1' } })).rejects.toThrow(/STRIPE_RATE_LIMIT_MAX: must be positive/);
    await backTo(before);
  });

  it('leaves a sandbox it was given running (the caller owns it)', async () => {
    const shared = await startTestService();
    try {
      const before = listening();
      await expect(startTestService({ sandbox: shared.sandbox, env: { STRIPE_RATE_LIMIT_MAX: '-1' } })).rejects.toThrow(/must be positive/);
      await backTo(before);
      expect((await fetch(`${shared.sandbox.url}/v1/customers`, { headers: { authorization: 'Bearer sk_test_owner' } })).status).toBe(200);
    } finally {
      await shared.close();
    }
  });
});

describe('createTestDatabase', () => {
  it('closes and drops its database when close() is called', async () => {
    const database = await createTestDatabase();
    await database.db.selectFrom('webhook_events').select('event_id').execute();
    await database.close();
    await expect(database.db.selectFrom('webhook_events').select('event_id').execute()).rejects.toThrow();
  });
});
