import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/**
 * Table types for the typed query layer (Kysely). They mirror the migrations; when a migration
 * changes a table, change its type here in the same commit.
 * Money is integer minor units plus an ISO currency code everywhere.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
/** bigint columns come back as strings from `pg` and as numbers/bigints from PGlite; read through `toNumber`. */
type BigIntColumn = ColumnType<string | number | bigint, number | bigint | string, number | bigint | string>;

export interface UsersTable {
  id: string;
  email: string | null;
  city: string | null;
  is_premium: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface StripeCustomersTable {
  user_id: string;
  customer_id: string;
  livemode: Generated<boolean>;
  created_at: CreatedAt;
}

export interface SubscriptionsTable {
  id: string; // sub_...
  user_id: string;
  customer_id: string;
  price_id: string | null;
  plan: string; // monthly | yearly | unknown
  status: string;
  amount: number | null;
  currency: string | null;
  interval: string | null;
  current_period_end: Date | null;
  cancel_at_period_end: Generated<boolean>;
  canceled_at: Date | null;
  ended_at: Date | null;
  /** Stripe time (unix seconds) of the newest event/object that changed this row: the ordering guard. */
  stripe_updated_at: BigIntColumn;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface PaymentsTable {
  id: Generated<BigIntColumn>;
  /** One money movement: the invoice id when the payment pays an invoice, else the payment intent id. */
  payment_key: string;
  user_id: string | null;
  customer_id: string | null;
  invoice_id: string | null;
  payment_intent_id: string | null;
  subscription_id: string | null;
  amount: number;
  currency: string;
  status: string; // succeeded | failed | refunded | partially_refunded
  failure_code: string | null;
  failure_message: string | null;
  refunded_amount: Generated<number>;
  /** Failed attempts recorded for this payment (payment_attempts); the row itself keeps the final state. */
  failed_attempts: Generated<number>;
  /** When the money moved (or failed to), Stripe time. */
  occurred_at: Date;
  stripe_updated_at: BigIntColumn;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface WebhookEventsTable {
  event_id: string;
  type: string;
  api_version: string | null;
  livemode: boolean;
  stripe_created_at: Date;
  payload: ColumnType<unknown, string, string>;
  /** pending | processed | failed | ignored | unmatched */
  status: string;
  attempts: Generated<number>;
  last_error: string | null;
  received_at: CreatedAt;
  processed_at: Date | null;
  duration_ms: number | null;
  /** Redeliveries of this event after it was applied (durable duplicate count). */
  duplicate_deliveries: Generated<number>;
}

/** One failed (or otherwise counted) attempt at a payment, keyed so it is counted once. */
export interface PaymentAttemptsTable {
  attempt_key: string;
  payment_key: string;
  outcome: string; // failed
  failure_code: string | null;
  occurred_at: Date;
  created_at: CreatedAt;
}

export interface DailyRevenueTable {
  day: ColumnType<Date | string, string, string>;
  currency: string;
  gross_amount: BigIntColumn;
  refunded_amount: BigIntColumn;
  payments_succeeded: number;
  payments_failed: number;
  updated_at: Timestamp;
}

export interface AuditLogTable {
  id: Generated<BigIntColumn>;
  at: CreatedAt;
  actor: string;
  action: string;
  target: string | null;
  details: ColumnType<unknown, string | undefined, string>;
  request_id: string | null;
}

export interface DatabaseSchema {
  users: UsersTable;
  stripe_customers: StripeCustomersTable;
  subscriptions: SubscriptionsTable;
  payments: PaymentsTable;
  webhook_events: WebhookEventsTable;
  daily_revenue: DailyRevenueTable;
  audit_log: AuditLogTable;
  payment_attempts: PaymentAttemptsTable;
}

export type UserRow = Selectable<UsersTable>;
export type SubscriptionRow = Selectable<SubscriptionsTable>;
export type NewSubscription = Insertable<SubscriptionsTable>;
export type NewPayment = Insertable<PaymentsTable>;
export type WebhookEventRow = Selectable<WebhookEventsTable>;

/** Normalises bigint columns across pg (string) and PGlite (number | bigint). */
export function toNumber(value: string | number | bigint | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value);
}
