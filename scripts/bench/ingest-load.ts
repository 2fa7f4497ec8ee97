/**
 * How the ingest benchmarks send deliveries and read what they cost (ingest.bench.ts says what is
 * measured): realistic signed deliveries, bursts from CONNECTIONS concurrent senders (autocannon),
 * a steady rate (loadtest), a durable commit's own latency beside a window, CPU per delivery.
 */
import type { IncomingMessage, request as httpRequest, RequestOptions } from 'node:http';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import type Stripe from 'stripe';
import { WEBHOOK_PATH } from '../../service/shared/catalog';
import { openDatabase } from '../../service/shared/db';
import { percentile } from './report';

/** Concurrent senders of a burst. */
const CONNECTIONS = 16;

const hundredths = (ms: number): number => Math.round(ms * 100) / 100;

/**
 * Deliveries signed before a load, per second of it: more than either endpoint acknowledges on this
 * machine. Signing as they are sent (a JSON serialisation and an HMAC each) took the sender's
 * process a fifth of a core at these rates, on the two cores the service and PostgreSQL share
 * with it; Stripe's senders are not on the service's machine. Beyond this, each is signed as sent.
 */
const PREPARED_PER_SECOND = 8_000;

type Delivery = { id: string; body: string; signature: string };

/** Sends realistic deliveries: real events under new ids, one in five a redelivery. */
export class Deliveries {
  private n = 0;
  private readonly sent: Array<[string, string]> = [];
  private prepared: Delivery[] = [];
  private taken = 0;
  constructor(
    private readonly templates: Stripe.Event[],
    private readonly secret: string,
    private readonly stripe: Stripe,
    private readonly run: string,
  ) {}

  /** Distinct event ids the service acknowledged (2xx): what it must then hold, final and applied once. */
  readonly acknowledged = new Set<string>();

  /** Signs the next `count` deliveries now (a few seconds before they are sent: well within the 300 s tolerance). */
  prepare(count: number): void {
    this.prepared = Array.from({ length: count }, () => this.make());
    this.taken = 0;
  }

  next(): Delivery {
    return this.taken < this.prepared.length ? this.prepared[this.taken++]! : this.make();
  }

  private make(): Delivery {
    const k = this.n++;
    let body: string;
    let id: string;
    if (k % 5 === 4 && this.sent.length > 20) {
      [id, body] = this.sent[this.sent.length - 1 - (k % 20)]!;
    } else {
      const template = this.templates[k % this.templates.length]!;
      // A later `created` per delivery: the ordering guard applies it instead of calling it stale.
      const event = { ...template, id: `evt_${this.run}_${k}`, created: template.created + 1 + Math.floor(k / this.templates.length) };
      body = JSON.stringify(event);
      id = event.id;
      this.sent.push([id, body]);
      if (this.sent.length > 1000) this.sent.splice(0, 500);
    }
    return { id, body, signature: this.stripe.webhooks.generateTestHeaderString({ payload: body, secret: this.secret }) };
  }
}

export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  non2xx: number;
  errors: number;
}

/** The most deliveries per second CONNECTIONS senders get acknowledged, each sending its next one as soon as the last is answered. */
export async function burstLoad(url: string, deliveries: Deliveries, seconds: number): Promise<LoadResult> {
  deliveries.prepare(Math.ceil(PREPARED_PER_SECOND * seconds));
  const result = await autocannon({
    url: `${url}${WEBHOOK_PATH}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        // One request at a time per connection (no pipelining): the context carries its event id to its response.
        setupRequest: (request, context: { eventId?: string }) => {
          const { id, body, signature } = deliveries.next();
          context.eventId = id;
          return { ...request, body, headers: { 'content-type': 'application/json', 'stripe-signature': signature } };
        },
        onResponse: (status: number, _body: string, context: { eventId?: string }) => {
          if (status >= 200 && status < 300 && context.eventId) deliveries.acknowledged.add(context.eventId);
        },
      },
    ],
  });
  return { rps: result.requests.average, p50Ms: result.latency.p50, p99Ms: result.latency.p99, meanMs: result.latency.mean, non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

/**
 * Deliveries at a steady `rate` per second, one every 1/rate s whether or not earlier ones were
 * answered (an open model: Stripe does not wait for one delivery's answer to send the next, and a
 * slow answer is not hidden by the sender slowing down). loadtest's requestsPerSecond does exactly
 * that; autocannon's overallRate does not: each connection sends its share of the second back to
 * back when the second starts and then waits (counted at a bare server: 156 of 200 requests within
 * the first 50 ms of each second), so its "200/s" is a burst of 200 every second. Each latency is
 * timed here from the request's creation to the end of its answer, in fractions of a millisecond
 * (loadtest's own percentiles are whole milliseconds).
 */
export async function steadyLoad(url: string, deliveries: Deliveries, seconds: number, rate: number): Promise<LoadResult> {
  deliveries.prepare(Math.ceil(rate * 1.2 * seconds));
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  // loadtest is an ES module whose bundled typings predate its promise API.
  const { loadTest } = (await import('loadtest')) as unknown as { loadTest: (options: Record<string, unknown>) => Promise<unknown> };
  const started = performance.now();
  await loadTest({
    url: `${url}${WEBHOOK_PATH}`,
    method: 'POST',
    requestsPerSecond: rate,
    maxSeconds: seconds,
    agentKeepAlive: true,
    timeout: 30_000,
    quiet: true,
    requestGenerator: (_options: unknown, params: RequestOptions, request: typeof httpRequest, callback: (response: IncomingMessage) => void) => {
      const { id, body, signature } = deliveries.next();
      const sent = performance.now();
      const req = request({ ...params, headers: { ...params.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'stripe-signature': signature } }, callback);
      req.on('response', (response) => {
        response.once('end', () => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            latencies.push(performance.now() - sent);
            deliveries.acknowledged.add(id);
          } else {
            non2xx++;
          }
        });
      });
      req.on('error', () => errors++);
      req.write(body);
      return req;
    },
  });
  const elapsed = (performance.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  return {
    rps: sorted.length / elapsed,
    p50Ms: hundredths(percentile(sorted, 50)),
    p99Ms: hundredths(percentile(sorted, 99)),
    meanMs: hundredths(sorted.reduce((total, ms) => total + ms, 0) / sorted.length),
    non2xx,
    errors,
  };
}

/** Commits a probe makes per second beside a steady window. */
const PROBE_COMMITS_PER_SECOND = 50;

/** A probe's figures, named as the report prints them beside a steady window. */
export interface CommitProbe {
  commitP99Ms: number;
  commitMaxMs: number;
  /** Probe commits slower than the ack's p99 target (25 ms). */
  commitsOver25Ms: number;
}

/**
 * The floor under a durable acknowledgement: a one-row insert committed on its own (waiting for
 * its WAL flush, as the intake's does) on the same database, every 20 ms from its own connection,
 * for as long as `during` runs. An acknowledgement cannot be faster than the commit it waits for:
 * when this machine's disk stalls a flush (probed on 2026-11-30: fdatasync of 8 KiB 0.4 ms at
 * p50, single stalls of 180-340 ms a few times a minute, with or without the service's load),
 * every delivery arriving meanwhile waits for it, and a stall of a few hundred milliseconds alone
 * puts more than 1 % of a 30 s window at 200/s past 25 ms. Printed beside the p99 so a reader sees
 * which of the two moved it; it does not change the target or its pass.
 */
export async function probeCommits<T>(databaseUrl: string, during: () => Promise<T>): Promise<[T, CommitProbe]> {
  const handle = await openDatabase({ url: databaseUrl, poolMax: 1 });
  const latencies: number[] = [];
  try {
    await sql`create table if not exists bench_commit_probe (id bigserial primary key, at timestamptz not null default now())`.execute(handle.db);
    let inFlight = false;
    // One at a time: a stalled commit is counted once, for its whole length.
    const timer = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      const started = performance.now();
      sql`insert into bench_commit_probe default values`
        .execute(handle.db)
        .then(() => latencies.push(performance.now() - started))
        .catch(() => undefined)
        .finally(() => (inFlight = false));
    }, 1000 / PROBE_COMMITS_PER_SECOND);
    let result: T;
    try {
      result = await during();
    } finally {
      clearInterval(timer);
    }
    const sorted = latencies.sort((a, b) => a - b);
    return [result, { commitP99Ms: hundredths(percentile(sorted, 99)), commitMaxMs: hundredths(sorted.at(-1) ?? Number.NaN), commitsOver25Ms: sorted.filter((ms) => ms > 25).length }];
  } finally {
    await handle.close();
  }
}

/** Milliseconds of CPU per delivery from the CPU seconds a process used over them (undefined without /proc). */
export function cpuMsPer(cpuSeconds: number, deliveries: number): number | undefined {
  if (Number.isNaN(cpuSeconds) || deliveries <= 0) return undefined;
  return Math.round((cpuSeconds * 1000 * 1000) / deliveries) / 1000;
}
