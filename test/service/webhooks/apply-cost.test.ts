import { sql } from 'kysely';
import { refreshPaymentAdjustments } from '../../../service/webhooks/effects/ledger';
import { recordPayment } from '../../../service/webhooks/effects/payments';
import { recordRefund } from '../../../service/webhooks/effects/refunds';
import { settleEvent, storedStatuses, storePending } from '../../../service/webhooks/inbox';
import { drainPendingEvents } from '../../../service/webhooks/pause';
import { inBurst, noteAcknowledged } from '../../../service/webhooks/pressure';
import { processEvent } from '../../../service/webhooks/processor';
import { captureLogger } from '../../support/logger';
import { recorded } from '../../support/statements';
import { costSuite, fakeEvent } from './support';

/**
 * What applying an event costs the process (issue 15: every statement is a round trip, and a drain
 * shares the process with the acknowledgements): the statements an event takes, the async commit
 * of a drained event, the replay's batched status read, and a drain stepping aside during a burst
 * of deliveries (a user's writes: user-writes-cost.test.ts). Real database and store; statements
 * are read by a Kysely plugin on the way to the database.
 */

jest.setTimeout(300_000);

const suite = costSuite();
const { deps } = suite;

let sequence = 0;
const ignored = (customer = 'cus_apply_cost') => {
  sequence += 1;
  return fakeEvent('customer.updated', { id: customer, object: 'customer', metadata: {} }, { id: `evt_apply_cost_${process.pid}_${sequence}`, created: 1_800_000_000 + sequence });
};
const inboxStatements = (statements: string[]) => statements.filter((s) => s.includes('"webhook_events"'));
const { statusOf } = suite;

describe('statements per applied event', () => {
  test('a new event is one inbox statement: its insert with the outcome, after the effects', async () => {
    const { db, statements } = recorded(suite.database.db);
    const event = ignored();
    const started = performance.now();
    const result = await processEvent(deps(db), event, { storedStatus: null });
    expect(result.outcome).toBe('ignored');
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(result.durationMs).toBeLessThanOrEqual(performance.now() - started);
    const inbox = inboxStatements(statements);
    expect(inbox).toHaveLength(1);
    expect(inbox[0]).toMatch(/^insert into "webhook_events" .* on conflict \("event_id"\) do update set .* where "webhook_events"\."status" not in \(\$\d+, \$\d+, \$\d+\) returning event_id as "settled"$/);
    expect(statements.at(-1)).toBe(inbox[0]);
    expect(await statusOf(event.id)).toBe('ignored');
  });

  test('a stored event the caller read is one inbox statement: the update of its row, last', async () => {
    const event = ignored();
    await storePending(suite.database.db, event);
    const { db, statements } = recorded(suite.database.db);
    await expect(processEvent(deps(db), event, { storedStatus: 'pending', acknowledged: true })).resolves.toMatchObject({ outcome: 'ignored' });
    const inbox = inboxStatements(statements);
    expect(inbox).toHaveLength(1);
    expect(inbox[0]).toMatch(/^update "webhook_events" set .* where "event_id" = \$\d+ and "status" not in \(\$\d+, \$\d+, \$\d+\) returning set_config\('synchronous_commit', 'off', true\) as "settled"$/);
    expect(statements.at(-1)).toBe(inbox[0]);
    expect(await statusOf(event.id)).toBe('ignored');
  });

  test('without a status from the caller, one read, then the update: no lock before the effects', async () => {
    const event = ignored();
    await storePending(suite.database.db, event);
    const { db, statements } = recorded(suite.database.db);
    await processEvent(deps(db), event);
    const inbox = inboxStatements(statements);
    expect(inbox.map((s) => s.split(' ')[0])).toEqual(['select', 'update']);
    expect(inbox.some((s) => s.endsWith('for update'))).toBe(false);
  });

  test.each([
    ['a redelivery', false, ['update "webhook_events" set "duplicate_deliveries" = duplicate_deliveries + 1 where "event_id" = $1']],
    ['an acknowledged event', true, []],
  ])('%s the caller read as final is a duplicate with no transaction and no Stripe call', async (_, acknowledged, expected) => {
    const event = ignored();
    await processEvent(deps(), event, { storedStatus: null });
    const { db, statements } = recorded(suite.database.db);
    // Stripe is unreachable in these deps: preparing it anyway would fail and record a failure.
    await expect(processEvent(deps(db), event, { storedStatus: 'ignored', acknowledged })).resolves.toMatchObject({ outcome: 'duplicate' });
    expect(statements).toEqual(expected);
  });

  test('an event found final only at its settle (another application won) rolls back as a duplicate: no failure is recorded', async () => {
    const event = ignored();
    await processEvent(deps(), event, { storedStatus: null });
    const { db, statements } = recorded(suite.database.db);
    // Read as pending by this caller; applied meanwhile by another.
    await expect(processEvent(deps(db), event, { storedStatus: 'pending', acknowledged: true })).resolves.toMatchObject({ outcome: 'duplicate' });
    // The update finds it final, the insert after it too; nothing else touches the inbox.
    const inbox = inboxStatements(statements);
    expect(inbox.map((s) => s.split(' ')[0])).toEqual(['update', 'insert']);
    expect(inbox.every((s) => s.endsWith('as "settled"'))).toBe(true);
    expect(await statusOf(event.id)).toBe('ignored');
  });

  test('a payment refresh is one statement, and leaves a payment without refunds or disputes paid', async () => {
    await suite.database.db
      .insertInto('payments')
      .values({ payment_key: 'in_apply_cost', amount: 400, currency: 'eur', status: 'succeeded', occurred_at: new Date(), stripe_updated_at: 1 })
      .execute();
    const { db, statements } = recorded(suite.database.db);
    await refreshPaymentAdjustments(db, 'in_apply_cost');
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^update payments p set refunded_amount = a\.refunded/);
    const row = await suite.database.db.selectFrom('payments').select(['status', 'refunded_amount', 'disputed_amount', 'dispute_status']).where('payment_key', '=', 'in_apply_cost').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'succeeded', dispute_status: null });
    expect(Number(row.refunded_amount)).toBe(0);
    await suite.database.db.deleteFrom('payments').where('payment_key', '=', 'in_apply_cost').execute();
  });
});

describe('a new payment', () => {
  const observation = (key: string) => ({ paymentKey: key, paymentIntentId: key, amount: 400, currency: 'EUR', outcome: 'succeeded' as const, occurredAt: new Date('2026-11-02T10:00:00Z'), stripeTime: 1_793_000_000 });
  const refreshes = (statements: string[]) => statements.filter((s) => s.startsWith('update payments p set refunded_amount'));

  test('without refunds or disputes of its key is not refreshed: the insert says there is nothing to derive', async () => {
    const { db, statements } = recorded(suite.database.db);
    await db.transaction().execute((trx) => recordPayment(trx, observation('pi_cost_plain')));
    expect(statements.filter((s) => s.startsWith('insert into "payments"'))).toHaveLength(1);
    expect(refreshes(statements)).toEqual([]);
    const row = await suite.database.db.selectFrom('payments').select(['status', 'refunded_amount', 'disputed_amount', 'dispute_status', 'dispute_withdrawn_amount']).where('payment_key', '=', 'pi_cost_plain').executeTakeFirstOrThrow();
    expect({ ...row, refunded_amount: Number(row.refunded_amount), disputed_amount: Number(row.disputed_amount), dispute_withdrawn_amount: Number(row.dispute_withdrawn_amount) }).toEqual({
      status: 'succeeded',
      refunded_amount: 0,
      disputed_amount: 0,
      dispute_status: null,
      dispute_withdrawn_amount: 0,
    });
  });

  test.each(['refund', 'dispute'])('whose %s arrived first is refreshed, once', async (kind) => {
    const key = `pi_cost_${kind}_first`;
    if (kind === 'refund') {
      await suite.database.db.transaction().execute((trx) =>
        recordRefund(trx, { refundId: `re_cost_${kind}`, paymentKey: key, userId: null, chargeId: null, paymentIntentId: key, amount: 100, currency: 'eur', status: 'succeeded', reason: null, failureReason: null, refundedAt: new Date('2026-11-03T10:00:00Z'), stripeTime: 1_793_100_000 }),
      );
    } else {
      await suite.database.db
        .insertInto('disputes')
        .values({ dispute_id: `dp_cost_${kind}`, payment_key: key, charge_id: `ch_cost_${kind}`, amount: 400, currency: 'eur', status: 'needs_response', reason: 'fraudulent', opened_at: new Date('2026-11-03T10:00:00Z'), stripe_updated_at: 1_793_100_000 })
        .execute();
    }
    const { db, statements } = recorded(suite.database.db);
    await db.transaction().execute((trx) => recordPayment(trx, observation(key)));
    expect(refreshes(statements)).toHaveLength(1);
    const row = await suite.database.db.selectFrom('payments').select(['status', 'dispute_status']).where('payment_key', '=', key).executeTakeFirstOrThrow();
    expect(row).toEqual(kind === 'refund' ? { status: 'partially_refunded', dispute_status: null } : { status: 'succeeded', dispute_status: 'needs_response' });
  });
});

describe('the commit of a drained event', () => {
  test('the outcome statement makes it asynchronous for that transaction only', async () => {
    const event = ignored();
    await storePending(suite.database.db, event);
    const settings = await suite.database.db.connection().execute(async (connection) => {
      const inside = await connection.transaction().execute(async (trx) => {
        const before = await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(trx);
        await expect(settleEvent(trx, event, { status: 'ignored', durationMs: 1 }, { stored: true, asyncCommit: true })).resolves.toBe(true);
        const after = await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(trx);
        return [before.rows[0]!.s, after.rows[0]!.s];
      });
      const next = await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(connection);
      return [...inside, next.rows[0]!.s];
    });
    expect(settings).toEqual(['on', 'off', 'on']);
    expect(await statusOf(event.id)).toBe('ignored');
  });

  test('an outcome without it leaves the commit synchronous', async () => {
    const event = ignored();
    await storePending(suite.database.db, event);
    const setting = await suite.database.db.transaction().execute(async (trx) => {
      await expect(settleEvent(trx, event, { status: 'ignored', durationMs: 1 }, { stored: true })).resolves.toBe(true);
      return (await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(trx)).rows[0]!.s;
    });
    expect(setting).toBe('on');
  });
});

describe("a replay's status read", () => {
  test('reads stored statuses in batches, across the batch boundary, and leaves absent ids out', async () => {
    const first = ignored();
    const last = ignored();
    await storePending(suite.database.db, first);
    await processEvent(deps(), last, { storedStatus: null });
    const ids = [first.id, ...Array.from({ length: 999 }, (_, i) => `evt_absent_${i}`), last.id];
    const { db, statements } = recorded(suite.database.db);
    const statuses = await storedStatuses(db, ids);
    // 1,000 ids and then the last one: each statement binds its own batch (PostgreSQL takes at most 65,535 parameters).
    expect(statements.map((text) => text.match(/\$\d+/g)?.length)).toEqual([1000, 1]);
    expect([...statuses]).toEqual([
      [first.id, 'pending'],
      [last.id, 'ignored'],
    ]);
    await expect(storedStatuses(db, [])).resolves.toEqual(new Map());
    expect(statements).toHaveLength(2);
  });
});

describe('a drain during a burst of deliveries', () => {
  const drainedLines = (lines: () => Array<Record<string, unknown>>) => lines().filter((l) => l.message === 'pending webhooks drained');

  test('waits before each event while the burst lasts, says so, then applies the rest without waiting', async () => {
    const events = [ignored('cus_burst'), ignored('cus_burst'), ignored('cus_burst'), ignored('cus_burst')];
    for (const event of events) await storePending(suite.database.db, event);
    // More than 50 acknowledgements per 100 ms window, for as long as the timer runs.
    const burst = setInterval(() => {
      for (let i = 0; i < 60; i++) noteAcknowledged(suite.store);
    }, 10);
    for (let i = 0; i < 60; i++) noteAcknowledged(suite.store);
    expect(inBurst(suite.store)).toBe(true);
    const logs = captureLogger('info');
    const started = performance.now();
    const drained = drainPendingEvents(deps(suite.database.db, logs.logger));
    await new Promise((resolve) => setTimeout(resolve, 150));
    const statuses = await Promise.all(events.map((e) => statusOf(e.id)));
    clearInterval(burst);
    // At 150 ms: the first event waited 100 ms, the second was waiting; never all four.
    expect(statuses.filter((s) => s === 'ignored').length).toBeLessThanOrEqual(2);
    await expect(drained).resolves.toMatchObject({ seen: 4, applied: 4, failed: 0 });
    // Two waits at least: the burst lasted 150 ms, and each event it covered waited 100 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    const [line] = drainedLines(logs.lines);
    expect(line).toMatchObject({ level: 'info', seen: 4, applied: 4 });
    expect(line!.burstWaits).toBeGreaterThanOrEqual(2);
    expect(line!.burstWaitMs).toBe(Number(line!.burstWaits) * 100);
    expect(await Promise.all(events.map((e) => statusOf(e.id)))).toEqual(['ignored', 'ignored', 'ignored', 'ignored']);
  });

  test('does not wait when deliveries arrive at an ordinary rate', async () => {
    const events = [ignored('cus_calm'), ignored('cus_calm'), ignored('cus_calm')];
    for (const event of events) await storePending(suite.database.db, event);
    await new Promise((resolve) => setTimeout(resolve, 250)); // the previous test's burst window is over
    expect(inBurst(suite.store)).toBe(false);
    const logs = captureLogger('info');
    await expect(drainPendingEvents(deps(suite.database.db, logs.logger))).resolves.toMatchObject({ seen: 3, applied: 3 });
    const [line] = drainedLines(logs.lines);
    expect(line).toMatchObject({ seen: 3, applied: 3 });
    expect(line).not.toHaveProperty('burstWaits');
  });
});
