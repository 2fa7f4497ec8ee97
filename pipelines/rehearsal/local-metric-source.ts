import { MetricsNotReadyError, type MetricSource, type MetricWindow, type Side, type SideFigures } from '../canary-analysis/metric-source';
import type { Balancer } from './balancer';

/**
 * The canary analysis's metric source in the rehearsal, standing in for CloudWatch: the same
 * figures from where they come from on one machine.
 *
 * - Requests, target 5xx and p99 response time: from the rehearsal's load balancer, per target,
 *   as CloudWatch gets RequestCount, HTTPCode_Target_5XX_Count and TargetResponseTime from the ALB
 *   per target group (only responses that ended inside the window).
 * - Payment outcomes and webhook deliveries: from each side's own `GET /metrics` (the counters
 *   behind the EMF lines the service writes in AWS: payments_total by outcome,
 *   payments_webhook_events_total by outcome, counted the same way as cloudwatch-metric-source.ts:
 *   processed, ignored and unmatched are handled deliveries; failed are failures; pending and
 *   duplicate are neither). Counters are cumulative per process, so the window's figures are the
 *   difference from a baseline read when the window starts (`begin`).
 *
 * `/api/payments/health` is read too (`paymentHealth`), through each side's process: it is the
 * whole database's view (both versions write one ledger), so it cannot tell the sides apart and is
 * not in the verdict; the rehearsal reports each side's answer beside the canary's figures, where a
 * `critical` or an unanswered check stands out.
 */

interface Counters {
  paymentSucceeded: number;
  paymentFailed: number;
  webhookHandled: number;
  webhookFailed: number;
}

const HANDLED = new Set(['processed', 'ignored', 'unmatched']);

const noCounters = (): Counters => ({ paymentSucceeded: 0, paymentFailed: 0, webhookHandled: 0, webhookFailed: 0 });

/**
 * Sums the counters the verdict needs from a Prometheus text exposition. Only plain counter samples
 * of two known metric families are read (`name{label="v",...} value`); prom-client writes exactly
 * that, and no parser package on npm is kept better than these few lines need.
 */
export function readCounters(text: string): Counters {
  const counters = noCounters();
  for (const line of text.split('\n')) {
    const match = /^(payments_total|payments_webhook_events_total)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    const outcome = /(?:^|,)outcome="([^"]*)"/.exec(match[2]!)?.[1];
    if (match[1] === 'payments_total') {
      if (outcome === 'succeeded') counters.paymentSucceeded += value;
      else if (outcome === 'failed') counters.paymentFailed += value;
    } else if (outcome === 'failed') counters.webhookFailed += value;
    else if (outcome !== undefined && HANDLED.has(outcome)) counters.webhookHandled += value;
  }
  return counters;
}

/** The p99 of a set of durations, nearest rank (as CloudWatch's p99 statistic over raw samples). */
export function p99(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
}

export class LocalMetricSource implements MetricSource {
  private baseline: Partial<Record<Side, { url: string; counters: Counters }>> = {};

  constructor(
    private readonly balancer: Balancer,
    /** Each side's service process (its own address, not the balancer's: /metrics is per process). */
    private readonly processUrl: (side: Side) => string | undefined,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  private async counters(url: string): Promise<Counters> {
    let answer: Response;
    try {
      answer = await this.fetchFn(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
    } catch (error) {
      // A process that does not answer is a missed poll, as a throttled GetMetricData would be.
      throw new MetricsNotReadyError(`GET ${url}/metrics failed: ${(error as Error).message}`);
    }
    if (answer.status !== 200) throw new MetricsNotReadyError(`GET ${url}/metrics answered ${answer.status}`);
    return readCounters(await answer.text());
  }

  /** Reads both sides' counters as the window's starting point. */
  async begin(): Promise<void> {
    for (const side of ['stable', 'candidate'] as const) {
      const url = this.processUrl(side);
      if (url) this.baseline[side] = { url, counters: await this.counters(url) };
    }
  }

  /** The side's `GET /api/payments/health` status (healthy, degraded, critical), or why there is none. */
  async paymentHealth(side: Side): Promise<string> {
    const url = this.processUrl(side);
    if (!url) return 'not running';
    try {
      const answer = await this.fetchFn(`${url}/api/payments/health`, { signal: AbortSignal.timeout(10_000) });
      const body = (await answer.json().catch(() => null)) as { status?: unknown } | null;
      return typeof body?.status === 'string' ? body.status : `answered ${answer.status} without a status`;
    } catch (error) {
      return `no answer (${(error as Error).message})`;
    }
  }

  async read(side: Side, window: MetricWindow): Promise<SideFigures> {
    const start = window.start.getTime();
    const end = window.end.getTime();
    const samples = this.balancer.stats(side).samples.filter((s) => s.at >= start && s.at < end);
    const url = this.processUrl(side);
    let app = noCounters();
    if (url) {
      const now = await this.counters(url);
      // A process started after begin() (or restarted) counts from zero.
      const base = this.baseline[side]?.url === url ? this.baseline[side]!.counters : noCounters();
      app = {
        paymentSucceeded: now.paymentSucceeded - base.paymentSucceeded,
        paymentFailed: now.paymentFailed - base.paymentFailed,
        webhookHandled: now.webhookHandled - base.webhookHandled,
        webhookFailed: now.webhookFailed - base.webhookFailed,
      };
    }
    return {
      requests: samples.length,
      errors5xx: samples.filter((s) => s.status >= 500).length,
      p99Ms: p99(samples.map((s) => s.ms)),
      paymentAttempts: app.paymentSucceeded + app.paymentFailed,
      paymentFailures: app.paymentFailed,
      webhookDeliveries: app.webhookHandled + app.webhookFailed,
      webhookFailures: app.webhookFailed,
    };
  }
}
