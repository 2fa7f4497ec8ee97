import type { RequestHandler, Response } from 'express';
import { DEFAULT_MAX_TOKEN_LIFETIME } from '../shared/config';
import { AppError, forbidden, unauthorized } from '../shared/errors';

/**
 * Bearer JWT authentication for users and admins. Tokens are issued by the Upiik app: HS256 with
 * AUTH_JWT_SECRET, `sub` = user id, optional `email` and `city`, `role: "admin"` for admins,
 * `internal: true` for users the dashboard leaves out (smoke tests).
 * Issuer and audience are checked only when configured.
 *
 * Token rules (README "Tokens"): `exp` is required; a token may live at most the lifetime of its
 * role, measured from `iat` (or from now when there is no `iat`); an `iat` in the future is
 * refused. Each time check allows CLOCK_TOLERANCE_SECONDS of skew. A stolen token is then worth
 * hours, not years.
 */
export interface AuthConfig {
  /** Shared HS256 secret, at least 32 bytes (the config schema enforces that). */
  secret: string;
  issuer?: string;
  audience?: string;
  /** Longest `exp - iat` accepted, per role, in seconds; DEFAULT_MAX_TOKEN_LIFETIME when absent. */
  maxTokenLifetimeSeconds?: { user: number; admin: number };
}


export interface AuthenticatedUser {
  id: string;
  email?: string;
  city?: string;
  /** `internal: true`: a user the dashboard leaves out (the release pipeline's smoke-test users). */
  internal?: true;
  role: 'user' | 'admin';
}

declare global {
  // Express types `res.locals` through this global interface; augmenting it is the supported way.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Set by requireUser. */
      user?: AuthenticatedUser;
    }
  }
}

/** Small allowance for clock skew between the Upiik app and this service. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** The user id becomes a database key and Stripe metadata: keep it short and boring. */
const USER_ID_PATTERN = /^[A-Za-z0-9_\-:.@]{1,128}$/;
const MAX_EMAIL_LENGTH = 254;
const MAX_CITY_LENGTH = 100;

export function isValidUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID_PATTERN.test(value);
}

// jose 6 is ESM-only; this CommonJS build loads it with a real dynamic import (module "node16"
// keeps `import()` as is), once.
let josePromise: ReturnType<typeof importJose> | undefined;
function importJose() {
  return import('jose');
}
const loadJose = () => (josePromise ??= importJose());

const encodeSecret = (secret: string) => new TextEncoder().encode(secret);

/** Verifies a token and maps its claims; every failure is a 401 AppError. */
export function verifyToken(config: AuthConfig, token: string): Promise<AuthenticatedUser> {
  return verifyWithKey(config, encodeSecret(config.secret), token);
}

async function verifyWithKey(config: AuthConfig, key: Uint8Array, token: string): Promise<AuthenticatedUser> {
  const { jwtVerify } = await loadJose();
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      issuer: config.issuer || undefined,
      audience: config.audience || undefined,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['sub', 'exp'],
    }));
  } catch (error) {
    throw verificationError(error);
  }
  if (!isValidUserId(payload.sub)) {
    throw unauthorized('Token subject must be 1-128 characters of A-Z a-z 0-9 _ - : . @', 'invalid_token');
  }
  const role = payload.role === 'admin' ? 'admin' : 'user';
  checkLifetime(payload, (config.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME)[role], role);
  return {
    id: payload.sub,
    ...optionalString(payload, 'email', MAX_EMAIL_LENGTH),
    ...optionalString(payload, 'city', MAX_CITY_LENGTH),
    ...internalClaim(payload),
    role,
  };
}

/**
 * jose checks `exp` and `nbf` but accepts an `iat` in the future and any lifetime; both are
 * refused here (jose has already verified that `exp` and `iat`, when present, are numbers).
 */
function checkLifetime(payload: Record<string, unknown>, maxSeconds: number, role: 'user' | 'admin'): void {
  const now = Math.floor(Date.now() / 1000);
  const exp = payload.exp as number;
  const iat = typeof payload.iat === 'number' ? payload.iat : undefined;
  if (iat !== undefined && iat > now + CLOCK_TOLERANCE_SECONDS) {
    throw unauthorized('Token claim "iat" is in the future', 'invalid_token');
  }
  if (exp - (iat ?? now) > maxSeconds + CLOCK_TOLERANCE_SECONDS) {
    throw unauthorized(`Token lives longer than ${maxSeconds} s, the most ${role === 'admin' ? 'an admin' : 'a user'} token may`, 'invalid_token');
  }
}

function verificationError(error: unknown): AppError {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ERR_JWT_EXPIRED') return unauthorized('Token has expired', 'token_expired');
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
    // Names the claim (iss, aud, nbf, sub) to help integrators; reveals no expected value.
    const claim = (error as { claim?: unknown }).claim;
    if (claim === 'exp') return unauthorized('Token must carry a numeric "exp" claim', 'invalid_token');
    return unauthorized(`Token claim "${String(claim)}" is not accepted`, 'invalid_token');
  }
  return unauthorized('Token is invalid', 'invalid_token');
}

function optionalString(payload: Record<string, unknown>, claim: 'email' | 'city', maxLength: number) {
  const value = payload[claim];
  if (value === undefined || value === null || value === '') return {};
  if (typeof value !== 'string' || value.length > maxLength) {
    throw unauthorized(`Token claim "${claim}" must be a string of at most ${maxLength} characters`, 'invalid_token');
  }
  return { [claim]: value };
}

function internalClaim(payload: Record<string, unknown>): { internal?: true } {
  const value = payload.internal;
  if (value === undefined || value === false) return {};
  if (value !== true) throw unauthorized('Token claim "internal" must be true or false', 'invalid_token');
  return { internal: true };
}

/** Extracts the token of `Authorization: Bearer <token>`; a missing or non-Bearer header is a 401. */
function bearerToken(header: string | undefined): string {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) throw unauthorized('Send Authorization: Bearer <token>', 'missing_token');
  return match[1];
}

/** Authenticates the caller and sets `res.locals.user`; errors go to the error middleware. */
export function requireUser(config: AuthConfig): RequestHandler {
  const key = encodeSecret(config.secret);
  return (req, res, next) => {
    let token: string;
    try {
      token = bearerToken(req.headers.authorization);
    } catch (error) {
      next(error);
      return;
    }
    verifyWithKey(config, key, token).then((user) => {
      res.locals.user = user;
      next();
    }, next);
  };
}

/** Allows only callers with `role`; mount after requireUser. */
export function requireRole(role: 'admin'): RequestHandler {
  return (_req, res, next) => {
    const user = res.locals.user;
    if (!user) next(unauthorized());
    else if (user.role !== role) next(forbidden(`This route requires the ${role} role`, 'forbidden'));
    else next();
  };
}

/** The user requireUser authenticated; throws a 401 when the route forgot to require one. */
export function currentUser(res: Response): AuthenticatedUser {
  const user = res.locals.user;
  if (!user) throw unauthorized();
  return user;
}

export interface TokenClaims {
  userId: string;
  email?: string;
  city?: string;
  admin?: boolean;
  /** Marks the user internal (left out of the dashboard): smoke-test users. */
  internal?: boolean;
  /** jose time span, e.g. "15m", "12h"; default 1h; at most the role's maximum lifetime. */
  expiresIn?: string;
}

/** Signs a token the way the Upiik app does (dev helper, tests, smoke runs). */
export async function issueToken(config: AuthConfig, claims: TokenClaims): Promise<string> {
  if (!isValidUserId(claims.userId)) {
    throw new RangeError(`userId must be 1-128 characters of A-Z a-z 0-9 _ - : . @, got ${JSON.stringify(claims.userId)}`);
  }
  const { SignJWT, decodeJwt } = await loadJose();
  const jwt = new SignJWT({
    ...(claims.email ? { email: claims.email } : {}),
    ...(claims.city ? { city: claims.city } : {}),
    ...(claims.admin ? { role: 'admin' } : {}),
    ...(claims.internal ? { internal: true } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? '1h');
  if (config.issuer) jwt.setIssuer(config.issuer);
  if (config.audience) jwt.setAudience(config.audience);
  const token = await jwt.sign(encodeSecret(config.secret));
  // Never hand out a token the service would refuse: the same lifetime ceiling as verification.
  const role = claims.admin ? 'admin' : 'user';
  const max = (config.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME)[role];
  const { exp, iat } = decodeJwt(token);
  if (exp === undefined || iat === undefined || exp - iat > max) {
    throw new RangeError(`expiresIn ${claims.expiresIn ?? '1h'} exceeds the ${max} s maximum lifetime of ${role === 'admin' ? 'an admin' : 'a user'} token`);
  }
  return token;
}
