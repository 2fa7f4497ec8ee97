import type Stripe from 'stripe';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { invalidRequest, missingParameter } from '../http/errors';
import { checkUrlParam, mergeMetadata, parseParams, Shape } from '../http/params';
import type { Router } from '../http/router';
import { paginate } from '../http/list';
import { clone, listShape, mustGet } from './common';
import { liveCustomer } from './customers';

/** This API version's `ui_mode` values (the SDK's `Checkout.Session.UiMode`); `hosted_page` is the default. */
const UI_MODES: readonly Stripe.Checkout.Session.UiMode[] = ['elements', 'embedded_page', 'form', 'hosted_page'];

const CREATE: Shape = {
  mode: 'string',
  customer: 'string',
  customer_email: 'email',
  customer_creation: { enum: ['always', 'if_required'] },
  client_reference_id: 'string',
  line_items: { array: { object: { price: 'string', quantity: 'integer', adjustable_quantity: { object: { enabled: 'boolean', minimum: 'integer', maximum: 'integer' } } } } },
  success_url: 'string',
  cancel_url: 'string',
  return_url: 'string',
  ui_mode: 'string',
  allowed_payment_method_types: 'strings',
  payment_method_types: 'strings',
  metadata: 'metadata',
  subscription_data: { object: { metadata: 'metadata', description: 'string', trial_period_days: 'integer' } },
  payment_intent_data: { object: { metadata: 'metadata', description: 'string', setup_future_usage: 'string' } },
  allow_promotion_codes: 'boolean',
  billing_address_collection: { enum: ['auto', 'required'] },
  locale: 'string',
  expires_at: 'integer',
  automatic_tax: { object: { enabled: 'boolean' } },
};

export function registerCheckoutSessions(router: Router): void {
  router.post('/v1/checkout/sessions', ({ engine, params }) => createSession(engine, params));

  router.get('/v1/checkout/sessions/:id', ({ engine, path, params }) => {
    parseParams(params, {});
    return mustGet(engine.state.checkoutSessions, path.id as string, 'checkout.session');
  });

  router.get('/v1/checkout/sessions/:id/line_items', ({ engine, path, params, url }) => {
    const p = parseParams<Stripe.Checkout.SessionListLineItemsParams>(params, listShape({}));
    mustGet(engine.state.checkoutSessions, path.id as string, 'checkout.session');
    const items = (engine.state.checkoutLineItems.get(path.id as string) ?? []).map((li, i) => ({ ...li, created: i }));
    const page = paginate([...items].reverse(), p as never, url);
    return { ...page, data: page.data.map(({ created: _c, ...li }) => li) };
  });

  router.post('/v1/checkout/sessions/:id/expire', ({ engine, path, params }) => {
    parseParams(params, {});
    const session = mustGet(engine.state.checkoutSessions, path.id as string, 'checkout.session');
    if (session.status !== 'open') {
      throw invalidRequest(`Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`, undefined, 'checkout_session_not_open');
    }
    session.status = 'expired';
    session.url = null;
    engine.events.emit('checkout.session.expired', session);
    return session;
  });

  router.get('/v1/checkout/sessions', ({ engine, params, url }) => {
    const p = parseParams<Stripe.Checkout.SessionListParams>(
      params,
      listShape({ customer: 'string', status: { enum: ['complete', 'expired', 'open'] }, subscription: 'string', payment_intent: 'string' }),
    );
    return paginate(engine.state.checkoutSessions.values(), p as never, url, (s) =>
      (!p.customer || s.customer === p.customer) &&
      (!p.status || s.status === p.status) &&
      (!p.subscription || s.subscription === p.subscription) &&
      (!p.payment_intent || s.payment_intent === p.payment_intent),
    );
  });
}

function createSession(engine: Engine, params: Parameters<typeof parseParams>[0]): Stripe.Checkout.Session {
  const p = parseParams<Stripe.Checkout.SessionCreateParams>(params, CREATE);
  if (p.allowed_payment_method_types && (p as { payment_method_types?: string[] }).payment_method_types) {
    throw invalidRequest('You may only specify one of these parameters: allowed_payment_method_types, payment_method_types.', 'payment_method_types');
  }
  const mode = p.mode;
  if (!mode) throw missingParameter('mode');
  if (mode !== 'subscription' && mode !== 'payment') {
    throw invalidRequest(`The sandbox supports mode=subscription and mode=payment, not ${mode}.`, 'mode');
  }
  if (mode === 'subscription' && p.customer_creation) {
    throw invalidRequest('`customer_creation` can only be used in `payment` mode.', 'customer_creation');
  }
  if (p.client_reference_id && p.client_reference_id.length > 200) {
    throw invalidRequest('client_reference_id can be at most 200 characters.', 'client_reference_id');
  }
  // `{CHECKOUT_SESSION_ID}` is a template Stripe fills in; it is valid inside a URL.
  checkUrlParam(p.success_url, 'success_url');
  checkUrlParam(p.cancel_url, 'cancel_url');
  checkUrlParam(p.return_url, 'return_url');
  if (p.customer && p.customer_email) throw invalidRequest('You may only specify one of these parameters: customer, customer_email.', 'customer_email');
  if (p.customer) liveCustomer(engine, p.customer);
  const uiMode = p.ui_mode ?? 'hosted_page';
  if (!UI_MODES.includes(uiMode)) {
    throw invalidRequest(`Invalid ui_mode: must be one of ${UI_MODES.join(', ')}`, 'ui_mode');
  }
  if (uiMode === 'hosted_page' && !p.success_url) throw missingParameter('success_url');
  if (uiMode !== 'hosted_page' && p.success_url) {
    throw invalidRequest(`success_url can only be used with ui_mode=hosted_page; use return_url.`, 'success_url');
  }
  const methods = p.allowed_payment_method_types ?? (p as { payment_method_types?: string[] }).payment_method_types;
  if (!p.line_items || p.line_items.length === 0) throw missingParameter('line_items');
  const id = newId('cs_test', 58);
  const lineItems: Stripe.LineItem[] = p.line_items.map((li, i) => {
    if (!li.price) throw missingParameter(`line_items[${i}][price]`);
    const price = mustGet(engine.state.prices, li.price, 'price', `line_items[${i}][price]`);
    if (!price.active) throw invalidRequest(`The price \`${price.id}\` is not active.`, `line_items[${i}][price]`);
    if (mode === 'subscription' && !price.recurring) {
      throw invalidRequest('You must specify at least one recurring price in `subscription` mode when using prices.', `line_items[${i}][price]`);
    }
    if (mode === 'payment' && price.recurring) {
      throw invalidRequest('You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.', `line_items[${i}][price]`);
    }
    // Stripe requires an explicit quantity on price line items (only metered prices take none).
    if (li.quantity === undefined && price.recurring?.usage_type !== 'metered') {
      throw invalidRequest(`Quantity is required. Add \`quantity\` to \`line_items[${i}]\``, `line_items[${i}]`);
    }
    if (li.quantity !== undefined && li.quantity < 1) {
      throw invalidRequest('This value must be greater than or equal to 1.', `line_items[${i}][quantity]`, 'parameter_invalid_integer');
    }
    const quantity = li.quantity ?? 1;
    const amount = (price.unit_amount ?? 0) * quantity;
    const product = engine.state.products.get(price.product as string);
    return {
      id: newId('li'),
      object: 'item',
      adjustable_quantity: null,
      amount_discount: 0,
      amount_subtotal: amount,
      amount_tax: 0,
      amount_total: amount,
      currency: price.currency,
      description: product?.name ?? null,
      metadata: {},
      price: clone(price),
      quantity,
    };
  });
  const total = lineItems.reduce((sum, li) => sum + li.amount_total, 0);
  const now = engine.now();
  const session: Stripe.Checkout.Session = {
    id,
    object: 'checkout.session',
    adaptive_pricing: null,
    after_expiration: null,
    allow_promotion_codes: p.allow_promotion_codes ?? null,
    allowed_payment_method_types: methods ?? null,
    amount_subtotal: total,
    amount_total: total,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: p.billing_address_collection ?? null,
    cancel_url: p.cancel_url ?? null,
    client_reference_id: p.client_reference_id ?? null,
    client_secret: uiMode === 'hosted_page' ? null : `${id}_secret_${newId('x', 24).slice(2)}`,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created: now,
    currency: lineItems[0]?.currency ?? null,
    currency_conversion: null,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: p.customer ?? null,
    customer_account: null,
    customer_creation: p.customer ? null : mode === 'subscription' ? 'always' : (p.customer_creation ?? 'if_required'),
    customer_details: p.customer_email ? { address: null, business_name: null, email: p.customer_email, individual_name: null, name: null, phone: null, tax_exempt: 'none', tax_ids: null } : null,
    customer_email: p.customer_email ?? null,
    discounts: [],
    expires_at: p.expires_at ?? now + 24 * 3600,
    integration_identifier: null,
    invoice: null,
    invoice_creation: null,
    livemode: false,
    locale: p.locale ?? null,
    managed_payments: null,
    metadata: mergeMetadata({}, p.metadata as Record<string, string> | undefined),
    mode,
    origin_context: null,
    payment_intent: null,
    payment_link: null,
    payment_method_collection: mode === 'subscription' ? 'always' : null,
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: methods ?? ['card'],
    payment_status: 'unpaid',
    permissions: null,
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: 'open',
    submit_type: null,
    subscription: null,
    success_url: p.success_url ?? null,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: uiMode,
    // Only the hosted page has a Stripe URL; the embedded and custom modes render in the merchant's page.
    url: uiMode === 'hosted_page' ? `${engine.baseUrl}/checkout/${id}` : null,
    ...(p.return_url ? { return_url: p.return_url } : {}),
    wallet_options: null,
  };
  engine.state.checkoutSessions.set(id, session);
  engine.state.checkoutLineItems.set(id, lineItems);
  engine.state.checkoutExtras.set(id, {
    subscriptionMetadata: mergeMetadata({}, p.subscription_data?.metadata as Record<string, string> | undefined),
    paymentIntentMetadata: mergeMetadata({}, p.payment_intent_data?.metadata as Record<string, string> | undefined),
  });
  return session;
}
