import cors from 'cors';
import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * Security headers for every response. The service serves JSON plus the admin page (same-origin
 * scripts only); Stripe-hosted pages are on Stripe's origin, so nothing needs a wider policy.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: true,
      directives: { 'frame-ancestors': ["'none'"], 'form-action': ["'self'"] },
    },
    // The API is called cross-origin by the allow-listed web app; CORS decides who may read it.
    crossOriginResourcePolicy: { policy: 'same-site' },
    referrerPolicy: { policy: 'no-referrer' },
  });
}

/** Headers browsers may read from our responses (rate-limit state, request id for support tickets). */
const EXPOSED_HEADERS = ['RateLimit', 'RateLimit-Policy', 'Retry-After', 'X-Request-Id'];

/**
 * CORS for the Upiik web app: only origins in CORS_ALLOWED_ORIGINS get `Access-Control-Allow-*`;
 * everyone else gets no CORS headers, so browsers refuse to expose responses to them. Requests
 * authenticate with a bearer token, not cookies, so credentials are not enabled.
 */
export function corsAllowList(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return cors({
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    methods: ['GET', 'POST', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'Idempotency-Key'],
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: 600,
  });
}
