import fc from 'fast-check';
import { sql } from 'kysely';
import { upsertUser } from '../../../service/checkout/repository';
import { checkRollups } from '../../../service/dashboard/rollup-check';
import { ROLLUP_COLUMNS, rollupsFromLedger } from '../../../service/dashboard/rollups';
import type { Database } from '../../../service/shared/db';
import { recordDispute } from '../../../service/webhooks/effects/disputes';
import { recordPayment } from '../../../service/webhooks/effects/payments';
import { recordRefund } from '../../../service/webhooks/effects/refunds';
import { createTestDatabase, type TestDatabase } from '../../support/database';

/**
 * Any sequence of ledger effects (payments, failed attempts, refunds that count, fail or arrive
 * before their payment, disputes and their funds, a payment that learns its user late, users whose
 * city changes or who become internal), each possibly delivered twice, leaves the dashboard's
 * rollups equal to the ledger: checked against an oracle written here in plain TypeScript from the
 * ledger rows (not the module's SQL), and against rollupsFromLedger (what `npm run rollups --check`
 * compares with).
 */
let database: TestDatabase;
let db: Database;
beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
}, 120_000);
afterAll(async () => database?.close());

const ZONES = ['Europe/Paris', 'UTC'];
const USERS = [
  { id: 'u_paris', city: 'Paris' },
  { id: 'u_lyon', city: 'Lyon' },
  { id: 'u_nocity', city: undefined },
  { id: 'u_smoke', city: 'Nice', internal: true },
];
/** Each payment key with its owner (null: a payment nobody could attribute at first), currency and amount. */
const PAYMENTS = [
  { key: 'in_a', owner: 'u_paris', currency: 'eur', amount: 400 },
  { key: 'in_b', owner: 'u_lyon', currency: 'eur', amount: 3000 },
  { key: 'pi_c', owner: 'u_nocity', currency: 'usd', amount: 500 },
  { key: 'in_d', owner: 'u_smoke', currency: 'eur', amount: 400 },
  { key: 'in_e', owner: 'u_paris', currency: 'EUR', amount: 400 },
];
/** Instants around Paris midnights, a DST change (2026-03-29 01:00 UTC) and UTC midnight. */
const TIMES = ['2026-03-28T22:59:59Z', '2026-03-28T23:00:00Z', '2026-03-29T00:30:00Z', '2026-03-29T21:59:59Z', '2026-03-29T22:00:00Z', '2026-11-27T23:30:00Z', '2026-11-28T00:00:00Z'].map(
  (t) => new Date(t),
);

type Action =
  | { kind: 'pay'; p: number; t: number; lateUser: boolean }
  | { kind: 'fail'; p: number; attempt: number; t: number }
  | { kind: 'refund'; p: number; refund: number; amount: number; status: 'pending' | 'succeeded' | 'failed' | 'canceled'; t: number; stripeTime: number }
  | { kind: 'dispute'; p: number; dispute: number; status: 'needs_response' | 'won' | 'lost'; withdrawn: boolean; reinstated: boolean; t: number; stripeTime: number }
  | { kind: 'city'; u: number; city: string | undefined }
  | { kind: 'internal'; u: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('pay' as const), p: fc.nat(PAYMENTS.length - 1), t: fc.nat(TIMES.length - 1), lateUser: fc.boolean() }),
  fc.record({ kind: fc.constant('fail' as const), p: fc.nat(PAYMENTS.length - 1), attempt: fc.nat(2), t: fc.nat(TIMES.length - 1) }),
  fc.record({
    kind: fc.constant('refund' as const),
    p: fc.nat(PAYMENTS.length - 1),
    refund: fc.nat(2),
    amount: fc.constantFrom(100, 200, 400),
    status: fc.constantFrom('pending' as const, 'succeeded' as const, 'failed' as const, 'canceled' as const),
    t: fc.nat(TIMES.length - 1),
    stripeTime: fc.nat(3),
  }),
  fc.record({
    kind: fc.constant('dispute' as const),
    p: fc.nat(PAYMENTS.length - 1),
    dispute: fc.nat(1),
    status: fc.constantFrom('needs_response' as const, 'won' as const, 'lost' as const),
    withdrawn: fc.boolean(),
    reinstated: fc.boolean(),
    t: fc.nat(TIMES.length - 1),
    stripeTime: fc.nat(3),
  }),
  fc.record({ kind: fc.constant('city' as const), u: fc.nat(USERS.length - 1), city: fc.constantFrom('Paris', 'Marseille', undefined) }),
  fc.record({ kind: fc.constant('internal' as const), u: fc.nat(USERS.length - 1) }),
);

const BASE = 1_790_000_000;

async function apply(a: Action): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (a.kind === 'city' || a.kind === 'internal') {
      const user = USERS[a.u]!;
      await upsertUser(trx, a.kind === 'city' ? { id: user.id, city: a.city } : { id: user.id, internal: true });
      return;
    }
    const p = PAYMENTS[a.p]!;
    const at = TIMES[a.t]!;
    if (a.kind === 'pay' || a.kind === 'fail') {
      await recordPayment(trx, {
        paymentKey: p.key,
        userId: a.kind === 'pay' && a.lateUser ? null : p.owner,
        amount: p.amount,
        currency: p.currency,
        outcome: a.kind === 'pay' ? 'succeeded' : 'failed',
        occurredAt: at,
        stripeTime: BASE + a.t,
        ...(a.kind === 'fail' ? { attemptKey: `${p.key}_attempt_${a.attempt}`, failureCode: 'card_declined' } : {}),
      });
    } else if (a.kind === 'refund') {
      const refundId = `re_${p.key}_${a.refund}`;
      // A refund's creation time and amount are its own: the first observation fixes its day.
      await recordRefund(trx, {
        refundId,
        paymentKey: p.key,
        userId: p.owner,
        chargeId: null,
        paymentIntentId: null,
        amount: a.amount,
        currency: p.currency,
        status: a.status,
        reason: null,
        failureReason: null,
        refundedAt: at,
        stripeTime: BASE + a.stripeTime,
      });
    } else {
      const disputeId = `dp_${p.key}_${a.dispute}`;
      await recordDispute(trx, {
        disputeId,
        paymentKey: p.key,
        userId: p.owner,
        chargeId: null,
        paymentIntentId: null,
        amount: p.amount,
        currency: p.currency,
        status: a.status,
        reason: 'fraudulent',
        evidenceDueBy: null,
        openedAt: at,
        stripeTime: BASE + a.stripeTime,
        funds: [
          ...(a.withdrawn ? [{ balanceTransactionId: `txn_${disputeId}_out`, direction: 'withdrawn' as const, occurredAt: at }] : []),
          ...(a.reinstated ? [{ balanceTransactionId: `txn_${disputeId}_back`, direction: 'reinstated' as const, occurredAt: TIMES[(a.t + 1) % TIMES.length]! }] : []),
        ],
      });
    }
  });
}

const dayIn = (zone: string, at: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);

/** The rollups as the definition reads, computed in TypeScript from the ledger rows. */
async function oracle(): Promise<Map<string, Record<string, number>>> {
  const [users, payments, attempts, refunds, disputes, funds] = await Promise.all([
    db.selectFrom('users').select(['id', 'city', 'is_internal']).execute(),
    db.selectFrom('payments').select(['payment_key', 'user_id', 'currency', 'amount', 'status', 'occurred_at']).execute(),
    db.selectFrom('payment_attempts').select(['payment_key', 'outcome', 'occurred_at']).execute(),
    db.selectFrom('refunds').select(['user_id', 'currency', 'amount', 'counted', 'refunded_at']).execute(),
    db.selectFrom('disputes').select(['dispute_id', 'user_id', 'currency', 'amount', 'opened_at']).execute(),
    db.selectFrom('dispute_funds').select(['dispute_id', 'currency', 'amount', 'occurred_at']).execute(),
  ]);
  const userOf = new Map(users.map((u) => [u.id, u]));
  const paymentOf = new Map(payments.map((p) => [p.payment_key, p]));
  const disputeOf = new Map(disputes.map((d) => [d.dispute_id, d]));
  const out = new Map<string, Record<string, number>>();
  const count = (userId: string | null, currency: string, at: Date, column: string, amount: number) => {
    const user = userId ? userOf.get(userId) : undefined;
    if (user?.is_internal) return;
    for (const zone of ZONES) {
      const key = `${zone}|${dayIn(zone, new Date(at))}|${currency}|${user?.city ?? ''}`;
      const row = out.get(key) ?? Object.fromEntries(ROLLUP_COLUMNS.map((c) => [c, 0]));
      row[column]! += amount;
      out.set(key, row);
    }
  };
  for (const p of payments) {
    if (!['succeeded', 'partially_refunded', 'refunded'].includes(p.status)) continue;
    count(p.user_id, p.currency, p.occurred_at, 'gross_amount', Number(p.amount));
    count(p.user_id, p.currency, p.occurred_at, 'payments_succeeded', 1);
  }
  for (const a of attempts) {
    if (a.outcome !== 'failed') continue;
    const p = paymentOf.get(a.payment_key)!;
    count(p.user_id, p.currency, a.occurred_at, 'payments_failed', 1);
  }
  for (const r of refunds) {
    if (!r.counted) continue;
    count(r.user_id, r.currency, r.refunded_at, 'refunded_amount', Number(r.amount));
    count(r.user_id, r.currency, r.refunded_at, 'refunds', 1);
  }
  for (const d of disputes) {
    count(d.user_id, d.currency, d.opened_at, 'disputes_opened', 1);
    count(d.user_id, d.currency, d.opened_at, 'disputed_amount', Number(d.amount));
  }
  for (const f of funds) {
    const d = disputeOf.get(f.dispute_id)!;
    const amount = Number(f.amount);
    count(d.user_id, f.currency, f.occurred_at, amount < 0 ? 'dispute_withdrawn_amount' : 'dispute_reinstated_amount', Math.abs(amount));
  }
  return nonZero(out);
}

function nonZero(rows: Map<string, Record<string, number>>): Map<string, Record<string, number>> {
  return new Map([...rows].filter(([, r]) => Object.values(r).some((v) => v !== 0)).sort(([a], [b]) => a.localeCompare(b)));
}

const keyed = (rows: ReadonlyArray<{ zone: string; day: string; currency: string; city: string }>) =>
  nonZero(new Map(rows.map((r) => [`${r.zone}|${r.day}|${r.currency}|${r.city}`, Object.fromEntries(ROLLUP_COLUMNS.map((c) => [c, Number((r as Record<string, unknown>)[c])]))])));

async function stored(): Promise<Map<string, Record<string, number>>> {
  const { rows } = await sql<{ zone: string; day: string; currency: string; city: string }>`
    select zone, to_char(day, 'YYYY-MM-DD') as day, currency, city, ${sql.raw(ROLLUP_COLUMNS.join(', '))} from dashboard_rollups`.execute(db);
  return keyed(rows);
}

async function reset(): Promise<void> {
  await sql`truncate dashboard_rollups, subscription_days, user_days, daily_revenue, dispute_funds, disputes, refunds, payment_attempts, payments, users cascade`.execute(db);
  for (const u of USERS) await upsertUser(db, { id: u.id, city: u.city, internal: u.internal });
}

test('any sequence of ledger effects, each possibly delivered twice, leaves the rollups equal to the ledger', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.record({ action, twice: fc.boolean() }), { minLength: 1, maxLength: 25 }), async (steps) => {
      await reset();
      for (const { action: a, twice } of steps) {
        await apply(a);
        if (twice) await apply(a);
      }
      const expected = await oracle();
      expect(await stored()).toEqual(expected);
      expect(keyed(await rollupsFromLedger(db))).toEqual(expected);
      // Users created and turned internal along the way: the sign-up rollups follow them too.
      expect((await checkRollups(db)).peopleDifferences).toEqual([]);
    }),
    { numRuns: 60 },
  );
}, 300_000);

test('the oracle is not vacuous: a sequence with money counts in both zones, on different days across a Paris midnight', async () => {
  await reset();
  await apply({ kind: 'pay', p: 0, t: 0, lateUser: false });
  await apply({ kind: 'pay', p: 1, t: 1, lateUser: false });
  const rows = await stored();
  expect([...rows.keys()]).toEqual(['Europe/Paris|2026-03-28|eur|Paris', 'Europe/Paris|2026-03-29|eur|Lyon', 'UTC|2026-03-28|eur|Lyon', 'UTC|2026-03-28|eur|Paris']);
  expect(rows.get('UTC|2026-03-28|eur|Lyon')).toMatchObject({ gross_amount: 3000, payments_succeeded: 1 });
});

test("a user's city change and their becoming internal move their money in the rollups", async () => {
  await reset();
  await apply({ kind: 'pay', p: 0, t: 2, lateUser: false });
  await apply({ kind: 'refund', p: 0, refund: 0, amount: 100, status: 'succeeded', t: 3, stripeTime: 0 });
  await apply({ kind: 'city', u: 0, city: 'Marseille' });
  expect([...(await stored()).keys()].filter((k) => k.startsWith('Europe/Paris'))).toEqual(['Europe/Paris|2026-03-29|eur|Marseille']);
  expect((await stored()).get('Europe/Paris|2026-03-29|eur|Marseille')).toMatchObject({ gross_amount: 400, refunded_amount: 100, refunds: 1 });
  await apply({ kind: 'internal', u: 0 });
  expect((await stored()).size).toBe(0);
});
