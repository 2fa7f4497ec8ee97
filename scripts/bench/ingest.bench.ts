/**
 * Webhook ingest as Stripe's bursts load it, on real PostgreSQL, with the service in its own process
 * (`node --import tsx service/main.ts`, the configuration a task gets), autocannon sending the
 * bursts and loadtest the steady rates (how: ingest-load.ts):
 *
 * - `webhook-ingest`: the most deliveries per second 16 concurrent senders get acknowledged, against a
 *   bare Express endpoint that only verifies the signature (baseline-webhook-server.ts), measured in
 *   the same run with the same senders and bodies: ratio >= 0.5. Then p99 of the acknowledgement at
 *   a steady 200 deliveries/s (one every 5 ms, steadyLoad): <= 25 ms; the bare endpoint's p50 and
 *   p99 at that rate, and a durable commit's own p99 on the same database during the service's
 *   window (probeCommits), are printed beside it: what this machine gives any endpoint and any
 *   durable write, not part of the target.
 * - `webhook-ingest-stripe-slow`: the same steady 200/s with every Stripe API call 300 ms slower
 *   (the sandbox's API latency): p99 still <= 25 ms (acknowledgement never waits on Stripe).
 * - `webhook-ingest-growth`: the mean acknowledgement time at the steady rate with 1,000,000 inbox
 *   rows over that with 10,000: <= 1.5. Two services, each on a database of its own fed the same
 *   history, loaded in turns.
 *
 * The bodies are real events: checkouts, renewals and refunds of BENCH_INGEST_USERS users played
 * through the sandbox (and applied by the service) first; each delivery is one of them under a new
 * event id with a later `created`, so it is applied again rather than skipped, and one in five is a
 * redelivery of an event already sent. Afterwards every distinct event must be in the inbox, final
 * and applied once: a figure that lost or double-applied anything fails, however fast.
 */
import type Stripe from 'stripe';
import { startSandbox } from '../../sandbox';
import { WEBHOOK_EVENTS, WEBHOOK_PATH } from '../../service/shared/catalog';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';
import { ensureCatalog, registerWebhookEndpoint } from '../lib/stripe-catalog';
import { report, wanted } from './report';
import { applied, audit, fillInbox } from './ingest-inbox';
import { burstLoad, cpuMsPer, Deliveries, type LoadResult, probeCommits, steadyLoad } from './ingest-load';
import { type BenchProcess, completeCheckout, databaseServer, freePort, freshDatabase, serviceEnv, startProcess } from './support';

const SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 10);
const USERS = Number(process.env.BENCH_INGEST_USERS ?? 40);
const GROWTH_ROWS = Number(process.env.BENCH_INGEST_GROWTH_ROWS ?? 1_000_000);
/**
 * Load before each endpoint's measured burst, the same for both: a fresh service process reached its
 * steady rate only after about four seconds of it (V8 compiling its hot paths: 700, 1,500, 2,400,
 * then about 3,000 acknowledged per second, counted at the intake on 2026-11-30). With two seconds,
 * the burst measured the warm-up in some runs and not in others (ratios 0.45 and 0.55 alike).
 */
const WARM_UP_SECONDS = Number(process.env.BENCH_INGEST_WARM_UP_SECONDS ?? 6);
const STEADY_RPS = 200;
/** Turns each endpoint's burst is measured in (SECONDS / BURST_ROUNDS each). */
const BURST_ROUNDS = 5;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const sum = (results: LoadResult[], key: 'non2xx' | 'errors'): number => results.reduce((total, r) => total + r[key], 0);
/**
 * Length of each steady-rate measurement whose p99 is a target. At 200/s a single stall of this
 * shared host (a few hundred ms, the bare endpoint's p99 moving from 10 to 19 ms between runs) is
 * 2 % of a 10 s window and alone decided its p99 (49 ms in one run, 16 ms in the next window);
 * over 30 s one such stall stays under the 1 % a p99 leaves out, and a service slow throughout does not.
 */
const STEADY_SECONDS = Number(process.env.BENCH_INGEST_STEADY_SECONDS ?? 30);
/** Slices of 2 s per inbox in the growth comparison. */
const GROWTH_ROUNDS = 10;
const DAY = 86_400;

/** Real events: USERS checkouts, two renewals, refunds (full and partial) on a third of them. */
async function playHistory(stripe: Stripe, sandbox: Awaited<ReturnType<typeof startSandbox>>, prices: { monthly: string; yearly: string }): Promise<Stripe.Event[]> {
  for (let i = 0; i < USERS; i++) {
    const yearly = i % 8 === 0;
    await completeCheckout(stripe, sandbox.control, { userId: `u_ingest_${i}`, email: `ingest${i}@example.com`, price: yearly ? prices.yearly : prices.monthly, plan: yearly ? 'yearly' : 'monthly' });
  }
  // Stripe's Events API (and the sandbox's) lists 30 days: the checkouts' events are read before the renewals.
  const events = await listEvents(stripe);
  await sandbox.control.advanceClock(32 * DAY);
  await sandbox.control.advanceClock(32 * DAY);
  const paid = (await stripe.paymentIntents.list({ limit: 100 })).data.filter((pi) => pi.status === 'succeeded');
  for (const [i, pi] of paid.entries()) {
    if (i % 3 !== 0) continue;
    await stripe.refunds.create({ payment_intent: pi.id, ...(i % 2 === 0 ? { amount: Math.floor(pi.amount / 2) } : {}) });
  }
  await sandbox.control.waitForDeliveries(300_000);
  const seen = new Set(events.map((e) => e.id));
  return [...events, ...(await listEvents(stripe)).filter((e) => !seen.has(e.id))];
}

async function listEvents(stripe: Stripe): Promise<Stripe.Event[]> {
  const types = new Set<string>(WEBHOOK_EVENTS);
  const events: Stripe.Event[] = [];
  for await (const event of stripe.events.list({ limit: 100 })) if (types.has(event.type)) events.push(event);
  return events;
}

async function main(): Promise<void> {
  if (!['webhook-ingest', 'webhook-ingest-stripe-slow', 'webhook-ingest-growth'].some(wanted)) return;
  const server = databaseServer();
  const database = await freshDatabase(server, 'ingest');
  const sandbox = await startSandbox({ port: 0, deliveryConcurrency: 4, deliveryTimeoutMs: 60_000 });
  const stripe = createStripeClient({ secretKey: 'sk_test_bench', apiVersion: SDK_API_VERSION, apiBase: sandbox.url });
  const processes: BenchProcess[] = [];
  const databases = [database];
  try {
    const catalog = await ensureCatalog(stripe);
    const startGrownService = async () => {
      const grownDatabase = await freshDatabase(server, 'ingest_grown');
      databases.push(grownDatabase);
      const grownPort = await freePort();
      const grownEndpoint = await registerWebhookEndpoint(stripe, `http://127.0.0.1:${grownPort}${WEBHOOK_PATH}`, SDK_API_VERSION);
      const grownEnv = serviceEnv({ port: grownPort, databaseUrl: grownDatabase.url, stripe: { apiBase: sandbox.url, webhookSecret: grownEndpoint.secret, prices: catalog.prices } });
      const grownService = await startProcess({ args: ['--import', 'tsx', 'service/main.ts'], env: { PATH: process.env.PATH, ...grownEnv }, port: grownPort, readyPath: '/health/ready' });
      processes.push(grownService);
      return { service: grownService, database: grownDatabase, endpoint: grownEndpoint };
    };
    const port = await freePort();
    const endpoint = await registerWebhookEndpoint(stripe, `http://127.0.0.1:${port}${WEBHOOK_PATH}`, SDK_API_VERSION);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...serviceEnv({ port, databaseUrl: database.url, stripe: { apiBase: sandbox.url, webhookSecret: endpoint.secret, prices: catalog.prices } }) };
    // BENCH_CPU_PROF=<dir>: the service writes a V8 CPU profile there when it stops (open it in Chrome DevTools).
    const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
    const service = await startProcess({ args: [...profile, '--import', 'tsx', 'service/main.ts'], env, port, readyPath: '/health/ready' });
    processes.push(service);
    // The growth target compares an inbox of 10,000 rows with one of 1,000,000: a second service on a
    // database of its own, fed the same history, so that the two are loaded in turns (whatever the
    // shared host does meanwhile hits both alike) rather than one after the other around a fill.
    const grown = wanted('webhook-ingest-growth') ? await startGrownService() : undefined;
    console.error(`service ready; store: ${process.env.REDIS_URL ? 'Redis (REDIS_URL)' : 'in-process (set REDIS_URL for the production figure)'}; playing ${USERS} users' history`);
    const templates = await playHistory(stripe, sandbox, catalog.prices);
    await stripe.webhookEndpoints.update(endpoint.id, { disabled: true });
    if (grown) await stripe.webhookEndpoints.update(grown.endpoint.id, { disabled: true });
    const mix = new Map<string, number>();
    for (const t of templates) mix.set(t.type, (mix.get(t.type) ?? 0) + 1);
    console.error(`${templates.length} real events as templates: ${[...mix].map(([t, n]) => `${t} ${n}`).join(', ')}`);
    const run = `b${Date.now().toString(36)}`;
    const deliveries = new Deliveries(templates, endpoint.secret, stripe, run);
    // The service at the steady rate, a durable commit's own latency probed beside it.
    const probedSteady = () => probeCommits(database.url, () => steadyLoad(service.url, deliveries, STEADY_SECONDS, STEADY_RPS));

    if (wanted('webhook-ingest')) {
      const basePort = await freePort();
      const baseline = await startProcess({ args: ['--import', 'tsx', 'scripts/bench/baseline-webhook-server.ts'], env: { PATH: process.env.PATH, PORT: String(basePort), STRIPE_WEBHOOK_SECRET: endpoint.secret }, port: basePort, readyPath: '/health/ready' });
      processes.push(baseline);
      const scratch = new Deliveries(templates, endpoint.secret, stripe, `${run}x`);
      await burstLoad(baseline.url, scratch, WARM_UP_SECONDS); // warm-up
      await burstLoad(service.url, deliveries, WARM_UP_SECONDS); // warm-up: JIT, pool, plans
      await applied(database.url);
      // The bursts in turns, SECONDS each in all, the order swapped every round, each service burst's
      // backlog applied before the next turn (the bare endpoint never runs beside the drain). One
      // after the other, the host's drift between the two measurements moved the ratio from 0.45 to
      // 0.65 for the same code.
      const slice = SECONDS / BURST_ROUNDS;
      const bursts = { base: { acknowledged: 0, cpu: 0, results: [] as LoadResult[] }, service: { acknowledged: 0, cpu: 0, results: [] as LoadResult[] } };
      let backlogSeconds = 0;
      const burst = async (side: 'base' | 'service') => {
        const target = side === 'base' ? { process: baseline, deliveries: scratch } : { process: service, deliveries };
        const cpu = target.process.cpuSeconds();
        const result = await burstLoad(target.process.url, target.deliveries, slice);
        const after = target.process.cpuSeconds();
        bursts[side].cpu += cpu === undefined || after === undefined ? Number.NaN : after - cpu;
        bursts[side].acknowledged += result.rps * slice;
        bursts[side].results.push(result);
        // Its backlog applied before the next turn; the steady rate then meets a service that keeps up.
        if (side === 'service') backlogSeconds = Math.max(backlogSeconds, await applied(database.url));
      };
      for (let round = 0; round < BURST_ROUNDS; round++) {
        for (const side of round % 2 === 0 ? (['base', 'service'] as const) : (['service', 'base'] as const)) await burst(side);
      }
      const base = { rps: bursts.base.acknowledged / SECONDS };
      const max = { rps: bursts.service.acknowledged / SECONDS, p50Ms: median(bursts.service.results.map((r) => r.p50Ms)), non2xx: sum(bursts.service.results, 'non2xx'), errors: sum(bursts.service.results, 'errors') };
      const baseCpuMs = cpuMsPer(bursts.base.cpu, bursts.base.acknowledged);
      const maxCpuMs = cpuMsPer(bursts.service.cpu, bursts.service.acknowledged);
      console.error(`bursts of ${slice} s in turns: bare ${bursts.base.results.map((r) => r.rps).join(' ')}/s, service ${bursts.service.results.map((r) => r.rps).join(' ')}/s; the longest backlog applied ${backlogSeconds.toFixed(1)} s after its burst`);
      // The floor of the latency target on this machine: the bare endpoint at the same steady rate.
      const baseSteady = await steadyLoad(baseline.url, scratch, STEADY_SECONDS, STEADY_RPS);
      await baseline.stop();
      const [steady, commits] = await probedSteady();
      const check = await audit(database.url, deliveries.acknowledged);
      const ratio = max.rps / base.rps;
      const clean = max.non2xx + max.errors + steady.non2xx + steady.errors === 0 && check.lost + check.doubleApplied + check.notFinal === 0;
      report({
        name: 'webhook-ingest',
        throughputRps: max.rps,
        baselineRps: base.rps,
        ratio,
        p99Ms: steady.p99Ms,
        baselineP99Ms: baseSteady.p99Ms,
        p50Ms: steady.p50Ms,
        baselineP50Ms: baseSteady.p50Ms,
        // The database's own durable commit beside the steady window (probeCommits): the floor under p99Ms.
        ...commits,
        p50MsBurst: max.p50Ms,
        // CPU per delivery during the burst, each process's own (Linux): what the ratio is made of,
        // steadier than rates on a shared host. The service's includes its drain, stepping aside.
        ...(maxCpuMs !== undefined && baseCpuMs !== undefined ? { cpuMsPerDelivery: maxCpuMs, baselineCpuMsPerDelivery: baseCpuMs } : {}),
        backlogAppliedSeconds: backlogSeconds,
        non2xx: max.non2xx + steady.non2xx,
        lost: check.lost,
        doubleApplied: check.doubleApplied,
        notFinal: check.notFinal,
        target: 'ratio >= 0.5, p99 <= 25 ms at 200/s, none lost or applied twice',
        pass: clean && ratio >= 0.5 && steady.p99Ms <= 25,
      });
    }

    if (wanted('webhook-ingest-stripe-slow')) {
      await applied(database.url);
      const [before, commitsBefore] = await probedSteady();
      sandbox.control.setApiLatency(300);
      const [slow, commits] = await probedSteady();
      sandbox.control.setApiLatency(0);
      const check = await audit(database.url, deliveries.acknowledged);
      const clean = slow.non2xx + slow.errors === 0 && check.lost + check.doubleApplied + check.notFinal === 0;
      report({
        name: 'webhook-ingest-stripe-slow',
        p99Ms: slow.p99Ms,
        p99MsStripeNormal: before.p99Ms,
        commitMaxMsStripeNormal: commitsBefore.commitMaxMs,
        stripeLatencyMs: 300,
        ...commits,
        lost: check.lost,
        doubleApplied: check.doubleApplied,
        target: 'p99 <= 25 ms at 200/s with Stripe +300 ms per call',
        pass: clean && slow.p99Ms <= 25,
      });
    }

    if (wanted('webhook-ingest-growth') && grown) {
      const rowsSmall = await fillInbox(database.url, 10_000, templates[0]!);
      const started = performance.now();
      const rowsLarge = await fillInbox(grown.database.url, GROWTH_ROWS, templates[0]!);
      console.error(`inboxes filled to ${rowsSmall} and ${rowsLarge} rows in ${((performance.now() - started) / 1000).toFixed(0)} s`);
      const grownDeliveries = new Deliveries(templates, grown.endpoint.secret, stripe, `${run}g`);
      // The second service has seen no load yet: the same warm-up the first had, then both applied up.
      await steadyLoad(grown.service.url, grownDeliveries, WARM_UP_SECONDS, STEADY_RPS);
      await applied(database.url);
      await applied(grown.database.url);
      // In turns, 2 s at the steady rate each, the order swapped every round.
      const rounds = GROWTH_ROUNDS;
      const slices: { small: LoadResult[]; large: LoadResult[] } = { small: [], large: [] };
      for (let round = 0; round < rounds; round++) {
        const turns = [
          async () => slices.small.push(await steadyLoad(service.url, deliveries, 2, STEADY_RPS)),
          async () => slices.large.push(await steadyLoad(grown.service.url, grownDeliveries, 2, STEADY_RPS)),
        ];
        for (const turn of round % 2 === 0 ? turns : turns.reverse()) await turn();
      }
      // Each slice's mean acknowledgement; the median slice of each side, so that a stall of the shared
      // host in one slice (slices of one service ranged from 3.8 to 11.3 ms in a run) moves neither.
      const ratio = median(slices.large.map((r) => r.meanMs)) / median(slices.small.map((r) => r.meanMs));
      console.error(`slice means (ms): ${rowsSmall} rows ${slices.small.map((r) => r.meanMs.toFixed(1)).join(' ')}; ${rowsLarge} rows ${slices.large.map((r) => r.meanMs.toFixed(1)).join(' ')}`);
      const failed = [...slices.small, ...slices.large].reduce((sum, r) => sum + r.non2xx + r.errors, 0);
      report({
        name: 'webhook-ingest-growth',
        ratio,
        meanMsSmall: median(slices.small.map((r) => r.meanMs)),
        meanMsLarge: median(slices.large.map((r) => r.meanMs)),
        slices: rounds,
        rowsSmall,
        rowsLarge,
        target: `mean acknowledgement at ${GROWTH_ROWS} inbox rows / at 10,000 <= 1.5 (median of ${rounds} slices each, in turns)`,
        pass: ratio <= 1.5 && failed === 0,
      });
    }
  } finally {
    for (const p of processes) await p.stop();
    await sandbox.close();
    for (const d of databases) await d.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
