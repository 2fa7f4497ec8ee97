import type Stripe from 'stripe';
import type { Database } from '../shared/db';
import { stripeFailure } from '../shared/stripe-errors';
import { customerIdOf as idOf } from './effects/subscriptions';

/** The id of an expandable field, whether Stripe sent the id or the expanded object: the one helper, under a name for any field. */
export { idOf };

/**
 * Payment intent -> invoice, read in bulk by a pass over many events (a replay: see
 * readInvoicesOfIntents). Only positive answers: an intent it does not name is asked about on its own.
 */
export type KnownInvoices = ReadonlyMap<string, string>;

/**
 * The invoice a payment intent pays, if any (payment intents no longer name their invoice): from
 * `known` when a pass read it already, else one Invoice Payments lookup.
 */
export async function invoiceForPaymentIntent(stripe: Stripe, paymentIntentId: string, known?: KnownInvoices): Promise<string | null> {
  const hit = known?.get(paymentIntentId);
  if (hit) return hit;
  try {
    const page = await stripe.invoicePayments.list({ payment: { type: 'payment_intent', payment_intent: paymentIntentId }, limit: 1 });
    return idOf(page.data[0]?.invoice);
  } catch (err) {
    throw stripeFailure(err, 'invoice payment lookup');
  }
}

/**
 * The invoices of payment intents whose invoice payments were created at or after `since` (unix
 * seconds), 100 a page (issue 15): a replay of 10,000 events would otherwise ask once per payment
 * intent, 2,000 calls against Stripe's 25 a second per endpoint. Each intent gets the newest of its
 * invoice payments, as the lookup by intent answers (Stripe lists newest first).
 */
export async function readInvoicesOfIntents(stripe: Stripe, since: number): Promise<Map<string, string>> {
  const invoices = new Map<string, string>();
  try {
    for await (const payment of stripe.invoicePayments.list({ created: { gte: since }, limit: 100 })) {
      const intent = payment.payment.type === 'payment_intent' ? idOf(payment.payment.payment_intent) : null;
      const invoice = idOf(payment.invoice);
      if (intent && invoice && !invoices.has(intent)) invoices.set(intent, invoice);
    }
  } catch (err) {
    throw stripeFailure(err, 'invoice payment listing');
  }
  return invoices;
}

export interface PaymentOwner {
  /** The payment row's key: the invoice id when the payment intent pays an invoice, else the intent id. */
  paymentKey: string;
  /** Set when the payment row exists already. */
  local?: { userId: string | null; customerId: string | null };
}

/**
 * Which payment row a refund or dispute belongs to, decided before the transaction: the local row
 * that carries the payment intent, else the invoice Stripe says the intent pays (the same key the
 * payment's own events will use, so a refund that arrives first waits under the right key), else
 * the intent itself. A charge without a payment intent (legacy Charges API) is keyed by the charge.
 */
export async function paymentOwner(
  db: Database,
  stripe: Stripe,
  ref: { paymentIntentId: string | null; chargeId: string | null },
  known?: KnownInvoices,
): Promise<PaymentOwner | null> {
  const { paymentIntentId, chargeId } = ref;
  if (paymentIntentId) {
    const row = await db
      .selectFrom('payments')
      .select(['payment_key', 'user_id', 'customer_id'])
      .where((eb) => eb.or([eb('payment_intent_id', '=', paymentIntentId), eb('payment_key', '=', paymentIntentId)]))
      .executeTakeFirst();
    if (row) return { paymentKey: row.payment_key, local: { userId: row.user_id, customerId: row.customer_id } };
    return { paymentKey: (await invoiceForPaymentIntent(stripe, paymentIntentId, known)) ?? paymentIntentId };
  }
  if (!chargeId) return null;
  const row = await db.selectFrom('payments').select(['payment_key', 'user_id', 'customer_id']).where('payment_key', '=', chargeId).executeTakeFirst();
  return row ? { paymentKey: row.payment_key, local: { userId: row.user_id, customerId: row.customer_id } } : { paymentKey: chargeId };
}
