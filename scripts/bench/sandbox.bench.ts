/**
 * How fast the Stripe sandbox answers compared with the cheapest possible HTTP server on the same
 * machine in the same run: a bare node:http server answering a small JSON object. Drives both with
 * the same keep-alive client and concurrency, then prints ops/s and the sandbox/baseline ratio.
 * Touches nothing outside this process (ephemeral ports).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSandbox } from '../../sandbox';
import { report, wanted } from './report';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const AUTH = 'Bearer sk_test_bench';

interface Result {
  name: string;
  ops: number;
  opsPerSec: number;
  p50: number;
  p99: number;
}

function request(agent: http.Agent, url: URL, method: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          Authorization: AUTH,
          ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function measure(name: string, op: () => Promise<number>): Promise<Result> {
  for (let i = 0; i < 200; i++) await op(); // warm-up: JIT and sockets
  const latencies: number[] = [];
  const deadline = Date.now() + DURATION_MS;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < deadline) {
        const t0 = process.hrtime.bigint();
        const status = await op();
        if (status !== 200) throw new Error(`${name}: HTTP ${status}`);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { name, ops: latencies.length, opsPerSec: latencies.length / seconds, p50: pct(0.5), p99: pct(0.99) };
}

async function main(): Promise<void> {
  if (!wanted('sandbox-throughput')) return;
  const payload = JSON.stringify({ id: 'cus_baseline', object: 'customer', email: 'bench@example.com', metadata: {} });
  const baseline = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
      res.end(payload);
    });
  });
  await new Promise<void>((resolve) => baseline.listen(0, '127.0.0.1', resolve));
  const baseUrl = new URL(`http://127.0.0.1:${(baseline.address() as AddressInfo).port}/v1/customers`);
  const sandbox = await startSandbox({ port: 0 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  const createUrl = new URL(`${sandbox.url}/v1/customers`);
  let n = 0;
  const results: Result[] = [];
  results.push(await measure('baseline node:http JSON', () => request(agent, baseUrl, 'GET')));
  results.push(
    await measure('sandbox POST /v1/customers', () =>
      request(agent, createUrl, 'POST', `email=bench${n++}%40example.com&metadata[user_id]=u${n}`),
    ),
  );
  const listUrl = new URL(`${sandbox.url}/v1/customers?limit=10`);
  results.push(await measure(`sandbox GET /v1/customers?limit=10 (${n} customers stored)`, () => request(agent, listUrl, 'GET')));

  const base = results[0] as Result;
  const create = results[1] as Result;
  report({
    name: 'sandbox-throughput',
    opsPerSec: create.opsPerSec,
    baselineOpsPerSec: base.opsPerSec,
    ratio: create.opsPerSec / base.opsPerSec,
    listOpsPerSec: (results[2] as Result).opsPerSec,
    target: 'regression floor (no issue target): POST /v1/customers >= 0.1x a bare node:http JSON server',
    pass: create.opsPerSec / base.opsPerSec >= 0.1,
  });
  console.log(`concurrency ${CONCURRENCY}, ${DURATION_MS} ms per case, node ${process.version}`);
  for (const r of results) {
    console.log(
      `${r.name.padEnd(58)} ${r.opsPerSec.toFixed(0).padStart(7)} ops/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  ratio ${(r.opsPerSec / base.opsPerSec).toFixed(2)}`,
    );
  }
  agent.destroy();
  await sandbox.close();
  await new Promise<void>((resolve) => baseline.close(() => resolve()));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
