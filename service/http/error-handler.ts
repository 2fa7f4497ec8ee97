import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import { redact, redactString, safeDecode } from '../shared/redact';
import { describeRequest } from './request-context';

/** The shape http-errors gives the errors Express, its router and body-parser raise. */
interface HttpLayerError {
  type?: unknown;
  status?: unknown;
}

/** body-parser's error types: what the client sent wrong, with the status it keeps and a stable code. */
const BODY_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  'entity.too.large': { status: 413, code: 'payload_too_large', message: 'Request body too large' },
  'entity.parse.failed': { status: 400, code: 'invalid_json', message: 'Request body is not valid JSON' },
  'encoding.unsupported': { status: 415, code: 'unsupported_encoding', message: 'Unsupported Content-Encoding; send identity, gzip, deflate or br' },
  'charset.unsupported': { status: 415, code: 'unsupported_charset', message: 'Unsupported charset; send UTF-8' },
  'request.aborted': { status: 400, code: 'request_aborted', message: 'The request body was not sent completely' },
  'request.size.invalid': { status: 400, code: 'malformed_body', message: 'The request body does not match its Content-Length' },
};

/**
 * Errors raised by the HTTP layer before our code runs (express.json / express.raw, the router's
 * parameter decoding) keep their 4xx status: a client that sends junk learns so and is never
 * answered with a 5xx. http-errors marks them with `status` (and body-parser with `type`); a
 * 4xx without a known type is a body that could not be decoded (a zlib error under
 * `Content-Encoding: gzip`) or, from the router, a URL that could not be decoded. Messages are
 * ours: the originals can carry raw URL parameters.
 */
function fromHttpLayer(err: unknown): AppError | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as HttpLayerError;
  // `status` only: http-errors and the router set it; SDK errors (Stripe's carry `statusCode` 400
  // for OUR bad requests) must stay 500s, never be blamed on the client.
  const status = typeof e.status === 'number' ? e.status : undefined;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  const known = typeof e.type === 'string' ? BODY_ERRORS[e.type] : undefined;
  if (known) return new AppError(known.message, { code: known.code, status: known.status, cause: err });
  if (err instanceof URIError) return new AppError('The URL contains malformed percent-encoding', { code: 'malformed_url', status: 400, cause: err });
  if (status === 400) return new AppError('The request body could not be decoded', { code: 'malformed_body', status: 400, cause: err });
  return new AppError('The request was refused by the HTTP layer', { code: `http_${status}`, status, cause: err });
}

/** The path is echoed decoded and redacted: never a raw path parameter (a card number in a URL). */
export function notFoundHandler(): RequestHandler {
  return (req, _res, next) => next(new AppError(`No route for ${req.method} ${redactString(safeDecode(req.path))}`, { code: 'route_not_found', status: 404 }));
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
        : (fromHttpLayer(err) ?? new AppError('Internal server error', { code: 'internal_error', status: 500, cause: err }));
    if (appError.status >= 500) {
      options.logger.error('request failed', { method: req.method, ...describeRequest(req, appError.status), code: appError.code, error: appError.cause ?? appError });
    } else {
      options.logger.warn('request rejected', { method: req.method, ...describeRequest(req, appError.status), code: appError.code, status: appError.status });
    }
    if (appError.headers) res.set(appError.headers);
    const body: Record<string, unknown> = { code: appError.code, message: appError.message, ...(appError.details ?? {}) };
    if (options.exposeStack && appError.status >= 500) {
      const source = appError.cause instanceof Error ? appError.cause : appError;
      body.stack = source.stack;
    }
    // Messages and details can quote input or a dependency's words: the body is redacted like a log line.
    res.status(appError.status).json(redact({ error: body }));
  };
}
