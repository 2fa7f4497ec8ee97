import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { PoolClient } from 'pg';
import { connectingWithFreshCredentials, isRefusedLogin } from '../../../service/shared/db/credentialed-pool';
import {
  type CredentialsEvent,
  DatabaseCredentialsError,
  parseCredentialsSecret,
  regionOfSecretArn,
  SecretsManagerCredentials,
} from '../../../service/shared/db/credentials';
import { redactString } from '../../../service/shared/redact';

/**
 * The RDS-managed master password and how the pool follows its rotation, at unit level (runs
 * everywhere). No AWS exists here: Secrets Manager is aws-sdk-client-mock stubbing the real
 * SecretsManagerClient's `send`, so the command and its SecretId are what the real client would
 * send. The "server" is a stand-in pool that refuses a login unless the password it is given is
 * the one the server currently has, the way PostgreSQL answers 28P01 after a rotation; the real
 * pg pool against a real server is db-credentials-postgres.test.ts.
 */

const ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-0f4c2a7e-9b1d-4c3e-8f2a-5d6e7f8a9b0c-Ab12Cd';
const secret = (password: string, username = 'upiik_master') => ({ SecretString: JSON.stringify({ username, password, engine: 'postgres' }) });

const sm = mockClient(SecretsManagerClient);
beforeEach(() => sm.reset());
afterAll(() => sm.restore());

const reads = () => sm.commandCalls(GetSecretValueCommand).length;

class Clock {
  ms = 1_000_000;
  now = () => this.ms;
}

/** A server whose password can change under the pool; connect() logs in with what the source holds now. */
function fakeServer(source: SecretsManagerCredentials, password: string) {
  const server = {
    password,
    username: 'upiik_master',
    attempts: 0,
    connect: async (): Promise<PoolClient> => {
      server.attempts += 1;
      const login = await source.current();
      if (login.username !== server.username) throw Object.assign(new Error(`role "${login.username}" does not exist`), { code: '28000' });
      if (login.password !== server.password) throw Object.assign(new Error(`password authentication failed for user "${login.username}"`), { code: '28P01' });
      return { release: () => undefined } as unknown as PoolClient;
    },
    end: async () => undefined,
  };
  return server;
}

function source(clock: Clock, events: CredentialsEvent[] = [], floorMs?: number) {
  return new SecretsManagerCredentials({ secretArn: ARN, client: new SecretsManagerClient({ region: 'eu-central-1' }), now: clock.now, onEvent: (e) => events.push(e), refreshFloorMs: floorMs });
}

describe('database credentials from the RDS-managed secret', () => {
  it('reads the secret by its ARN once and serves the cached login after that', async () => {
    sm.on(GetSecretValueCommand).resolves(secret('first-password-0123'));
    const credentials = source(new Clock());
    expect(credentials.cached()).toBeUndefined();
    await expect(credentials.current()).resolves.toEqual({ username: 'upiik_master', password: 'first-password-0123' });
    await credentials.current();
    expect(reads()).toBe(1);
    expect(sm.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: ARN });
    expect(credentials.cached()?.username).toBe('upiik_master');
  });

  it('builds its client in the region of the secret ARN', async () => {
    expect(regionOfSecretArn(ARN)).toBe('eu-central-1');
    expect(() => regionOfSecretArn('arn:aws:ssm:eu-central-1:123456789012:parameter/x')).toThrow('DATABASE_CREDENTIALS_ARN: must be a Secrets Manager secret ARN');
    sm.on(GetSecretValueCommand).resolves(secret('first-password-0123'));
    const credentials = new SecretsManagerCredentials({ secretArn: ARN.replace('eu-central-1', 'us-west-2') });
    await credentials.current();
    const client = sm.send.thisValues[0] as SecretsManagerClient;
    await expect(client.config.region()).resolves.toBe('us-west-2');
  });

  it('registers the password with the redactor the moment it is read', async () => {
    sm.on(GetSecretValueCommand).resolves(secret('registered-on-read-4242'));
    expect(redactString('login with registered-on-read-4242')).toBe('login with registered-on-read-4242');
    await source(new Clock()).current();
    expect(redactString('login with registered-on-read-4242')).toBe('login with [REDACTED]');
  });

  it('after a rotation, one refused login causes one read and the retried connection succeeds', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce(secret('before-rotation-0001')).resolves(secret('after-rotation-0002'));
    const clock = new Clock();
    const events: CredentialsEvent[] = [];
    const credentials = source(clock, events);
    const server = fakeServer(credentials, 'before-rotation-0001');
    const pool = connectingWithFreshCredentials(server, credentials);
    await pool.connect();
    expect(reads()).toBe(1);

    clock.ms += 7 * 86_400_000;
    server.password = 'after-rotation-0002';
    await expect(pool.connect()).resolves.toBeDefined();
    expect(reads()).toBe(2);
    expect(server.attempts).toBe(3); // the first connect, the refused one, the retry
    expect(credentials.generation).toBe(2);
    expect(events.filter((e) => e.type === 'read')).toEqual([
      { type: 'read', changed: true, generation: 1 },
      { type: 'read', changed: true, generation: 2 },
    ]);
    // Serves from the cache again.
    await pool.connect();
    expect(reads()).toBe(2);
  });

  it('also follows a changed username (28000), though RDS rotation keeps it', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce(secret('same-password-0001', 'old_master')).resolves(secret('same-password-0001', 'upiik_master'));
    const clock = new Clock();
    const credentials = source(clock);
    const server = fakeServer(credentials, 'same-password-0001');
    await credentials.current();
    clock.ms += 60_000;
    await expect(connectingWithFreshCredentials(server, credentials).connect()).resolves.toBeDefined();
    expect(reads()).toBe(2);
    expect(credentials.cached()?.username).toBe('upiik_master');
  });

  it('many connections refused at once cause one GetSecretValue, and all of them then connect', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    sm.on(GetSecretValueCommand)
      .resolvesOnce(secret('before-rotation-0001'))
      .callsFake(async () => {
        await gate;
        return secret('after-rotation-0002');
      });
    const clock = new Clock();
    const credentials = source(clock);
    const server = fakeServer(credentials, 'before-rotation-0001');
    const pool = connectingWithFreshCredentials(server, credentials);
    await pool.connect();
    clock.ms += 60_000;
    server.password = 'after-rotation-0002';

    const connections = Array.from({ length: 10 }, () => pool.connect());
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const results = await Promise.allSettled(connections);
    expect(results.map((r) => r.status)).toEqual(Array(10).fill('fulfilled'));
    expect(reads()).toBe(2);
  });

  it('a refusal the secret cannot fix reads once, then not again until the floor has passed', async () => {
    sm.on(GetSecretValueCommand).resolves(secret('stale-password-0001'));
    const clock = new Clock();
    const events: CredentialsEvent[] = [];
    const credentials = source(clock, events, 30_000);
    const server = fakeServer(credentials, 'some-other-password');
    const pool = connectingWithFreshCredentials(server, credentials);

    // First refusal: the initial read is 0 s old, so the floor holds the refresh back.
    await expect(pool.connect()).rejects.toMatchObject({ code: '28P01' });
    expect(reads()).toBe(1);
    expect(events.at(-1)).toEqual({ type: 'refresh-skipped', reason: 'floor', retryInMs: 30_000 });

    clock.ms += 29_999;
    for (let i = 0; i < 5; i++) await expect(pool.connect()).rejects.toMatchObject({ code: '28P01' });
    expect(reads()).toBe(1);

    clock.ms += 1;
    await expect(pool.connect()).rejects.toMatchObject({ code: '28P01' });
    expect(reads()).toBe(2);
    // The same secret came back: no retry was worth making (one attempt, not two).
    expect(events.filter((e) => e.type === 'read').at(-1)).toEqual({ type: 'read', changed: false, generation: 1 });

    clock.ms += 10_000;
    await expect(pool.connect()).rejects.toMatchObject({ code: '28P01' });
    expect(reads()).toBe(2);
  });

  it('does not touch Secrets Manager for connection failures that are not refused logins', async () => {
    sm.on(GetSecretValueCommand).resolves(secret('good-password-0001'));
    const clock = new Clock();
    const credentials = source(clock);
    await credentials.current();
    clock.ms += 3_600_000;
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.3.17:5432'), { code: 'ECONNREFUSED' });
    const pool = connectingWithFreshCredentials({ connect: () => Promise.reject(refused), end: async () => undefined }, credentials);
    await expect(pool.connect()).rejects.toBe(refused);
    expect(reads()).toBe(1);
    expect([isRefusedLogin({ code: '28P01' }), isRefusedLogin({ code: '28000' }), isRefusedLogin({ code: '57P01' }), isRefusedLogin(null)]).toEqual([true, true, false, false]);
  });

  it('when Secrets Manager fails during a refresh, the login error stands and the read counts toward the floor', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce(secret('before-rotation-0001'))
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves(secret('after-rotation-0002'));
    const clock = new Clock();
    const events: CredentialsEvent[] = [];
    const credentials = source(clock, events);
    const server = fakeServer(credentials, 'before-rotation-0001');
    const pool = connectingWithFreshCredentials(server, credentials);
    await pool.connect();
    clock.ms += 60_000;
    server.password = 'after-rotation-0002';

    await expect(pool.connect()).rejects.toMatchObject({ code: '28P01' });
    const failed = events.find((e) => e.type === 'read-failed');
    expect(failed && failed.type === 'read-failed' && failed.error.message).toBe('could not read the database credentials secret (ThrottlingException: Rate exceeded)');
    clock.ms += 5_000;
    await expect(pool.connect()).rejects.toMatchObject({ code: '28P01' });
    expect(reads()).toBe(2);
    clock.ms += 30_000;
    await expect(pool.connect()).resolves.toBeDefined();
    expect(reads()).toBe(3);
  });

  it('the first connection fails with the read error when the secret cannot be read at all (nothing cached)', async () => {
    sm.on(GetSecretValueCommand).rejects(Object.assign(new Error('not authorized to perform secretsmanager:GetSecretValue'), { name: 'AccessDeniedException' }));
    const credentials = source(new Clock());
    const server = fakeServer(credentials, 'x');
    await expect(connectingWithFreshCredentials(server, credentials).connect()).rejects.toThrow(
      'could not read the database credentials secret (AccessDeniedException: not authorized to perform secretsmanager:GetSecretValue)',
    );
    expect(server.attempts).toBe(0);
  });
});

describe('the secret text', () => {
  const leaked = 'hunter2-do-not-print-me';

  it.each([
    ['not JSON', `password=${leaked}`, 'database credentials secret is not JSON (expected {"username": ..., "password": ...})'],
    ['JSON but not an object', JSON.stringify([leaked]), 'database credentials secret is not a JSON object (expected {"username": ..., "password": ...})'],
    ['without a password', JSON.stringify({ username: 'upiik_master', pass: leaked }), 'database credentials secret lacks a non-empty password'],
    ['without a username', JSON.stringify({ user: 'upiik_master', password: leaked }), 'database credentials secret lacks a non-empty username'],
    ['with an empty password', JSON.stringify({ username: 'upiik_master', password: '' }), 'database credentials secret lacks a non-empty password'],
    ['with neither', JSON.stringify({ note: leaked }), 'database credentials secret lacks a non-empty username and password'],
    ['with a non-string password', JSON.stringify({ username: 'u', password: 12345678 }), 'database credentials secret lacks a non-empty password'],
  ])('%s: a clear error that carries none of the text', (_case, text, message) => {
    let error: unknown;
    try {
      parseCredentialsSecret(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DatabaseCredentialsError);
    expect((error as Error).message).toBe(message);
    // Not in the message, the stack or a cause (JSON.parse's own message quotes its input).
    expect((error as Error).cause).toBeUndefined();
    expect(JSON.stringify({ message: (error as Error).message, stack: (error as Error).stack })).not.toContain('hunter2');
  });

  it('a binary secret (no SecretString) is refused clearly', () => {
    expect(() => parseCredentialsSecret(undefined)).toThrow('database credentials secret has no SecretString (expected JSON with username and password)');
  });

  it('a bad secret read through Secrets Manager fails the connection with that error, and is reported without the value', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: `{"username":"upiik_master","password":${leaked}` });
    const events: CredentialsEvent[] = [];
    const credentials = source(new Clock(), events);
    await expect(credentials.current()).rejects.toThrow('database credentials secret is not JSON');
    expect(events).toHaveLength(1);
    expect(JSON.stringify(events, (_k, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack, cause: v.cause } : v))).not.toContain('hunter2');
    expect(credentials.cached()).toBeUndefined();
  });
});
