import { sql } from 'kysely';
import type { Database } from '../../shared/db';
import { addToRollups, lockPayment, refreshPaymentAdjustments } from './ledger';

/**
 * One Stripe dispute as any `charge.dispute.*` event (or a fetched dispute) shows it.
 *
 * Counting rules (order-independent, exactly once):
 * - the dispute row is created once, by whichever of its events arrives first: that adds one
 *   opened dispute and its amount to the rollup on the day the dispute was opened (its `created`),
 *   and is the moment to alert (`opened`);
 * - its status follows the newest Stripe time; within one second the status further along the
 *   dispute's life wins (an inquiry, then a chargeback, needing a response, then under review,
 *   then decided, then appealed), since one API call can emit several of its events in one second;
 * - money moves only through the dispute's balance transactions (Stripe lists every withdrawal and
 *   reinstatement on the dispute object): each is recorded once by its id, whichever event carries
 *   it first, and adds to the withdrawn or reinstated amount of its own day. A lost dispute keeps its
 *   withdrawal; a won one adds the reinstatement; an inquiry moves nothing.
 *   Amounts are the dispute's (presentment currency, like the payment), not the balance
 *   transaction's, which is in the account's settlement currency.
 */
export interface DisputeObservation {
  disputeId: string;
  paymentKey: string;
  chargeId: string | null;
  paymentIntentId: string | null;
  amount: number;
  currency: string;
  status: string;
  reason: string;
  /** Whose money this is (the payment's user, else the customer's); kept with the dispute for the dashboard. */
  userId: string | null;
  evidenceDueBy: Date | null;
  openedAt: Date;
  /** Stripe time of the observation (event `created`), unix seconds. */
  stripeTime: number;
  funds: Array<{ balanceTransactionId: string; direction: 'withdrawn' | 'reinstated'; occurredAt: Date }>;
  /** A fresh read from Stripe (reconciliation): its status is the truth, whatever is stored. */
  authoritative?: boolean;
}

export interface DisputeWriteResult {
  /** First time this dispute was seen: alert on-call. */
  opened: boolean;
  /** Anything changed: the dispute is new, its status moved, or money moved that was not recorded. */
  changed: boolean;
}

/** How far along its life a dispute status is (Stripe.Dispute.Status); unknown statuses rank lowest. */
const LIFECYCLE: Record<string, number> = {
  warning_needs_response: 1,
  warning_under_review: 2,
  warning_closed: 3,
  needs_response: 4,
  under_review: 5,
  won: 6,
  lost: 6,
  prevented: 6,
  appeal_needs_response: 7,
  appeal_under_review: 8,
};

/** Whether an observation with `incoming` status at `incomingTime` replaces the stored one. */
export function disputeStatusWins(incoming: string, incomingTime: number, stored: string, storedTime: number): boolean {
  if (incomingTime !== storedTime) return incomingTime > storedTime;
  return (LIFECYCLE[incoming] ?? 0) > (LIFECYCLE[stored] ?? 0);
}

export async function recordDispute(trx: Database, d: DisputeObservation): Promise<DisputeWriteResult> {
  const currency = d.currency.toLowerCase();
  await lockPayment(trx, d.paymentKey);
  const inserted = await trx
    .insertInto('disputes')
    .values({
      dispute_id: d.disputeId,
      payment_key: d.paymentKey,
      charge_id: d.chargeId,
      payment_intent_id: d.paymentIntentId,
      amount: d.amount,
      currency,
      status: d.status,
      reason: d.reason,
      user_id: d.userId,
      evidence_due_by: d.evidenceDueBy,
      opened_at: d.openedAt,
      stripe_updated_at: d.stripeTime,
    })
    .onConflict((oc) => oc.column('dispute_id').doNothing())
    .returning('dispute_id')
    .executeTakeFirst();

  let paymentKey = d.paymentKey;
  let owner = d.userId;
  let changed = inserted !== undefined;
  if (inserted) {
    await addToRollups(trx, { at: d.openedAt, currency, userId: owner, delta: { disputes_opened: 1, disputed_amount: d.amount } });
  } else {
    const row = await trx
      .selectFrom('disputes')
      .select(['status', 'amount', 'stripe_updated_at', 'opened_at', 'currency', 'payment_key', 'user_id'])
      .where('dispute_id', '=', d.disputeId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    paymentKey = row.payment_key;
    owner = row.user_id;
    const storedTime = Number(row.stripe_updated_at);
    if (d.authoritative === true || disputeStatusWins(d.status, d.stripeTime, row.status, storedTime)) {
      changed ||= d.status !== row.status || d.amount !== row.amount;
      await trx
        .updateTable('disputes')
        .set({
          status: d.status,
          amount: d.amount,
          reason: d.reason,
          evidence_due_by: d.evidenceDueBy,
          stripe_updated_at: Math.max(d.stripeTime, storedTime),
          updated_at: sql<Date>`now()`,
        })
        .where('dispute_id', '=', d.disputeId)
        .execute();
      if (d.amount !== row.amount) await addToRollups(trx, { at: row.opened_at, currency: row.currency, userId: owner, delta: { disputed_amount: d.amount - row.amount } });
    }
  }

  for (const movement of d.funds) {
    const amount = movement.direction === 'withdrawn' ? -d.amount : d.amount;
    const added = await trx
      .insertInto('dispute_funds')
      .values({ balance_transaction_id: movement.balanceTransactionId, dispute_id: d.disputeId, amount, currency, occurred_at: movement.occurredAt })
      .onConflict((oc) => oc.column('balance_transaction_id').doNothing())
      .returning('balance_transaction_id')
      .executeTakeFirst();
    if (!added) continue;
    changed = true;
    const column = movement.direction === 'withdrawn' ? 'dispute_withdrawn_amount' : 'dispute_reinstated_amount';
    await addToRollups(trx, { at: movement.occurredAt, currency, userId: owner, delta: { [column]: d.amount } });
  }
  await refreshPaymentAdjustments(trx, paymentKey);
  return { opened: inserted !== undefined, changed };
}
