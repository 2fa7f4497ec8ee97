import type Stripe from 'stripe';
import { findCustomerId, findUser, lockUser } from '../checkout/repository';
import { recordAudit } from '../shared/audit';
import type { Database } from '../shared/db';
import { notFound } from '../shared/errors';
import { stripeFailure } from '../shared/stripe-errors';
import { applySubscriptionSnapshot, type HandlerDeps, invoiceObservation, stripeClockNow } from '../webhooks/handlers';
import { recordDispute } from '../webhooks/effects/disputes';
import { recordFailedAttempt, recordPayment } from '../webhooks/effects/payments';
import { recordRefund } from '../webhooks/effects/refunds';
import { refreshPremium } from '../webhooks/effects/subscriptions';
import { idOf } from '../webhooks/payment-keys';
import { disputeObservation, refundObservation } from '../webhooks/refund-dispute-events';

export interface SyncUserOptions {
  /** Who asked (admin user id, `script:...`): goes to the audit log. */
  actor: string;
  requestId?: string | null;
}

export interface SyncUserSummary {
  userId: string;
  customerId: string;
  subscriptions: number;
  invoices: number;
  /** Payments that became succeeded now (revenue that was missing locally). */
  paymentsRepaired: number;
  /** Failed attempts that were missing locally. */
  failedAttemptsRepaired: number;
  /** Refunds and disputes Stripe has for this customer's payments. */
  refunds: number;
  disputes: number;
  /** Refunds whose counting changed now (missing, or failed/canceled while still counted). */
  refundsRepaired: number;
  /** Disputes missing locally, or whose status or money movements were behind. */
  disputesRepaired: number;
  premium: boolean;
}

/** Stripe time a fetched subscription reflects at least (it may be newer; it is read live). */
function snapshotTime(sub: Stripe.Subscription): number {
  const item = sub.items.data[0];
  return Math.max(sub.created, sub.start_date ?? 0, sub.canceled_at ?? 0, sub.ended_at ?? 0, item?.current_period_start ?? 0);
}

async function listAll<T>(list: Stripe.ApiListPromise<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of list) out.push(item);
  return out;
}

/**
 * Re-reads one customer's subscriptions and invoices from Stripe and repairs local state through
 * the same writers the webhooks use (so it is idempotent and never double counts), in one
 * transaction with an audit row.
 */
export async function syncUser(deps: HandlerDeps, userId: string, options: SyncUserOptions): Promise<SyncUserSummary> {
  const user = await findUser(deps.db, userId);
  if (!user) throw notFound('No such user is known to the payments service', 'user_not_found');
  const customerId = await findCustomerId(deps.db, userId);
  if (!customerId) throw notFound('This user has no Stripe customer yet', 'no_billing_account');

  let subscriptions: Stripe.Subscription[];
  let invoices: Stripe.Invoice[];
  try {
    [subscriptions, invoices] = await Promise.all([
      listAll(deps.stripe.subscriptions.list({ customer: customerId, status: 'all', limit: 100 })),
      listAll(deps.stripe.invoices.list({ customer: customerId, limit: 100 })),
    ]);
  } catch (err) {
    throw stripeFailure(err, 'reconciliation read');
  }
  // Refunds and disputes read now are dated by the account's clock: a test clock's when the customer lives on one.
  const testClock = [...subscriptions, ...invoices].map((o) => o.test_clock).find((c) => c !== null && c !== undefined);
  const adjustments = await readAdjustments(deps, userId, invoices, await stripeClockNow(deps.stripe, testClock, Math.floor(Date.now() / 1000)));

  return deps.db.transaction().execute(async (trx) => {
    // The user's row lock first, as every webhook touching this user takes it first
    // (ensureUserLinked): taken later, after payment locks, it could deadlock with such a webhook.
    await lockUser(trx, userId);
    const summary: SyncUserSummary = {
      userId,
      customerId,
      subscriptions: subscriptions.length,
      invoices: invoices.length,
      paymentsRepaired: 0,
      failedAttemptsRepaired: 0,
      refunds: adjustments.refunds.length,
      disputes: adjustments.disputes.length,
      refundsRepaired: 0,
      disputesRepaired: 0,
      premium: false,
    };
    for (const sub of subscriptions) {
      await applySubscriptionSnapshot(trx, deps, { sub, userId, stripeTime: snapshotTime(sub), authoritative: true });
    }
    for (const invoice of invoices) {
      const repaired = await repairInvoice(trx, invoice, userId);
      summary.paymentsRepaired += repaired.succeeded;
      summary.failedAttemptsRepaired += repaired.failedAttempts;
    }
    // After the payments: a refund or dispute re-derives its payment row, which now exists.
    for (const { refund, paymentKey } of adjustments.refunds) {
      const result = await recordRefund(trx, { ...refundObservation(refund, paymentKey, adjustments.readAt, userId), authoritative: true });
      if (result.countedNow || result.reversedNow) summary.refundsRepaired++;
    }
    for (const { dispute, paymentKey } of adjustments.disputes) {
      const result = await recordDispute(trx, { ...disputeObservation(dispute, paymentKey, adjustments.readAt, userId), authoritative: true });
      if (result.changed) summary.disputesRepaired++;
    }
    await refreshPremium(trx, userId);
    const after = await trx.selectFrom('users').select('is_premium').where('id', '=', userId).executeTakeFirstOrThrow();
    summary.premium = after.is_premium;
    await recordAudit(trx, { actor: options.actor, action: 'payments.user_sync', target: `user:${userId}`, details: { ...summary }, requestId: options.requestId ?? null });
    return summary;
  });
}

/** Paid invoices are one succeeded payment; each failed attempt (attempt_count) is counted once. */
async function repairInvoice(trx: Database, invoice: Stripe.Invoice, userId: string): Promise<{ succeeded: number; failedAttempts: number }> {
  const paid = invoice.status === 'paid';
  const failedAttempts = Math.max(0, invoice.attempt_count - (paid ? 1 : 0));
  const time = invoice.status_transitions?.paid_at ?? invoice.effective_at ?? invoice.created;
  const user = { userId, customerId: null };
  let succeeded = 0;
  let counted = 0;
  if (paid && invoice.amount_paid > 0) {
    const result = await recordPayment(trx, invoiceObservation(invoice, 'succeeded', time, user));
    if (result.succeeded) succeeded++;
  } else if (!paid && failedAttempts > 0 && invoice.amount_due > 0) {
    const result = await recordPayment(trx, invoiceObservation(invoice, 'failed', time, user));
    if (result.failedAttemptCounted) counted++;
  }
  if (failedAttempts > 0 && invoice.amount_due > 0) {
    for (let attempt = 1; attempt <= failedAttempts; attempt++) {
      const added = await recordFailedAttempt(trx, {
        attemptKey: `${invoice.id}#${attempt}`,
        paymentKey: invoice.id,
        failureCode: null,
        occurredAt: new Date((invoice.effective_at ?? invoice.created) * 1000),
        currency: invoice.currency,
      });
      if (added) counted++;
    }
  }
  return { succeeded, failedAttempts: counted };
}

/**
 * The refunds and disputes of the user's payments, read from Stripe before the transaction: every
 * payment intent of the customer's invoices (through their invoice payments) and of the user's
 * standalone payment rows. Keyed like the webhooks key them (invoice id, else payment intent id).
 */
async function readAdjustments(
  deps: HandlerDeps,
  userId: string,
  invoices: Stripe.Invoice[],
  readAt: number,
): Promise<{ refunds: Array<{ refund: Stripe.Refund; paymentKey: string }>; disputes: Array<{ dispute: Stripe.Dispute; paymentKey: string }>; readAt: number }> {
  const intents = new Map<string, string>(); // payment intent -> payment key
  const standalone = await deps.db
    .selectFrom('payments')
    .select(['payment_key', 'payment_intent_id'])
    .where('user_id', '=', userId)
    .where('payment_intent_id', 'is not', null)
    .execute();
  for (const row of standalone) intents.set(row.payment_intent_id as string, row.payment_key);
  const refunds: Array<{ refund: Stripe.Refund; paymentKey: string }> = [];
  const disputes: Array<{ dispute: Stripe.Dispute; paymentKey: string }> = [];
  try {
    for (const invoice of invoices.filter((i) => i.amount_paid > 0)) {
      for (const payment of await listAll(deps.stripe.invoicePayments.list({ invoice: invoice.id, limit: 100 }))) {
        const intent = idOf(payment.payment.payment_intent);
        if (intent) intents.set(intent, invoice.id);
      }
    }
    for (const [intent, paymentKey] of intents) {
      const [intentRefunds, intentDisputes] = await Promise.all([
        listAll(deps.stripe.refunds.list({ payment_intent: intent, limit: 100 })),
        listAll(deps.stripe.disputes.list({ payment_intent: intent, limit: 100 })),
      ]);
      refunds.push(...intentRefunds.map((refund) => ({ refund, paymentKey })));
      disputes.push(...intentDisputes.map((dispute) => ({ dispute, paymentKey })));
    }
  } catch (err) {
    throw stripeFailure(err, 'reconciliation read of refunds and disputes');
  }
  return { refunds, disputes, readAt };
}
