import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A wrong invocation (exit 2), as opposed to a failure while doing the work (exit 1). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Strict flag parsing for every script: unknown flags and positionals are usage errors, reported
 * with node's own message, so each script only validates the values it received.
 */
export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
