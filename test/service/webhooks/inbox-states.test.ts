import type Stripe from 'stripe';
import { claimEvent, FINAL_STATUSES, findEvent, type InboxStatus, listPending, markOutcome, recordFailure, storePending } from '../../../service/webhooks/inbox';
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

async function settleAs(e: Stripe.Event, status: InboxStatus, note: string | null = null): Promise<void> {
  await db().transaction().execute(async (trx) => {
    await claimEvent(trx, e);
    await markOutcome(trx, e.id, { status, durationMs: 12, error: note });
  });
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
    await recordFailure(db(), e, 'a concurrent delivery failed after this one applied', 5);
    expect(await row(e)).toEqual(before);
    expect(before).toEqual({ status, attempts: 1, lastError: status === 'unmatched' ? 'no Upiik user' : null });
  });

  test('a new event is stored failed with one attempt; each further failure adds one and keeps the latest error', async () => {
    const e = event();
    await recordFailure(db(), e, 'database down', 3);
    expect(await row(e)).toEqual({ status: 'failed', attempts: 1, lastError: 'database down' });
    await recordFailure(db(), e, 'still down', 3);
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

describe('listPending (the drain cursor)', () => {
  test('pages in Stripe order (created, then event id) and resumes strictly after the cursor, ties included', async () => {
    const base = 1_700_000_000;
    // Stored out of order; two share a second.
    const late = event(base + 20, { id: 'evt_cursor_c' });
    const tieB = event(base + 10, { id: 'evt_cursor_b' });
    const tieA = event(base + 10, { id: 'evt_cursor_a' });
    const early = event(base, { id: 'evt_cursor_z' });
    for (const e of [late, tieB, tieA, early]) await storePending(db(), e);
    const ours = (rows: { event_id: string }[]) => rows.map((r) => r.event_id).filter((id) => id.startsWith('evt_cursor_'));

    const all = await listPending(db(), 1000);
    expect(ours(all)).toEqual(['evt_cursor_z', 'evt_cursor_a', 'evt_cursor_b', 'evt_cursor_c']);

    const firstTwo = all.filter((r) => r.event_id.startsWith('evt_cursor_')).slice(0, 2);
    const cursor = { createdAt: firstTwo[1]!.stripe_created_at, eventId: firstTwo[1]!.event_id };
    expect(ours(await listPending(db(), 1000, cursor))).toEqual(['evt_cursor_b', 'evt_cursor_c']);
    expect(ours(await listPending(db(), 1, cursor))).toEqual(['evt_cursor_b']);
  });
});
