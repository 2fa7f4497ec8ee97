import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import { startSandbox } from '../../sandbox';
import { parseForm } from '../../sandbox/http/form';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';
import { seedCatalog } from './support';

// Sandbox-specific behaviour (not part of the Stripe contract): persistence, raw HTTP details.
describe('sandbox runtime', () => {
  test('persists objects and the clock offset to the state file across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-state-'));
    try {
      const persistPath = join(dir, 'state.json');
      const first = await startSandbox({ persistPath });
      const stripe = createStripeClient({ secretKey: 'sk_test_persist', apiVersion: SDK_API_VERSION, apiBase: first.url });
      const customer = await stripe.customers.create({ email: 'kept@example.com' });
      await first.control.advanceClock(7 * 86_400);
      await first.close();

      const second = await startSandbox({ persistPath });
      const again = createStripeClient({ secretKey: 'sk_test_persist', apiVersion: SDK_API_VERSION, apiBase: second.url });
      expect((await again.customers.retrieve(customer.id)) as Stripe.Customer).toMatchObject({ email: 'kept@example.com' });
      expect(second.control.now()).toBeGreaterThan(Date.now() / 1000 + 6 * 86_400);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("lists an intent's invoice payments (the side table), also after a restart from the state file", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-state-'));
    try {
      const persistPath = join(dir, 'state.json');
      const first = await startSandbox({ persistPath });
      const stripe = createStripeClient({ secretKey: 'sk_test_persist', apiVersion: SDK_API_VERSION, apiBase: first.url });
      const { price } = await seedCatalog(stripe);
      // Each checkout's invoice and the intent that paid it, read through the invoice (no side table).
      const paid: Array<[string, string]> = [];
      for (let i = 0; i < 3; i++) {
        const customer = await stripe.customers.create({ email: `inpay${i}@example.com` });
        const session = await stripe.checkout.sessions.create({ mode: 'subscription', customer: customer.id, line_items: [{ price: price.id, quantity: 1 }], success_url: 'http://127.0.0.1/s', cancel_url: 'http://127.0.0.1/c' });
        const done = await first.control.completeCheckoutSession(session.id, 'pm_card_visa');
        const invoiceId = (await stripe.subscriptions.retrieve(done.subscription as string)).latest_invoice as string;
        const payments = await stripe.invoicePayments.list({ invoice: invoiceId });
        paid.push([invoiceId, payments.data[0]!.payment.payment_intent as string]);
      }
      const byIntent = async (client: Stripe, intent: string) => (await client.invoicePayments.list({ payment: { type: 'payment_intent', payment_intent: intent } })).data.map((p) => [p.invoice, p.payment.payment_intent]);
      expect(new Set(paid.map(([invoice]) => invoice)).size).toBe(3);
      for (const [invoice, intent] of paid) expect(await byIntent(stripe, intent)).toEqual([[invoice, intent]]);
      expect(await byIntent(stripe, 'pi_unknown')).toEqual([]);
      await first.close();
      // A state file without the side table (none has it: it is derived, not saved): rebuilt on load.
      const saved = JSON.parse(readFileSync(persistPath, 'utf8')) as Record<string, unknown>;
      delete saved.invoicePaymentsByIntent;
      writeFileSync(persistPath, JSON.stringify(saved));

      const second = await startSandbox({ persistPath });
      const again = createStripeClient({ secretKey: 'sk_test_persist', apiVersion: SDK_API_VERSION, apiBase: second.url });
      for (const [invoice, intent] of paid) expect(await byIntent(again, intent)).toEqual([[invoice, intent]]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('answers raw form requests with Stripe headers and replays idempotent POSTs with Idempotent-Replayed', async () => {
    const sandbox = await startSandbox();
    try {
      const post = () =>
        fetch(`${sandbox.url}/v1/customers`, {
          method: 'POST',
          headers: { Authorization: 'Bearer sk_test_raw', 'Content-Type': 'application/x-www-form-urlencoded', 'Idempotency-Key': 'raw-1', 'Stripe-Version': '2020-08-27' },
          body: 'email=raw%40example.com&metadata[plan]=premium&expand[]=invoice_settings.default_payment_method',
        });
      const a = await post();
      const b = await post();
      expect(a.status).toBe(200);
      expect(a.headers.get('request-id')).toMatch(/^req_/);
      expect(a.headers.get('stripe-version')).toBe(SDK_API_VERSION);
      expect(b.headers.get('idempotent-replayed')).toBe('true');
      const [ca, cb] = [(await a.json()) as Stripe.Customer, (await b.json()) as Stripe.Customer];
      expect(cb.id).toBe(ca.id);
      expect(ca.metadata).toEqual({ plan: 'premium' });
    } finally {
      await sandbox.close();
    }
  });

  test('decodes nested, indexed and appended form keys the way the SDK and curl send them', () => {
    expect(parseForm('items[0][price]=p1&items[1][price]=p2&expand[]=a&expand[]=b&metadata[k]=&name=A+B')).toEqual({
      items: [{ price: 'p1' }, { price: 'p2' }],
      expand: ['a', 'b'],
      metadata: { k: '' },
      name: 'A B',
    });
  });
});
