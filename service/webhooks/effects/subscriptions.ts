import { sql } from 'kysely';
import type Stripe from 'stripe';
import { PREMIUM_STATUSES, planForPrice } from '../../checkout/plans';
import type { Config } from '../../shared/config';
import { lockUser } from '../../checkout/repository';
import { withPeopleRollups } from '../../dashboard/people-rollups';
import type { Database } from '../../shared/db';

const toDate = (seconds: number | null | undefined): Date | null => (seconds ? new Date(seconds * 1000) : null);

export const customerIdOf = (value: string | { id: string } | null | undefined): string | null =>
  value === null || value === undefined ? null : typeof value === 'string' ? value : value.id;

/** The local row for a Stripe subscription (API 2026-10-28: the period lives on the item). */
export function subscriptionValues(sub: Stripe.Subscription, prices: Config['stripe']['prices']) {
  const item = sub.items.data[0];
  const price = item?.price;
  return {
    customer_id: customerIdOf(sub.customer) ?? '',
    price_id: price?.id ?? null,
    plan: planForPrice(price?.id, prices),
    status: sub.status,
    amount: price?.unit_amount === null || price?.unit_amount === undefined ? null : price.unit_amount * (item?.quantity ?? 1),
    currency: sub.currency ?? price?.currency ?? null,
    interval: price?.recurring?.interval ?? null,
    current_period_end: toDate(item?.current_period_end),
    cancel_at_period_end: sub.cancel_at_period_end,
    canceled_at: toDate(sub.canceled_at),
    ended_at: toDate(sub.ended_at),
    started_at: toDate(sub.start_date ?? sub.created),
  };
}

export type SubscriptionWriteResult = 'applied' | 'stale' | 'refetch';

/**
 * Writes a subscription snapshot only if it is not older than what is stored (the ordering guard).
 * `stripeTime` is the Stripe time of the snapshot (the event's `created`, unix seconds).
 * On an equal timestamp the snapshot alone cannot say which state is newer (Stripe emits several
 * changes within one second), so the caller must re-fetch the object: `refetch` is returned,
 * unless `authoritative` says this snapshot was just read from Stripe.
 * The stored row is locked first, so concurrent writers of one subscription serialise here.
 */
export async function writeSubscription(
  trx: Database,
  input: { sub: Stripe.Subscription; userId: string; stripeTime: number; authoritative: boolean; prices: Config['stripe']['prices'] },
): Promise<SubscriptionWriteResult> {
  const values = subscriptionValues(input.sub, input.prices);
  // Lock order user -> subscription everywhere (linking a new customer locks the user first too),
  // so two events of one user cannot deadlock on a pooled Postgres.
  await lockUser(trx, input.userId);
  // The dashboard's subscription rollups move by what this write changes, in this transaction.
  return withPeopleRollups(trx, { kind: 'subscription', id: input.sub.id }, () => writeLocked(trx, input, values));
}

async function writeLocked(
  trx: Database,
  input: { sub: Stripe.Subscription; userId: string; stripeTime: number; authoritative: boolean; prices: Config['stripe']['prices'] },
  values: ReturnType<typeof subscriptionValues>,
): Promise<SubscriptionWriteResult> {
  const stored = await trx
    .selectFrom('subscriptions')
    .select(['stripe_updated_at'])
    .where('id', '=', input.sub.id)
    .forUpdate()
    .executeTakeFirst();
  if (stored) {
    const storedTime = Number(stored.stripe_updated_at);
    if (input.stripeTime < storedTime && !input.authoritative) return 'stale';
    if (input.stripeTime === storedTime && !input.authoritative) return 'refetch';
    await trx
      .updateTable('subscriptions')
      .set({
        ...values,
        user_id: input.userId,
        stripe_updated_at: sql`greatest(stripe_updated_at, ${input.stripeTime})`,
        updated_at: sql`now()`,
      })
      .where('id', '=', input.sub.id)
      .execute();
  } else {
    const inserted = await trx
      .insertInto('subscriptions')
      .values({ id: input.sub.id, user_id: input.userId, ...values, stripe_updated_at: input.stripeTime })
      // A concurrent first insert of the same subscription: keep the newer snapshot.
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet({ ...values, user_id: input.userId, stripe_updated_at: input.stripeTime, updated_at: sql`now()` })
          .where('subscriptions.stripe_updated_at', input.authoritative ? '<=' : '<', input.stripeTime),
      )
      .returning('id')
      .executeTakeFirst();
    // Lost a same-second race for the first insert: only Stripe can say which snapshot is newer.
    if (!inserted && !input.authoritative) return 'refetch';
  }
  await refreshPremium(trx, input.userId);
  return 'applied';
}

/** Premium = any subscription of the user in a premium status (active or trialing). */
export async function refreshPremium(trx: Database, userId: string): Promise<void> {
  await trx
    .updateTable('users')
    .set({
      is_premium: sql<boolean>`exists (select 1 from subscriptions s where s.user_id = ${userId} and s.status in (${sql.join([...PREMIUM_STATUSES])}))`,
      updated_at: sql`now()`,
    })
    .where('id', '=', userId)
    .execute();
}
