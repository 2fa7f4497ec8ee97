import type Stripe from 'stripe';
import { parseParams } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { listShape, mustGet } from './common';

export function registerInvoices(router: Router): void {
  router.get('/v1/invoices/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.invoices, path.id as string, 'invoice');
  });

  router.get('/v1/invoices', ({ engine, params, url }) => {
    const p = parseParams<Stripe.InvoiceListParams>(
      params,
      listShape({
        customer: 'string',
        subscription: 'string',
        status: { enum: ['draft', 'open', 'paid', 'uncollectible', 'void'] },
        collection_method: { enum: ['charge_automatically', 'send_invoice'] },
        due_date: 'timestamp_range',
      }),
    );
    return paginate(engine.state.invoices.values(), p as never, url, (inv) =>
      (!p.customer || inv.customer === p.customer) &&
      (!p.subscription || inv.parent?.subscription_details?.subscription === p.subscription) &&
      (!p.status || inv.status === p.status),
    );
  });

  router.get('/v1/invoice_payments', ({ engine, params, url }) => {
    const p = parseParams<Stripe.InvoicePaymentListParams>(
      params,
      listShape({ invoice: 'string', payment: { object: { type: 'string', payment_intent: 'string' } }, status: 'string' }),
    );
    // By payment intent: its own few payments (the side table), not a scan of every one.
    const intent = p.payment?.payment_intent;
    const candidates = intent
      ? (engine.state.invoicePaymentsByIntent.get(intent) ?? []).map((id) => engine.state.invoicePayments.get(id)!)
      : engine.state.invoicePayments.values();
    return paginate(candidates, p as never, url, (ip) =>
      (!p.invoice || ip.invoice === p.invoice) &&
      (!p.payment?.payment_intent || ip.payment.payment_intent === p.payment.payment_intent) &&
      (!p.status || ip.status === p.status),
    );
  });

  router.get('/v1/invoice_payments/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.invoicePayments, path.id as string, 'invoice_payment');
  });

  router.get('/v1/charges/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.charges, path.id as string, 'charge');
  });
}
