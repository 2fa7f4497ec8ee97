import request from 'supertest';
import { startTestService, type TestService } from '../support/service';

describe('health routes', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  it('answers /health/live with 200 without touching dependencies', async () => {
    const res = await request(svc.url).get('/health/live');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('answers /health/ready with 200 and the backend of each dependency', async () => {
    const res = await request(svc.url).get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ready');
    expect(res.body.checks.database.ok).toBe(true);
    expect(res.body.checks.redis).toMatchObject({ ok: true, backend: process.env.REDIS_URL ? 'redis' : 'memory' });
  });
});

describe('readiness when a dependency is down', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  it('answers 503 naming the store when it stops answering, while liveness stays 200', async () => {
    const realPing = svc.store.ping.bind(svc.store);
    // The in-process store cannot be "unplugged", so this one boundary is faked for both backends.
    svc.store.ping = () => Promise.reject(new Error('connection refused'));
    try {
      const res = await request(svc.url).get('/health/ready');
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ status: 'not_ready', failed: ['redis'] });
      expect(res.body.checks.database.ok).toBe(true);
      expect((await request(svc.url).get('/health/live')).status).toBe(200);
    } finally {
      svc.store.ping = realPing;
    }
  });

  it('answers 503 naming the database once it is gone', async () => {
    await svc.database.db.destroy();
    const res = await request(svc.url).get('/health/ready');
    expect(res.status).toBe(503);
    expect(res.body.failed).toEqual(['database']);
  });
});
