import type Stripe from 'stripe';
import type { Database } from '../shared/db';
import { stripeFailure } from '../shared/stripe-errors';
import { customerIdOf as idOf } from './effects/subscriptions';

/** The id of an expandable field, whether Stripe sent the id or the expanded object: the one helper, under a name for any field. */
export { idOf };

/** The invoice a payment intent pays, if any (payment intents no longer name their invoice). */
export async function invoiceForPaymentIntent(stripe: Stripe, paymentIntentId: string): Promise<string | null> {
  try {
    const page = await stripe.invoicePayments.list({ payment: { type: 'payment_intent', payment_intent: paymentIntentId }, limit: 1 });
    return idOf(page.data[0]?.invoice);
  } catch (err) {
    throw stripeFailure(err, 'invoice payment lookup');
  }
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
export async function paymentOwner(db: Database, stripe: Stripe, ref: { paymentIntentId: string | null; chargeId: string | null }): Promise<PaymentOwner | null> {
  const { paymentIntentId, chargeId } = ref;
  if (paymentIntentId) {
    const row = await db
      .selectFrom('payments')
      .select(['payment_key', 'user_id', 'customer_id'])
      .where((eb) => eb.or([eb('payment_intent_id', '=', paymentIntentId), eb('payment_key', '=', paymentIntentId)]))
      .executeTakeFirst();
    if (row) return { paymentKey: row.payment_key, local: { userId: row.user_id, customerId: row.customer_id } };
    return { paymentKey: (await invoiceForPaymentIntent(stripe, paymentIntentId)) ?? paymentIntentId };
  }
  if (!chargeId) return null;
  const row = await db.selectFrom('payments').select(['payment_key', 'user_id', 'customer_id']).where('payment_key', '=', chargeId).executeTakeFirst();
  return row ? { paymentKey: row.payment_key, local: { userId: row.user_id, customerId: row.customer_id } } : { paymentKey: chargeId };
}
