/**
 * The container's entry point (`npm run serve`): configuration only from the environment, then
 * listen. Process-level handlers live here and nowhere else.
 */
import { startService } from './server';
import { ConfigError, loadConfig } from './shared/config';
import { createLogger } from './shared/logger';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nThe service did not start.\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, environment: config.env });
  const service = await startService({ config, logger }).catch((err: unknown) => {
    logger.error('startup failed', { error: err });
    process.exit(1);
  });
  logger.info('listening', { port: service.port, env: config.env, stripeMode: config.stripe.mode });

  const shutdown = (signal: string) => {
    logger.info('shutting down', { signal });
    // ECS waits stopTimeout (30 s by default) after SIGTERM; we promise to be gone within ours.
    const deadline = setTimeout(() => {
      logger.error('graceful shutdown timed out; exiting', { timeoutMs: config.shutdownTimeoutMs });
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    service.stop().then(
      () => {
        logger.info('stopped cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error('shutdown failed', { error: err });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => logger.error('unhandled promise rejection', { error: reason }));
  process.on('uncaughtException', (err) => {
    logger.error('uncaught exception; exiting', { error: err });
    process.exit(1);
  });
}

void main();
