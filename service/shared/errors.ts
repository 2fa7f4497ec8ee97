/**
 * One error family for the service. Throw these from anywhere; the error middleware turns them
 * into `{error: {code, message}}` with the given status. Anything else becomes a 500 whose
 * details stay in the log.
 */
export interface AppErrorOptions {
  /** Stable, machine-readable code (snake_case) that clients may branch on. */
  code: string;
  /** HTTP status the error middleware answers with. */
  status: number;
  /** Underlying error, kept for the log, never sent to clients. */
  cause?: unknown;
  /** Extra, client-safe fields merged into the error body (e.g. `param`). */
  details?: Record<string, unknown>;
  /** Response headers to set (e.g. `Retry-After`). */
  headers?: Record<string, string>;
}

export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(message: string, options: AppErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = options.code;
    this.status = options.status;
    this.details = options.details;
    this.headers = options.headers;
  }

  /** True for errors caused by the caller (4xx); false for ours or a dependency's (5xx). */
  get isClientError(): boolean {
    return this.status >= 400 && this.status < 500;
  }
}

export const badRequest = (message: string, code = 'bad_request', details?: Record<string, unknown>) =>
  new AppError(message, { code, status: 400, details });
export const unauthorized = (message = 'Authentication required', code = 'unauthorized') =>
  new AppError(message, { code, status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });
export const forbidden = (message = 'Insufficient role', code = 'forbidden') =>
  new AppError(message, { code, status: 403 });
export const notFound = (message = 'Not found', code = 'not_found') => new AppError(message, { code, status: 404 });
export const conflict = (message: string, code = 'conflict') => new AppError(message, { code, status: 409 });
export const serviceUnavailable = (message: string, code = 'service_unavailable', cause?: unknown, retryAfterSeconds?: number) =>
  new AppError(message, {
    code,
    status: 503,
    cause,
    headers: retryAfterSeconds === undefined ? undefined : { 'Retry-After': String(retryAfterSeconds) },
  });
/** A dependency (Stripe, database, Redis) failed: 5xx so callers such as Stripe retry. */
export const dependencyFailed = (dependency: string, cause: unknown) =>
  new AppError(`${dependency} is unavailable`, { code: `${dependency}_unavailable`, status: 502, cause });

/** Message of anything thrown, safe on null/undefined/non-Error values (the seed crashed here). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
