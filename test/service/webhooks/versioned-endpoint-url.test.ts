import { startTestService, type TestService } from '../../support/service';
import { fakeEvent, sign } from './support';

// The Pulumi webhook endpoint provider registers each Stripe API version on its own URL,
// `https://<host>/api/webhooks/stripe?api_version=<version>` (Stripe's upgrade guide), so during an
// API version change two endpoints deliver side by side. The service must take deliveries on that
// URL exactly as on the bare path: a 400 for the query string would refuse every event of the new
// endpoint until someone noticed.
describe('webhook deliveries to the versioned endpoint URL', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  it('are verified and recorded like deliveries to the bare path, once per event id', async () => {
    const event = fakeEvent('customer.created', { id: 'cus_versioned_url', object: 'customer', email: 'versioned@example.com', metadata: {} });
    const body = JSON.stringify(event);
    const deliver = () =>
      fetch(`${svc.url}/api/webhooks/stripe?api_version=${encodeURIComponent(event.api_version ?? '')}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': sign(svc.config.stripe.webhookSecret, body) },
        body,
      });
    const first = await deliver();
    expect(first.status).toBe(200);
    const second = await deliver();
    expect(second.status).toBe(200);
    const rows = await svc.database.db.selectFrom('webhook_events').select(['event_id', 'status']).where('event_id', '=', event.id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.status).not.toBe('pending');
  });
});
