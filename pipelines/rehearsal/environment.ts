import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type Stripe from 'stripe';
import { startSandbox, type RunningSandbox } from '../../sandbox';
import { WEBHOOK_PATH } from '../../service/shared/catalog';
import { redactString } from '../../service/shared/redact';
import { createStripeClient } from '../../service/shared/stripe-client';
import { ensureCatalog, registerWebhookEndpoint } from '../../scripts/lib/stripe-catalog';
import type { Side } from '../canary-analysis/metric-source';
import { startBalancer, type Balancer } from './balancer';
import { freePort, startServiceProcess, type ServiceProcess } from './fleet';
import { PrerequisiteError, type Release } from './releases';

/**
 * One environment of the rehearsal, as AWS has one per stack: its own Stripe account (a sandbox),
 * its own database (a database created on the PostgreSQL server for this run), its own Redis
 * (a database index of the Redis server), and a load balancer in front of its service processes,
 * which is also where its Stripe webhook endpoint points. Staging and production share nothing but
 * the servers, as they share nothing in AWS.
 */

export const REHEARSAL_STRIPE_KEY = 'sk_test_rehearsal';
/** A fixed, local-only signing secret for the users' and operators' tokens. */
export const REHEARSAL_JWT_SECRET = 'rehearsal-only-jwt-secret-not-for-any-real-stack-0123456789';
const API_VERSION = '2026-10-28.endive';

export interface Servers {
  /** The server's URL with the database part replaced per environment. */
  databaseUrl: string;
  redisUrl: string;
  /** Where they came from, for the report. */
  source: string;
}

/**
 * The PostgreSQL and Redis the rehearsal shares between its service processes: DATABASE_URL and
 * REDIS_URL as in CI, else the local servers on their standard ports when they answer. Without a
 * Redis there, a `redis-server` on the PATH is started for the run (no persistence, a free port,
 * stopped with the run). PGlite and the in-process store cannot be shared by several processes,
 * and PostgreSQL refuses to run as root, so without a PostgreSQL server the rehearsal stops and
 * names what is missing.
 */
export async function findServers(
  env: NodeJS.ProcessEnv,
  cleanups?: { add(name: string, run: () => Promise<unknown>): void },
  defaults = { databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres', redisUrl: 'redis://127.0.0.1:6379' },
): Promise<Servers> {
  const databaseUrl = env.DATABASE_URL || defaults.databaseUrl;
  let redisUrl = env.REDIS_URL || defaults.redisUrl;
  const sources = [env.DATABASE_URL ? 'DATABASE_URL' : 'the local PostgreSQL'];
  const missing: string[] = [];
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    missing.push(`PostgreSQL at ${redactString(databaseUrl)} (${env.DATABASE_URL ? 'DATABASE_URL' : 'no DATABASE_URL set, tried the local default'}): ${redactString((error as Error).message)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  const redisError = await pingRedis(redisUrl);
  if (!redisError) sources.push(env.REDIS_URL ? 'REDIS_URL' : 'the local Redis');
  else if (!env.REDIS_URL && cleanups && (await hasCommand('redis-server'))) {
    const started = await startEphemeralRedis();
    cleanups.add('ephemeral redis-server', started.stop);
    redisUrl = started.url;
    sources.push(`a redis-server started for this run on ${started.url}`);
  } else {
    missing.push(`Redis at ${redactString(redisUrl)} (${env.REDIS_URL ? 'REDIS_URL' : 'no REDIS_URL set, tried the local default, and no redis-server on the PATH'}): ${redisError}`);
  }
  if (missing.length > 0)
    throw new PrerequisiteError(
      `the rehearsal runs several service processes on one PostgreSQL and one Redis (the embedded database and in-process store cannot be shared between processes); not reachable: ${missing.join('; ')}. Set DATABASE_URL and REDIS_URL, or start the local servers`,
    );
  return { databaseUrl, redisUrl, source: sources.join(', ') };
}

/** Undefined when the Redis answers PING, else why not. */
async function pingRedis(url: string): Promise<string | undefined> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return redactString((error as Error).message);
  } finally {
    redis.disconnect();
  }
}

async function hasCommand(name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = spawn(name, ['--version'], { stdio: 'ignore' });
    probe.once('error', () => resolve(false));
    probe.once('exit', (code) => resolve(code === 0));
  });
}

/** A throwaway redis-server: nothing on disk, its own port, gone with the run. */
async function startEphemeralRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while ((await pingRedis(url)) !== undefined) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new PrerequisiteError(`redis-server did not answer on port ${port} within 30 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

function withRedisDb(url: string, index: number): string {
  const parsed = new URL(url);
  parsed.pathname = `/${index}`;
  return parsed.toString();
}

export interface Environment {
  name: 'staging' | 'production';
  sandbox: RunningSandbox;
  /** The business's own Stripe access (back office: refunds, cancellations). */
  stripe: Stripe;
  balancer: Balancer;
  databaseUrl: string;
  redisUrl: string;
  prices: { monthly: string; yearly: string };
  endpoint: { id: string; secret: string };
  processes: Partial<Record<Side, ServiceProcess>>;
  /** Starts a release's process for a side (not yet behind the balancer). */
  start(side: Side, release: Release, version: string): Promise<ServiceProcess>;
  close(): Promise<void>;
}

export async function createEnvironment(options: {
  name: 'staging' | 'production';
  runId: string;
  servers: Servers;
  redisDb: number;
  logDir: string;
  /** Sandbox clock start (unix seconds, in the past) so renewals can be played by advancing it. */
  clockStart?: number;
}): Promise<Environment> {
  const database = `rehearsal_${options.runId}_${options.name}`;
  const admin = new pg.Client({ connectionString: options.servers.databaseUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists "${database}" with (force)`);
    await admin.query(`create database "${database}"`);
  } finally {
    await admin.end();
  }
  const databaseUrl = withDatabase(options.servers.databaseUrl, database);
  const redisUrl = withRedisDb(options.servers.redisUrl, options.redisDb);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await redis.flushdb();
  redis.disconnect();

  mkdirSync(options.logDir, { recursive: true });
  const sandbox = await startSandbox({ port: 0, retrySchedule: [500, 2000, 5000, 10_000, 20_000], ...(options.clockStart ? { clockStart: options.clockStart } : {}) });
  const balancer = await startBalancer();
  const stripe = createStripeClient({ secretKey: REHEARSAL_STRIPE_KEY, apiVersion: API_VERSION, apiBase: sandbox.url, maxNetworkRetries: 2 });
  const catalog = await ensureCatalog(stripe);
  const endpoint = await registerWebhookEndpoint(stripe, `${balancer.url}${WEBHOOK_PATH}`, API_VERSION);
  const processes: Partial<Record<Side, ServiceProcess>> = {};
  const all: ServiceProcess[] = [];
  let closed = false;

  return {
    name: options.name,
    sandbox,
    stripe,
    balancer,
    databaseUrl,
    redisUrl,
    prices: catalog.prices,
    endpoint,
    processes,
    async start(side, release, version) {
      const service = await startServiceProcess({
        name: `${options.name}-${side}-${all.length + 1}`,
        release,
        logDir: options.logDir,
        env: {
          NODE_ENV: 'development',
          LOG_LEVEL: 'warn',
          SERVICE_VERSION: version,
          DATABASE_URL: databaseUrl,
          REDIS_URL: redisUrl,
          STRIPE_SECRET_KEY: REHEARSAL_STRIPE_KEY,
          STRIPE_API_BASE: sandbox.url,
          STRIPE_WEBHOOK_SECRET: endpoint.secret,
          STRIPE_PRICE_MONTHLY: catalog.prices.monthly,
          STRIPE_PRICE_YEARLY: catalog.prices.yearly,
          STRIPE_WEBHOOK_URL: `${balancer.url}${WEBHOOK_PATH}`,
          AUTH_JWT_SECRET: REHEARSAL_JWT_SECRET,
          // The synthetic population comes from one address: the per-IP limits are for the internet.
          STRIPE_RATE_LIMIT_MAX: '1000000',
          ADMIN_RATE_LIMIT_MAX: '100000',
          // Health and alerts judge a short window at rehearsal volumes.
          HEALTH_WINDOW_MS: '300000',
          HEALTH_CHECK_INTERVAL_MS: '5000',
          ALERT_FILE: join(options.logDir, `${options.name}-alerts.log`),
          OPS_BACKUP_DIR: join(options.logDir, `${options.name}-backups`),
        },
      });
      all.push(service);
      processes[side] = service;
      return service;
    },
    async close() {
      // Staging closes once its gates pass and again with the run's cleanups: the second is a no-op.
      if (closed) return;
      closed = true;
      await Promise.all(all.map((p) => p.stop(5000)));
      await balancer.close();
      await sandbox.close();
      const cleanup = new pg.Client({ connectionString: options.servers.databaseUrl });
      await cleanup.connect();
      try {
        await cleanup.query(`drop database if exists "${database}" with (force)`);
      } finally {
        await cleanup.end();
      }
      const flush = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      await flush.flushdb().catch(() => undefined);
      flush.disconnect();
    },
  };
}
