import pg from 'pg';
import type Stripe from 'stripe';
import { PREMIUM_STATUSES } from '../../service/checkout/plans';
import { FINAL_STATUSES } from '../../service/webhooks/inbox';
import type { Environment } from './environment';

/**
 * The end of every rehearsal: nothing was lost. Once the sandbox has nothing left to deliver (or
 * gave up on what it could not), every event it sent to the production endpoint must be in the
 * inbox with a final status (applied, or deliberately ignored / unmatched), and the ledger must
 * equal Stripe's objects: each subscription's status, each user's premium flag, each paid invoice
 * recorded as a payment of its amount, each charge's refunded amount on its payment. An event
 * applied twice shows up there (a refund counted twice, a payment of the wrong amount); an event
 * lost shows up in the inbox count and, if it changed anything, in the ledger.
 */

export interface Proof {
  ok: boolean;
  /** Events the sandbox sent to the endpoint that the inbox does not hold as applied. */
  eventsLost: number;
  eventsEmitted: number;
  eventsApplied: number;
  /** Events the sandbox stopped retrying (every attempt failed). */
  deliveriesGivenUp: number;
  /** Ledger rows that differ from Stripe's objects, first few described. */
  mismatches: string[];
  mismatchCount: number;
  checked: { subscriptions: number; invoices: number; charges: number; users: number };
}

async function all<T>(list: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of list) items.push(item);
  return items;
}

/**
 * Quiet: the sandbox has nothing left to deliver, and the service has applied what it acknowledged
 * before applying it (events that needed the Stripe API are answered 2xx and applied by a drain;
 * a failed one waits for the service's own retry), within the same bound.
 */
export async function waitForQuiet(env: Environment, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  try {
    await env.sandbox.control.waitForDeliveries(timeoutMs);
  } catch {
    return false;
  }
  const client = new pg.Client({ connectionString: env.databaseUrl });
  await client.connect();
  try {
    for (;;) {
      const held = await client.query<{ n: string }>("select count(*) as n from webhook_events where status = 'pending' or (status = 'failed' and retry_at is not null)");
      if (Number(held.rows[0]!.n) === 0) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await client.end();
  }
}

export async function prove(env: Environment): Promise<Proof> {
  const attempts = env.sandbox.control.deliveries({ endpoint_id: env.endpoint.id });
  const emitted = new Set(attempts.map((a) => a.event_id));
  const acknowledged = new Set(attempts.filter((a) => a.succeeded).map((a) => a.event_id));
  const givenUp = [...emitted].filter((id) => !acknowledged.has(id)).length;

  const client = new pg.Client({ connectionString: env.databaseUrl });
  await client.connect();
  const mismatches: string[] = [];
  let mismatchCount = 0;
  const differ = (text: string) => {
    mismatchCount += 1;
    if (mismatches.length < 10) mismatches.push(text);
  };
  try {
    const inbox = await client.query<{ event_id: string; status: string }>('select event_id, status from webhook_events');
    const applied = new Set(inbox.rows.filter((r) => (FINAL_STATUSES as readonly string[]).includes(r.status)).map((r) => r.event_id));
    const lost = [...emitted].filter((id) => !applied.has(id));

    const subscriptions = await all(env.stripe.subscriptions.list({ status: 'all', limit: 100 }));
    const localSubs = new Map((await client.query<{ id: string; status: string; user_id: string }>('select id, status, user_id from subscriptions')).rows.map((r) => [r.id, r]));
    for (const sub of subscriptions) {
      const local = localSubs.get(sub.id);
      if (!local) differ(`subscription ${sub.id} (${sub.status} at Stripe) is not in the database`);
      else if (local.status !== sub.status) differ(`subscription ${sub.id}: ${local.status} in the database, ${sub.status} at Stripe`);
    }

    // A user is premium while one of their subscriptions is in a premium status, at Stripe as here.
    const premiumAtStripe = new Set<string>();
    for (const sub of subscriptions) if ((PREMIUM_STATUSES as readonly string[]).includes(sub.status) && sub.metadata?.userId) premiumAtStripe.add(sub.metadata.userId);
    const users = (await client.query<{ id: string; is_premium: boolean }>("select id, is_premium from users where id like 'rehearsal_%'")).rows;
    for (const user of users) {
      const expected = premiumAtStripe.has(user.id);
      if (user.is_premium !== expected) differ(`user ${user.id}: premium ${user.is_premium} in the database, ${expected} by Stripe's subscriptions`);
    }

    const payments = (await client.query<{ invoice_id: string | null; payment_intent_id: string | null; amount: string; status: string; refunded_amount: string }>(
      'select invoice_id, payment_intent_id, amount::text, status, refunded_amount::text from payments',
    )).rows;
    const byInvoice = new Map(payments.filter((p) => p.invoice_id).map((p) => [p.invoice_id!, p]));
    const byIntent = new Map(payments.filter((p) => p.payment_intent_id).map((p) => [p.payment_intent_id!, p]));
    const invoices = (await all(env.stripe.invoices.list({ status: 'paid', limit: 100 }))).filter((i) => i.amount_paid > 0);
    for (const invoice of invoices) {
      const local = byInvoice.get(invoice.id!);
      if (!local) differ(`paid invoice ${invoice.id} (${invoice.amount_paid} ${invoice.currency}) has no payment row`);
      else if (Number(local.amount) !== invoice.amount_paid) differ(`invoice ${invoice.id}: payment of ${local.amount} in the database, ${invoice.amount_paid} paid at Stripe`);
    }
    // Refunds: each charge's amount_refunded at Stripe is the refunded_amount of its payment row.
    let charges = 0;
    for (const intent of await all(env.stripe.paymentIntents.list({ limit: 100, expand: ['data.latest_charge'] }))) {
      const charge = intent.latest_charge as Stripe.Charge | null;
      if (!charge || typeof charge === 'string' || charge.status !== 'succeeded') continue;
      const local = byIntent.get(intent.id);
      if (!local) {
        if (charge.amount_refunded > 0) differ(`charge ${charge.id} (${charge.amount_refunded} refunded at Stripe) has no payment row for ${intent.id}`);
        continue;
      }
      charges += 1;
      if (Number(local.refunded_amount) !== charge.amount_refunded) differ(`charge ${charge.id}: ${local.refunded_amount} refunded in the database, ${charge.amount_refunded} at Stripe`);
    }
    return {
      ok: lost.length === 0 && mismatchCount === 0,
      eventsLost: lost.length,
      eventsEmitted: emitted.size,
      eventsApplied: [...emitted].filter((id) => applied.has(id)).length,
      deliveriesGivenUp: givenUp,
      mismatches: lost.length > 0 ? [`${lost.length} events not applied, e.g. ${lost.slice(0, 3).join(', ')}`, ...mismatches] : mismatches,
      mismatchCount,
      checked: { subscriptions: subscriptions.length, invoices: invoices.length, charges, users: users.length },
    };
  } finally {
    await client.end();
  }
}
