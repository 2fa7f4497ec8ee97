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
/**
 * Money in minor units, stored as bigint (Stripe amounts can pass 32 bits). Both engines read int8
 * through `parseInt8` (see openDatabase), so a read is an exact JS number or fails loudly.
 */
type Money = ColumnType<number, number, number>;
/** Money with a database default (0). */
type MoneyDefault0 = ColumnType<number, number | undefined, number>;
/** A bigint with a database default, read through `toNumber`. */
type BigIntDefault = ColumnType<string | number | bigint, number | bigint | string | undefined, number | bigint | string>;

export interface UsersTable {
  id: string;
  email: string | null;
  city: string | null;
  is_premium: Generated<boolean>;
  /** Left out of every dashboard figure (the release pipeline's smoke-test users). */
  is_internal: Generated<boolean>;
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
  amount: Money | null;
  currency: string | null;
  interval: string | null;
  current_period_end: Date | null;
  cancel_at_period_end: Generated<boolean>;
  canceled_at: Date | null;
  ended_at: Date | null;
  /** When the subscription started in Stripe (`start_date`); null only for rows older than migration 0004 without one. */
  started_at: Date | null;
  /** Stripe time (unix seconds) of the newest event/object that changed this row: the ordering guard. */
  stripe_updated_at: BigIntColumn;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface PaymentsTable {
  id: BigIntDefault;
  /** One money movement: the invoice id when the payment pays an invoice, else the payment intent id. */
  payment_key: string;
  user_id: string | null;
  customer_id: string | null;
  invoice_id: string | null;
  payment_intent_id: string | null;
  subscription_id: string | null;
  amount: Money;
  currency: string;
  /** succeeded | failed | refunded | partially_refunded (derived from the counted refunds). */
  status: string;
  failure_code: string | null;
  failure_message: string | null;
  /** Sum of the counted refunds of this payment (refunds table). */
  refunded_amount: MoneyDefault0;
  /** Status of the payment's latest dispute, null when never disputed. */
  dispute_status: Generated<string | null>;
  /** Sum of the amounts of this payment's disputes. */
  disputed_amount: MoneyDefault0;
  /** Dispute money currently withdrawn from the balance (withdrawals minus reinstatements). */
  dispute_withdrawn_amount: MoneyDefault0;
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
  /** When the service retries a failed event it acknowledged itself (Stripe will not); null otherwise. */
  retry_at: Date | null;
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
  /** Refunds counted on the refund's own day (a failed or canceled refund is taken back from it). */
  refunded_amount: BigIntColumn;
  payments_succeeded: number;
  payments_failed: number;
  refunds: Generated<number>;
  disputes_opened: Generated<number>;
  /** Amounts of the disputes opened that day. */
  disputed_amount: BigIntDefault;
  /** Dispute money withdrawn / reinstated that day (balance transactions of disputes). */
  dispute_withdrawn_amount: BigIntDefault;
  dispute_reinstated_amount: BigIntDefault;
  updated_at: Timestamp;
}

/** One Stripe refund; `counted` = its amount is in the payment's refunded_amount and the rollup. */
export interface RefundsTable {
  refund_id: string;
  payment_key: string;
  charge_id: string | null;
  payment_intent_id: string | null;
  amount: Money;
  currency: string;
  /** Stripe's refund status: pending | requires_action | succeeded | failed | canceled */
  status: string;
  reason: string | null;
  failure_reason: string | null;
  /** Whose money this is (the refund's owner when it was recorded); null = nobody known. */
  user_id: string | null;
  counted: Generated<boolean>;
  /** The refund's creation (Stripe time): its day in the rollup. */
  refunded_at: Date;
  stripe_updated_at: BigIntColumn;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** One Stripe dispute (chargeback or inquiry) with its latest status. */
export interface DisputesTable {
  dispute_id: string;
  payment_key: string;
  charge_id: string | null;
  payment_intent_id: string | null;
  amount: Money;
  currency: string;
  status: string;
  reason: string;
  /** Whose money this is (the dispute's owner when it was recorded); null = nobody known. */
  user_id: string | null;
  evidence_due_by: Date | null;
  opened_at: Date;
  stripe_updated_at: BigIntColumn;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** One balance transaction of a dispute: withdrawal (amount < 0) or reinstatement (amount > 0). */
export interface DisputeFundsTable {
  balance_transaction_id: string;
  dispute_id: string;
  amount: Money;
  currency: string;
  occurred_at: Date;
  created_at: CreatedAt;
}

/** A time zone whose business days have dashboard rollups. */
export interface RollupZonesTable {
  zone: string;
  added_at: CreatedAt;
}

/** One zone's business day, currency and city (service/dashboard/rollups.ts). */
export interface DashboardRollupsTable {
  zone: string;
  day: ColumnType<Date | string, string, string>;
  currency: string;
  /** '' for users without a city. */
  city: string;
  gross_amount: BigIntDefault;
  payments_succeeded: BigIntDefault;
  payments_failed: BigIntDefault;
  refunded_amount: BigIntDefault;
  refunds: BigIntDefault;
  disputes_opened: BigIntDefault;
  disputed_amount: BigIntDefault;
  dispute_withdrawn_amount: BigIntDefault;
  dispute_reinstated_amount: BigIntDefault;
  updated_at: Timestamp;
}

/** Subscriptions by zone, day, plan and currency (service/dashboard/people-rollups.ts). */
export interface SubscriptionDaysTable {
  zone: string;
  day: ColumnType<Date | string, string, string>;
  plan: string;
  currency: string;
  started: BigIntDefault;
  started_mrr12: BigIntDefault;
  ended: BigIntDefault;
  ended_mrr12: BigIntDefault;
  canceled: BigIntDefault;
  premium: BigIntDefault;
  premium_mrr12: BigIntDefault;
  updated_at: Timestamp;
}

/** Users by zone and the day the service first saw them (service/dashboard/people-rollups.ts). */
export interface UserDaysTable {
  zone: string;
  day: ColumnType<Date | string, string, string>;
  signups: BigIntDefault;
  updated_at: Timestamp;
}

export interface AuditLogTable {
  id: BigIntDefault;
  at: CreatedAt;
  actor: string;
  action: string;
  target: string | null;
  details: ColumnType<unknown, string | undefined, string>;
  request_id: string | null;
}

/** A rollback marker (migration 0005): opened by `npm run rollback`, closed by `npm run restore`. */
export interface OpsMarkersTable {
  id: BigIntDefault;
  kind: 'rollback';
  scope: 'app' | 'stripe' | 'both';
  reason: string;
  opened_by: string;
  opened_at: CreatedAt;
  details: ColumnType<unknown, string | undefined, string>;
  closed_by: string | null;
  closed_at: Date | null;
  close_summary: ColumnType<unknown, string | null | undefined, string | null>;
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
  refunds: RefundsTable;
  disputes: DisputesTable;
  dispute_funds: DisputeFundsTable;
  rollup_zones: RollupZonesTable;
  dashboard_rollups: DashboardRollupsTable;
  subscription_days: SubscriptionDaysTable;
  user_days: UserDaysTable;
  ops_markers: OpsMarkersTable;
}

export type UserRow = Selectable<UsersTable>;
export type SubscriptionRow = Selectable<SubscriptionsTable>;
export type NewSubscription = Insertable<SubscriptionsTable>;
export type NewPayment = Insertable<PaymentsTable>;
export type WebhookEventRow = Selectable<WebhookEventsTable>;

/**
 * How both engines read int8 (bigint) columns: an exact JS number. A value past 2^53 cannot be a
 * number without rounding, so reading one fails loudly instead of silently changing money.
 */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`bigint value ${text} is beyond Number.MAX_SAFE_INTEGER`);
  return value;
}

/** Normalises bigint columns across pg (string) and PGlite (number | bigint). */
export function toNumber(value: string | number | bigint | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value);
}
