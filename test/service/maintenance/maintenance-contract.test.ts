import { MAINTENANCE_KEY, maintenanceForRequest, readMaintenance } from '../../../service/maintenance/maintenance';
import { MemoryStore } from '../../../service/shared/store/memory-store';
import { startTestService, type TestService } from '../../support/service';

// What other parts rely on beyond "checkout answers 503": the flag's key (the seed, the rollback
// tooling and `redis-cli` runbook steps set it by name), the fields the status banner and the
// audit log carry, the log lines on-call searches for, and the error a bad body gets.

describe('maintenance flag contract', () => {
  it('lives under the seed\'s key, so runbook and rollback steps that set it by name still work', () => {
    expect(MAINTENANCE_KEY).toBe('stripe:maintenance');
  });

  it('reads reason, since and until from a flag set by the admin route or the tooling', async () => {
    const store = new MemoryStore();
    const now = new Date('2026-11-28T10:00:00Z');
    await store.set(MAINTENANCE_KEY, JSON.stringify({ reason: 'rollback', since: '2026-11-28T09:59:00Z' }), { ttlSeconds: 120 });
    const state = await readMaintenance(store, now);
    expect(state).toEqual({ maintenance: true, reason: 'rollback', since: '2026-11-28T09:59:00Z', until: expect.any(String) });
    const untilMs = Date.parse(state.until!) - now.getTime();
    expect(untilMs).toBeGreaterThan(110_000);
    expect(untilMs).toBeLessThanOrEqual(120_000);
    await store.close();
  });

  it('answers "unknown, not in maintenance" when the store fails before this instance ever read the flag', async () => {
    const store = new MemoryStore();
    store.get = () => Promise.reject(new Error('connection refused'));
    expect(await maintenanceForRequest(store, new Date())).toEqual({ maintenance: false, unknown: true });
    await store.close();
  });

  it('answers the last state it read, marked unknown, when the store fails later', async () => {
    const store = new MemoryStore();
    await store.set(MAINTENANCE_KEY, JSON.stringify({ reason: 'incident' }));
    expect(await maintenanceForRequest(store, new Date())).toEqual({ maintenance: true, reason: 'incident' });
    store.get = () => Promise.reject(new Error('connection refused'));
    expect(await maintenanceForRequest(store, new Date())).toEqual({ maintenance: true, reason: 'incident', unknown: true });
    await store.close();
  });
});

describe('maintenance admin route contract', () => {
  let svc: TestService;
  let admin: string;
  beforeAll(async () => {
    svc = await startTestService();
    admin = `Bearer ${await svc.tokenFor({ id: 'oncall_contract', admin: true })}`;
  });
  afterAll(async () => {
    await svc.close();
  });
  afterEach(async () => {
    await svc.store.del(MAINTENANCE_KEY);
  });

  const call = (method: 'POST' | 'DELETE', body?: unknown) =>
    fetch(`${svc.url}/api/admin/payments/maintenance`, {
      method,
      headers: { authorization: admin, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const auditRows = async (action: string) =>
    svc.database.db.selectFrom('audit_log').selectAll().where('action', '=', action).where('actor', '=', 'oncall_contract').orderBy('id').execute();

  it('refuses a blank reason and any bad body with invalid_body and a message naming the fields', async () => {
    for (const body of [{ reason: '   ' }, { ttlSeconds: 86_401 }, { ttlSeconds: 59 }, { ttlSeconds: 120.5 }]) {
      const res = await call('POST', body);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect({ body, status: res.status, code: error.code }).toEqual({ body, status: 400, code: 'invalid_body' });
      expect(error.message).toContain('"reason"?: string (1-200 chars)');
      expect(error.message).toContain('"ttlSeconds"?: integer 60-86400');
    }
    expect(await svc.store.get(MAINTENANCE_KEY)).toBeNull();
  });

  it('serves since and until, audits the TTL asked for and the end time, and logs who switched it', async () => {
    const res = await call('POST', { reason: 'Stripe incident', ttlSeconds: 900 });
    const state = (await res.json()) as { since: string; until: string };
    expect(Date.parse(state.since)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(state.until)).toBeGreaterThan(Date.now() + 800_000);

    const [enabled] = await auditRows('maintenance.enable');
    expect(enabled?.details).toEqual({ reason: 'Stripe incident', ttlSeconds: 900, until: state.until });
    expect(svc.logs.lines()).toContainEqual(expect.objectContaining({
      level: 'warn', message: 'payments maintenance enabled', actor: 'oncall_contract', reason: 'Stripe incident', until: state.until,
    }));

    await call('DELETE');
    expect((await auditRows('maintenance.disable'))[0]?.details).toEqual({ wasEnabled: true });
    expect(svc.logs.lines()).toContainEqual(expect.objectContaining({
      level: 'warn', message: 'payments maintenance disabled', actor: 'oncall_contract', wasEnabled: true,
    }));
  });

  it('audits the default TTL as not asked for (null) with the end time it produced', async () => {
    const state = (await (await call('POST', {})).json()) as { until: string };
    const rows = await auditRows('maintenance.enable');
    expect(rows[rows.length - 1]?.details).toEqual({ reason: null, ttlSeconds: null, until: state.until });
  });
});
