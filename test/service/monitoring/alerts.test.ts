import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ALERT_TYPES } from '../../../service/monitoring/alerts/types';
import { AlertDispatcher, CaptureAlertSink, type AlertDispatcherOptions } from '../../../service/monitoring';
import { ManualClock } from '../../../service/shared/clock';
import type { Store } from '../../../service/shared/store';
import { captureLogger } from '../../support/logger';
import { startTestService, type TestService } from '../../support/service';
import { createTestStore } from '../../support/store';
import { SETTLE_MS, waitUntil } from '../../support/wait';


describe('alerts through the service observer', () => {
  let store: Store;
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    store = await createTestStore();
    const env = { ALERT_COALESCE_MS: '300', ALERT_WINDOW_MS: '900000' };
    a = await startTestService({ store, env });
    b = await startTestService({ store, env, sandbox: a.sandbox, database: a.database });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await store?.close();
  });

  it('turns a burst of 100 payment failures, spread over two instances, into ONE alert with count 100', async () => {
    for (let i = 0; i < 100; i++) {
      const svc = i % 2 === 0 ? a : b;
      svc.monitoring.observer.paymentRecorded({ outcome: 'failed', amount: 400, currency: 'eur', failureCode: 'card_declined', userId: `u${i}` });
    }
    await waitUntil(() => a.alerts.alerts.length + b.alerts.alerts.length > 0, { what: 'the first alert from either instance' });
    // Fire the other instance's timer now instead of sleeping past it: it must find the window taken.
    await Promise.all([a.monitoring.alerts.flush(), b.monitoring.alerts.flush()]);
    const sent = [...a.alerts.ofType('payment_failure'), ...b.alerts.ofType('payment_failure')];
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ type: 'payment_failure', severity: 'high', count: 100, environment: 'test' });
    expect(sent[0]!.message).toMatch(/^100 payments failed/);
  });

  it('keeps occurrences inside a claimed window for the next alert instead of sending another', async () => {
    a.monitoring.observer.paymentRecorded({ outcome: 'failed', amount: 400, currency: 'eur', failureCode: 'expired_card' });
    await a.monitoring.alerts.flush();
    expect([...a.alerts.ofType('payment_failure'), ...b.alerts.ofType('payment_failure')]).toHaveLength(1);
  });

  it('alerts on webhook failures (medium) and unmatched events separately from payment failures', async () => {
    for (let i = 0; i < 3; i++) a.monitoring.observer.webhookHandled({ eventId: `evt_f${i}`, type: 'invoice.paid', outcome: 'failed', durationMs: 5, error: 'db down' });
    a.monitoring.observer.webhookHandled({ eventId: 'evt_u1', type: 'customer.subscription.updated', outcome: 'unmatched', durationMs: 3 });
    await a.alerts.waitFor((alerts) => alerts.some((x) => x.type === 'webhook_failure') && alerts.some((x) => x.type === 'unmatched_webhook'), SETTLE_MS);
    expect(a.alerts.ofType('webhook_failure')[0]).toMatchObject({ severity: 'medium', count: 3 });
    expect(a.alerts.ofType('unmatched_webhook')[0]).toMatchObject({ count: 1 });
  });
});

describe('AlertDispatcher', () => {
  let store: Store;
  beforeEach(async () => {
    store = await createTestStore();
  });
  afterEach(async () => {
    await store.close();
  });

  function dispatcher(sink: CaptureAlertSink, overrides: Partial<AlertDispatcherOptions> = {}) {
    const logs = captureLogger();
    const d = new AlertDispatcher({
      sinks: [sink],
      store,
      logger: logs.logger,
      clock: new ManualClock(new Date('2031-01-01T00:00:00Z')),
      environment: 'test',
      enabled: true,
      windowMs: 60_000,
      coalesceMs: 60_000,
      retryDelayMs: 10,
      ...overrides,
    });
    return { d, logs };
  }

  it('returns at once and never throws into the caller, even when the store is gone', async () => {
    const sink = new CaptureAlertSink();
    const { d, logs } = dispatcher(sink);
    await store.close();
    // "At once" means synchronously, with nothing for the caller to await (a webhook or checkout
    // never waits on alerting): asserted by the return value, not by a wall-clock bound that a
    // loaded machine breaks.
    let recorded: unknown;
    let raised: unknown;
    expect(() => (recorded = d.record('payment_failure'))).not.toThrow();
    expect(() => (raised = d.raise('status_critical', { count: 1, message: 'x' }))).not.toThrow();
    expect(recorded).toBeUndefined();
    expect(raised).toBeUndefined();
    await d.close();
    expect(logs.text()).toContain('alerting failed');
    store = await createTestStore();
  });

  it('logs a failed delivery and retries it once', async () => {
    const sink = new CaptureAlertSink();
    sink.failNext = 1;
    const { d, logs } = dispatcher(sink);
    d.raise('status_critical', { count: 7, message: 'critical' });
    await d.idle();
    expect(sink.attempts).toBe(2);
    expect(sink.alerts).toHaveLength(1);
    expect(logs.lines().some((l) => l.message === 'alert delivery failed; retrying once' && l.sink === 'capture')).toBe(true);
  });

  it('gives up after the retry, logs it, and frees the window so a later occurrence can alert', async () => {
    const sink = new CaptureAlertSink();
    sink.failNext = 2;
    const { d, logs } = dispatcher(sink);
    d.raise('status_critical', { count: 1, message: 'critical' });
    await d.idle();
    expect(sink.attempts).toBe(2);
    expect(sink.alerts).toHaveLength(0);
    expect(logs.lines().some((l) => l.level === 'error' && l.message === 'alert delivery failed twice; alert not delivered')).toBe(true);
    d.raise('status_critical', { count: 2, message: 'critical again' });
    await d.idle();
    expect(sink.alerts.map((x) => x.count)).toEqual([2]);
  });

  it('sends nothing when monitoring is disabled (STRIPE_MONITORING_ENABLED=false)', async () => {
    const sink = new CaptureAlertSink();
    const { d } = dispatcher(sink, { enabled: false });
    for (let i = 0; i < 10; i++) d.record('payment_failure');
    d.raise('status_critical', { count: 1, message: 'x' });
    await d.flush();
    expect(sink.attempts).toBe(0);
  });

  it('flush() sends pending counted alerts at once with the full count', async () => {
    const sink = new CaptureAlertSink();
    const { d } = dispatcher(sink);
    for (let i = 0; i < 42; i++) d.record('webhook_failure', { lastEventId: `evt_${i}` });
    await d.flush();
    expect(sink.alerts).toHaveLength(1);
    expect(sink.alerts[0]).toMatchObject({ type: 'webhook_failure', count: 42, details: { lastEventId: 'evt_41' } });
    await d.close();
  });
});

describe('STRIPE_MONITORING_ENABLED=false', () => {
  it('turns alerts off but keeps metrics and EMF lines', async () => {
    const svc = await startTestService({ env: { STRIPE_MONITORING_ENABLED: 'false', ALERT_COALESCE_MS: '50' } });
    try {
      for (let i = 0; i < 5; i++) svc.monitoring.observer.paymentRecorded({ outcome: 'failed', amount: 400, currency: 'eur' });
      await svc.monitoring.alerts.flush();
      expect(svc.alerts.alerts).toHaveLength(0);
      const metrics = await (await fetch(`${svc.url}/metrics`)).text();
      expect(metrics).toMatch(/^payments_total\{outcome="failed"\} 5$/m);
      expect(svc.emfLines().filter((l) => 'PaymentFailed' in l)).toHaveLength(5);
    } finally {
      await svc.close();
    }
  });
});

describe('alert runbooks', () => {
  it('links every alert type to a runbook page that exists', () => {
    for (const [type, spec] of Object.entries(ALERT_TYPES)) {
      expect({ type, exists: existsSync(join(__dirname, '..', '..', '..', spec.runbook)) }).toEqual({ type, exists: true });
    }
  });
});
