/**
 * `npm run sandbox`: the Stripe sandbox on SANDBOX_PORT (default 12111) until SIGINT/SIGTERM.
 * Optional SANDBOX_STATE_FILE persists objects across restarts.
 */
import { createLogger } from '../service/shared/logger';
import { startSandbox } from './index';

// The house logger (JSON, redacting): delivery lines may carry signatures and secrets, which it masks.
const logger = createLogger({ service: 'stripe-sandbox', level: process.env.LOG_LEVEL ?? 'info' });

async function main(): Promise<void> {
  const rawPort = process.env.SANDBOX_PORT ?? '12111';
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`SANDBOX_PORT must be a port number (0-65535), got "${rawPort}"`);
  }
  const sandbox = await startSandbox({
    port,
    host: process.env.SANDBOX_HOST ?? '127.0.0.1',
    persistPath: process.env.SANDBOX_STATE_FILE || undefined,
    log: (line) => logger.info(line),
  });
  logger.info(`Stripe sandbox listening on ${sandbox.url}`, { url: sandbox.url, stripeApiBase: sandbox.url, controlApi: `${sandbox.url}/_sandbox` });
  const stop = (signal: string): void => {
    logger.info('closing the sandbox', { signal });
    sandbox.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('sandbox close failed', { error: err });
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  logger.error('sandbox failed to start', { error: err });
  process.exitCode = 1;
});
