import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { registerSecrets } from '../redact';
import { SECRET_ARN_PATTERN } from './secret-arn';

/**
 * The database login read at run time from the secret RDS manages for the master user
 * (`manageMasterUserPassword`): JSON `{"username": ..., "password": ...}` that RDS rotates (every
 * 7 days by default). A task reads ECS `secrets` only when it starts, so a password injected there
 * goes stale at the first rotation; this source keeps the last value read and reads the secret
 * again when the server refuses a login with it.
 *
 * - Single flight: however many connections are refused at once, one GetSecretValue is in flight
 *   and every caller waits for its answer.
 * - A floor between reads (default 30 s): a password that is simply wrong (or a rotation still
 *   under way: Secrets Manager may serve the previous version for about a minute) does not turn
 *   every connection attempt into a Secrets Manager call.
 * - The password is registered with the redactor as soon as it is read, so no sink can write it;
 *   errors describe what is wrong with the secret, never its content.
 */

export interface DatabaseCredentials {
  readonly username: string;
  readonly password: string;
}

export class DatabaseCredentialsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseCredentialsError';
  }
}

export const DEFAULT_CREDENTIALS_REFRESH_FLOOR_MS = 30_000;

/** What the pool needs from a credentials source (tests may hand in their own). */
export interface DatabaseCredentialsSource {
  /** Bumped each time a read returns a different username or password. */
  readonly generation: number;
  /** The last credentials read, if any (the pool's client needs the username synchronously). */
  cached(): DatabaseCredentials | undefined;
  /** The cached credentials, or the first read's (single flight). */
  current(): Promise<DatabaseCredentials>;
  /**
   * The server refused a login made with the credentials of `generationUsed`. Resolves true when
   * credentials other than those are now cached (read now, or by a concurrent caller), i.e. one
   * more attempt is worth making; false when the secret still holds the refused values, the floor
   * forbids another read yet, or the read failed.
   */
  refreshAfterRefusedLogin(generationUsed: number): Promise<boolean>;
}

export type CredentialsEvent =
  | { type: 'read'; changed: boolean; generation: number }
  | { type: 'read-failed'; error: Error }
  | { type: 'refresh-skipped'; reason: 'floor'; retryInMs: number };

export interface SecretsManagerCredentialsOptions {
  /** ARN of the RDS-managed secret (DATABASE_CREDENTIALS_ARN). */
  secretArn: string;
  /** Default: a client in the secret's own region (taken from the ARN). */
  client?: SecretsManagerClient;
  /** Least time between two reads of the secret (default 30 s). The first read is never held back. */
  refreshFloorMs?: number;
  /** Milliseconds clock (tests move it by hand). */
  now?: () => number;
  /** Told about reads and skipped refreshes; wire the logger here. Never carries the secret. */
  onEvent?: (event: CredentialsEvent) => void;
}

/** The region a Secrets Manager secret ARN names (`arn:aws:secretsmanager:<region>:...`). */
export function regionOfSecretArn(arn: string): string {
  const match = SECRET_ARN_PATTERN.exec(arn);
  if (!match) throw new DatabaseCredentialsError('DATABASE_CREDENTIALS_ARN: must be a Secrets Manager secret ARN');
  return match[1]!;
}

/**
 * Parses the secret's text. Every message says which rule failed and nothing of the text itself
 * (JSON.parse's own message quotes the input, so it is never passed on, not even as the cause).
 */
export function parseCredentialsSecret(secretString: string | undefined): DatabaseCredentials {
  if (secretString === undefined) throw new DatabaseCredentialsError('database credentials secret has no SecretString (expected JSON with username and password)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    throw new DatabaseCredentialsError('database credentials secret is not JSON (expected {"username": ..., "password": ...})');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DatabaseCredentialsError('database credentials secret is not a JSON object (expected {"username": ..., "password": ...})');
  }
  const { username, password } = parsed as Record<string, unknown>;
  const missing = [typeof username === 'string' && username !== '' ? undefined : 'username', typeof password === 'string' && password !== '' ? undefined : 'password'].filter(
    (k): k is string => k !== undefined,
  );
  if (missing.length > 0) throw new DatabaseCredentialsError(`database credentials secret lacks a non-empty ${missing.join(' and ')}`);
  return { username: username as string, password: password as string };
}

export class SecretsManagerCredentials implements DatabaseCredentialsSource {
  private readonly client: SecretsManagerClient;
  private readonly floorMs: number;
  private readonly now: () => number;
  private value: DatabaseCredentials | undefined;
  private generationNumber = 0;
  private inFlight: Promise<DatabaseCredentials> | undefined;
  private lastReadStartedAt: number | undefined;

  constructor(private readonly options: SecretsManagerCredentialsOptions) {
    const region = regionOfSecretArn(options.secretArn);
    this.client =
      options.client ??
      new SecretsManagerClient({
        region,
        // A login is waiting on this answer: fail fast and let the next connection attempt retry.
        maxAttempts: 2,
        requestHandler: { requestTimeout: 5_000, connectionTimeout: 3_000 },
      });
    this.floorMs = options.refreshFloorMs ?? DEFAULT_CREDENTIALS_REFRESH_FLOOR_MS;
    this.now = options.now ?? Date.now;
  }

  get generation(): number {
    return this.generationNumber;
  }

  cached(): DatabaseCredentials | undefined {
    return this.value;
  }

  async current(): Promise<DatabaseCredentials> {
    return this.value ?? this.read();
  }

  async refreshAfterRefusedLogin(generationUsed: number): Promise<boolean> {
    if (this.generationNumber !== generationUsed) return true;
    if (!this.inFlight) {
      const sinceLastRead = this.lastReadStartedAt === undefined ? Infinity : this.now() - this.lastReadStartedAt;
      if (sinceLastRead < this.floorMs) {
        this.report({ type: 'refresh-skipped', reason: 'floor', retryInMs: this.floorMs - sinceLastRead });
        return false;
      }
    }
    try {
      await this.read();
    } catch {
      // Reported by read(); the caller surfaces the login error it already has.
      return false;
    }
    return this.generationNumber !== generationUsed;
  }

  /** One GetSecretValue at a time; concurrent callers share its answer. */
  private read(): Promise<DatabaseCredentials> {
    this.inFlight ??= this.fetch().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetch(): Promise<DatabaseCredentials> {
    this.lastReadStartedAt = this.now();
    try {
      const answer = await this.client.send(new GetSecretValueCommand({ SecretId: this.options.secretArn }));
      const credentials = parseCredentialsSecret(answer.SecretString);
      // Before anything else can see it: from here on every sink redacts it.
      registerSecrets([credentials.password]);
      const changed = this.value?.username !== credentials.username || this.value?.password !== credentials.password;
      if (changed) {
        this.value = credentials;
        this.generationNumber += 1;
      }
      this.report({ type: 'read', changed, generation: this.generationNumber });
      return this.value!;
    } catch (err) {
      const error =
        err instanceof DatabaseCredentialsError
          ? err
          : new DatabaseCredentialsError(`could not read the database credentials secret (${(err as Error).name}: ${(err as Error).message})`, { cause: err });
      this.report({ type: 'read-failed', error });
      throw error;
    }
  }

  private report(event: CredentialsEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // Reporting must never be what breaks a login.
    }
  }
}
