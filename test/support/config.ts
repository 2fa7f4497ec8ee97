import { type Config, ConfigError, loadConfig } from '../../service/shared/config';

/** A valid test-mode environment; suites override what they exercise. Placeholders, not secrets. */
export const BASE_TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  PORT: '0',
  LOG_LEVEL: 'error',
  AUTH_JWT_SECRET: 'test-only-jwt-secret-0123456789abcdef0123',
  STRIPE_SECRET_KEY: 'sk_test_service_suite',
  STRIPE_PUBLISHABLE_KEY: 'pk_test_service_suite',
  STRIPE_WEBHOOK_SECRET: 'whsec_placeholder_replaced_by_sandbox',
  STRIPE_PRICE_MONTHLY: 'price_placeholder_monthly',
  STRIPE_PRICE_YEARLY: 'price_placeholder_yearly',
  CHECKOUT_SUCCESS_URL: 'http://127.0.0.1:3000/checkout/success?session_id={CHECKOUT_SESSION_ID}',
  CHECKOUT_CANCEL_URL: 'http://127.0.0.1:3000/checkout/cancel',
  BILLING_PORTAL_RETURN_URL: 'http://127.0.0.1:3000/account',
};

export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig({ ...BASE_TEST_ENV, ...overrides });
}

/** The startup problems an environment produces (empty when it is accepted). */
export function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
