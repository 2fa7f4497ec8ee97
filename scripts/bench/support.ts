/**
 * What several benchmarks need: a database of their own on the PostgreSQL server, and a service (or
 * a baseline server) in its own process, as production runs it, so the load generator in the bench
 * process does not share an event loop with what it measures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type Stripe from 'stripe';
import type { SandboxControl } from '../../sandbox/control';
import { redactString } from '../../service/shared/redact';

/** The PostgreSQL server the benchmarks use: DATABASE_URL, else the local one (trust auth). */
export function databaseServer(): string {
  return process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
}

/** A database created for one benchmark on `server` and dropped by `drop()`. */
export async function freshDatabase(server: string, label: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `upiik_bench_${label}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: server });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`this benchmark needs PostgreSQL: ${redactString((error as Error).message)} (set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test)`, { cause: error });
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new Client({ connectionString: server });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export { freePort } from '../../pipelines/rehearsal/fleet';

/**
 * The environment a benchmarked service gets, as a task definition would give it: development mode
 * (no TLS to the local servers), errors only in the log, no alert file, bench-only secrets.
 */
export function serviceEnv(options: { port: number; databaseUrl?: string; stripe: { apiBase: string; webhookSecret: string; prices: { monthly: string; yearly: string } } }): Record<string, string> {
  return {
    NODE_ENV: 'development',
    PORT: String(options.port),
    LOG_LEVEL: 'error',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    AUTH_JWT_SECRET: BENCH_JWT_SECRET,
    STRIPE_SECRET_KEY: 'sk_test_bench',
    STRIPE_PUBLISHABLE_KEY: 'pk_test_bench',
    STRIPE_WEBHOOK_SECRET: options.stripe.webhookSecret,
    STRIPE_API_BASE: options.stripe.apiBase,
    STRIPE_PRICE_MONTHLY: options.stripe.prices.monthly,
    STRIPE_PRICE_YEARLY: options.stripe.prices.yearly,
    CHECKOUT_SUCCESS_URL: 'http://127.0.0.1/success?session_id={CHECKOUT_SESSION_ID}',
    CHECKOUT_CANCEL_URL: 'http://127.0.0.1/cancel',
    BILLING_PORTAL_RETURN_URL: 'http://127.0.0.1/account',
    ALERT_FILE: '',
  };
}

export const BENCH_JWT_SECRET = 'bench-only-jwt-secret-0123456789-0123456789';

export interface BenchProcess {
  url: string;
  child: ChildProcess;
  /** Milliseconds from spawn until `readyPath` answered 200. */
  readyMs: number;
  /** CPU seconds (user + system) the process has used so far; undefined where /proc is not (not Linux). */
  cpuSeconds(): number | undefined;
  stop(): Promise<void>;
}

/** Linux's clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`: 100 on every Linux Node supports). */
const CLOCK_TICKS = 100;

/** CPU seconds a process used (utime + stime, fields 14 and 15 of /proc/<pid>/stat), undefined without /proc. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/**
 * Spawns `node <args>` with `env` (stdout dropped: EMF metric lines; stderr kept for the error
 * message) and waits until `readyPath` answers 200, polling every 20 ms within `timeoutMs`.
 */
export async function startProcess(options: { args: string[]; env: NodeJS.ProcessEnv; port: number; readyPath: string; timeoutMs?: number; cwd?: string }): Promise<BenchProcess> {
  const started = performance.now();
  const child = spawn(process.execPath, options.args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  let exited: string | undefined;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exit ${code ?? signal}`;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${options.port}`;
  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    }
  };
  const deadline = started + (options.timeoutMs ?? 90_000);
  for (;;) {
    if (exited !== undefined) throw new Error(`${options.args.join(' ')} stopped before it was ready (${exited}): ${redactString(stderr.trim().split('\n').slice(-5).join(' | '))}`);
    const ok = await fetch(`${url}${options.readyPath}`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return { url, child, readyMs: performance.now() - started, cpuSeconds: () => processCpuSeconds(child.pid), stop };
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`${options.args.join(' ')} was not ready within ${options.timeoutMs ?? 90_000} ms: ${redactString(stderr.trim().split('\n').slice(-5).join(' | '))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A subscription checkout shaped as the service's own (service/checkout/checkout-service.ts: the
 * user in the customer's, the session's and the subscription's metadata), completed on the
 * sandbox with a card that pays: the events a real Upiik checkout makes.
 */
export async function completeCheckout(
  stripe: Stripe,
  control: SandboxControl,
  options: { userId: string; price: string; plan: 'monthly' | 'yearly'; email?: string },
): Promise<void> {
  const { userId, plan } = options;
  const customer = await stripe.customers.create({ ...(options.email ? { email: options.email } : {}), metadata: { userId } });
  const session = await stripe.checkout.sessions.create({
    mode: 'subscription',
    customer: customer.id,
    client_reference_id: userId,
    line_items: [{ price: options.price, quantity: 1 }],
    success_url: 'http://127.0.0.1/s',
    cancel_url: 'http://127.0.0.1/c',
    metadata: { userId, plan },
    subscription_data: { metadata: { userId, plan } },
  });
  await control.completeCheckoutSession(session.id, 'pm_card_visa');
}
