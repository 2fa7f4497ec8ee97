import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { PostgresPool } from 'kysely';
import { Client, type ClientConfig, Pool, type PoolClient, type PoolConfig } from 'pg';
import type { DatabaseCredentialsSource } from './credentials';

/**
 * The server given as parts (DATABASE_HOST mode: the stack's RDS instance): TLS always on and
 * verified against the CA bundle shipped in the image, the login read at run time from the
 * RDS-managed secret and read again when the server refuses it (see credentials.ts).
 */
export interface DatabaseServerParts {
  host: string;
  port: number;
  /** Database name (DATABASE_NAME). */
  name: string;
  /** ARN of the RDS-managed secret holding `{"username", "password"}` (DATABASE_CREDENTIALS_ARN). */
  credentialsArn: string;
  /** PEM bundle the server certificate must chain to (DATABASE_CA_FILE). */
  caFile: string;
}

/**
 * 28P01 invalid_password: the password changed under us (rotation). 28000
 * invalid_authorization_specification: the server refused this login for another reason (no such
 * role, no pg_hba entry): also worth one fresh read of the secret, never more (the floor).
 */
const REFUSED_LOGIN_CODES = new Set(['28P01', '28000']);

export function isRefusedLogin(err: unknown): boolean {
  return typeof err === 'object' && err !== null && REFUSED_LOGIN_CODES.has(String((err as { code?: unknown }).code));
}

/**
 * TLS that verifies the server: the certificate must chain to the bundle in `caFile`
 * (rejectUnauthorized) and name the host (pg passes the host to tls.connect, so Node's
 * checkServerIdentity runs). Read once when the pool is built: a missing bundle is a startup error
 * naming DATABASE_CA_FILE, not a failure on every connection.
 */
export function verifiedTls(caFile: string): ConnectionOptions {
  let ca: string;
  try {
    ca = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new Error(`DATABASE_CA_FILE: cannot read ${caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`DATABASE_CA_FILE: ${caFile} holds no PEM certificate`);
  return { ca, rejectUnauthorized: true };
}

/**
 * The pg client class the pool builds connections with: its user is the username last read from
 * the secret (pg sends the user in the startup message, before it asks for the password, so it
 * must be known when the client is built; RDS rotation keeps the username, but following the
 * secret costs nothing). The password is asked per connection through pg's async `password`.
 */
function clientFollowing(credentials: DatabaseCredentialsSource): PoolConfig['Client'] {
  class CredentialsClient extends Client {
    constructor(config?: ClientConfig) {
      super({ ...config, user: credentials.cached()?.username });
    }
  }
  // pg-pool calls `new Client(poolOptions)`; @types/pg declares the constructor without arguments.
  return CredentialsClient as unknown as PoolConfig['Client'];
}

/** A pg pool for `parts` whose logins come from `credentials`. `base` carries the pool tuning. */
export function createCredentialedPool(base: PoolConfig, parts: DatabaseServerParts, credentials: DatabaseCredentialsSource, tls: ConnectionOptions): Pool {
  return new Pool({
    ...base,
    host: parts.host,
    port: parts.port,
    database: parts.name,
    ssl: tls,
    password: async () => (await credentials.current()).password,
    Client: clientFollowing(credentials),
  });
}

/**
 * What Kysely connects through: the first connection waits for the first read of the secret; a
 * connection the server refuses (28P01/28000) asks the source for fresh credentials and, when
 * there are any, tries once more. A refusal the refresh cannot fix (same secret, floor not yet
 * passed, Secrets Manager unreachable) is the caller's error as before: the query fails, readiness
 * answers 503, the process stays up, and the next connection attempt tries again.
 */
export function connectingWithFreshCredentials(pool: Pick<Pool, 'connect' | 'end'>, credentials: DatabaseCredentialsSource): PostgresPool {
  return {
    connect: async (): Promise<PoolClient> => {
      await credentials.current();
      const generationUsed = credentials.generation;
      try {
        return await pool.connect();
      } catch (err) {
        if (!isRefusedLogin(err) || !(await credentials.refreshAfterRefusedLogin(generationUsed))) throw err;
        return await pool.connect();
      }
    },
    end: () => pool.end(),
  };
}
