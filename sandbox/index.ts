import type { AddressInfo } from 'node:net';
import { Engine } from './engine';
import { newId } from './ids';
import { SandboxState } from './state';
import { createControl, SandboxControl } from './control';
import { createSandboxServer } from './http/server';
import { createOtherHandler } from './http/control-routes';
import { IdempotencyStore } from './http/idempotency';
import { buildApiRouter } from './resources';

export type { SandboxControl } from './control';
export type { DeliveryAttempt, DeliveryFaults, DeliveryFilter } from './events/delivery';
export { StripeApiError } from './http/errors';

export interface SandboxOptions {
  /** 0 = ephemeral (tests); `npm run sandbox` uses SANDBOX_PORT, default 12111. */
  port?: number;
  host?: string;
  /** Milliseconds between delivery attempts: attempt n+1 waits retrySchedule[n-1]; after the last, give up. */
  retrySchedule?: number[];
  deliveryTimeoutMs?: number;
  /** Concurrent deliveries per endpoint; 1 (default) keeps each endpoint's deliveries in emission order. */
  deliveryConcurrency?: number;
  /** Load state from and save it to this JSON file (on a short debounce and at close). */
  persistPath?: string;
  /**
   * Start the clock at this unix time (in the past), as a Stripe test clock frozen there would:
   * objects and events are dated from it, and advanceClock brings it forward. Only for a sandbox
   * that holds nothing yet (the clock never moves backwards over existing objects).
   */
  clockStart?: number;
  log?: (line: string) => void;
}

export interface RunningSandbox {
  /** Base URL for the SDK (`STRIPE_API_BASE`), e.g. http://127.0.0.1:54321. */
  url: string;
  port: number;
  control: SandboxControl;
  /** Stops the server, pending deliveries and timers, and writes the state file if any. */
  close(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const log = options.log ?? (() => undefined);
  const state = options.persistPath ? SandboxState.load(options.persistPath) : new SandboxState();
  const engine = new Engine(
    state,
    {
      retrySchedule: options.retrySchedule ?? [200, 1000, 5000, 15000],
      timeoutMs: options.deliveryTimeoutMs ?? 5000,
      perEndpointConcurrency: options.deliveryConcurrency ?? 1,
      globalConcurrency: 32,
      log,
    },
    log,
  );
  if (options.clockStart !== undefined) {
    const now = Math.floor(Date.now() / 1000);
    if (!Number.isSafeInteger(options.clockStart) || options.clockStart > now) throw new RangeError(`clockStart must be a unix time in the past (got ${options.clockStart})`);
    if (state.customers.size > 0 || state.events.size > 0) throw new Error('clockStart needs an empty sandbox: this state already holds objects');
    engine.clock.offset = options.clockStart - now;
    engine.state.testClock = { id: newId('clock'), created: options.clockStart };
  }
  const idempotency = new IdempotencyStore();
  const control = createControl(engine, idempotency);
  const server = createSandboxServer({ engine, api: buildApiRouter(), idempotency, handleOther: createOtherHandler(engine, control) });
  server.keepAliveTimeout = 5000;

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  engine.baseUrl = url;

  let saveTimer: NodeJS.Timeout | undefined;
  const save = (): void => {
    if (!options.persistPath) return;
    engine.state.clockOffset = engine.clock.offset;
    engine.state.save(options.persistPath);
  };
  if (options.persistPath) {
    // Any response may have changed state; a short debounce keeps the file cheap to maintain.
    server.on('request', (_req, res) => {
      res.on('finish', () => {
        if (saveTimer) return;
        saveTimer = setTimeout(() => {
          saveTimer = undefined;
          try {
            save();
          } catch (err) {
            log(`sandbox: cannot save state: ${(err as Error).message}`);
          }
        }, 250);
        saveTimer.unref();
      });
    });
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    control,
    close() {
      closing ??= (async () => {
        if (saveTimer) clearTimeout(saveTimer);
        engine.events.flush();
        engine.delivery.close();
        server.closeIdleConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        save();
      })();
      return closing;
    },
  };
}
