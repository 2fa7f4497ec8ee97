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
