import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import type { Side } from '../canary-analysis/metric-source';

/**
 * The rehearsal's load balancer: what the ALB and its weighted listener rule do for the service,
 * on one machine. Requests are split between the stable and the candidate target by weight (smooth
 * weighted round robin, so 10 % means one request in ten, not a coin toss), only to targets whose
 * health check (`GET /health/ready`, as the ALB's target groups) passes, and answered 503 when no
 * target is healthy. The proxying itself is http-proxy-3's.
 *
 * It also records per target what CloudWatch gets from the ALB (RequestCount,
 * HTTPCode_Target_5XX_Count, TargetResponseTime), because the canary analysis reads those figures
 * from the load balancer in AWS, not from the service.
 */

export interface TargetStats {
  requests: number;
  errors5xx: number;
  /** Response times in ms with the time each response ended (the window filters on it). */
  samples: { at: number; ms: number; status: number }[];
}

interface Target {
  side: Side;
  url: string;
  healthy: boolean;
  /** Consecutive failed checks; the ALB's UnhealthyThresholdCount is 2 here. */
  failures: number;
  weight: number;
  current: number;
  stats: TargetStats;
}

export interface Balancer {
  url: string;
  port: number;
  /** Points a side at a service process (or removes it); a new target starts unhealthy until its first check. */
  setTarget(side: Side, url: string | undefined): void;
  /** Listener rule weights, 0-100 each, as ECS sets them during a canary. */
  setWeights(weights: Record<Side, number>): void;
  weights(): Record<Side, number>;
  healthy(side: Side): boolean;
  /** Resolves once the side's target passed a health check (or rejects after `timeoutMs`). */
  waitHealthy(side: Side, timeoutMs: number): Promise<void>;
  stats(side: Side): TargetStats;
  /** Requests answered 503 because no target was healthy. */
  unrouted(): number;
  close(): Promise<void>;
}

const HEALTH_PATH = '/health/ready';

export async function startBalancer(options: { healthIntervalMs?: number; port?: number } = {}): Promise<Balancer> {
  const interval = options.healthIntervalMs ?? 1000;
  const targets = new Map<Side, Target>();
  let weights: Record<Side, number> = { stable: 100, candidate: 0 };
  let unrouted = 0;
  const proxy = createProxyServer({ xfwd: true, proxyTimeout: 30_000 });

  /** Smooth weighted round robin over healthy targets with weight > 0 (nginx's algorithm). */
  const pick = (): Target | undefined => {
    const eligible = [...targets.values()].filter((t) => t.healthy && t.weight > 0);
    if (eligible.length === 0) return undefined;
    const total = eligible.reduce((sum, t) => sum + t.weight, 0);
    let best = eligible[0]!;
    for (const t of eligible) {
      t.current += t.weight;
      if (t.current > best.current) best = t;
    }
    best.current -= total;
    return best;
  };

  proxy.on('error', (_error, _req, res) => {
    // The target closed the connection or refused it: the ALB answers 502 and counts it as the target's.
    const response = res as ServerResponse;
    if (!response.headersSent) response.writeHead(502, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error: 'bad_gateway' }));
  });

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const target = pick();
    if (!target) {
      unrouted += 1;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'no_healthy_target' }));
      return;
    }
    const started = performance.now();
    res.once('finish', () => {
      const status = res.statusCode;
      target.stats.requests += 1;
      if (status >= 500) target.stats.errors5xx += 1;
      target.stats.samples.push({ at: Date.now(), ms: performance.now() - started, status });
    });
    proxy.web(req, res, { target: target.url });
  };

  const server: Server = createServer(handle);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const check = async (t: Target) => {
    const ok = await fetch(`${t.url}${HEALTH_PATH}`, { signal: AbortSignal.timeout(Math.max(500, interval)) }).then(
      async (answer) => {
        await answer.body?.cancel();
        return answer.status === 200;
      },
      () => false,
    );
    if (targets.get(t.side) !== t) return;
    if (ok) {
      t.healthy = true;
      t.failures = 0;
    } else {
      t.failures += 1;
      if (t.failures >= 2 || !t.healthy) t.healthy = false;
    }
  };
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    void Promise.all([...targets.values()].map(check)).finally(() => {
      checking = false;
    });
  }, interval);

  const emptyStats = (): TargetStats => ({ requests: 0, errors5xx: 0, samples: [] });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setTarget(side, url) {
      if (url === undefined) {
        targets.delete(side);
        return;
      }
      const previous = targets.get(side);
      targets.set(side, { side, url, healthy: false, failures: 0, weight: weights[side], current: 0, stats: previous?.url === url ? previous.stats : emptyStats() });
    },
    setWeights(next) {
      weights = { ...next };
      for (const t of targets.values()) {
        t.weight = weights[t.side];
        t.current = 0;
      }
    },
    weights: () => ({ ...weights }),
    healthy: (side) => targets.get(side)?.healthy ?? false,
    async waitHealthy(side, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!targets.get(side)?.healthy) {
        if (Date.now() > deadline) throw new Error(`the ${side} target did not pass the ${HEALTH_PATH} check within ${Math.round(timeoutMs / 1000)} s`);
        await new Promise((r) => setTimeout(r, Math.min(interval, 250)));
      }
    },
    stats: (side) => targets.get(side)?.stats ?? emptyStats(),
    unrouted: () => unrouted,
    async close() {
      clearInterval(timer);
      proxy.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
