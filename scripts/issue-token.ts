/**
 * issue-token: prints a signed dev JWT for a user or an admin, the way the Upiik app issues them.
 *
 *   npm run -s token -- --user u_123 [--admin] [--internal] [--email a@b.c] [--city Paris] [--expires 12h]
 *   TOKEN=$(npm run -s token -- --user u_123)
 *
 * Touches: reads AUTH_JWT_SECRET, AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE and the token lifetime limits
 * (AUTH_TOKEN_MAX_LIFETIME_SECONDS, AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS) from the environment,
 * falling back to env/local.env. --expires beyond the role's limit (default 24h user, 1h admin)
 * is refused: the service would refuse the token. Writes only the token to stdout and a hint to stderr. Changes nothing.
 * Refuses to run with NODE_ENV=production: production tokens come from the Upiik app only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { type AuthConfig, isValidUserId, issueToken, type TokenClaims } from '../service/security';
import { DEFAULT_MAX_TOKEN_LIFETIME } from '../service/shared/config';
import { parseFlags, UsageError } from './lib/cli';

export { UsageError };

export const LOCAL_ENV_FILE = join(__dirname, '..', 'env', 'local.env');

const USAGE = 'usage: npm run -s token -- --user <id> [--admin] [--internal (left out of the dashboard)] [--email <address>] [--city <name>] [--expires <span, e.g. 12h; at most 24h, 1h for --admin>]';
const EXPIRES_PATTERN = /^\d+\s?(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days|w|week|weeks)$/;

/** Validates the command line into token claims; throws UsageError with a message for the user. */
export function parseIssueTokenArgs(argv: string[]): TokenClaims {
  const values = parseFlags(argv, {
    user: { type: 'string' },
    admin: { type: 'boolean', default: false },
    internal: { type: 'boolean', default: false },
    email: { type: 'string' },
    city: { type: 'string' },
    expires: { type: 'string', default: '1h' },
  });
  if (values.user === undefined) throw new UsageError('--user is required');
  if (!isValidUserId(values.user)) throw new UsageError('--user must be 1-128 characters of A-Z a-z 0-9 _ - : . @');
  if (values.email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(values.email)) throw new UsageError(`--email is not an address: ${values.email}`);
  if (values.city !== undefined && (values.city.trim() === '' || values.city.length > 100)) throw new UsageError('--city must be 1-100 characters');
  if (!EXPIRES_PATTERN.test(values.expires)) throw new UsageError(`--expires must be a span such as 30m, 12h or 7d, got ${values.expires}`);
  return {
    userId: values.user,
    admin: values.admin,
    ...(values.internal ? { internal: true } : {}),
    expiresIn: values.expires,
    ...(values.email !== undefined ? { email: values.email } : {}),
    ...(values.city !== undefined ? { city: values.city } : {}),
  };
}

/** The auth settings from the environment, each falling back to env/local.env (environment wins). */
export function resolveAuthConfig(env: NodeJS.ProcessEnv, localEnvFile = LOCAL_ENV_FILE): AuthConfig {
  let fileValues: Record<string, string> | undefined;
  const fromFile = (name: string): string | undefined => {
    if (!fileValues) {
      try {
        fileValues = parseDotenv(readFileSync(localEnvFile));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        fileValues = {};
      }
    }
    return fileValues[name] || undefined;
  };
  const pick = (name: string) => env[name] || fromFile(name);
  const secret = pick('AUTH_JWT_SECRET');
  if (!secret) {
    throw new Error(`AUTH_JWT_SECRET is not set in the environment nor in ${localEnvFile} (does the file exist?)`);
  }
  const issuer = pick('AUTH_JWT_ISSUER');
  const audience = pick('AUTH_JWT_AUDIENCE');
  const lifetime = (name: string, fallback: number) => {
    const value = pick(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) <= 0) throw new Error(`${name} must be a positive number of seconds`);
    return Number(value);
  };
  const maxTokenLifetimeSeconds = {
    user: lifetime('AUTH_TOKEN_MAX_LIFETIME_SECONDS', DEFAULT_MAX_TOKEN_LIFETIME.user),
    admin: lifetime('AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS', DEFAULT_MAX_TOKEN_LIFETIME.admin),
  };
  return { secret, ...(issuer ? { issuer } : {}), ...(audience ? { audience } : {}), maxTokenLifetimeSeconds };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (env.NODE_ENV === 'production') {
    console.error('issue-token: refusing to run with NODE_ENV=production; production tokens come from the Upiik app.');
    return 1;
  }
  let claims: TokenClaims;
  try {
    claims = parseIssueTokenArgs(argv);
  } catch (error) {
    console.error(`issue-token: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  try {
    const token = await issueToken(resolveAuthConfig(env), claims);
    process.stdout.write(`${token}\n`);
    console.error(
      `issue-token: ${claims.admin ? 'admin' : 'user'} token for ${claims.userId}, valid ${claims.expiresIn}. ` +
        'Use it as: curl -H "Authorization: Bearer $TOKEN" ... (TOKEN=$(npm run -s token -- --user ...))',
    );
    return 0;
  } catch (error) {
    // A RangeError is an --expires past the role's limit: a usage problem, like a bad flag.
    const usage = error instanceof RangeError;
    console.error(`issue-token: ${(error as Error).message}${usage ? `\n${USAGE}` : ''}`);
    return usage ? 2 : 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
