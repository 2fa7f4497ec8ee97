import fc from 'fast-check';
import { upsertUser } from '../../../service/checkout/repository';
import type { Dashboard } from '../../../service/dashboard';
import { rebuildRollups } from '../../../service/dashboard/rollup-check';
import { ManualClock } from '../../../service/shared/clock';
import { recordPayment } from '../../../service/webhooks/effects/payments';
import { recordRefund } from '../../../service/webhooks/effects/refunds';
import { startTestService, type TestService } from '../../support/service';

/**
 * GET /api/admin/payments/dashboard on generated data, every figure checked against an oracle
 * computed here from the generated movements themselves (not from the database): refunds, a second
 * currency, internal users, users without a city, Paris days vs UTC days, a zone without rollups
 * (computed from the ledger), the previous period, the empty database and every bad parameter.
 */
const NOW = new Date('2026-11-28T10:00:00Z');
const clock = new ManualClock(NOW);
let svc: TestService;
let admin: string;

beforeAll(async () => {
  svc = await startTestService({ clock });
  admin = await svc.tokenFor({ id: 'admin_1', admin: true });
}, 120_000);
afterAll(async () => svc?.close());

const dashboard = async (query = '', token = admin) => {
  const res = await fetch(`${svc.url}/api/admin/payments/dashboard${query}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Dashboard & { error?: { code: string; message: string; param?: string } } };
};

const dayIn = (zone: string, at: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
const addDays = (day: string, n: number) => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

describe('refusals', () => {
  test('401 without a token, 403 with a user token', async () => {
    const none = await fetch(`${svc.url}/api/admin/payments/dashboard`);
    expect(none.status).toBe(401);
    const user = await dashboard('', await svc.tokenFor({ id: 'user_1' }));
    expect(user).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
  });

  test.each([
    ['?timeframe=1y', 'timeframe', 'timeframe must be one of 7d, 30d, 90d, custom'],
    ['?timeframe=7d&timeframe=30d', 'timeframe', 'timeframe must be given once, as a plain value'],
    ['?tz=Mars/Olympus_Mons', 'tz', 'tz must be an IANA time zone, such as Europe/Paris'],
    ['?tz=Europe%2FParis%3B%20drop', 'tz', 'tz must be an IANA time zone, such as Europe/Paris'],
    // Known to Node's ICU, unknown to PostgreSQL's tz database (retired from tzdata in 2020).
    ['?tz=US/Pacific-New', 'tz', 'tz is not a time zone the database knows'],
    ['?timeframe=custom&to=2026-11-01', 'from', 'from is required with timeframe=custom (YYYY-MM-DD)'],
    ['?timeframe=custom&from=2026-11-01', 'to', 'to is required with timeframe=custom (YYYY-MM-DD)'],
    ['?timeframe=custom&from=2026-02-30&to=2026-03-01', 'from', 'from must be a date, YYYY-MM-DD'],
    ['?timeframe=custom&from=2026-02-01&to=2026-3-1', 'to', 'to must be a date, YYYY-MM-DD'],
    ['?timeframe=custom&from=2026-11-02&to=2026-11-01', 'to', 'to must not be before from'],
    ['?timeframe=custom&from=2025-01-01&to=2026-01-02', 'to', 'a custom period spans at most 366 days'],
    ['?timeframe=30d&from=2026-11-01', 'from', 'from is only taken with timeframe=custom'],
    ['?to=2026-11-01', 'to', 'to is only taken with timeframe=custom'],
    ['?currency=usd', 'currency', 'Unknown query parameter currency (this route takes timeframe, from, to, tz)'],
    ['?tz[a]=b', 'tz[a]', 'Unknown query parameter tz[a] (this route takes timeframe, from, to, tz)'],
  ])('%s is a 400 naming %s', async (query, param, message) => {
    expect(await dashboard(query)).toEqual({ status: 400, body: { error: { code: 'invalid_query', message, param } } });
  });

  test('the longest custom period (366 days, a leap year) is accepted', async () => {
    const res = await dashboard('?timeframe=custom&from=2024-01-01&to=2024-12-31');
    expect(res.status).toBe(200);
    expect(res.body.period).toMatchObject({ start: '2024-01-01', end: '2024-12-31', days: 366, previous: { start: '2022-12-31', end: '2023-12-31' } });
  });
});

describe('empty database', () => {
  test('zeros everywhere, a continuous series, conversion 0 (not NaN), no cities, one currency', async () => {
    const { status, body } = await dashboard('?timeframe=7d');
    expect(status).toBe(200);
    expect(body.period).toEqual({ start: '2026-11-22', end: '2026-11-28', timeframe: '7d', tz: 'Europe/Paris', days: 7, previous: { start: '2026-11-15', end: '2026-11-21' } });
    expect(body.source).toBe('rollups');
    expect(body.revenue).toMatchObject({ currency: 'eur', total: 0, net: 0, refunded: 0, failedPayments: 0, failureRate: 0, transactionCount: 0 });
    expect(body.revenue.daily.map((d) => d.date)).toEqual(['2026-11-22', '2026-11-23', '2026-11-24', '2026-11-25', '2026-11-26', '2026-11-27', '2026-11-28']);
    expect(body.revenue.daily.every((d) => d.totalRevenue === 0 && d.transactionCount === 0)).toBe(true);
    expect(body.subscriptions).toMatchObject({ active: [], mrr: 0, conversionRate: 0, newInPeriod: 0, canceledInPeriod: 0 });
    expect(body.geographic).toEqual([]);
    expect(body.summary).toEqual({ totalUsers: 0, premiumUsers: 0, freeUsers: 0, previous: { totalUsers: 0, premiumUsers: 0 } });
    expect(body).not.toHaveProperty('currencies');
  });

  test('30 days is the default, in Europe/Paris', async () => {
    const { body } = await dashboard();
    expect(body.period).toMatchObject({ timeframe: '30d', tz: 'Europe/Paris', start: '2026-10-30', end: '2026-11-28', days: 30 });
    expect(body.revenue.daily).toHaveLength(30);
  });
});

interface GenPayment {
  key: string;
  user: number;
  currency: 'eur' | 'usd';
  amount: number;
  at: Date;
  outcome: 'succeeded' | 'failed';
  refund?: { amount: number; at: Date; status: 'succeeded' | 'failed' };
}

const USERS = [
  { id: 'g_paris_1', city: 'Paris' },
  { id: 'g_paris_2', city: 'Paris' },
  { id: 'g_lyon', city: 'Lyon' },
  { id: 'g_lille', city: 'Lille' },
  { id: 'g_nocity', city: undefined },
  { id: 'g_smoke', city: 'Paris', internal: true },
  ...Array.from({ length: 12 }, (_, i) => ({ id: `g_town_${i}`, city: `Town ${String.fromCharCode(65 + i)}` })),
];

describe('generated ledger', () => {
  let payments: GenPayment[];

  beforeAll(async () => {
    const span = 200 * 86_400_000;
    const payment = fc.record({
      user: fc.nat(USERS.length - 1),
      currency: fc.constantFrom('eur' as const, 'eur' as const, 'eur' as const, 'usd' as const),
      amount: fc.constantFrom(400, 3000, 1234),
      offset: fc.integer({ min: 0, max: span }),
      outcome: fc.constantFrom('succeeded' as const, 'succeeded' as const, 'failed' as const),
      refund: fc.option(fc.record({ part: fc.constantFrom(0.25, 1), later: fc.integer({ min: 0, max: 20 * 86_400_000 }), status: fc.constantFrom('succeeded' as const, 'failed' as const) }), { freq: 3 }),
    });
    const generated = fc.sample(fc.array(payment, { minLength: 400, maxLength: 400 }), { seed: 20261128, numRuns: 1 })[0]!;
    payments = generated.map((g, i) => {
      const at = new Date(NOW.getTime() - g.offset);
      const refundAt = g.refund ? new Date(Math.min(at.getTime() + g.refund.later, NOW.getTime())) : undefined;
      return {
        key: `in_gen_${i}`,
        user: g.user,
        currency: g.currency,
        amount: g.amount,
        at,
        outcome: g.outcome,
        ...(g.refund && g.outcome === 'succeeded' ? { refund: { amount: Math.round(g.amount * g.refund.part), at: refundAt!, status: g.refund.status } } : {}),
      };
    });
    // Movements exactly on Paris and UTC midnights.
    payments.push(
      { key: 'in_edge_paris', user: 0, currency: 'eur', amount: 777, at: new Date('2026-11-26T23:30:00Z'), outcome: 'succeeded' },
      { key: 'in_edge_utc', user: 2, currency: 'eur', amount: 555, at: new Date('2026-11-27T00:00:00Z'), outcome: 'succeeded' },
    );
    for (const u of USERS) await upsertUser(svc.database.db, { id: u.id, city: u.city, internal: u.internal });
    // Everyone signed up long before the periods, except g_town_0 (2026-11-23, in the 7-day period).
    await svc.database.db.updateTable('users').set({ created_at: new Date('2026-01-01T00:00:00Z') } as never).execute();
    await svc.database.db.updateTable('users').set({ created_at: new Date('2026-11-23T12:00:00Z') } as never).where('id', '=', 'g_town_0').execute();
    for (const p of payments) {
      const owner = USERS[p.user]!.id;
      await svc.database.db.transaction().execute(async (trx) => {
        await recordPayment(trx, {
          paymentKey: p.key,
          userId: owner,
          amount: p.amount,
          currency: p.currency,
          outcome: p.outcome,
          occurredAt: p.at,
          stripeTime: Math.floor(p.at.getTime() / 1000),
          ...(p.outcome === 'failed' ? { attemptKey: `${p.key}_1`, failureCode: 'card_declined' } : {}),
        });
        if (p.refund) {
          await recordRefund(trx, {
            refundId: `re_${p.key}`,
            paymentKey: p.key,
            userId: owner,
            chargeId: null,
            paymentIntentId: null,
            amount: p.refund.amount,
            currency: p.currency,
            status: p.refund.status,
            reason: null,
            failureReason: null,
            refundedAt: p.refund.at,
            stripeTime: Math.floor(p.refund.at.getTime() / 1000),
          });
        }
      });
    }
    // Subscriptions: premium users and their plans, some created or canceled in the periods.
    const subs = [
      { user: 0, plan: 'monthly', amount: 400, interval: 'month', status: 'active', created: '2026-11-20T10:00:00Z', canceled: null },
      { user: 1, plan: 'yearly', amount: 3000, interval: 'year', status: 'active', created: '2026-06-01T10:00:00Z', canceled: null },
      { user: 2, plan: 'monthly', amount: 400, interval: 'month', status: 'trialing', created: '2026-11-27T10:00:00Z', canceled: null },
      { user: 3, plan: 'monthly', amount: 400, interval: 'month', status: 'canceled', created: '2026-08-01T10:00:00Z', canceled: '2026-11-25T10:00:00Z', ended: '2026-11-25T10:00:00Z' },
      { user: 5, plan: 'monthly', amount: 400, interval: 'month', status: 'active', created: '2026-11-21T10:00:00Z', canceled: null },
    ];
    for (const [i, s] of subs.entries()) {
      await svc.database.db
        .insertInto('subscriptions')
        .values({
          id: `sub_gen_${i}`,
          user_id: USERS[s.user]!.id,
          customer_id: `cus_gen_${i}`,
          plan: s.plan,
          status: s.status,
          amount: s.amount,
          currency: 'eur',
          interval: s.interval,
          canceled_at: s.canceled === null ? null : new Date(s.canceled),
          ended_at: s.ended ? new Date(s.ended) : null,
          stripe_updated_at: 1,
          started_at: new Date(s.created),
        })
        .execute();
      if (s.status === 'active' || s.status === 'trialing') await svc.database.db.updateTable('users').set({ is_premium: true }).where('id', '=', USERS[s.user]!.id).execute();
    }
    // Subscriptions and sign-up days were written straight into their tables above: bring their
    // rollups in line as `npm run rollups -- --rebuild` would (the money went through the writers).
    const rebuilt = await rebuildRollups(svc.database.db);
    expect(rebuilt.differences).toEqual([]);
    expect(rebuilt.peopleDifferences.length).toBeGreaterThan(0);
  }, 240_000);

  /** The figures of one period, from the generated movements. */
  function expected(zone: string, start: string, end: string, currency: string) {
    const inPeriod = (at: Date) => {
      const day = dayIn(zone, at);
      return day >= start && day <= end;
    };
    const counted = payments.filter((p) => !USERS[p.user]!.internal && p.currency === currency);
    const paid = counted.filter((p) => p.outcome === 'succeeded' && inPeriod(p.at));
    const failed = counted.filter((p) => p.outcome === 'failed' && inPeriod(p.at));
    const refunds = counted.filter((p) => p.refund && p.refund.status === 'succeeded' && inPeriod(p.refund.at));
    const total = paid.reduce((s, p) => s + p.amount, 0);
    const refunded = refunds.reduce((s, p) => s + p.refund!.amount, 0);
    return {
      currency,
      total,
      transactionCount: paid.length,
      refunded,
      refunds: refunds.length,
      net: total - refunded,
      failedPayments: failed.length,
      failureRate: paid.length + failed.length === 0 ? 0 : failed.length / (paid.length + failed.length),
      disputesOpened: 0,
      disputesWithdrawn: 0,
    };
  }

  function expectedDaily(zone: string, start: string, days: number) {
    return Array.from({ length: days }, (_, i) => {
      const day = addDays(start, i);
      const e = expected(zone, day, day, 'eur');
      return { date: day, totalRevenue: e.total, transactionCount: e.transactionCount, refunded: e.refunded, net: e.net, failedPayments: e.failedPayments };
    });
  }

  function expectedCities(zone: string, start: string, end: string) {
    const byCity = new Map<string, { city: string; revenue: number; transactions: number; currency: string }>();
    for (const p of payments) {
      const user = USERS[p.user]!;
      if (user.internal || p.currency !== 'eur' || p.outcome !== 'succeeded') continue;
      const day = dayIn(zone, p.at);
      if (day < start || day > end) continue;
      const city = user.city ?? 'unknown';
      const row = byCity.get(city) ?? { city, revenue: 0, transactions: 0, currency: 'eur' };
      row.revenue += p.amount;
      row.transactions += 1;
      byCity.set(city, row);
    }
    return [...byCity.values()].sort((a, b) => b.revenue - a.revenue || b.transactions - a.transactions || a.city.localeCompare(b.city)).slice(0, 10);
  }

  test.each([
    ['?timeframe=7d', 'Europe/Paris', '2026-11-22', 7, 'rollups'],
    ['?timeframe=30d&tz=UTC', 'UTC', '2026-10-30', 30, 'rollups'],
    ['?timeframe=90d', 'Europe/Paris', '2026-08-31', 90, 'rollups'],
    ['?timeframe=custom&from=2026-06-01&to=2026-09-30', 'Europe/Paris', '2026-06-01', 122, 'rollups'],
    ['?timeframe=30d&tz=America/New_York', 'America/New_York', '2026-10-30', 30, 'ledger'],
    ['?timeframe=7d&tz=Asia/Kathmandu', 'Asia/Kathmandu', '2026-11-22', 7, 'ledger'],
  ])('%s: every money figure equals the oracle (%s days from %s)', async (query, zone, start, days, source) => {
    const { status, body } = await dashboard(query);
    expect(status).toBe(200);
    const end = addDays(start, days - 1);
    const previousStart = addDays(start, -days);
    expect(body.source).toBe(source);
    expect(body.period).toMatchObject({ start, end, tz: zone, days, previous: { start: previousStart, end: addDays(start, -1) } });
    const { daily, previous, ...headline } = body.revenue;
    expect(headline).toEqual(expected(zone, start, end, 'eur'));
    expect(previous).toEqual(expected(zone, previousStart, addDays(start, -1), 'eur'));
    expect(daily).toEqual(expectedDaily(zone, start, days));
    expect(body.geographic).toEqual(expectedCities(zone, start, end));
    const usd = body.currencies!.find((c) => c.currency === 'usd')!;
    expect(body.currencies![0]!.currency).toBe('eur');
    const { daily: _usdDaily, previous: usdPrevious, ...usdHeadline } = usd;
    expect(usdHeadline).toEqual(expected(zone, start, end, 'usd'));
    expect(usdPrevious).toEqual(expected(zone, previousStart, addDays(start, -1), 'usd'));
  });

  test('the data is not trivial: refunds, declines, both currencies, more than ten cities and the unknown city appear in 90 days', async () => {
    const { body } = await dashboard('?timeframe=90d');
    expect(body.revenue.refunded).toBeGreaterThan(0);
    expect(body.revenue.failedPayments).toBeGreaterThan(0);
    expect(body.currencies!.map((c) => c.currency)).toEqual(['eur', 'usd']);
    expect(body.geographic).toHaveLength(10);
    expect(expectedCities('Europe/Paris', '2026-08-31', '2026-11-28').length).toBe(10);
  });

  test('a payment at 23:30 UTC counts on the next day in Paris and on its own day in UTC', async () => {
    expect([dayIn('Europe/Paris', new Date('2026-11-26T23:30:00Z')), dayIn('UTC', new Date('2026-11-26T23:30:00Z'))]).toEqual(['2026-11-27', '2026-11-26']);
    for (const zone of ['Europe/Paris', 'UTC']) {
      const { body } = await dashboard(`?timeframe=custom&from=2026-11-26&to=2026-11-27&tz=${zone}`);
      expect(body.revenue.daily.map((d) => d.totalRevenue)).toEqual([
        expected(zone, '2026-11-26', '2026-11-26', 'eur').total,
        expected(zone, '2026-11-27', '2026-11-27', 'eur').total,
      ]);
    }
    const paris = await dashboard('?timeframe=custom&from=2026-11-27&to=2026-11-27');
    const utc = await dashboard('?timeframe=custom&from=2026-11-27&to=2026-11-27&tz=UTC');
    const others = payments.filter((p) => !p.key.startsWith('in_edge') && p.currency === 'eur' && p.outcome === 'succeeded' && !USERS[p.user]!.internal);
    const onDay = (zone: string) => others.filter((p) => dayIn(zone, p.at) === '2026-11-27').reduce((s, p) => s + p.amount, 0);
    // Paris' 11-27 has both edge payments; UTC's has only the one at its midnight.
    expect(paris.body.revenue.total - onDay('Europe/Paris')).toBe(777 + 555);
    expect(utc.body.revenue.total - onDay('UTC')).toBe(555);
  });

  test('subscriptions, MRR and users leave the internal user out; conversion is premium over all', async () => {
    const { body } = await dashboard('?timeframe=7d');
    // Active: g_paris_1 monthly 400, g_paris_2 yearly 3000 (250 a month), g_lyon trialing monthly 400; g_smoke is internal.
    expect(body.subscriptions.active).toEqual([
      { plan: 'monthly', count: 2, revenue: 800, currency: 'eur' },
      { plan: 'yearly', count: 1, revenue: 250, currency: 'eur' },
    ]);
    expect(body.subscriptions.mrr).toBe(1050);
    // In 2026-11-22..28 (Paris): created g_lyon's (11-27); canceled g_lille's (11-25). g_smoke's (11-21) is internal anyway.
    expect(body.subscriptions).toMatchObject({ newInPeriod: 1, canceledInPeriod: 1 });
    // Live when the period began (2026-11-22, Paris): g_paris_1 (created 11-20, in the previous
    // period), g_paris_2 and g_lille (ended 11-25); nothing was canceled in the previous period.
    const external = USERS.filter((u) => !u.internal).length;
    expect(body.subscriptions.previous).toEqual({ mrr: 400 + 250 + 400, active: 3, newInPeriod: 1, canceledInPeriod: 0, conversionRate: 3 / (external - 1) });
    expect(body.summary).toEqual({ totalUsers: external, premiumUsers: 3, freeUsers: external - 3, previous: { totalUsers: external - 1, premiumUsers: 3 } });
    expect(body.subscriptions.conversionRate).toBeCloseTo(3 / external, 10);
  });
});
