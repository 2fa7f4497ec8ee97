import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { type Logger, requestContext } from '../shared/logger';
import { redact, redactString, safeDecode } from '../shared/redact';
import { routeLabel } from './route-label';

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

/**
 * Where a request went, safe to log: the route template it matched, the path percent-decoded (never
 * throwing on malformed escapes) and redacted, and the query parameters redacted by name and value.
 * The raw path is never logged: `%34%32...` or `4242%204242...` would carry a card number past
 * redaction.
 */
export function describeRequest(req: Request, status: number): { route: string; path: string; query?: unknown } {
  const url = req.originalUrl;
  const queryStart = url.indexOf('?');
  const rawPath = queryStart === -1 ? url : url.slice(0, queryStart);
  const described: { route: string; path: string; query?: unknown } = { route: routeLabel(req, status), path: redactString(safeDecode(rawPath)) };
  if (queryStart !== -1 && queryStart < url.length - 1) {
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of new URLSearchParams(url.slice(queryStart + 1))) {
      const previous = query[key];
      query[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
    }
    described.query = redact(query);
  }
  return described;
}

/** One line per request when it finishes: method, route template, redacted path and query, status, duration. Never bodies or headers. */
export function requestLogMiddleware(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const status = res.statusCode;
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'http';
      // Describing the path (decoding, redacting) is work: only for a line that will be written.
      if (!logger.isLevelEnabled(level)) return;
      logger.log(level, 'request completed', {
        method: req.method,
        ...describeRequest(req, status),
        status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        userId: res.locals.user?.id,
      });
    });
    next();
  };
}
