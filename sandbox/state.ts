import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type Stripe from 'stripe';

/** A webhook endpoint keeps its secret server-side; the API shows it only in the create response. */
export type StoredWebhookEndpoint = Stripe.WebhookEndpoint & { secret: string };

/** What checkout completion needs later but Stripe does not show on the session object. */
export interface CheckoutExtras {
  subscriptionMetadata: Record<string, string>;
  paymentIntentMetadata: Record<string, string>;
}

const NOT_EXPANDABLE = new Set(['checkoutLineItems', 'checkoutExtras', 'webhookEndpoints', 'invoicePaymentsByIntent']);
/** Side tables derived from other maps: rebuilt on load, never written to the state file. */
const DERIVED = new Set(['invoicePaymentsByIntent']);

/**
 * Everything the sandbox knows, one Map per resource in creation order (lists walk them newest
 * first). Objects are stored exactly in the SDK's shapes so the compiler checks them.
 */
export class SandboxState {
  products = new Map<string, Stripe.Product>();
  prices = new Map<string, Stripe.Price>();
  customers = new Map<string, Stripe.Customer>();
  deletedCustomers = new Set<string>();
  paymentMethods = new Map<string, Stripe.PaymentMethod>();
  checkoutSessions = new Map<string, Stripe.Checkout.Session>();
  checkoutLineItems = new Map<string, Stripe.LineItem[]>();
  checkoutExtras = new Map<string, CheckoutExtras>();
  portalSessions = new Map<string, Stripe.BillingPortal.Session>();
  subscriptions = new Map<string, Stripe.Subscription>();
  invoices = new Map<string, Stripe.Invoice>();
  invoicePayments = new Map<string, Stripe.InvoicePayment>();
  /**
   * A side table: the ids of the invoice payments each payment intent is in, in creation order, so
   * `GET /v1/invoice_payments?payment[payment_intent]=` (which the service asks for every payment
   * intent event) reads its few rows instead of scanning every invoice payment. Kept by
   * addInvoicePayment, rebuilt on load, not saved.
   */
  invoicePaymentsByIntent = new Map<string, string[]>();
  paymentIntents = new Map<string, Stripe.PaymentIntent>();
  charges = new Map<string, Stripe.Charge>();
  refunds = new Map<string, Stripe.Refund>();
  disputes = new Map<string, Stripe.Dispute>();
  balanceTransactions = new Map<string, Stripe.BalanceTransaction>();
  setupIntents = new Map<string, Stripe.SetupIntent>();
  webhookEndpoints = new Map<string, StoredWebhookEndpoint>();
  events = new Map<string, Stripe.Event>();
  clockOffset = 0;
  /**
   * Set when the sandbox runs on a test clock (started in the past with `clockStart`): new customers,
   * subscriptions and invoices name it in `test_clock`, as objects created under a Stripe test clock do.
   */
  testClock: { id: string; created: number } | null = null;

  /**
   * Finds any stored API object by id, for `expand[]`: every resource map takes part, so a resource
   * added later is expandable without a list to keep in step. Side tables keyed by another object's
   * id, and webhook endpoints (their secret), are not objects an id field can name. A deleted
   * customer expands to its deleted stub, as on Stripe.
   */
  lookup(id: string): unknown {
    for (const [key, value] of Object.entries(this)) {
      if (!(value instanceof Map) || NOT_EXPANDABLE.has(key)) continue;
      const found: unknown = value.get(id);
      if (found !== undefined) return found;
    }
    if (this.deletedCustomers.has(id)) return { id, object: 'customer', deleted: true };
    return undefined;
  }

  /** Stores an invoice payment and indexes it by its payment intent. */
  addInvoicePayment(payment: Stripe.InvoicePayment): void {
    this.invoicePayments.set(payment.id, payment);
    const intent = payment.payment.payment_intent;
    const intentId = typeof intent === 'string' ? intent : intent?.id;
    if (!intentId) return;
    const ids = this.invoicePaymentsByIntent.get(intentId);
    if (ids) ids.push(payment.id);
    else this.invoicePaymentsByIntent.set(intentId, [payment.id]);
  }

  private serializable(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this)) {
      if (DERIVED.has(key)) continue;
      if (value instanceof Map) out[key] = [...value.entries()];
      else if (value instanceof Set) out[key] = [...value];
      else out[key] = value;
    }
    return out;
  }

  save(path: string): void {
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.serializable()));
    renameSync(tmp, path); // never leave a half-written file behind
  }

  static load(path: string): SandboxState {
    const state = new SandboxState();
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return state;
      throw new Error(`Cannot read sandbox state from ${path}: ${(err as Error).message}`, { cause: err });
    }
    const target = state as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(raw)) {
      const current = target[key];
      if (current instanceof Map) target[key] = new Map(value as [string, unknown][]);
      else if (current instanceof Set) target[key] = new Set(value as string[]);
      else if (key in target) target[key] = value;
    }
    // The side table follows the payments (it is not saved).
    const payments = [...state.invoicePayments.values()];
    state.invoicePayments.clear();
    state.invoicePaymentsByIntent.clear();
    for (const payment of payments) state.addInvoicePayment(payment);
    return state;
  }
}
