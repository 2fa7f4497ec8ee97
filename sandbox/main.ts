/**
 * `npm run sandbox`: the Stripe sandbox on SANDBOX_PORT (default 12111) until SIGINT/SIGTERM.
 * Optional SANDBOX_STATE_FILE persists objects across restarts.
 */
import { startSandbox } from './index';

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
    log: (line) => console.log(line),
  });
  console.log(`Stripe sandbox: ${sandbox.url}  (set STRIPE_API_BASE=${sandbox.url}; control API under ${sandbox.url}/_sandbox)`);
  const stop = (signal: string): void => {
    console.log(`received ${signal}, closing the sandbox`);
    sandbox.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
