export {
  currentUser,
  isValidUserId,
  issueToken,
  requireRole,
  requireUser,
  verifyToken,
  type AuthConfig,
  type AuthenticatedUser,
  type TokenClaims,
} from './auth';
export { corsAllowList, securityHeaders } from './http-hardening';
export { createRateLimiter, type RateLimitBackend, type RateLimiter, type RateLimiterOptions } from './rate-limit';
