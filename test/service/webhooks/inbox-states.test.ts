import { sql } from 'kysely';
import type Stripe from 'stripe';
import { FINAL_STATUSES, type FinalStatus, findEvent, listDue, recordFailure, settleEvent, storePending } from '../../../service/webhooks/inbox';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { fakeEvent } from './support';

/**
 * The inbox's state machine on the real database: what a failure, a paused delivery and the drain
 * cursor may and may not change. A failure recorded over a final status would make Stripe's next
 * retry apply the event a second time.
 */

jest.setTimeout(300_000);

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.close();
});

const db = () => database.db;
let seq = 0;
const event = (created = 1_800_000_000, overrides: Partial<Stripe.Event> = {}): Stripe.Event =>
  fakeEvent('invoice.payment_succeeded', { id: `in_inbox_${++seq}` }, { id: `evt_inbox_${String(++seq).padStart(6, '0')}`, created, ...overrides });

async function settleAs(e: Stripe.Event, status: FinalStatus, note: string | null = null): Promise<boolean> {
  return db().transaction().execute((trx) => settleEvent(trx, e, { status, durationMs: 12, error: note }));
}

async function row(e: Stripe.Event) {
  const found = await findEvent(db(), e.id);
  if (!found) throw new Error(`no inbox row for ${e.id}`);
  return { status: found.status, attempts: found.attempts, lastError: found.last_error };
}

describe('recordFailure', () => {
  test.each(['processed', 'ignored', 'unmatched'] as const)('keeps a %s event final: status, attempts and note unchanged', async (status) => {
    expect(FINAL_STATUSES).toContain(status);
    const e = event();
    await settleAs(e, status, status === 'unmatched' ? 'no Upiik user' : null);
    const before = await row(e);
    await expect(recordFailure(db(), e, 'a concurrent delivery failed after this one applied', 5)).resolves.toBe(false);
    expect(await row(e)).toEqual(before);
    expect(before).toEqual({ status, attempts: 1, lastError: status === 'unmatched' ? 'no Upiik user' : null });
  });

  test('a new event is stored failed with one attempt; each further failure adds one and keeps the latest error', async () => {
    const e = event();
    await expect(recordFailure(db(), e, 'database down', 3)).resolves.toBe(true);
    expect(await row(e)).toEqual({ status: 'failed', attempts: 1, lastError: 'database down' });
    await expect(recordFailure(db(), e, 'still down', 3)).resolves.toBe(true);
    expect(await row(e)).toEqual({ status: 'failed', attempts: 2, lastError: 'still down' });
  });

  test('a pending (paused) event that fails becomes failed, and the error is capped at 2000 characters', async () => {
    const e = event();
    expect(await storePending(db(), e)).toEqual({ stored: true, status: 'pending' });
    await recordFailure(db(), e, 'x'.repeat(5000), 3);
    const after = await row(e);
    expect(after.status).toBe('failed');
    expect(after.attempts).toBe(1);
    expect(after.lastError).toHaveLength(2000);
  });
});

describe('storePending (processing paused)', () => {
  test('stores a new event pending, turns a failed one pending again, and leaves final ones final', async () => {
    const fresh = event();
    expect(await storePending(db(), fresh)).toEqual({ stored: true, status: 'pending' });

    const failed = event();
    await recordFailure(db(), failed, 'stripe down', 1);
    expect(await storePending(db(), failed)).toEqual({ stored: true, status: 'pending' });

    for (const status of FINAL_STATUSES) {
      const e = event();
      await settleAs(e, status);
      expect(await storePending(db(), e)).toEqual({ stored: false, status });
      expect((await row(e)).status).toBe(status);
    }
  });
});

describe('listDue (the drain cursor)', () => {
  test('pages in Stripe order (created, then event id) and resumes strictly after the cursor, ties included', async () => {
    const base = 1_700_000_000;
    // Stored out of order; two share a second.
    const late = event(base + 20, { id: 'evt_cursor_c' });
    const tieB = event(base + 10, { id: 'evt_cursor_b' });
    const tieA = event(base + 10, { id: 'evt_cursor_a' });
    const early = event(base, { id: 'evt_cursor_z' });
    for (const e of [late, tieB, tieA, early]) await storePending(db(), e);
    const ours = (rows: Array<{ event_id: string }>) => rows.map((r) => r.event_id).filter((id) => id.startsWith('evt_cursor_'));

    const all = await listDue(db(), 1000);
    expect(ours(all)).toEqual(['evt_cursor_z', 'evt_cursor_a', 'evt_cursor_b', 'evt_cursor_c']);

    const firstTwo = all.filter((r) => r.event_id.startsWith('evt_cursor_')).slice(0, 2);
    const cursor = { createdAt: firstTwo[1]!.stripe_created_at, eventId: firstTwo[1]!.event_id };
    expect(ours(await listDue(db(), 1000, cursor))).toEqual(['evt_cursor_b', 'evt_cursor_c']);
    expect(ours(await listDue(db(), 1, cursor))).toEqual(['evt_cursor_b']);
  });
});

describe('retries the service owns (events it acknowledged before applying them)', () => {
  const retryAt = async (e: Stripe.Event) => (await findEvent(db(), e.id))?.retry_at ?? null;
  const secondsFromNow = (d: Date | null) => (d === null ? null : Math.round((d.getTime() - Date.now()) / 1000));

  test('a live failure leaves the retry to Stripe; an acknowledged one gets a retry time that backs off with its attempts', async () => {
    const live = event();
    await recordFailure(db(), live, 'stripe down', 3);
    expect(await retryAt(live)).toBeNull();

    const acknowledged = event();
    await storePending(db(), acknowledged);
    await recordFailure(db(), acknowledged, 'stripe down', 3, 'service');
    // First failure: 10 s; second: 20 s; then doubling, hourly at most (the database clock; a slow machine only shortens it).
    expect(secondsFromNow(await retryAt(acknowledged))).toBeGreaterThan(5);
    expect(secondsFromNow(await retryAt(acknowledged))).toBeLessThanOrEqual(10);
    await recordFailure(db(), acknowledged, 'stripe down', 3, 'service');
    expect(secondsFromNow(await retryAt(acknowledged))).toBeGreaterThan(15);
    expect(secondsFromNow(await retryAt(acknowledged))).toBeLessThanOrEqual(20);
    for (let i = 0; i < 10; i++) await recordFailure(db(), acknowledged, 'stripe down', 3, 'service');
    expect(secondsFromNow(await retryAt(acknowledged))).toBeLessThanOrEqual(3600);
    expect(secondsFromNow(await retryAt(acknowledged))).toBeGreaterThan(3500);
  });

  test('an acknowledged event that fails before it was ever stored gets its first retry time too; a live failure over a stored row clears it', async () => {
    const first = event();
    await recordFailure(db(), first, 'stripe down', 3, 'service');
    expect(await row(first)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(secondsFromNow(await retryAt(first))).toBeGreaterThan(5);
    expect(secondsFromNow(await retryAt(first))).toBeLessThanOrEqual(10);
    // Stripe retries a live delivery: the service's own retry time goes.
    await recordFailure(db(), first, 'stripe down again', 3);
    expect(await row(first)).toMatchObject({ status: 'failed', attempts: 2 });
    expect(await retryAt(first)).toBeNull();
  });

  test('three days after it was received the service gives up (no retry time; the failure stays for on-call)', async () => {
    const old = event();
    await storePending(db(), old);
    await sql`update webhook_events set received_at = now() - interval '3 days 1 minute' where event_id = ${old.id}`.execute(db());
    await recordFailure(db(), old, 'stripe down', 3, 'service');
    expect(await row(old)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(await retryAt(old)).toBeNull();
  });

  test('listDue returns a failed acknowledged event once its time has come, never before, and never a live failure', async () => {
    const base = 1_600_000_000;
    const due = event(base, { id: 'evt_due_a' });
    const later = event(base + 1, { id: 'evt_due_b' });
    const live = event(base + 2, { id: 'evt_due_c' });
    for (const e of [due, later]) {
      await storePending(db(), e);
      await recordFailure(db(), e, 'stripe down', 3, 'service');
    }
    await recordFailure(db(), live, 'stripe down', 3);
    await db().updateTable('webhook_events').set({ retry_at: new Date(Date.now() - 1000) }).where('event_id', '=', due.id).execute();
    const ids = (await listDue(db(), 1000)).map((r) => r.event_id).filter((id) => id.startsWith('evt_due_'));
    expect(ids).toEqual(['evt_due_a']);
  });

  test('applying it, or Stripe redelivering it while paused, clears the retry time', async () => {
    const e = event();
    await storePending(db(), e);
    await recordFailure(db(), e, 'stripe down', 3, 'service');
    expect(await retryAt(e)).not.toBeNull();
    await storePending(db(), e);
    expect(await retryAt(e)).toBeNull();
    await recordFailure(db(), e, 'stripe down', 3, 'service');
    await settleAs(e, 'processed');
    expect(await retryAt(e)).toBeNull();
    expect((await row(e)).status).toBe('processed');
  });
});

describe('settleEvent', () => {
  const settle = (e: Stripe.Event, status: FinalStatus, stored: boolean) => db().transaction().execute((trx) => settleEvent(trx, e, { status, durationMs: 7 }, { stored }));

  test('an event not stored is inserted with its outcome and one attempt', async () => {
    const e = event();
    await expect(settle(e, 'processed', false)).resolves.toBe(true);
    expect(await row(e)).toEqual({ status: 'processed', attempts: 1, lastError: null });
    expect(await findEvent(db(), e.id)).toMatchObject({ type: 'invoice.payment_succeeded', duration_ms: 7, retry_at: null, processed_at: expect.any(Date) });
  });

  test.each([true, false])('an unfinished stored row takes the outcome and one more attempt (stored: %s)', async (stored) => {
    const e = event();
    await recordFailure(db(), e, 'stripe down', 3, 'service');
    await expect(settle(e, 'unmatched', stored)).resolves.toBe(true);
    expect(await row(e)).toEqual({ status: 'unmatched', attempts: 2, lastError: null });
  });

  test.each([true, false])('a final row is left as it is and the caller is told it did not apply the event (stored: %s)', async (stored) => {
    for (const status of FINAL_STATUSES) {
      const e = event();
      await settleAs(e, status, 'first');
      const before = await row(e);
      await expect(settle(e, 'processed', stored)).resolves.toBe(false);
      expect(await row(e)).toEqual(before);
    }
  });

  test('a row the caller read as stored but is not there any more is inserted', async () => {
    const e = event();
    await expect(settle(e, 'ignored', true)).resolves.toBe(true);
    expect(await row(e)).toEqual({ status: 'ignored', attempts: 1, lastError: null });
  });
});
