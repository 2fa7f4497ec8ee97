import { EmfWriter, type EmfLine } from '../../../service/monitoring/emf';
import { systemClock } from '../../../service/shared/clock';
import { CLOUDWATCH_METRICS } from '../../../service/shared/metric-names';
import { captureLines } from '../../support/capture';
import { startTestService, type TestService } from '../../support/service';

/** What the service's SERVICE_VERSION is in this suite: the value of the ServiceVersion dimension. */
const VERSION = 'v2026.11.29-abc1234';

/** A strict reader of the Prometheus text exposition format (what a scraper would refuse). */
function parsePrometheus(text: string) {
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  const types = new Map<string, string>();
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)( -?\d+)?$/;
  const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (!name || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type ?? '')) throw new Error(`bad TYPE line: ${line}`);
      types.set(name, type!);
      continue;
    }
    const match = sampleLine.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[3] ?? '').matchAll(labelPair)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[4]) });
  }
  return { samples, types };
}

describe('GET /metrics and EMF lines', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ env: { SERVICE_VERSION: VERSION } });
  });
  afterAll(async () => {
    await svc.close();
  });

  it('exposes parseable Prometheus text with every documented metric, labelled by route template', async () => {
    const token = await svc.tokenFor({ id: 'metrics_user', email: 'm@example.com' });
    const created = await fetch(`${svc.url}/api/payments/checkout-session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ plan: 'monthly' }),
    });
    expect(created.status).toBe(200);
    const admin = await svc.tokenFor({ id: 'metrics_admin', admin: true });
    await fetch(`${svc.url}/api/admin/payments/users/nobody_here`, { headers: { authorization: `Bearer ${admin}` } });
    await fetch(`${svc.url}/no/such/route/12345`);
    svc.monitoring.observer.webhookHandled({ eventId: 'evt_1', type: 'invoice.paid', outcome: 'processed', durationMs: 42 });
    svc.monitoring.observer.paymentRecorded({ outcome: 'succeeded', amount: 400, currency: 'eur' });
    await fetch(`${svc.url}/api/admin/payments/maintenance`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{}' });

    const res = await fetch(`${svc.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers.get('ratelimit')).toBeNull();
    const { samples, types } = parsePrometheus(await res.text());
    const find = (name: string, labels: Record<string, string> = {}) =>
      samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

    expect(types.get('http_request_duration_seconds')).toBe('histogram');
    expect(find('http_request_duration_seconds_count', { route: '/api/payments/checkout-session', status: '200', method: 'POST' })[0]?.value).toBe(1);
    expect(find('http_request_duration_seconds_count', { route: '/api/admin/payments/users/:userId', status: '404' })[0]?.value).toBe(1);
    expect(find('http_request_duration_seconds_count', { route: 'unmatched', status: '404' })[0]?.value).toBe(1);
    // Raw paths never become labels.
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes('nobody_here') || v.includes('12345')))).toBe(false);
    expect(find('payments_checkout_sessions_created_total', { plan: 'monthly' })[0]?.value).toBe(1);
    expect(find('payments_webhook_events_total', { type: 'invoice.paid', outcome: 'processed' })[0]?.value).toBe(1);
    expect(find('payments_webhook_processing_duration_seconds_sum', { type: 'invoice.paid' })[0]?.value).toBeCloseTo(0.042);
    expect(find('payments_total', { outcome: 'succeeded' })[0]?.value).toBe(1);
    expect(types.get('payments_rate_limit_rejections_total')).toBe('counter');
    expect(find('payments_maintenance_mode')[0]?.value).toBe(1);
    expect(find('process_cpu_user_seconds_total')).toHaveLength(1);
    expect(find('nodejs_heap_size_used_bytes')).toHaveLength(1);

    // Histogram buckets are cumulative.
    const buckets = find('http_request_duration_seconds_bucket', { route: '/api/payments/checkout-session' }).map((s) => s.value);
    expect(buckets.length).toBeGreaterThan(5);
    expect(buckets).toEqual([...buckets].sort((x, y) => x - y));
  });

  it('writes one EMF line per event with the documented namespace, names and both dimension sets: [Environment] and [Environment, ServiceVersion]', () => {
    const lines = svc.emfLines();
    const names = Object.values(CLOUDWATCH_METRICS.names) as string[];
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) {
      const [directive] = line._aws.CloudWatchMetrics;
      expect(directive?.Namespace).toBe('Upiik/Payments');
      // The alarms read [Environment]; the canary analysis reads [Environment, ServiceVersion].
      expect(directive?.Dimensions).toEqual([['Environment'], ['Environment', 'ServiceVersion']]);
      expect(directive?.Metrics).toHaveLength(1);
      const name = directive!.Metrics[0]!.Name;
      expect(names).toContain(name);
      expect(line[name]).toBe(1);
      expect(line.Environment).toBe('test');
      expect(line.ServiceVersion).toBe(VERSION);
      expect(typeof line._aws.Timestamp).toBe('number');
    }
    const emitted = lines.map((l) => l._aws.CloudWatchMetrics[0]!.Metrics[0]!.Name);
    expect(emitted).toEqual(expect.arrayContaining(['CheckoutCreated', 'WebhookProcessed', 'PaymentSucceeded']));
  });

  it('writes PaymentFailed and WebhookFailed for failures', () => {
    svc.monitoring.observer.paymentRecorded({ outcome: 'failed', amount: 400, currency: 'eur', failureCode: 'card_declined' });
    svc.monitoring.observer.webhookHandled({ eventId: 'evt_2', type: 'invoice.payment_failed', outcome: 'failed', durationMs: 3, error: 'boom' });
    const last = svc.emfLines().slice(-2);
    expect(last.map((l) => l._aws.CloudWatchMetrics[0]!.Metrics[0]!.Name)).toEqual(['PaymentFailed', 'WebhookFailed']);
    expect(last[0]).toMatchObject({ failureCode: 'card_declined', PaymentFailed: 1 });
  });
});

describe('EmfWriter', () => {
  it('names both dimension sets from CLOUDWATCH_METRICS and sets every dimension the sets name on the line', () => {
    const out = captureLines<EmfLine>();
    new EmfWriter({ environment: 'production', version: 'sha256:0123abcd', clock: systemClock, stream: out.stream }).count('PaymentFailed', { failureCode: 'card_declined' });
    const [line] = out.lines();
    const dimensions = line!._aws.CloudWatchMetrics[0]!.Dimensions;
    expect(dimensions).toEqual([[CLOUDWATCH_METRICS.dimension], [CLOUDWATCH_METRICS.dimension, CLOUDWATCH_METRICS.versionDimension]]);
    // EMF drops a metric whose dimension set names a key missing from the line.
    for (const key of dimensions.flat()) expect(typeof line![key]).toBe('string');
    expect(line).toMatchObject({ Environment: 'production', ServiceVersion: 'sha256:0123abcd', PaymentFailed: 1, failureCode: 'card_declined' });
  });
});

describe('GET /metrics with METRICS_AUTH_TOKEN', () => {
  it('refuses a scrape without the token and serves one with it', async () => {
    const svc = await startTestService({ env: { METRICS_AUTH_TOKEN: 'scrape-token-0123456789' } });
    try {
      expect((await fetch(`${svc.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${svc.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      expect((await fetch(`${svc.url}/metrics`, { headers: { authorization: 'Bearer scrape-token-0123456789' } })).status).toBe(200);
    } finally {
      await svc.close();
    }
  });
});
