/**
 * The operational commands' two timing targets (issue 12), on a real service and the sandbox:
 * - rollback trigger → maintenance on and processing paused: the median of 5 rollbacks (each undone
 *   through the admin API before the next), target ≤ 5 s;
 * - restore replay: BENCH_REPLAY_EVENTS (default 10,000) Stripe events of the service's types,
 *   created by checkouts while the endpoint is disabled (so the service never saw them), replayed
 *   through `POST /api/admin/payments/ops/replay` as `npm run restore` does; target ≤ 30 s.
 * Uses a fresh database on DATABASE_URL's server when set (dropped after), else embedded PGlite
 * (slower; says so). Prints the figures and each against its target.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { startSandbox } from '../../sandbox';
import { issueToken } from '../../service/security';
import { startService } from '../../service/server';
import { WEBHOOK_EVENTS, WEBHOOK_PATH } from '../../service/shared/catalog';
import { loadConfig } from '../../service/shared/config';
import { createLogger } from '../../service/shared/logger';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';
import { OpsApi } from '../lib/ops-api';
import { ensureCatalog, registerWebhookEndpoint } from '../lib/stripe-catalog';
import { parseRollbackArgs, rollback } from '../rollback';
import { report, wanted } from './report';
import { completeCheckout, freshDatabase as freshDatabaseOn, serviceEnv } from './support';

const EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 10_000);
const ROLLBACKS = 5;

/** A fresh database on DATABASE_URL's server, else embedded PGlite (slower; the bench says so). */
async function freshDatabase(): Promise<{ url?: string; drop(): Promise<void> }> {
  const server = process.env.DATABASE_URL;
  return server ? freshDatabaseOn(server, 'ops') : { drop: async () => undefined };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  if (!wanted('rollback-trigger') && !wanted('replay-10k')) return;
  const dir = mkdtempSync(join(tmpdir(), 'upiik-bench-ops-'));
  const database = await freshDatabase();
  const sandbox = await startSandbox({ port: 0, deliveryTimeoutMs: 60_000 });
  const stripe = createStripeClient({ secretKey: 'sk_test_bench', apiVersion: SDK_API_VERSION, apiBase: sandbox.url });
  const catalog = await ensureCatalog(stripe);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const endpoint = await registerWebhookEndpoint(stripe, `http://127.0.0.1:${port}${WEBHOOK_PATH}`, SDK_API_VERSION);
  const config = loadConfig({
    ...serviceEnv({ port, databaseUrl: database.url, stripe: { apiBase: sandbox.url, webhookSecret: endpoint.secret, prices: catalog.prices } }),
    OPS_BACKUP_DIR: join(dir, 'backups'),
  });
  // EMF metric lines would flood the figures: the bench keeps them.
  const emfStream = new Writable({ write: (_chunk, _encoding, done) => done() });
  const service = await startService({ config, logger: createLogger({ level: 'error' }), host: '127.0.0.1', emfStream }).catch(async (error: unknown) => {
    await sandbox.close();
    await database.drop();
    throw error;
  });
  const serviceUrl = `http://127.0.0.1:${port}`;
  const token = await issueToken(config.auth, { userId: 'ops:bench', admin: true, expiresIn: '1h' });
  const api = new OpsApi(serviceUrl, token, fetch, 600_000);
  try {
    console.log(`database: ${database.url ? 'PostgreSQL (fresh database on DATABASE_URL)' : 'embedded PGlite (set DATABASE_URL for the production figure)'}`);
    // 1. Rollback trigger -> safe.
    if (wanted('rollback-trigger')) {
      const target = { env: 'local' as const, serviceUrl, webhookUrl: `${serviceUrl}${WEBHOOK_PATH}`, stripe: { secretKey: 'sk_test_bench', apiBase: sandbox.url }, auth: config.auth };
      const connection = { target, api, stripe, close: async () => undefined };
      const times: number[] = [];
      for (let i = 0; i < ROLLBACKS; i++) {
        const result = await rollback(parseRollbackArgs(['--env', 'local', '--reason', `bench ${i}`]), connection);
        if (!result.rows.every((r) => r.ok) || result.triggerToSafeMs === undefined) throw new Error(`rollback ${i} failed: ${JSON.stringify(result.rows)}`);
        times.push(result.triggerToSafeMs);
        await api.call('POST', '/api/admin/payments/ops/rollback-marker/close', { summary: { bench: i } });
        await api.call('DELETE', '/api/admin/payments/maintenance');
        await api.call('POST', '/api/admin/payments/webhooks/resume', {});
    }
    const trigger = median(times);
    console.log(`rollback trigger -> paused + maintenance: median ${trigger.toFixed(0)} ms of ${ROLLBACKS} (target 5000 ms: ${(trigger / 5000).toFixed(3)} of it)`);
    report({ name: 'rollback-trigger', seconds: trigger / 1000, rollbacks: ROLLBACKS, target: 'median trigger to paused + maintenance <= 5 s', pass: trigger <= 5000 });
    }

    // 2. Replay of EVENTS events the service never received.
    if (!wanted('replay-10k')) return;
    await stripe.webhookEndpoints.update(endpoint.id, { disabled: true });
    const since = new Date(sandbox.control.now() * 1000 - 1000);
    let users = 0;
    const checkouts = async (n: number) => {
      for (let done = 0; done < n; done += 16) {
        await Promise.all(
          Array.from({ length: Math.min(16, n - done) }, async () => {
            await completeCheckout(stripe, sandbox.control, { userId: `u_bench_${users++}`, price: catalog.prices.monthly, plan: 'monthly' });
          }),
        );
      }
    };
    const countEvents = async () => {
      let n = 0;
      for await (const _event of stripe.events.list({ created: { gte: Math.floor(since.getTime() / 1000) }, types: [...WEBHOOK_EVENTS], limit: 100 })) n++;
      return n;
    };
    const started = performance.now();
    await checkouts(16);
    const perCheckout = (await countEvents()) / 16;
    await checkouts(Math.max(0, Math.ceil(EVENTS / perCheckout) - 16));
    const created = await countEvents();
    console.log(`seeded ${created} events (${users} checkouts) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const t0 = performance.now();
    const summary = await api.call<{ seen: number; applied: number; failed: number }>('POST', '/api/admin/payments/ops/replay', { since: since.toISOString() });
    const replaySeconds = (performance.now() - t0) / 1000;
    if (summary.failed > 0) throw new Error(`replay failed for ${summary.failed} events`);
    console.log(`restore replay: ${summary.seen} events (${summary.applied} applied) in ${replaySeconds.toFixed(1)} s, ${(summary.seen / replaySeconds).toFixed(0)} events/s (target 30 s for 10,000: ${((replaySeconds / 30) * (10_000 / Math.max(summary.seen, 1))).toFixed(2)} of it, scaled to 10,000)`);
    const per10k = replaySeconds * (10_000 / Math.max(summary.seen, 1));
    report({
      name: 'replay-10k',
      seconds: per10k,
      events: summary.seen,
      eventsPerSecond: summary.seen / replaySeconds,
      database: database.url ? 'postgresql' : 'pglite',
      target: 'replay of 10,000 missed events <= 30 s (scaled to 10,000 when BENCH_REPLAY_EVENTS differs)',
      pass: per10k <= 30,
    });
  } finally {
    await service.stop();
    await sandbox.close();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
