import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { type Logger, requestContext } from '../shared/logger';

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id (the caller's X-Request-Id when sane, else a new one), echoes it, and
 * runs the rest of the request inside that context so every log line carries it.
 */
export function requestContextMiddleware(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    res.set('X-Request-Id', requestId);
    requestContext.run({ requestId }, () => next());
  };
}

/** One line per request when it finishes: method, route, status, duration. Never bodies or headers. */
export function requestLogMiddleware(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const status = res.statusCode;
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'http';
      logger.log(level, 'request completed', {
        method: req.method,
        path: req.originalUrl.split('?')[0],
        route: req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : undefined,
        status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        userId: res.locals.user?.id,
      });
    });
    next();
  };
}
