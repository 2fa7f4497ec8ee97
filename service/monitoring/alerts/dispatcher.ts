import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../../shared/clock';
import { errorMessage } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { redact } from '../../shared/redact';
import type { Store } from '../../shared/store';
import { type Alert, ALERT_TYPES, type AlertSink, type AlertType } from './types';

export interface AlertDispatcherOptions {
  sinks: AlertSink[];
  /** Shared by all instances: throttle windows and occurrence counts live here. */
  store: Store;
  logger: Logger;
  clock: Clock;
  environment: string;
  /** STRIPE_MONITORING_ENABLED: false drops every alert (metrics are unaffected). */
  enabled: boolean;
  /** At most one alert per type per window. */
  windowMs: number;
  /** Counted alerts wait this long for more occurrences, so a burst becomes one alert. */
  coalesceMs: number;
  /** Pause before the single retry of a failed delivery. */
  retryDelayMs?: number;
  onResult?: (type: AlertType, result: 'sent' | 'failed' | 'suppressed') => void;
}

/** Monotonic occurrence counters expire eventually; a reset is detected (total < reported). */
const COUNTER_TTL_MS = 30 * 24 * 3600 * 1000;
const KEY = {
  sent: (type: AlertType) => `alerts:${type}:sent`,
  total: (type: AlertType) => `alerts:${type}:total`,
  reported: (type: AlertType) => `alerts:${type}:reported`,
};

/**
 * Turns occurrences into few alerts. Two kinds:
 * - counted (`record`): payment failures, webhook failures, unmatched events. Every occurrence
 *   increments a shared counter; the instance that sees one arms a short coalescing timer; when it
 *   fires, whoever claims the type's window (SET NX with the window as TTL) sends ONE alert whose
 *   count is everything not yet reported. Occurrences inside a claimed window wait for its end and
 *   go out, summed, in the next alert.
 * - state (`raise`): status critical, no recent activity. Sent at once unless the window is claimed.
 * Nothing here blocks or throws into the caller; failures are logged and retried once.
 */
export class AlertDispatcher {
  private readonly timers = new Map<AlertType, NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly lastDetails = new Map<AlertType, Record<string, unknown>>();
  private closed = false;

  constructor(private readonly options: AlertDispatcherOptions) {}

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** One (or `occurrences`) more of a counted alert type. Returns at once. */
  record(type: AlertType, details?: Record<string, unknown>, occurrences = 1): void {
    if (!this.options.enabled || this.closed) return;
    if (details) this.lastDetails.set(type, details);
    this.track(async () => {
      for (let i = 0; i < occurrences; i++) await this.options.store.increment(KEY.total(type), COUNTER_TTL_MS);
      this.schedule(type, this.options.coalesceMs);
    }, `record ${type}`);
  }

  /** A state alert: sent now unless one of its type went out within the window. Returns at once. */
  raise(type: AlertType, alert: { count: number; message: string; details?: Record<string, unknown> }): void {
    if (!this.options.enabled || this.closed) return;
    this.track(async () => {
      if (!(await this.claim(type))) {
        this.options.onResult?.(type, 'suppressed');
        return;
      }
      if (!(await this.deliver(this.build(type, alert.count, alert.message, alert.details)))) await this.options.store.del(KEY.sent(type));
    }, `raise ${type}`);
  }

  /**
   * One alert per occurrence, never throttled or merged: for events that each carry their own
   * deadline (a dispute). The caller guarantees once-per-occurrence (the dispute row is inserted
   * once, in the transaction that decides to call this). Returns at once.
   */
  notify(type: AlertType, alert: { message: string; details?: Record<string, unknown> }): void {
    if (!this.options.enabled || this.closed) return;
    this.track(async () => {
      await this.deliver(this.build(type, 1, alert.message, alert.details));
    }, `notify ${type}`);
  }

  /** Sends pending counted alerts now instead of at the timer (tests, shutdown). */
  async flush(): Promise<void> {
    await this.idle();
    const pending = [...this.timers.keys()];
    for (const type of pending) {
      clearTimeout(this.timers.get(type));
      this.timers.delete(type);
    }
    await Promise.all(pending.map((type) => this.flushCounted(type)));
    await this.idle();
  }

  /** Resolves when nothing is in flight. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Stops timers; in-flight deliveries finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.idle();
  }

  private schedule(type: AlertType, delayMs: number): void {
    if (this.closed || this.timers.has(type)) return;
    const timer = setTimeout(() => {
      this.timers.delete(type);
      this.track(() => this.flushCounted(type), `flush ${type}`);
    }, delayMs);
    // Pending alerts never keep a stopping process alive.
    timer.unref();
    this.timers.set(type, timer);
  }

  private async flushCounted(type: AlertType): Promise<void> {
    const { store } = this.options;
    if (!(await this.claim(type))) {
      // Someone alerted within the window: what we counted goes out, summed, when it ends.
      const ttl = (await store.ttlSeconds(KEY.sent(type))) ?? 1;
      this.schedule(type, ttl * 1000 + Math.round(Math.random() * 250));
      return;
    }
    const total = Number((await store.get(KEY.total(type))) ?? 0);
    const reported = Number((await store.get(KEY.reported(type))) ?? 0);
    const count = total >= reported ? total - reported : total;
    if (count <= 0) {
      // Another instance already reported these; give the window back.
      await store.del(KEY.sent(type));
      return;
    }
    const delivered = await this.deliver(this.build(type, count, countedMessage(type, count), this.lastDetails.get(type)));
    if (delivered) await store.set(KEY.reported(type), String(total), { ttlSeconds: COUNTER_TTL_MS / 1000 });
    // Undelivered: release the window so the next occurrence tries again with the full count.
    else await store.del(KEY.sent(type));
  }

  private claim(type: AlertType): Promise<boolean> {
    return this.options.store.setIfAbsent(KEY.sent(type), this.options.clock.now().toISOString(), this.options.windowMs);
  }

  /** Every sink receives the alert already redacted (details carry error text from anywhere). */
  private build(type: AlertType, count: number, message: string, details?: Record<string, unknown>): Alert {
    const meta = ALERT_TYPES[type];
    return redact({
      type,
      severity: meta.severity,
      title: meta.title,
      message,
      count,
      environment: this.options.environment,
      at: this.options.clock.now().toISOString(),
      windowMs: this.options.windowMs,
      ...(details ? { details } : {}),
    }) as Alert;
  }

  /** Every sink gets the alert; a failed sink is logged and retried once. True when all delivered. */
  private async deliver(alert: Alert): Promise<boolean> {
    const results = await Promise.all(this.options.sinks.map((sink) => this.deliverTo(sink, alert)));
    const ok = results.every(Boolean);
    this.options.onResult?.(alert.type, ok ? 'sent' : 'failed');
    return ok;
  }

  private async deliverTo(sink: AlertSink, alert: Alert): Promise<boolean> {
    const { logger } = this.options;
    try {
      await sink.send(alert);
      return true;
    } catch (first) {
      logger.warn('alert delivery failed; retrying once', { sink: sink.name, alertType: alert.type, error: errorMessage(first) });
    }
    await sleep(this.options.retryDelayMs ?? 1_000);
    try {
      await sink.send(alert);
      return true;
    } catch (second) {
      logger.error('alert delivery failed twice; alert not delivered', { sink: sink.name, alertType: alert.type, count: alert.count, error: errorMessage(second) });
      return false;
    }
  }

  private track(work: () => Promise<void>, what: string): void {
    const promise = work()
      .catch((error: unknown) => this.options.logger.error('alerting failed', { what, error: errorMessage(error) }))
      .finally(() => this.inflight.delete(promise));
    this.inflight.add(promise);
  }
}

function countedMessage(type: AlertType, count: number): string {
  const plural = count === 1 ? '' : 's';
  switch (type) {
    case 'payment_failure':
      return `${count} payment${plural} failed since the previous payment-failure alert. Check GET /api/payments/health and the Stripe dashboard for decline codes.`;
    case 'webhook_failure':
      return `${count} Stripe webhook event${plural} failed processing since the previous alert. Stripe retries them; check the service log for the cause.`;
    case 'database_unavailable':
      return `${count} Stripe webhook deliver${count === 1 ? 'y' : 'ies'} failed because the database is unavailable; not even the failure could be recorded. Stripe retries them; check the database (GET /health/ready) first.`;
    case 'unmatched_webhook':
      return `${count} Stripe webhook event${plural} referenced a customer with no Upiik user since the previous alert. Reconcile the user mapping (customer metadata.userId).`;
    default:
      return `${count} occurrence${plural} of ${type}.`;
  }
}
