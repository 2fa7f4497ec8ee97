import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { type RunningSandbox, startSandbox } from '../../sandbox';
import { createStripeClient } from '../../service/shared/stripe-client';
import { startTestService, type TestService } from './service';

/** One API request the service sent towards Stripe, as the hop saw it. */
export interface HopRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/customers`. */
  path: string;
  query: URLSearchParams;
  idempotencyKey: string | undefined;
  /** The form-encoded body, decoded (`metadata[userId]` → key `metadata[userId]`). */
  form: URLSearchParams;
}

/**
 * What to do with a request: `forward` sends it on to the sandbox, `fail` answers a Stripe-shaped
 * error without forwarding (as Stripe's edge would during an incident), `hold` forwards it later.
 */
export type HopDecision = { action: 'forward' } | { action: 'fail'; status: number } | { action: 'hold'; release: Promise<void> };

/**
 * An HTTP hop between the service's Stripe client and the sandbox: it records every request (to
 * assert what the service asked Stripe, idempotency keys included) and lets a test fail or hold
 * chosen requests. Not a stand-in for Stripe: every forwarded request is answered by the sandbox.
 * Written on node:http rather than a proxy library because holding a request until another one
 * arrives, or failing it by rule, is the whole point and is a few lines here.
 */
export interface StripeHop {
  url: string;
  readonly requests: HopRequest[];
  /** Decides every later request; the default forwards everything. */
  decide: (req: HopRequest) => HopDecision;
  close(): Promise<void>;
}

export async function startStripeHop(target: string): Promise<StripeHop> {
  const hop: StripeHop = { url: '', requests: [], decide: () => ({ action: 'forward' }), close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', target);
      const key = req.headers['idempotency-key'];
      const recorded: HopRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        idempotencyKey: typeof key === 'string' ? key : undefined,
        form: new URLSearchParams(body.toString('utf8')),
      };
      hop.requests.push(recorded);
      const forward = (): void => {
        const upstream = http.request(url, { method: req.method, headers: req.headers, agent: false }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        upstream.on('error', (err) => res.writeHead(502).end(err.message));
        upstream.end(body);
      };
      const decision = hop.decide(recorded);
      if (decision.action === 'fail') {
        res.writeHead(decision.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'api_error', message: `Injected by the test's Stripe hop (${decision.status})` } }));
      } else if (decision.action === 'hold') {
        void decision.release.then(forward);
      } else {
        forward();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hop.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hop.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return hop;
}

/**
 * The whole service whose Stripe client goes through a hop in front of its own sandbox, and a
 * client of the sandbox itself (`admin`) for setup the hop should not see.
 */
export async function startServiceBehindHop(): Promise<{ sandbox: RunningSandbox; hop: StripeHop; svc: TestService; admin: Stripe; close(): Promise<void> }> {
  const sandbox = await startSandbox({ port: 0, deliveryTimeoutMs: 60_000 });
  const hop = await startStripeHop(sandbox.url);
  const svc = await startTestService({ sandbox, serviceStripeApiBase: hop.url }).catch(async (err: unknown) => {
    await hop.close();
    await sandbox.close();
    throw err;
  });
  const admin = createStripeClient({ secretKey: svc.config.stripe.secretKey, apiVersion: svc.config.stripe.apiVersion, apiBase: sandbox.url });
  return {
    sandbox,
    hop,
    svc,
    admin,
    close: async () => {
      await svc.close();
      await hop.close();
      await sandbox.close();
    },
  };
}
