import Stripe from 'stripe';
import { newId } from '../ids';
import type { SandboxClock } from '../clock';

/** The API version whose shapes the sandbox renders: the one the installed SDK is typed for. */
export const RENDERED_API_VERSION: string = Stripe.API_VERSION;

export interface EventRequest {
  id: string | null;
  idempotency_key: string | null;
}

export type EventSink = (events: Stripe.Event[]) => void;

/**
 * Records events and hands them to delivery in batches: everything one API call or one billing
 * step emits goes out together, which is what the `reorder` fault shuffles.
 */
export class EventEmitter {
  /** Set by the server around each API call so events carry `request.id`/`idempotency_key`. */
  currentRequest: EventRequest | null = null;
  private batch: Stripe.Event[] = [];
  private scheduled = false;

  constructor(
    private readonly store: () => Map<string, Stripe.Event>,
    private readonly clock: SandboxClock,
    private readonly sink: EventSink,
  ) {}

  emit(type: Stripe.Event.Type, object: { id: string }, previousAttributes?: Record<string, unknown>): Stripe.Event {
    const data: Stripe.Event.Data = { object: structuredClone(object) as unknown as Stripe.Event.Data.Object };
    if (previousAttributes && Object.keys(previousAttributes).length > 0) {
      data.previous_attributes = structuredClone(previousAttributes) as Stripe.Event.Data.PreviousAttributes;
    }
    const event = {
      id: newId('evt'),
      object: 'event',
      api_version: RENDERED_API_VERSION,
      created: this.clock.now(),
      data,
      livemode: false,
      pending_webhooks: 0,
      request: this.currentRequest ?? { id: null, idempotency_key: null },
      type,
    } as Stripe.Event;
    this.store().set(event.id, event);
    this.batch.push(event);
    if (!this.scheduled) {
      this.scheduled = true;
      // Flush after the current synchronous operation, so one call's events form one batch.
      queueMicrotask(() => this.flush());
    }
    return event;
  }

  flush(): void {
    this.scheduled = false;
    const batch = this.batch;
    this.batch = [];
    if (batch.length > 0) this.sink(batch);
  }
}

/** Returns the fields of `before` that differ from `after` (shallow), as Stripe's previous_attributes. */
export function changedAttributes(before: object, after: object): Record<string, unknown> {
  const prev: Record<string, unknown> = {};
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  for (const key of Object.keys(a)) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) prev[key] = a[key] ?? null;
  }
  return prev;
}

/** Matches Stripe's event type filters: exact type, `*`, or a `prefix.*` wildcard. */
export function typeMatches(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}
