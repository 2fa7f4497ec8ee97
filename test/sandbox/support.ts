import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { startSandbox, type RunningSandbox, type SandboxControl } from '../../sandbox';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';

/**
 * The contract suite runs against the sandbox, or against real Stripe test mode when
 * STRIPE_CONTRACT_SECRET_KEY is set. Cases that need the sandbox's control API (completing a
 * checkout, moving the clock, injecting faults) or a webhook receiver Stripe can reach are
 * declared with `sandboxOnly` and skipped against Stripe.
 */
const REAL_KEY = process.env.STRIPE_CONTRACT_SECRET_KEY;
export const againstRealStripe = Boolean(REAL_KEY);
export const sandboxOnly: jest.It = againstRealStripe ? test.skip : test;

export interface Harness {
  stripe: Stripe;
  apiBase: string;
  secretKey: string;
  /** Only in sandbox mode; `sandboxOnly` tests may use it. */
  sandbox: RunningSandbox;
  control: SandboxControl;
  /** Empties the sandbox between tests; against real Stripe there is nothing to reset. */
  reset(): void;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  if (REAL_KEY) {
    if (!REAL_KEY.startsWith('sk_test_') && !REAL_KEY.startsWith('rk_test_')) {
      throw new Error('STRIPE_CONTRACT_SECRET_KEY must be a test-mode key (sk_test_/rk_test_)');
    }
    const stripe = createStripeClient({ secretKey: REAL_KEY, apiVersion: SDK_API_VERSION });
    const unavailable = new Proxy({}, { get: () => { throw new Error('sandbox control used against real Stripe: mark the test sandboxOnly'); } });
    return {
      stripe,
      apiBase: 'https://api.stripe.com',
      secretKey: REAL_KEY,
      sandbox: unavailable as RunningSandbox,
      control: unavailable as SandboxControl,
      reset: () => undefined,
      close: async () => undefined,
    };
  }
  const sandbox = await startSandbox({ port: 0, retrySchedule: [40, 80, 160], deliveryTimeoutMs: 60_000 });
  const secretKey = 'sk_test_contract_suite';
  const stripe = createStripeClient({ secretKey, apiVersion: SDK_API_VERSION, apiBase: sandbox.url });
  return { stripe, apiBase: sandbox.url, secretKey, sandbox, control: sandbox.control, reset: () => sandbox.control.reset(), close: () => sandbox.close() };
}

export interface ReceivedWebhook {
  rawBody: string;
  signature: string;
  headers: http.IncomingHttpHeaders;
}

/** A real HTTP webhook receiver on port 0 that records raw bodies and can answer failures. */
export interface Receiver {
  url: string;
  received: ReceivedWebhook[];
  /** Answer the next `count` requests with 500. */
  failNext(count: number): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedWebhook[] = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failures > 0) {
        failures--;
        res.writeHead(500).end('try later');
        return;
      }
      received.push({ rawBody: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['stripe-signature']), headers: req.headers });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"received":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/stripe`,
    received,
    failNext: (count) => (failures = count),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Verifies every received body with the SDK, exactly as a receiving service would. */
export function verifiedEvents(stripe: Stripe, receiver: Receiver, secret: string): Stripe.Event[] {
  return receiver.received.map((w) => stripe.webhooks.constructEvent(w.rawBody, w.signature, secret));
}

/** A value unique to this run, so list filters also isolate tests on a shared real account. */
export function unique(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export async function seedCatalog(stripe: Stripe, interval: 'day' | 'month' | 'year' = 'month', amount = 400): Promise<{ product: Stripe.Product; price: Stripe.Price }> {
  const product = await stripe.products.create({ name: 'Upiik Premium', metadata: { suite: 'contract' } });
  const price = await stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: amount, recurring: { interval } });
  return { product, price };
}

/**
 * One harness and one webhook receiver for a suite: started once, closed after it, and emptied
 * before each test (sandbox state reset, received deliveries cleared). `use` receives both when
 * they are up, for the suite's own variables.
 */
export function useHarnessAndReceiver(use: (harness: Harness, receiver: Receiver) => void): void {
  let harness: Harness | undefined;
  let receiver: Receiver | undefined;
  beforeAll(async () => {
    harness = await startHarness();
    receiver = await startReceiver();
    use(harness, receiver);
  });
  afterAll(async () => {
    await harness?.close();
    await receiver?.close();
  });
  beforeEach(() => {
    if (againstRealStripe) return; // Stripe's state cannot be reset, and it cannot reach a local receiver
    harness?.reset();
    if (receiver) receiver.received.length = 0;
  });
}
