export { CheckoutService, type CheckoutDeps, type SubscriptionView } from './checkout-service';
export { checkoutRouter } from './router';
export * from './plans';
