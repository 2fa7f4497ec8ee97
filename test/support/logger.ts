import { createLogger, type Logger } from '../../service/shared/logger';
import { captureLines } from './capture';

export interface CapturedLogger {
  logger: Logger;
  /** Every line written so far, parsed. */
  lines(): Array<Record<string, unknown>>;
  /** The raw text written so far. */
  text(): string;
}

/** A real winston logger (same formats as production) writing into memory. */
export function captureLogger(level = 'debug'): CapturedLogger {
  const { stream, text, lines } = captureLines();
  const logger = createLogger({ level, stream, environment: 'test' });
  return { logger, text, lines };
}
