import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { SNSClient } from '@aws-sdk/client-sns';
import express from 'express';
import Redis from 'ioredis';
import { sql } from 'kysely';
import Stripe from 'stripe';
import { main as replayEventsMain } from '../../../scripts/replay-events';
import { healthRouter } from '../../../service/health';
import { errorHandler, notFoundHandler } from '../../../service/http';
import { AlertDispatcher } from '../../../service/monitoring/alerts/dispatcher';
import { CaptureAlertSink, FileAlertSink } from '../../../service/monitoring/alerts/sinks';
import { SnsAlertSink } from '../../../service/monitoring/alerts/sns-sink';
import { EmfWriter } from '../../../service/monitoring/emf';
import { PaymentMetrics } from '../../../service/monitoring/metrics';
import { MonitoringObserver } from '../../../service/monitoring/observer';
import { systemClock } from '../../../service/shared/clock';
import { AppError, errorMessage } from '../../../service/shared/errors';
import { MemoryStore } from '../../../service/shared/store/memory-store';
import { MIN_SECRET_LENGTH, redact, redactString, REDACTED, registerSecrets } from '../../../service/shared/redact';
import { recordFailure } from '../../../service/webhooks/inbox';
import { testConfig } from '../../support/config';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { captureLogger } from '../../support/logger';
import { startTestService, type TestService } from '../../support/service';
import { waitUntil } from '../../support/wait';
import { expectNoLeak } from './secret-oracle';

/** Shapeless values no pattern recognises: only exact-value redaction can catch them. */
const DB_PASSWORD = 'Quiet"Harbor\\Lantern7';
const METRICS_TOKEN = 'amber-meadow-violin-x';
const REDIS_PASSWORD = 'abc';
const JWT_SECRET = 'correct horse battery staple & more!!';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.close();
});

beforeAll(() => {
  // Parsing the configuration is what registers its secrets: nothing else is called here.
  testConfig({
    AUTH_JWT_SECRET: JWT_SECRET,
    METRICS_AUTH_TOKEN: METRICS_TOKEN,
    DATABASE_URL: `postgres://payments:${encodeURIComponent(DB_PASSWORD)}@db.internal:5432/payments`,
    REDIS_URL: `rediss://default:${REDIS_PASSWORD}@cache.internal:6379`,
  });
});

describe('the redaction rules', () => {
  it('redacts a JWT standing alone in text, with no key name or Bearer prefix to hint at it', () => {
    const jwt = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"u_1","role":"admin"}').toString('base64url')}.dGhpcy1pcy1hLXNpZ25hdHVyZQ`;
    const out = redactString(`copied ${jwt} from the browser`);
    expect(out).toBe(`copied ${REDACTED} from the browser`);
    const logs = captureLogger();
    logs.logger.info('token seen', { note: `value=${jwt}` });
    expect(logs.text()).not.toContain(jwt.split('.')[1]);
  });

  it('redacts any value under a "password" key, however short and shapeless', () => {
    expect(redact({ password: 'hunter2', user: 'ops' })).toEqual({ password: REDACTED, user: 'ops' });
    expect(redact({ db: { Password: 'x1' } })).toEqual({ db: { Password: REDACTED } });
    const logs = captureLogger();
    logs.logger.warn('login attempt', { password: 'hunter2' });
    expect(logs.text()).not.toContain('hunter2');
  });

  it('redacts configured secrets by exact value, in the forms they travel in', () => {
    for (const text of [
      `connect failed: password ${DB_PASSWORD} refused`,
      `url-encoded ${encodeURIComponent(DB_PASSWORD)} here`,
      `form ${new URLSearchParams({ p: METRICS_TOKEN }).toString()}`,
      `every byte %${[...Buffer.from(METRICS_TOKEN)].map((b) => b.toString(16)).join('%')}`,
      `base64 ${Buffer.from(JWT_SECRET).toString('base64')}`,
      `header Basic ${Buffer.from(`ops:${DB_PASSWORD}`).toString('base64')}`,
      `json ${JSON.stringify({ p: DB_PASSWORD })}`,
    ]) {
      expectNoLeak(redactString(text), { secrets: [DB_PASSWORD, METRICS_TOKEN, JWT_SECRET], pans: [] }, text);
    }
    // And inside JSON text written by a sink (escaped quotes and backslashes).
    const logs = captureLogger();
    logs.logger.error('query failed', { detail: `auth failed for ${DB_PASSWORD}` });
    expect(logs.text()).not.toContain(JSON.stringify(DB_PASSWORD).slice(1, -1));
  });

  it('does not redact by value a configured secret shorter than the minimum, but still redacts it as a URL credential', () => {
    expect(REDIS_PASSWORD.length).toBeLessThan(MIN_SECRET_LENGTH);
    registerSecrets(['x']);
    expect(redactString('the abc of taxes')).toBe('the abc of taxes');
    expect(redactString(`reconnecting to rediss://default:${REDIS_PASSWORD}@cache.internal:6379`)).toBe(`reconnecting to rediss://default:${REDACTED}@cache.internal:6379`);
  });

  it('redacts a card number next to other digit groups, and percent-encoded ones', () => {
    expect(redactString('qty 1 4242 4242 4242 4242')).toBe(`qty 1 ${REDACTED}`);
    expect(redactString('/users/%34%32%34%32%34%32%34%32%34%32%34%32%34%32%34%32')).toBe(`/users/${REDACTED}`);
    expect(redactString('4242%204242%204242%204242')).toBe(REDACTED);
    // Ordinary numbers survive: dates, epoch seconds, amounts.
    expect(redactString('2026-11-28 at 1764300000, EUR 4.00')).toBe('2026-11-28 at 1764300000, EUR 4.00');
  });
});

describe('errors from dependencies', () => {

  it('logs a database error without the query parameters it carries', async () => {
    const email = 'private.person@example.org';
    const err = await sql`select ${email}::text as e, 1 / 0 as boom`.execute(database.db).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const logs = captureLogger();
    logs.logger.error('query failed', { error: err });
    expect(logs.text()).toContain('division by zero');
    expect(logs.text()).not.toContain(email);
  });

  it('logs a Stripe signature error without the webhook body and header it carries', () => {
    const payload = JSON.stringify({ id: 'evt_1', data: { object: { email: 'private.person@example.org' } } });
    let err: unknown;
    try {
      Stripe.webhooks.signature!.verifyHeader(payload, `t=${Math.floor(Date.now() / 1000)},v1=${'ab'.repeat(32)}`, 'whsec_test_signature_error', 300);
    } catch (e) {
      err = e;
    }
    expect((err as { payload?: unknown }).payload).toBe(payload);
    const logs = captureLogger();
    logs.logger.error('webhook rejected', { error: err });
    expect(logs.text()).toContain('No signatures found matching the expected signature');
    expect(logs.text()).not.toContain('private.person@example.org');
    expect(logs.text()).not.toContain('ab'.repeat(32));
  });

  it('logs a Redis reply error without the command arguments (AUTH <password>)', async () => {
    // A TCP server we control answers every command with an error, as Redis does for a wrong password.
    const server = createTcpServer((socket) => {
      socket.on('data', (data: Buffer) => {
        const commands = data.toString('latin1').split('\r\n').filter((line) => line.startsWith('*')).length;
        for (let i = 0; i < commands; i++) socket.write('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await redis.connect().catch(() => undefined);
      const err = await redis.call('AUTH', 'shapeless-pass-phrase').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(JSON.stringify((err as { command?: unknown }).command)).toContain('shapeless-pass-phrase');
      const logs = captureLogger();
      logs.logger.error('redis connection error', { error: err });
      expect(logs.text()).toContain('WRONGPASS');
      expect(logs.text()).not.toContain('shapeless-pass-phrase');
    } finally {
      redis.disconnect();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('alerts carry a redacted database error: a live key and card numbers in the message reach no sink, even past the cut', async () => {
    const liveKey = `sk_live_${'Z9'.repeat(12)}`;
    const err = await sql`select ${`${liveKey} 4000 0566 5566 5556`}::int`.execute(database.db).then(
      () => undefined,
      (e: unknown) => e,
    );
    const message = errorMessage(err);
    expect(message).toContain(liveKey);
    // The second card sits across the 300-character cut of the alert details.
    const error = `${message} ${'x'.repeat(290 - message.length)} 4242 4242 4242 4242 and ${DB_PASSWORD}`;
    expect(error.indexOf('4242')).toBe(292);

    const dir = await mkdtemp(join(tmpdir(), 'upiik-alerts-'));
    const requests: string[] = [];
    const sns: Server = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        requests.push(new URLSearchParams(body).get('Message') ?? '');
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end('<PublishResponse><PublishResult><MessageId>m</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>');
      });
    });
    await new Promise<void>((resolve) => sns.listen(0, '127.0.0.1', resolve));
    // A local stand-in for the SNS endpoint (the AWS boundary); the SDK client is real.
    const client = new SNSClient({ region: 'eu-west-1', endpoint: `http://127.0.0.1:${(sns.address() as AddressInfo).port}`, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' }, maxAttempts: 1 });
    const capture = new CaptureAlertSink();
    const file = join(dir, 'alerts.jsonl');
    const logs = captureLogger();
    const dispatcher = new AlertDispatcher({
      sinks: [capture, new FileAlertSink(file), new SnsAlertSink({ topicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts', client })],
      store: new MemoryStore(),
      logger: logs.logger,
      clock: systemClock,
      environment: 'test',
      enabled: true,
      windowMs: 60_000,
      coalesceMs: 1,
    });
    const emf = memoryStream();
    const observer = new MonitoringObserver(new PaymentMetrics({ processMetrics: false }), new EmfWriter({ environment: 'test', version: 'dev', clock: systemClock, stream: emf.stream }), dispatcher);
    try {
      observer.webhookHandled({ eventId: 'evt_1', type: 'invoice.paid', outcome: 'failed', durationMs: 3, error });
      await waitUntil(() => capture.alerts.length === 1 && requests.length === 1, { what: 'the webhook failure alert in every sink' });
      // Every sink has finished its delivery (the file append may trail the others).
      await dispatcher.idle();
      const planted = { secrets: [liveKey, DB_PASSWORD], pans: ['4000056655665556', '4242424242424242'] };
      const lastError = String(capture.alerts[0]!.details?.lastError);
      expect(lastError).toContain(REDACTED);
      expectNoLeak(lastError, planted, 'alert details');
      // Not even the first groups of a card cut in half.
      expect(lastError).not.toMatch(/4242 42|4000 0566/);
      expectNoLeak(await readFile(file, 'utf8'), planted, 'file sink');
      expectNoLeak(requests[0]!, planted, 'SNS message');
      expectNoLeak(emf.text(), planted, 'EMF');
    } finally {
      await dispatcher.close();
      client.destroy();
      await new Promise<void>((resolve) => sns.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stores a webhook failure in the inbox redacted before it is cut', async () => {
    const error = `${'y'.repeat(1985)} 4242 4242 4242 4242 ${DB_PASSWORD}`;
    const event = { id: 'evt_redact_inbox', type: 'invoice.paid', api_version: null, livemode: false, created: 1_764_300_000, data: { object: {} } } as unknown as Stripe.Event;
    await recordFailure(database.db, event, error, 5);
    const row = await database.db.selectFrom('webhook_events').select('last_error').where('event_id', '=', 'evt_redact_inbox').executeTakeFirstOrThrow();
    expect(row.last_error).toContain(REDACTED);
    expect(row.last_error).not.toMatch(/4242 4242/);
    expectNoLeak(row.last_error ?? '', { secrets: [DB_PASSWORD], pans: ['4242424242424242'] }, 'webhook_events.last_error');
  });
});

describe('the error middleware', () => {
  it('redacts what an error message or its details quote', async () => {
    const app = express();
    app.get('/boom', () => {
      throw new AppError(`Stripe rejected the key ${DB_PASSWORD}`, { code: 'stripe_request_failed', status: 502, details: { param: `card 4242 4242 4242 4242` } });
    });
    app.use(errorHandler({ logger: captureLogger().logger, exposeStack: false }));
    const server = createHttpServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/boom`);
      expect(res.status).toBe(502);
      const body = await res.text();
      expect(JSON.parse(body)).toEqual({ error: { code: 'stripe_request_failed', message: `Stripe rejected the key ${REDACTED}`, param: `card ${REDACTED}` } });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('other places text leaves the process', () => {
  it('a 404 message quotes the path decoded and redacted', () => {
    let passed: unknown;
    const req = { method: 'GET', path: '/api/x/%34%32%34%32%34%32%34%32%34%32%34%32%34%32%34%32' } as unknown as express.Request;
    notFoundHandler()(req, {} as express.Response, (err?: unknown) => (passed = err));
    expect(passed).toBeInstanceOf(AppError);
    expect((passed as AppError).message).toBe(`No route for GET /api/x/${REDACTED}`);
  });

  it('readiness reports a failed probe redacted before it is cut to 200 characters', async () => {
    // A real store whose ping fails the way a client quoting its URL would.
    const store = Object.assign(new MemoryStore(), {
      ping: async () => {
        throw new Error(`${'x'.repeat(175)} cannot reach rediss://default:${DB_PASSWORD}@cache.internal:6379`);
      },
    });
    const app = express();
    app.use('/health', healthRouter({ db: database.db, store, logger: captureLogger().logger }));
    const server = createHttpServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/health/ready`);
      expect(res.status).toBe(503);
      const body = await res.text();
      expect(body).toContain('cannot reach');
      // Not even the first characters of the password the cut would have left.
      expect(body).not.toContain(DB_PASSWORD.slice(0, 5));
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('replay-events prints a failed connection redacted', async () => {
    const err: string[] = [];
    const code = await replayEventsMain(['--since', new Date(Date.now() - 3_600_000).toISOString()], { NODE_ENV: 'test' }, {
      connect: async () => {
        throw new Error(`connection to postgres://payments:${DB_PASSWORD}@db.internal/payments refused while charging 4242 4242 4242 4242 with ${METRICS_TOKEN}`);
      },
      stdout: () => undefined,
      stderr: (s) => err.push(s),
    });
    expect(code).toBe(1);
    expect(err.join('')).toContain('refused');
    expectNoLeak(err.join(''), { secrets: [DB_PASSWORD, METRICS_TOKEN], pans: ['4242424242424242'] }, 'replay-events stderr');
  });
});

describe('the writers are the only way out', () => {
  /** Every TypeScript file under service/, with its text. */
  async function serviceSources(): Promise<Array<{ file: string; text: string }>> {
    const root = join(__dirname, '../../../service');
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return Promise.all(
      entries
        .filter((e) => e.isFile() && e.name.endsWith('.ts'))
        .map(async (e) => {
          const path = join(e.parentPath, e.name);
          return { file: relative(root, path), text: await readFile(path, 'utf8') };
        }),
    );
  }

  // A new sink must go through the redactor: these are the places text leaves the service, each
  // redacting inside (or, for main.ts, printing only a ConfigError, which names variables, never values).
  it('only the audit writer inserts into audit_log', async () => {
    const writers = (await serviceSources()).filter((s) => /insertInto\(\s*['"]audit_log['"]/.test(s.text)).map((s) => s.file);
    expect(writers).toEqual(['shared/audit.ts']);
  });

  // ops/export.ts writes files too: the database's own rows (a backup, mode 0600), not text the
  // service produces about itself; the secrets it must never hold are kept out of the database.
  it('only the EMF writer reaches stdout, only the file alert sink and the database export write files, and nothing uses console', async () => {
    const sources = await serviceSources();
    expect(sources.filter((s) => /process\.stdout/.test(s.text)).map((s) => s.file)).toEqual(['monitoring/monitoring.ts']);
    expect(sources.filter((s) => /process\.stderr/.test(s.text)).map((s) => s.file)).toEqual(['main.ts']);
    expect(sources.filter((s) => /\b(appendFile|writeFile|createWriteStream)\b/.test(s.text)).map((s) => s.file).sort()).toEqual(['monitoring/alerts/sinks.ts', 'ops/export.ts']);
    expect(sources.filter((s) => /\bconsole\./.test(s.text)).map((s) => s.file)).toEqual([]);
  });
});

describe('through the running service', () => {
  let svc: TestService;
  let admin: string;
  beforeAll(async () => {
    svc = await startTestService();
    admin = await svc.tokenFor({ id: 'ops_sinks', admin: true });
  });
  afterAll(async () => {
    await svc.close();
  });

  async function requestLine(start: number, path: string): Promise<Record<string, unknown>> {
    return waitUntil(
      () => {
        const text = svc.logs.text().slice(start);
        const line = text
          .split('\n')
          .filter((l) => l.includes('"request completed"'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find(() => true);
        return line;
      },
      { what: `the request line for ${path}` },
    );
  }

  it('logs the route template and the decoded, redacted path and query, never the raw path', async () => {
    const start = svc.logs.text().length;
    const path = '/api/admin/payments/users/4242%204242%204242%204242';
    const res = await fetch(`${svc.url}${path}`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(400);
    const line = await requestLine(start, path);
    expect(line.route).toBe('/api/admin/payments/users/:userId');
    expect(line.path).toBe(`/api/admin/payments/users/${REDACTED}`);

    const queryStart = svc.logs.text().length;
    await fetch(`${svc.url}/api/payments/status?card_hint=%34%30%30%30%30%35%36%36%35%35%36%36%35%35%35%36&password=hunter2&note=4242+4242+4242+4242`);
    const queryLine = await requestLine(queryStart, 'status');
    expect(queryLine.route).toBe('/api/payments/status');
    expect(queryLine.query).toEqual({ card_hint: REDACTED, password: REDACTED, note: REDACTED });
    expectNoLeak(svc.logs.text().slice(start), { secrets: ['hunter2'], pans: ['4242424242424242', '4000056655665556'] }, 'request log');
  });

  it('logs a path decoded where it decodes and malformed percent-encoding as it came, without failing the request log', async () => {
    const start = svc.logs.text().length;
    const res = await fetch(`${svc.url}/api/nothing/caf%C3%A9/%E0%A4%A/%ZZ`);
    expect(res.status).toBe(404);
    const line = await requestLine(start, 'malformed');
    // What decodes is logged decoded (readable, and what redaction saw); the rest as it came.
    expect(line.path).toBe('/api/nothing/café/%E0%A4%A/%ZZ');
    expect(line.route).toBe('unmatched');
  });

  it('error messages do not repeat the path parameter', async () => {
    for (const [method, path] of [
      ['GET', '/api/admin/payments/users/u_nobody_here_42'],
      ['POST', '/api/admin/payments/users/u_nobody_here_42/sync'],
    ] as const) {
      const res = await fetch(`${svc.url}${path}`, { method, headers: { authorization: `Bearer ${admin}` } });
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('user_not_found');
      expect(body.error.message).not.toContain('u_nobody_here_42');
    }
    const res = await fetch(`${svc.url}/api/unknown/%34%32%34%32%34%32%34%32%34%32%34%32%34%32%34%32`);
    expect(res.status).toBe(404);
    expectNoLeak(await res.text(), { secrets: [], pans: ['4242424242424242'] }, '404 body');
  });

  it('labels request metrics with the lower-case route template, whatever case the client used', async () => {
    const res = await fetch(`${svc.url}/API/Admin/Payments/users/u_case_label`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(404);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toContain('route="/api/admin/payments/users/:userId"');
    expect(metrics).not.toMatch(/route="[^"]*(Admin|Payments|u_case_label)/);
  });

  it('stores and serves a maintenance reason redacted, in the audit log and the public status', async () => {
    const reason = `rotating ${DB_PASSWORD} after 4242 4242 4242 4242 leaked`;
    const res = await fetch(`${svc.url}/api/admin/payments/maintenance`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason, ttlSeconds: 120 }),
    });
    expect(res.status).toBe(200);
    const planted = { secrets: [DB_PASSWORD], pans: ['4242424242424242'] };
    const status = await (await fetch(`${svc.url}/api/payments/status`)).text();
    expect(status).toContain('rotating');
    expectNoLeak(status, planted, 'GET /api/payments/status');
    const audit = await svc.database.db.selectFrom('audit_log').select(sql<string>`details::text`.as('details')).where('action', '=', 'maintenance.enable').execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]!.details).toContain('rotating');
    expectNoLeak(audit[0]!.details, planted, 'audit_log.details');
    await fetch(`${svc.url}/api/admin/payments/maintenance`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
  });
});

function memoryStream(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, callback) {
        chunks.push(chunk.toString('utf8'));
        callback();
      },
    }),
    text: () => chunks.join(''),
  };
}
