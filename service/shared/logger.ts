import { AsyncLocalStorage } from 'node:async_hooks';
import type { Writable } from 'node:stream';
import winston from 'winston';
import { redact } from './redact';

/** Per-request context; every log line written inside a request carries its request id. */
export interface RequestContext {
  requestId: string;
  userId?: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: string;
  service?: string;
  environment?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read the lines back. */
  stream?: Writable;
  silent?: boolean;
}

/**
 * Redaction lives here, inside the logger, so no call site can forget it. It rebuilds the info
 * object from redacted copies; the caller's objects are never touched.
 */
const redactFormat = winston.format((info) => {
  // Every field, including requestId/userId a caller may have passed in metadata: nothing is
  // trusted. Redacted as one object, so top-level key names (`password`, `token`) count too.
  const { level, ...fields } = info;
  const out = { level, ...(redact(fields) as Record<string, unknown>) } as winston.Logform.TransformableInfo;
  // winston keeps the level symbol for transports; copy symbols untouched.
  for (const sym of Object.getOwnPropertySymbols(info)) {
    (out as unknown as Record<symbol, unknown>)[sym] = (info as unknown as Record<symbol, unknown>)[sym];
  }
  return out;
});

const contextFormat = winston.format((info) => {
  const ctx = requestContext.getStore();
  if (ctx) {
    info.requestId ??= ctx.requestId;
    if (ctx.userId) info.userId ??= ctx.userId;
  }
  return info;
});

export function createLogger(options: LoggerOptions = {}): Logger {
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent ?? false,
    defaultMeta: { service: options.service ?? 'upiik-payments', environment: options.environment ?? 'development' },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      contextFormat(),
      winston.format.timestamp(),
      redactFormat(),
      winston.format.json(),
    ),
    transports: [transport],
  });
}
