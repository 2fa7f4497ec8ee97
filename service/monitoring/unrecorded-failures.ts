/**
 * Webhook failures the database never saw. A failed delivery is normally recorded in the inbox
 * (`webhook_events.status = failed`), which is where health reads failure rates from; when the
 * failure IS the database (down, failing over), that record cannot be written either. This keeps
 * those failures in the process so health, metrics and alerts still see them. Per instance and
 * lost on restart: it covers the outage, the inbox covers everything else.
 */
export class UnrecordedWebhookFailures {
  private times: number[] = [];
  private lifetime = 0;

  /** Keeps at most this long of history (the health window). */
  constructor(private readonly retainMs: number) {}

  record(at: Date): void {
    this.lifetime++;
    this.times.push(at.getTime());
    this.prune(at.getTime());
  }

  /** Failures after `from` (the health window's start). */
  since(from: Date): number {
    const start = from.getTime();
    let n = 0;
    for (const t of this.times) if (t > start) n++;
    return n;
  }

  /** Since this process started. */
  get total(): number {
    return this.lifetime;
  }

  private prune(now: number): void {
    const keepAfter = now - this.retainMs;
    if (this.times.length > 0 && this.times[0]! <= keepAfter) this.times = this.times.filter((t) => t > keepAfter);
  }
}
