import { Router } from '../http/router';
import { registerAccountAndPortal } from './account-and-portal';
import { registerBalanceTransactions } from './balance-transactions';
import { registerCheckoutSessions } from './checkout-sessions';
import { registerCustomers } from './customers';
import { registerDisputes } from './disputes';
import { registerEvents } from './events-api';
import { registerInvoices } from './invoices';
import { registerPaymentIntents } from './payment-intents';
import { registerPaymentMethods } from './payment-methods';
import { registerPrices } from './prices';
import { registerProducts } from './products';
import { registerRefunds } from './refunds';
import { registerSetupIntents } from './setup-intents';
import { registerSubscriptions } from './subscriptions';
import { registerWebhookEndpoints } from './webhook-endpoints';

/** Every `/v1` route the sandbox answers. */
export function buildApiRouter(): Router {
  const router = new Router();
  for (const register of [
    registerAccountAndPortal,
    registerProducts,
    registerPrices,
    registerCustomers,
    registerPaymentMethods,
    registerCheckoutSessions,
    registerSubscriptions,
    registerInvoices,
    registerPaymentIntents,
    registerRefunds,
    registerDisputes,
    registerBalanceTransactions,
    registerSetupIntents,
    registerWebhookEndpoints,
    registerEvents,
  ]) {
    register(router);
  }
  return router;
}
