import type Stripe from 'stripe';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { PaymentObserver, WebhookOutcome } from '../shared/observer';
import type { Store } from '../shared/store';
import { type HandlerDeps, type LedgerNotice, PrepareAgain, prepareEvent, reportNotices } from './handlers';
import { countDuplicate, type FinalStatus, isFinal, recordFailure, settleEvent } from './inbox';

export interface WebhookDeps extends HandlerDeps {
  store: Store;
  logger: Logger;
  observer: PaymentObserver;
}

export interface ProcessResult {
  outcome: WebhookOutcome;
  durationMs: number;
  error?: string;
}

export interface ProcessOptions {
  /**
   * The service acknowledged this event before applying it (every delivery, applied by a drain):
   * Stripe will not redeliver it, so a failure is retried by the service (`retry_at`), and finding
   * it applied already (by another instance's drain) is not a redelivery to count. Replays and
   * reconciliation pass nothing: their caller sees the failure.
   */
  acknowledged?: boolean;
  /**
   * The inbox status the caller just read for this event (the drain's page, a replay's batch read),
   * `null` when it read that the event is not stored: the processor does not read it again, and the
   * claim locks the stored row first (or inserts first when there was none). A round trip fewer per
   * event; the claim still re-checks under the lock, so a stale read is never wrong, only slower.
   */
  storedStatus?: string | null;
}

/** How often an event is prepared again when its state changed under it (PrepareAgain) before it fails. */
const MAX_PREPARE_ATTEMPTS = 3;

/** Thrown inside the transaction to roll it back when the event turned out to be applied already. */
class AlreadyApplied extends Error {}

/**
 * The one path every event takes — drained deliveries (the route only stores them), replays:
 * Stripe lookups first, then ONE transaction that applies the effects and records the outcome as
 * its last statement (settleEvent: the inbox row is locked last; a concurrent application of the
 * same event waits for it there, finds it final and rolls back). Any failure rolls the effects
 * back, is recorded as `failed` in a separate statement, and is rethrown so the caller answers 5xx
 * and Stripe retries — unless that record finds the event applied meanwhile by another delivery,
 * whose effects are the ones that count (a losing duplicate can fail on what the winner wrote).
 */
export async function processEvent(deps: WebhookDeps, event: Stripe.Event, options: ProcessOptions = {}): Promise<ProcessResult> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let notices: LedgerNotice[] = [];
  let outcome: WebhookOutcome;
  try {
    const known =
      options.storedStatus === undefined
        ? await deps.db.selectFrom('webhook_events').select('status').where('event_id', '=', event.id).executeTakeFirst()
        : options.storedStatus === null
          ? undefined
          : { status: options.storedStatus };
    if (known && isFinal(known.status)) throw new AlreadyApplied();
    for (let attempt = 1; ; attempt++) {
      const prepared = await prepareEvent(deps, event);
      try {
        const settled = await deps.db.transaction().execute(async (trx) => {
          let status: FinalStatus;
          let note: string | null = null;
          let applied: LedgerNotice[] = [];
          if (prepared.kind === 'apply') {
            applied = await prepared.apply(trx);
            status = 'processed';
          } else if (prepared.kind === 'unmatched') {
            status = 'unmatched';
            note = prepared.reason;
          } else {
            status = 'ignored';
          }
          // An acknowledged event is already durable as its pending row; its application may
          // commit without waiting for the WAL flush: lost in a crash, effects and outcome are
          // lost together and the row is still pending, so the next drain applies it again,
          // once. The acknowledgements' inserts keep the flush to themselves.
          const applies = await settleEvent(trx, event, { status, durationMs: elapsed(), error: note }, { stored: known !== undefined, asyncCommit: options.acknowledged === true });
          if (!applies) throw new AlreadyApplied();
          return { status, applied };
        });
        outcome = settled.status;
        // Only the committed transaction's notices: a rolled-back one's never happened.
        notices = settled.applied;
        break;
      } catch (err) {
        // A same-second race on the stored state: prepare again (Stripe re-read outside any
        // transaction), a bounded number of times, then fail so Stripe retries later.
        if (!(err instanceof PrepareAgain) || attempt >= MAX_PREPARE_ATTEMPTS) throw err;
      }
    }
  } catch (err) {
    if (err instanceof AlreadyApplied) {
      outcome = await duplicate(deps, event, options);
    } else {
      const message = errorMessage(err);
      const durationMs = elapsed();
      // When the database is what failed, this record fails too: the observer is told, so health,
      // metrics and alerts still count the failure from memory.
      // true: recorded; false: the row is final (applied by another delivery meanwhile); undefined:
      // not recorded at all.
      const recorded = await recordFailure(deps.db, event, message, durationMs, options.acknowledged ? 'service' : 'stripe').catch((recordErr: unknown) => {
        deps.logger.error('webhook failure could not be recorded', { eventId: event.id, error: errorMessage(recordErr) });
        return undefined;
      });
      if (recorded === false) {
        outcome = await duplicate(deps, event, options);
      } else {
        deps.logger.error('webhook processing failed', { eventId: event.id, type: event.type, error: err });
        deps.observer.webhookHandled({ eventId: event.id, type: event.type, outcome: 'failed', durationMs, error: message, ...(recorded === undefined ? { unrecorded: true } : {}) });
        throw err;
      }
    }
  }
  const durationMs = elapsed();
  if (outcome === 'unmatched') deps.logger.warn('webhook for an unknown customer', { eventId: event.id, type: event.type });
  else deps.logger.debug('webhook handled', { eventId: event.id, type: event.type, outcome, durationMs });
  deps.observer.webhookHandled({ eventId: event.id, type: event.type, outcome, durationMs });
  reportNotices(deps.observer, notices);
  return { outcome, durationMs };
}

/**
 * An event found applied already. A redelivery Stripe sent is counted on its row; an acknowledged
 * event found applied by another instance's drain is not a redelivery. The count is best effort:
 * the event is applied either way.
 */
async function duplicate(deps: WebhookDeps, event: Stripe.Event, options: ProcessOptions): Promise<'duplicate'> {
  if (!options.acknowledged) await countDuplicate(deps.db, event.id).catch(() => undefined);
  return 'duplicate';
}
