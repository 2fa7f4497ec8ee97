import type Stripe from 'stripe';
import { z } from 'zod';
import { AppError } from '../shared/errors';

/**
 * The shape of a verified Stripe event, checked before anything is stored. A correctly signed
 * event that cannot be applied however often it is retried (JSON `null`, no `created`, no
 * `data.object`, a string where an amount belongs) is a 400 now, with nothing written, instead
 * of a 500 and a `failed` inbox row that Stripe retries for three days.
 *
 * Envelope first, then the fields the handlers read, per event type (shapes from the `stripe`
 * package's types for API 2026-10-28). Objects stay open: Stripe adds fields without a new API
 * version and the handlers ignore what they do not read, so unknown keys are accepted. They are
 * not copied either: the check's output is never used (the event as parsed is what is stored and
 * applied), and zod's `loose` objects copy every unknown key of every nested object, which made
 * this check a tenth of an acknowledgement's CPU (issue 15); its default (strip) only reads the
 * keys listed. Types not listed here are checked as envelopes only; the router stores them as
 * `ignored` as before.
 */

/** Deeper than any Stripe object; bounds the work (and PostgreSQL's jsonb parser recursion) per event. */
export const MAX_EVENT_DEPTH = 32;
/** 9999-12-31T23:59:59Z: Stripe times are unix seconds; past this neither JS Date nor timestamptz agree. */
const MAX_UNIX_SECONDS = 253_402_300_799;

const unixSeconds = z.number().int().min(0).max(MAX_UNIX_SECONDS);
/** Minor units: non-negative and exact in a double (the money columns are bigint). */
const money = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Balance transaction amounts are signed (a dispute withdraws funds). */
const signedMoney = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const currency = z.string().regex(/^[a-z]{3}$/, 'a three-letter lowercase ISO currency');
/** Stripe object ids: letters, digits and underscores (prefixes differ per object and age). */
const stripeId = z.string().regex(/^[A-Za-z0-9_]{1,255}$/, 'a Stripe id');
/** An id field that an expansion may turn into the object. */
const expandable = z.union([stripeId, z.object({ id: stripeId })]);
const shortText = z.string().max(5_000);
const metadata = z.record(z.string(), z.string()).nullish();

const envelope = z
  .object({
    id: z.string().regex(/^evt_[A-Za-z0-9_]{1,250}$/, 'an event id (evt_...)'),
    object: z.literal('event'),
    type: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/, 'an event type such as invoice.paid').max(100),
    created: unixSeconds,
    livemode: z.boolean(),
    api_version: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/, 'an API version such as 2026-10-28.endive')
      .nullable(),
    data: z.object({ object: z.object({ object: z.string().max(100) }) }),
  });

const checkoutSession = z
  .object({
    id: stripeId,
    object: z.literal('checkout.session'),
    customer: expandable.nullable(),
    customer_email: shortText.nullish(),
    customer_details: z.object({ email: shortText.nullish() }).nullish(),
    client_reference_id: shortText.nullish(),
    metadata,
  });

const subscription = z
  .object({
    id: stripeId,
    object: z.literal('subscription'),
    customer: expandable,
    status: z.string().max(64),
    currency: currency.nullish(),
    cancel_at_period_end: z.boolean(),
    canceled_at: unixSeconds.nullable(),
    ended_at: unixSeconds.nullable(),
    metadata,
    items: z
      .object({
        data: z.array(
          z
            .object({
              current_period_end: unixSeconds,
              quantity: z.number().int().min(0).max(1_000_000).optional(),
              price: z
                .object({
                  id: stripeId,
                  unit_amount: money.nullable(),
                  currency,
                  recurring: z.object({ interval: z.string().max(16) }).nullable(),
                }),
            }),
        ),
      }),
  })
  .refine((sub) => sub.items.data.every((item) => Number.isSafeInteger((item.price.unit_amount ?? 0) * (item.quantity ?? 1))), {
    message: 'unit_amount × quantity must be an exact integer',
    path: ['items'],
  });

const invoice = z
  .object({
    id: stripeId,
    object: z.literal('invoice'),
    customer: expandable.nullable(),
    amount_due: money,
    amount_paid: money,
    currency,
    attempt_count: z.number().int().min(0).max(1_000_000),
    status_transitions: z.object({ paid_at: unixSeconds.nullish() }).nullish(),
    parent: z
      .object({
        subscription_details: z.object({ subscription: expandable.nullish(), metadata }).nullish(),
      })
      .nullish(),
  });

const paymentIntent = z
  .object({
    id: stripeId,
    object: z.literal('payment_intent'),
    amount: money,
    amount_received: money,
    currency,
    customer: expandable.nullable(),
    metadata,
    latest_charge: expandable.nullish(),
    last_payment_error: z
      .object({ code: z.string().max(200).nullish(), decline_code: z.string().max(200).nullish(), message: shortText.nullish() })
      .nullish(),
  });

const setupIntent = z
  .object({ id: stripeId, object: z.literal('setup_intent'), customer: expandable.nullable(), metadata });

const refund = z
  .object({
    id: stripeId,
    object: z.literal('refund'),
    amount: money,
    currency,
    created: unixSeconds,
    status: z.string().max(64).nullable(),
    reason: z.string().max(200).nullish(),
    failure_reason: z.string().max(200).nullish(),
    charge: expandable.nullable(),
    payment_intent: expandable.nullable(),
    customer: expandable.nullish(),
    metadata,
  });

const charge = z
  .object({
    id: stripeId,
    object: z.literal('charge'),
    amount: money,
    amount_refunded: money,
    currency,
    created: unixSeconds,
    customer: expandable.nullable(),
    payment_intent: expandable.nullable(),
    refunded: z.boolean(),
    disputed: z.boolean().optional(),
    metadata,
    refunds: z.object({ data: z.array(refund) }).nullish(),
  })
  .refine((c) => c.amount_refunded <= c.amount, { message: 'amount_refunded cannot exceed amount', path: ['amount_refunded'] });

const dispute = z
  .object({
    id: stripeId,
    object: z.literal('dispute'),
    amount: money,
    currency,
    created: unixSeconds,
    status: z.string().max(64),
    reason: z.string().max(200),
    charge: expandable,
    payment_intent: expandable.nullable(),
    is_charge_refundable: z.boolean().optional(),
    evidence_details: z.object({ due_by: unixSeconds.nullable() }).optional(),
    balance_transactions: z
      .array(z.object({ id: stripeId, amount: signedMoney, fee: signedMoney, currency, created: unixSeconds.optional() }))
      .optional(),
    metadata,
  });

/**
 * The object schema per handled event type: the catalog's types and the refund and dispute
 * types. A type missing here gets the envelope check only.
 */
export const EVENT_OBJECT_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  'checkout.session.completed': checkoutSession,
  'customer.subscription.created': subscription,
  'customer.subscription.updated': subscription,
  'customer.subscription.deleted': subscription,
  'invoice.payment_succeeded': invoice,
  'invoice.payment_failed': invoice,
  'payment_intent.succeeded': paymentIntent,
  'payment_intent.payment_failed': paymentIntent,
  'setup_intent.succeeded': setupIntent,
  'charge.refunded': charge,
  'refund.created': refund,
  'refund.updated': refund,
  'refund.failed': refund,
  'charge.dispute.created': dispute,
  'charge.dispute.updated': dispute,
  'charge.dispute.closed': dispute,
  'charge.dispute.funds_withdrawn': dispute,
  'charge.dispute.funds_reinstated': dispute,
};

/** Nesting depth of a parsed JSON value, without recursion (a hostile body must not blow the stack). */
function depthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth >= limit) return true;
    // Only what can nest goes on the stack (a Stripe object is mostly scalars).
    for (const child of Object.values(current as Record<string, unknown>)) if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1 });
  }
  return false;
}

// Every NUL, and every UTF-16 surrogate not part of a pair.
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * PostgreSQL's text and jsonb refuse NUL (`\u0000`) and lone surrogates; Stripe passes through
 * free text that customers type (names, descriptions, metadata), so such a character can arrive
 * in a genuine event. Rejecting the event would drop a real payment; stripping the character
 * loses nothing the ledger uses. NUL is removed, a lone surrogate becomes U+FFFD. Ids, types and
 * amounts never reach this point with such characters: the schema refuses them first.
 */
function storable<T>(value: T): T {
  if (typeof value === 'string') return value.replace(UNSTORABLE, (c) => (c === '\u0000' ? '' : '\uFFFD')) as T;
  if (Array.isArray(value)) return value.map(storable) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      // defineProperty: a "__proto__" key stays plain data instead of setting the prototype.
      Object.defineProperty(out, storable(key), { value: storable(child), enumerable: true, writable: true, configurable: true });
    }
    return out as T;
  }
  return value;
}

/** Field paths of the first few problems; paths only, values never leave the process. */
function describe(issues: z.core.$ZodIssue[], prefix: string): string {
  return issues
    .slice(0, 3)
    .map((issue) => `${[prefix, ...issue.path.map((p) => String(p).slice(0, 40))].filter(Boolean).join('.') || '(event)'}: ${issue.message}`)
    .join('; ');
}

const invalid = (code: string, message: string) => new AppError(message, { code, status: 400 });

/**
 * Checks a verified event's shape and returns it ready to store. Throws a 400 AppError
 * (`invalid_event`, `invalid_event_object`, `event_too_deep`) for what can never be applied.
 */
export function parseStripeEvent(parsed: unknown, text?: string): Stripe.Event {
  if (depthExceeds(parsed, MAX_EVENT_DEPTH)) {
    throw invalid('event_too_deep', `Event nests deeper than ${MAX_EVENT_DEPTH} levels; no Stripe object does`);
  }
  const head = envelope.safeParse(parsed);
  if (!head.success) throw invalid('invalid_event', `Not a Stripe event: ${describe(head.error.issues, '')}`);
  const objectSchema = EVENT_OBJECT_SCHEMAS[head.data.type];
  if (objectSchema) {
    // The object as sent (the envelope's output keeps only the keys it lists).
    const body = objectSchema.safeParse((parsed as { data: { object: unknown } }).data.object);
    if (!body.success) {
      throw invalid('invalid_event_object', `Event ${head.data.type} carries a malformed object: ${describe(body.error.issues, 'data.object')}`);
    }
  }
  // The JSON text it came from has no NUL and no surrogate escape (raw ones cannot get past the
  // strict UTF-8 decoding and JSON.parse): nothing to clean, and that text is what the inbox stores.
  if (text !== undefined && !MAY_BE_UNSTORABLE.test(text)) {
    verbatim.set(parsed as object, text);
    return parsed as Stripe.Event;
  }
  return storable(parsed) as Stripe.Event;
}

/** In JSON text, where a NUL or a lone surrogate could hide: their escapes (a false alarm costs only the copy). */
const MAY_BE_UNSTORABLE = /\\u(?:0000|[dD][89a-fA-F])/;
/** Events whose signed JSON text is stored as it came (parsed once, never serialised again). */
const verbatim = new WeakMap<object, string>();

/** The JSON text to store for an event: the signed body when it needed no cleaning, else the event serialised. */
export function eventJson(event: Stripe.Event): string {
  return verbatim.get(event) ?? JSON.stringify(event);
}
