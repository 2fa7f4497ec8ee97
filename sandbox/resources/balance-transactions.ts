import type Stripe from 'stripe';
import { parseParams } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { listShape, mustGet } from './common';

export function registerBalanceTransactions(router: Router): void {
  router.get('/v1/balance_transactions/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.balanceTransactions, path.id as string, 'balance transaction');
  });

  router.get('/v1/balance_transactions', ({ engine, params, url }) => {
    const p = parseParams<Stripe.BalanceTransactionListParams>(
      params,
      listShape({ currency: 'currency', source: 'string', type: 'string', payout: 'string' }),
    );
    return paginate(engine.state.balanceTransactions.values(), p as never, url, (txn) =>
      (!p.currency || txn.currency === p.currency) &&
      (!p.source || txn.source === p.source) &&
      (!p.type || txn.type === p.type),
    );
  });
}
