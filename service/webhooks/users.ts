import Stripe from 'stripe';
import { findUserIdByCustomer, linkCustomer, lockUser, upsertUser } from '../checkout/repository';
import type { Database } from '../shared/db';
import { stripeFailure } from '../shared/stripe-errors';
import { isValidUserId } from '../security';

/** Who a Stripe object belongs to, resolved before the transaction (Stripe calls stay outside it). */
export interface ResolvedUser {
  userId: string;
  customerId: string | null;
  /** Set when the mapping is new: the transaction records the user and links the customer. */
  link?: { email?: string; city?: string; livemode: boolean };
}

/**
 * Customer → user links a pass over many events (a replay, a drain page) has read from the database:
 * a link never changes once made (stripe_customers is only ever inserted into: the unique keys
 * decide a race, and nothing updates or deletes a link), so a pass looks each customer up once
 * instead of once per event (issue 15). Only committed links are kept, never a hint's.
 */
export type KnownLinks = Map<string, string>;

/** Ids read per statement by readLinks. */
const LINK_BATCH = 1000;

/** The links of these customers that exist now (one statement per 1,000 customers). */
export async function readLinks(db: Database, customerIds: Iterable<string>): Promise<KnownLinks> {
  const ids = [...new Set(customerIds)];
  const links: KnownLinks = new Map();
  for (let i = 0; i < ids.length; i += LINK_BATCH) {
    const rows = await db.selectFrom('stripe_customers').select(['customer_id', 'user_id']).where('customer_id', 'in', ids.slice(i, i + LINK_BATCH)).execute();
    for (const row of rows) links.set(row.customer_id, row.user_id);
  }
  return links;
}

/**
 * Local mapping first (`links` first, when the caller keeps them); else a user id the object carries (our metadata / client_reference_id);
 * else the customer's `metadata.userId` read from Stripe (the service's own client). Undefined =
 * unmatched: nobody can say which Upiik user this money belongs to.
 */
export async function resolveUser(
  db: Database,
  stripe: Stripe,
  customerId: string | null,
  hint?: { userId?: string | null; email?: string | null },
  links?: KnownLinks,
): Promise<ResolvedUser | undefined> {
  if (customerId) {
    const known = links?.get(customerId) ?? (await findUserIdByCustomer(db, customerId));
    if (known) {
      links?.set(customerId, known);
      return { userId: known, customerId };
    }
  }
  // A hint is Stripe-side text anyone with API access (or a Checkout URL) could set: only a
  // well-formed Upiik user id is taken; anything else falls through to the customer's metadata.
  if (hint?.userId && isValidUserId(hint.userId)) {
    return { userId: hint.userId, customerId, link: { email: hint.email ?? undefined, livemode: false } };
  }
  if (!customerId) return undefined;
  let customer: Stripe.Customer | Stripe.DeletedCustomer;
  try {
    customer = await stripe.customers.retrieve(customerId);
  } catch (err) {
    if (err instanceof Stripe.errors.StripeInvalidRequestError && err.statusCode === 404) return undefined;
    throw stripeFailure(err, 'customer lookup');
  }
  if ('deleted' in customer && customer.deleted) return undefined;
  const live = customer as Stripe.Customer;
  const userId = live.metadata?.userId;
  if (!isValidUserId(userId)) return undefined;
  return { userId, customerId, link: { email: live.email ?? undefined, city: live.metadata?.city, livemode: live.livemode } };
}

/**
 * Inside the transaction, first: make sure the user row exists and the customer is linked, and
 * hold the user's row lock. Every event touching a user takes this lock before anything else, so
 * concurrent events of one user serialise instead of deadlocking (a payment insert's foreign-key
 * check against a row another transaction is upserting, while that one waits on the payment key).
 */
export async function ensureUserLinked(trx: Database, user: ResolvedUser): Promise<void> {
  if (!user.link) {
    await lockUser(trx, user.userId);
    return;
  }
  await upsertUser(trx, { id: user.userId, email: user.link.email, city: user.link.city });
  if (user.customerId) {
    await linkCustomer(trx, { userId: user.userId, customerId: user.customerId, livemode: user.link.livemode }).catch(() => {
      // The user already has another customer (or this customer another user): the mapping stays as
      // it is; the object is still recorded against the resolved user.
    });
  }
}
