import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';

export interface NewBalanceTransaction {
  /** Signed, in minor units: positive for money in (a charge), negative for money out (a refund). */
  amount: number;
  currency: string;
  /** The charge, refund or dispute the movement belongs to. */
  source: string;
  type: Stripe.BalanceTransaction.Type;
  reportingCategory: string;
  description?: string | null;
}

/**
 * Records a movement of the account's balance, so the `balance_transaction` ids on charges and
 * refunds name real objects (retrievable and expandable) as on Stripe. Fees follow Stripe's
 * standard card pricing (2.9 % + 30 minor units) on charges only.
 */
export function recordBalanceTransaction(engine: Engine, input: NewBalanceTransaction): Stripe.BalanceTransaction {
  const fee = input.type === 'charge' || input.type === 'payment' ? Math.round(input.amount * 0.029) + 30 : 0;
  const created = engine.now();
  const txn: Stripe.BalanceTransaction = {
    id: newId('txn'),
    object: 'balance_transaction',
    amount: input.amount,
    available_on: created + 2 * 86_400,
    balance_type: 'payments',
    created,
    currency: input.currency,
    description: input.description ?? null,
    exchange_rate: null,
    fee,
    fee_details: fee > 0 ? [{ amount: fee, application: null, currency: input.currency, description: 'Stripe processing fees', type: 'stripe_fee' }] : [],
    net: input.amount - fee,
    reporting_category: input.reportingCategory,
    source: input.source,
    status: 'pending',
    type: input.type,
  };
  engine.state.balanceTransactions.set(txn.id, txn);
  return txn;
}
