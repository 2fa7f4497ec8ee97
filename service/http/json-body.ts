import express, { type Request, type RequestHandler } from 'express';
import { AppError } from '../shared/errors';

/** JSON media types: application/json and any structured `+json` type. */
const JSON_TYPES = ['application/json', 'application/*+json'];

/** True when the request carries body bytes (chunked, or a non-zero Content-Length). */
function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * The body parser of the JSON routes. A body in any other media type (or none named) is a 415:
 * left unparsed it would read as "no options" and the route would act on defaults (maintenance
 * turned on from a text/plain body). Requests without a body pass untouched. Decoding errors
 * (bad Content-Encoding, malformed JSON, oversize) keep their 4xx through the error handler.
 */
export function jsonBody(options: { limit: string }): RequestHandler {
  const parse = express.json({ limit: options.limit, strict: true, type: JSON_TYPES });
  return (req, res, next) => {
    if (hasBody(req) && !req.is(JSON_TYPES)) {
      next(new AppError('Send the request body as application/json', { code: 'unsupported_media_type', status: 415 }));
      return;
    }
    parse(req, res, next);
  };
}
