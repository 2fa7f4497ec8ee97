/**
 * The ceiling the webhook ingest benchmark is measured against: a bare Express endpoint that reads
 * the raw body, verifies the Stripe signature with the SDK (as the service does) and answers 200.
 * No database, no store: what Node and Express cost for this work on this machine. Started by
 * ingest.bench.ts in its own process with PORT and STRIPE_WEBHOOK_SECRET.
 */
import express from 'express';
import Stripe from 'stripe';

const secret = process.env.STRIPE_WEBHOOK_SECRET;
if (!secret) throw new Error('STRIPE_WEBHOOK_SECRET is required');
const stripe = new Stripe('sk_test_bench_baseline');
const app = express();
app.get('/health/ready', (_req, res) => {
  res.json({ status: 'ready' });
});
app.post('/api/webhooks/stripe', express.raw({ type: '*/*', limit: '256kb' }), (req, res) => {
  try {
    const event = stripe.webhooks.constructEvent(req.body as Buffer, req.headers['stripe-signature'] ?? '', secret);
    res.json({ received: true, id: event.id });
  } catch {
    res.status(400).json({ error: { code: 'invalid_signature' } });
  }
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
