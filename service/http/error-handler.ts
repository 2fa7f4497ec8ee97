import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError } from '../shared/errors';
import type { Logger } from '../shared/logger';

interface BodyParserError {
  type?: string;
  status?: number;
}

/** Errors raised by express.json / express.raw before our code runs. */
function fromBodyParser(err: unknown): AppError | undefined {
  const e = err as BodyParserError | null;
  if (!e || typeof e !== 'object' || typeof e.type !== 'string') return undefined;
  if (e.type === 'entity.too.large') return new AppError('Request body too large', { code: 'payload_too_large', status: 413, cause: err });
  if (e.type === 'entity.parse.failed') return new AppError('Request body is not valid JSON', { code: 'invalid_json', status: 400, cause: err });
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported')
    return new AppError('Unsupported body encoding', { code: 'unsupported_encoding', status: 415, cause: err });
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
    return new AppError('Malformed request body', { code: 'bad_request', status: e.status, cause: err });
  return undefined;
}

export function notFoundHandler(): RequestHandler {
  return (req, _res, next) => next(new AppError(`No route for ${req.method} ${req.path}`, { code: 'route_not_found', status: 404 }));
}

/**
 * The one error middleware. Clients get `{error: {code, message}}`; the log gets the cause and
 * stack. Stack traces reach clients only in local development.
 */
export function errorHandler(options: { logger: Logger; exposeStack: boolean }): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const appError =
      err instanceof AppError
        ? err
        : (fromBodyParser(err) ?? new AppError('Internal server error', { code: 'internal_error', status: 500, cause: err }));
    if (appError.status >= 500) {
      options.logger.error('request failed', { method: req.method, path: req.path, code: appError.code, error: appError.cause ?? appError });
    } else {
      options.logger.warn('request rejected', { method: req.method, path: req.path, code: appError.code, status: appError.status });
    }
    if (appError.headers) res.set(appError.headers);
    const body: Record<string, unknown> = { code: appError.code, message: appError.message, ...(appError.details ?? {}) };
    if (options.exposeStack && appError.status >= 500) {
      const source = appError.cause instanceof Error ? appError.cause : appError;
      body.stack = source.stack;
    }
    res.status(appError.status).json({ error: body });
  };
}
