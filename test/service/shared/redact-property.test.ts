import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import fc from 'fast-check';
import { sql } from 'kysely';
import { AlertDispatcher } from '../../../service/monitoring/alerts/dispatcher';
import { CaptureAlertSink, FileAlertSink, LogAlertSink } from '../../../service/monitoring/alerts/sinks';
import { SnsAlertSink } from '../../../service/monitoring/alerts/sns-sink';
import type { Alert } from '../../../service/monitoring/alerts/types';
import { EmfWriter } from '../../../service/monitoring/emf';
import { recordAudit } from '../../../service/shared/audit';
import { systemClock } from '../../../service/shared/clock';
import { MemoryStore } from '../../../service/shared/store/memory-store';
import { REDACTED } from '../../../service/shared/redact';
import { testConfig } from '../../support/config';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { captureLogger } from '../../support/logger';
import { startTestService, type TestService } from '../../support/service';
import { waitUntil } from '../../support/wait';
import { cardLayoutArb, expectNoLeak, isValidPan, panArb, secretEncodingArb, shapedSecretArb, shapelessSecretArb, STRIPE_TEST_PANS } from './secret-oracle';

/**
 * Every sink, one property: whatever secrets and card numbers a payload carries, in whatever
 * encoding, no sink writes them. The configured secrets are random and shapeless (only exact-value
 * redaction can catch them) and reach the redactor the way production's do: through loadConfig.
 */

/** Random configured secrets for this run, registered by parsing a configuration that holds them. */
const configured = {
  jwt: fc.sample(shapelessSecretArb(32), 1)[0]!,
  metrics: fc.sample(shapelessSecretArb(16), 1)[0]!,
  database: fc.sample(shapelessSecretArb(8), 1)[0]!,
  redis: fc.sample(shapelessSecretArb(8), 1)[0]!,
};
testConfig({
  AUTH_JWT_SECRET: configured.jwt,
  METRICS_AUTH_TOKEN: configured.metrics,
  DATABASE_URL: `postgres://payments:${encodeURIComponent(configured.database)}@db.internal:5432/payments`,
  REDIS_URL: `rediss://default:${encodeURIComponent(configured.redis)}@cache.internal:6379`,
});
const CONFIGURED = Object.values(configured);

interface Planting {
  text: string;
  secret?: string;
  pan?: string;
}

/** One secret, key or card number in one of its encodings, with digit-free text around it. */
const surrounding = fc.stringMatching(/^[ a-zA-Z.,:;=()[\]{}"'/-]{0,12}$/);
const planting: fc.Arbitrary<Planting> = fc.oneof(
  fc.tuple(fc.constantFrom(...CONFIGURED), secretEncodingArb, surrounding, surrounding).map(([secret, encode, before, after]) => ({ text: `${before}${encode(secret)}${after}`, secret })),
  fc.tuple(shapedSecretArb, surrounding, surrounding).map(([secret, before, after]) => ({ text: `${before}${secret}${after}`, secret })),
  fc.tuple(panArb, cardLayoutArb, surrounding, surrounding).map(([pan, layout, before, after]) => ({ text: `${before}${layout(pan)}${after}`, pan })),
  // A Stripe key or a card number as a base64 token of its own (nothing configured knows these).
  fc
    .tuple(fc.oneof(shapedSecretArb, panArb), fc.constantFrom<BufferEncoding>('base64', 'base64url'), surrounding, surrounding)
    .map(([value, encoding, before, after]) => ({ text: `${before} ${Buffer.from(value).toString(encoding)} ${after}`, secret: value })),
);

/** Harmless key names only: the value rules alone must catch what is planted. */
const plainKey = fc.stringMatching(/^[a-z]{1,10}$/).filter((k) => !/secret|token|pass|pwd|auth|cookie|key|card|cvc|cvv|pan|iban|signature|credential|method|jwt|connection/.test(k));
const leaf = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null));
const tree = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(plainKey, tie('node'), { maxKeys: 3 })),
})).node;

/** Puts `value` somewhere in `root` at a random depth, creating containers as needed. */
function plant(root: unknown, path: Array<{ key: string; asArray: boolean }>, value: unknown): unknown {
  if (path.length === 0) return value;
  const [step, ...rest] = path;
  if (step!.asArray) {
    const arr = Array.isArray(root) ? [...root] : [root];
    arr.push(plant(undefined, rest, value));
    return arr;
  }
  const obj: Record<string, unknown> = root !== null && typeof root === 'object' && !Array.isArray(root) ? { ...(root as Record<string, unknown>) } : { wrapped: root };
  obj[step!.key] = plant(obj[step!.key], rest, value);
  return obj;
}

interface Payload {
  root: Record<string, unknown>;
  /** The planted texts, for sinks that take flat strings. */
  texts: string[];
  planted: { secrets: string[]; pans: string[] };
}

const payloadArb: fc.Arbitrary<Payload> = fc
  .record({
    base: tree,
    plantings: fc.array(
      fc.record({
        path: fc.array(fc.record({ key: plainKey, asArray: fc.boolean() }), { minLength: 1, maxLength: 6 }),
        planting,
        // A planted text inside an error (message, cause, a pg-style params list) or as a plain value.
        asError: fc.constantFrom('no', 'no', 'message', 'params'),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    // A card number that arrives as a JSON number (a client posting {"number": 4242...}).
    numericPan: fc.option(fc.constantFrom(...STRIPE_TEST_PANS.filter((p) => Number.isSafeInteger(Number(p)))), { nil: undefined }),
  })
  .map(({ base, plantings, numericPan }) => {
    let root: unknown = { data: base };
    for (const p of plantings) {
      const value =
        p.asError === 'message'
          ? new Error(`query failed: ${p.planting.text}`, { cause: new Error(p.planting.text) })
          : p.asError === 'params'
            ? Object.assign(new Error('duplicate key value violates unique constraint'), { params: [p.planting.text], detail: `Key (email)=(${p.planting.text}) already exists.` })
            : p.planting.text;
      root = plant(root, p.path, value);
    }
    if (numericPan) root = plant(root, [{ key: 'amount', asArray: false }], Number(numericPan));
    const secrets = plantings.flatMap((p) => (p.planting.secret ? [p.planting.secret] : []));
    const pans = [...plantings.flatMap((p) => (p.planting.pan ? [p.planting.pan] : [])), ...(numericPan ? [numericPan] : [])];
    return { root: root as Record<string, unknown>, texts: plantings.map((p) => p.planting.text), planted: { secrets, pans } };
  });

/** A deep text copy that keeps what errors carry (structuredClone drops their own properties). */
function snapshot(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Error ? { ...v, errorName: v.name, errorMessage: v.message, errorCause: v.cause } : v));
}

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

function alertOf(payload: Payload): Alert {
  return {
    type: 'webhook_failure',
    severity: 'medium',
    title: 'Stripe webhook events are failing',
    message: `Processing failed: ${payload.texts.join(' | ')}`,
    count: 1,
    environment: 'test',
    at: new Date(0).toISOString(),
    windowMs: 60_000,
    details: payload.root,
  };
}

describe('the oracle itself', () => {
  it('accepts every documented Stripe test card and rejects each with a changed check digit', () => {
    for (const pan of STRIPE_TEST_PANS) {
      expect(isValidPan(pan)).toBe(true);
      const wrong = `${pan.slice(0, -1)}${(Number(pan.at(-1)) + 1) % 10}`;
      expect(isValidPan(wrong)).toBe(false);
    }
  });
});

describe('redaction in every sink (property)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'upiik-redact-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('no planted secret or card number reaches the logger, EMF lines or any alert sink, and the payload is never mutated', async () => {
    const logs = captureLogger();
    const emfOut = memoryStream();
    const emf = new EmfWriter({ environment: 'test', version: 'dev', clock: systemClock, stream: emfOut.stream });
    const filePath = join(dir, 'alerts.jsonl');
    const fileSink = new FileAlertSink(filePath);
    const logSink = new LogAlertSink(logs.logger);
    // The AWS boundary is the only stand-in: a client that records the PublishCommand it is given.
    const published: PublishCommandInput[] = [];
    const snsClient = { send: async (command: { input: PublishCommandInput }) => published.push(command.input), destroy: () => undefined } as unknown as SNSClient;
    const snsSink = new SnsAlertSink({ topicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts', client: snsClient });
    let runs = 0;

    await fc.assert(
      fc.asyncProperty(payloadArb, fc.constantFrom('info', 'warn', 'error'), async (payload, level) => {
        runs += 1;
        const before = snapshot(payload.root);

        let start = logs.text().length;
        logs.logger.log(level, `payload received: ${payload.texts[0]}`, payload.root);
        const logLine = logs.text().slice(start);
        expect(logLine.length).toBeGreaterThan(0);
        expectNoLeak(logLine, payload.planted, 'logger');

        start = emfOut.text().length;
        emf.count('PaymentFailed', { failureCode: payload.texts[0], eventId: payload.texts.join(' ') });
        expectNoLeak(emfOut.text().slice(start), payload.planted, 'EMF line');

        const alert = alertOf(payload);
        start = logs.text().length;
        await logSink.send(alert);
        expectNoLeak(logs.text().slice(start), payload.planted, 'log alert sink');

        const fileBefore = await readFile(filePath, 'utf8').catch(() => '');
        await fileSink.send(alert);
        expectNoLeak((await readFile(filePath, 'utf8')).slice(fileBefore.length), payload.planted, 'file alert sink');

        await snsSink.send(alert);
        const message = published.at(-1)!;
        expectNoLeak(`${message.Subject}\n${message.Message}`, payload.planted, 'SNS alert sink');

        // Whatever sink is plugged in, the dispatcher hands it a redacted alert.
        const capture = new CaptureAlertSink();
        const dispatcher = new AlertDispatcher({ sinks: [capture], store: new MemoryStore(), logger: logs.logger, clock: systemClock, environment: 'test', enabled: true, windowMs: 60_000, coalesceMs: 1 });
        dispatcher.raise('status_critical', { count: 1, message: alert.message, details: payload.root });
        await dispatcher.close();
        expect(capture.alerts).toHaveLength(1);
        expectNoLeak(JSON.stringify(capture.alerts[0]), payload.planted, 'dispatcher');

        expect(snapshot(payload.root)).toBe(before);
      }),
      { numRuns: 300 },
    );
    expect(runs).toBe(300);
    expect(logs.text()).toContain(REDACTED);
  });

  describe('audit details as stored', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase();
    });
    afterAll(async () => {
      await database.close();
    });

    it('never stores a planted secret or card number in audit_log', async () => {
      await fc.assert(
        fc.asyncProperty(payloadArb, async (payload) => {
          const action = `property.${Math.random().toString(36).slice(2)}`;
          await recordAudit(database.db, { actor: 'admin:prop', action, target: 'payments:maintenance', details: { reason: payload.texts.join(' '), payload: payload.root }, requestId: null });
          const row = await database.db.selectFrom('audit_log').select(sql<string>`details::text`.as('details')).where('action', '=', action).executeTakeFirstOrThrow();
          expect(row.details.length).toBeGreaterThan(2);
          expectNoLeak(row.details, payload.planted, 'audit_log.details');
        }),
        { numRuns: 60 },
      );
    });
  });

  describe('request logs and error bodies', () => {
    let svc: TestService;
    let admin: string;
    beforeAll(async () => {
      svc = await startTestService();
      admin = await svc.tokenFor({ id: 'ops_redact', admin: true });
    });
    afterAll(async () => {
      await svc.close();
    });

    it('a secret or card number in the path or query, in any encoding, reaches neither the log nor the response', async () => {
      await fc.assert(
        fc.asyncProperty(planting, fc.constantFrom('admin-user', 'unknown-route', 'query'), async (p, where) => {
          const planted = { secrets: p.secret ? [p.secret] : [], pans: p.pan ? [p.pan] : [] };
          // The text is sent as the client wrote it: percent signs already in it stay escapes.
          const inUrl = p.text.replace(/[^A-Za-z0-9%._~-]/g, (c) => encodeURIComponent(c));
          const url =
            where === 'admin-user'
              ? `${svc.url}/api/admin/payments/users/${inUrl}`
              : where === 'unknown-route'
                ? `${svc.url}/api/nothing-here/${inUrl}`
                : `${svc.url}/api/admin/payments/users/u_1?note=${inUrl}&${inUrl}=x`;
          const start = svc.logs.text().length;
          const res = await fetch(url, { headers: { authorization: `Bearer ${admin}` } });
          const body = await res.text();
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expectNoLeak(body, planted, `response body (${where})`);
          // The request line is written when the response finishes, which can trail the client's read.
          const logged = await waitUntil(() => {
            const text = svc.logs.text().slice(start);
            return text.includes('request completed') && text;
          }, { what: 'the request log line' });
          expectNoLeak(logged, planted, `request log (${where})`);
        }),
        { numRuns: 60 },
      );
    });
  });
});
