import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../shared/logger';
import { redactedJson } from '../../shared/redact';
import type { Alert, AlertSink } from './types';

/** Alerts as log lines (level by severity): always on, so the log shows every alert any sink got. */
export class LogAlertSink implements AlertSink {
  readonly name = 'log';
  constructor(private readonly logger: Logger) {}
  async send(alert: Alert): Promise<void> {
    const level = alert.severity === 'critical' || alert.severity === 'high' ? 'error' : 'warn';
    this.logger.log(level, `ALERT ${alert.title}`, { alert });
  }
}

/** `npm start`: alerts appended to a local file as JSON lines, to tail during development. Written only through the redactor. */
export class FileAlertSink implements AlertSink {
  readonly name = 'file';
  private ready: Promise<unknown> | undefined;
  constructor(private readonly path: string) {}
  async send(alert: Alert): Promise<void> {
    this.ready ??= mkdir(dirname(this.path), { recursive: true });
    await this.ready;
    await appendFile(this.path, `${redactedJson(alert)}\n`, 'utf8');
  }
}

/** Tests: keeps every alert; `failNext` makes the next sends reject. */
export class CaptureAlertSink implements AlertSink {
  readonly name = 'capture';
  readonly alerts: Alert[] = [];
  /** Rejections still to hand out before deliveries succeed again. */
  failNext = 0;
  attempts = 0;
  private waiters: Array<() => void> = [];

  async send(alert: Alert): Promise<void> {
    this.attempts += 1;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('capture sink: simulated delivery failure');
    }
    this.alerts.push(alert);
    for (const wake of this.waiters.splice(0)) wake();
  }

  ofType(type: Alert['type']): Alert[] {
    return this.alerts.filter((a) => a.type === type);
  }

  /** Resolves when `predicate` holds, or rejects after `timeoutMs`. */
  async waitFor(predicate: (alerts: Alert[]) => boolean, timeoutMs = 5_000): Promise<Alert[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.alerts)) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`capture sink: condition not met within ${timeoutMs} ms (${this.alerts.length} alerts)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remaining, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.alerts;
  }
}
