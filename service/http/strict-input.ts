import type { RequestHandler } from 'express';
import { badRequest } from '../shared/errors';

/**
 * For routes that take no query parameters (the admin API): anything in the query string is a 400
 * rather than silently ignored, so a caller who believes `?ttlSeconds=60` or `?dryRun=1` did
 * something learns it did not. Parameter names are echoed (never values), capped in number.
 */
export function noQueryParameters(): RequestHandler {
  return (req, _res, next) => {
    const names = Object.keys(req.query as Record<string, unknown>);
    if (names.length === 0) {
      next();
      return;
    }
    const shown = names.slice(0, 5).map((n) => n.replace(/[^A-Za-z0-9_.[\]-]/g, '?').slice(0, 40));
    next(badRequest(`This route takes no query parameters (got ${shown.join(', ')})`, 'invalid_query'));
  };
}
