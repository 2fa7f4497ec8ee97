import http from 'node:http';
import https from 'node:https';
import type Stripe from 'stripe';
import type { StoredWebhookEndpoint } from '../state';
import { StripeApiError } from '../http/errors';
import { signPayload } from './signing';
import { typeMatches } from './emit';

export interface DeliveryFaults {
  /** Extra copies of every delivery (1 = each event arrives twice). */
  duplicate?: number;
  /** Shuffle the deliveries of one batch (one API call's events) before queueing them. */
  reorder?: boolean;
  /**
   * Hold matching deliveries back across batches and clock seconds, then deliver them newest
   * first after everything queued meanwhile: the out-of-order arrivals Stripe produces (an old
   * snapshot after a newer one, a failure after the success). Held deliveries are released when
   * the faults are cleared or `hold` is set to null; they do not count as pending until then.
   */
  hold?: HoldFault | null;
  /** Wait this long before each attempt. */
  delayMs?: number;
  /** Fail attempts to one endpoint (by url or id) without sending them, as a 500 would. */
  failEndpoint?: { url?: string; id?: string; attempts: number | 'always' };
}

export interface HoldFault {
  /** Event types to hold (exact, `a.*` or `*`); every type when absent. */
  types?: string[];
  /** Hold at most this many deliveries (each copy counts); later ones are sent as usual. No limit when absent. */
  count?: number;
}

export interface DeliveryAttempt {
  event_id: string;
  type: string;
  endpoint_id: string;
  url: string;
  attempt: number;
  status: number | null;
  error: string | null;
  succeeded: boolean;
  /** Real wall-clock time of the attempt, ms since epoch. */
  at: number;
  duration_ms: number;
}

export interface DeliveryFilter {
  event_id?: string;
  endpoint_id?: string;
  type?: string;
}

interface Job {
  event: Stripe.Event;
  endpointId: string;
  body: string;
  attempt: number;
}

export interface DeliveryOptions {
  retrySchedule: number[];
  timeoutMs: number;
  perEndpointConcurrency: number;
  globalConcurrency: number;
  log: (line: string) => void;
}

/**
 * Webhook delivery: one queue per endpoint (ordered by default), bounded concurrency overall,
 * retries on the compressed schedule, then give up. Every attempt is recorded for tests.
 */
export class DeliveryQueue {
  private readonly queues = new Map<string, Job[]>();
  private readonly running = new Map<string, number>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  private readonly waiters = new Set<() => void>();
  private attempts: DeliveryAttempt[] = [];
  /** `eventId endpointId` pairs delivered at least once: a duplicate's success counts once. */
  private delivered = new Set<string>();
  private faults: DeliveryFaults = {};
  private failuresInjected = new Map<string, number>();
  /** Deliveries the hold fault took back, oldest first. */
  private held: Job[] = [];
  private heldUnderFault = 0;
  private totalRunning = 0;
  private paused = false;
  private closed = false;

  constructor(
    /** Read through a function so a sandbox reset (new state) is seen here. */
    private readonly endpoints: () => Map<string, StoredWebhookEndpoint>,
    private readonly options: DeliveryOptions,
  ) {}

  setFaults(faults: DeliveryFaults): void {
    validateHold(faults.hold);
    this.faults = { ...this.faults, ...faults };
    this.failuresInjected.clear();
    if ('hold' in faults) {
      // A new hold starts its own count; `hold: null` ends holding and delivers what was held.
      this.heldUnderFault = 0;
      if (!faults.hold) this.releaseHeld();
    }
  }

  clearFaults(): void {
    this.faults = {};
    this.failuresInjected.clear();
    this.heldUnderFault = 0;
    this.releaseHeld();
  }

  deliveries(filter: DeliveryFilter = {}): DeliveryAttempt[] {
    return this.attempts.filter(
      (a) =>
        (!filter.event_id || a.event_id === filter.event_id) &&
        (!filter.endpoint_id || a.endpoint_id === filter.endpoint_id) &&
        (!filter.type || typeMatches(filter.type, a.type)),
    );
  }

  enqueue(events: Stripe.Event[]): void {
    const jobs: Job[] = [];
    for (const event of events) {
      const endpoints = [...this.endpoints().values()].filter(
        (we) => we.status === 'enabled' && we.enabled_events.some((p) => p === '*' || p === event.type),
      );
      event.pending_webhooks = endpoints.length;
      for (const we of endpoints) {
        // The exact bytes that are signed are the bytes sent; Stripe pretty-prints with 2 spaces.
        const body = JSON.stringify(event, null, 2);
        for (let copy = 0; copy <= (this.faults.duplicate ?? 0); copy++) {
          jobs.push({ event, endpointId: we.id, body, attempt: 1 });
        }
      }
    }
    if (this.faults.reorder) shuffle(jobs);
    for (const job of jobs) {
      if (this.shouldHold(job)) this.held.push(job);
      else this.push(job);
    }
    this.pump();
  }

  private shouldHold(job: Job): boolean {
    const hold = this.faults.hold;
    if (!hold) return false;
    if (hold.types && !hold.types.some((pattern) => typeMatches(pattern, job.event.type))) return false;
    if (hold.count !== undefined && this.heldUnderFault >= hold.count) return false;
    this.heldUnderFault++;
    return true;
  }

  /** Queues the held deliveries newest first, behind everything already queued. */
  private releaseHeld(): void {
    const released = this.held.reverse();
    this.held = [];
    for (const job of released) this.push(job);
    if (released.length > 0) this.pump();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  reset(): void {
    this.cancelAll();
    this.attempts = [];
    this.delivered.clear();
    this.clearFaults();
    this.paused = false;
  }

  get pending(): number {
    let queued = 0;
    for (const q of this.queues.values()) queued += q.length;
    return queued + this.totalRunning + this.retryTimers.size;
  }

  /**
   * Resolves when nothing is queued, in flight or awaiting a retry. `timeoutMs` bounds a stall, not
   * the whole wait: it restarts whenever the backlog shrinks, so a large burst on a slow machine
   * takes longer instead of failing, while a receiver that stops answering still fails the wait.
   */
  waitIdle(timeoutMs = 10_000): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let lowest = this.pending;
      let stalledSince = Date.now();
      const done = (): void => {
        clearInterval(watch);
        this.waiters.delete(done);
        resolve();
      };
      const watch = setInterval(() => {
        const now = this.pending;
        if (now < lowest) {
          lowest = now;
          stalledSince = Date.now();
        } else if (Date.now() - stalledSince >= timeoutMs) {
          clearInterval(watch);
          this.waiters.delete(done);
          reject(new Error(`Webhook deliveries made no progress for ${timeoutMs} ms (${now} queued, in flight or awaiting retry)`));
        }
      }, Math.min(250, Math.max(10, Math.floor(timeoutMs / 4))));
      this.waiters.add(done);
    });
  }

  close(): void {
    this.closed = true;
    this.cancelAll();
  }

  private cancelAll(): void {
    this.held = [];
    this.heldUnderFault = 0;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    for (const c of this.inFlight) c.abort();
    this.queues.clear();
    this.notifyIfIdle();
  }

  private push(job: Job): void {
    const q = this.queues.get(job.endpointId) ?? [];
    q.push(job);
    this.queues.set(job.endpointId, q);
  }

  private pump(): void {
    if (this.paused || this.closed) return;
    for (const [endpointId, q] of this.queues) {
      while (
        q.length > 0 &&
        (this.running.get(endpointId) ?? 0) < this.options.perEndpointConcurrency &&
        this.totalRunning < this.options.globalConcurrency
      ) {
        const job = q.shift() as Job;
        this.running.set(endpointId, (this.running.get(endpointId) ?? 0) + 1);
        this.totalRunning++;
        void this.run(job).finally(() => {
          this.running.set(endpointId, (this.running.get(endpointId) ?? 1) - 1);
          this.totalRunning--;
          this.pump();
          this.notifyIfIdle();
        });
      }
      if (q.length === 0) this.queues.delete(endpointId);
    }
    this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (this.pending === 0) for (const w of [...this.waiters]) w();
  }

  private async run(job: Job): Promise<void> {
    const endpoint = this.endpoints().get(job.endpointId);
    // Stripe stops delivering to an endpoint that was disabled or deleted meanwhile.
    if (!endpoint || endpoint.status !== 'enabled') return;
    if (this.faults.delayMs) await sleep(this.faults.delayMs);
    if (this.closed) return;
    const started = Date.now();
    const result = this.shouldInjectFailure(endpoint)
      ? { status: 500, error: 'injected failure (failEndpoint fault)' }
      : await this.post(endpoint, job.body);
    const succeeded = result.status !== null && result.status >= 200 && result.status < 300;
    this.attempts.push({
      event_id: job.event.id,
      type: job.event.type,
      endpoint_id: endpoint.id,
      url: endpoint.url,
      attempt: job.attempt,
      status: result.status,
      error: result.error,
      succeeded,
      at: started,
      duration_ms: Date.now() - started,
    });
    if (succeeded) {
      // pending_webhooks counts endpoints still owed the event (what `delivery_success` filters on).
      const key = `${job.event.id} ${endpoint.id}`;
      if (!this.delivered.has(key)) {
        this.delivered.add(key);
        job.event.pending_webhooks = Math.max(0, job.event.pending_webhooks - 1);
      }
      return;
    }
    const delay = this.options.retrySchedule[job.attempt - 1];
    if (delay === undefined || this.closed) {
      this.options.log(`webhook ${job.event.id} to ${endpoint.url} gave up after ${job.attempt} attempts`);
      return;
    }
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.push({ ...job, attempt: job.attempt + 1 });
      this.pump();
    }, delay);
    this.retryTimers.add(timer);
  }

  private shouldInjectFailure(endpoint: StoredWebhookEndpoint): boolean {
    const fault = this.faults.failEndpoint;
    if (!fault || (fault.id !== endpoint.id && fault.url !== endpoint.url)) return false;
    if (fault.attempts === 'always') return true;
    const used = this.failuresInjected.get(endpoint.id) ?? 0;
    if (used >= fault.attempts) return false;
    this.failuresInjected.set(endpoint.id, used + 1);
    return true;
  }

  private post(endpoint: StoredWebhookEndpoint, body: string): Promise<{ status: number | null; error: string | null }> {
    const controller = new AbortController();
    this.inFlight.add(controller);
    const url = new URL(endpoint.url);
    const client = url.protocol === 'https:' ? https : http;
    const signature = signPayload(endpoint.secret, body, Math.floor(Date.now() / 1000));
    return new Promise<{ status: number | null; error: string | null }>((resolve) => {
      const req = client.request(
        url,
        {
          method: 'POST',
          agent: false,
          signal: controller.signal,
          timeout: this.options.timeoutMs,
          headers: {
            'Content-Type': 'application/json; charset=utf-8',
            'Content-Length': Buffer.byteLength(body),
            'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
            'Stripe-Signature': signature,
            Accept: '*/*; q=0.5, application/xml',
            'Cache-Control': 'no-cache',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? null, error: null }));
          res.on('error', (err) => resolve({ status: res.statusCode ?? null, error: err.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.options.timeoutMs} ms`)));
      req.on('error', (err) => resolve({ status: null, error: err.message }));
      req.end(body);
    }).finally(() => this.inFlight.delete(controller));
  }
}

function validateHold(hold: HoldFault | null | undefined): void {
  if (!hold) return;
  if (hold.count !== undefined && (!Number.isInteger(hold.count) || hold.count < 1)) {
    throw new StripeApiError('hold.count must be a positive integer', { status: 400, type: 'invalid_request_error', param: 'hold.count' });
  }
  if (hold.types !== undefined && (!Array.isArray(hold.types) || hold.types.some((t) => typeof t !== 'string'))) {
    throw new StripeApiError('hold.types must be an array of event types', { status: 400, type: 'invalid_request_error', param: 'hold.types' });
  }
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
