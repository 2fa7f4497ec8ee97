import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import { startSandbox } from '../../sandbox';
import { parseForm } from '../../sandbox/http/form';
import { createStripeClient, SDK_API_VERSION } from '../../service/shared/stripe-client';

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
