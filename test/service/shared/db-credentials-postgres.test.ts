import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { sql } from 'kysely';
import { type DatabaseHandle, openDatabase, SecretsManagerCredentials } from '../../../service/shared/db';
import { createTestDatabase, type TestDatabase } from '../../support/database';

/**
 * The database as parts (DATABASE_HOST mode) through the real `pg` pool against the real local
 * PostgreSQL (CI: DATABASE_URL set; skipped on the embedded default, like the other real-server
 * suites). What is real and what is not:
 * - Secrets Manager: NOT real (no AWS here). aws-sdk-client-mock stubs the SecretsManagerClient.
 * - TLS: real. The local server runs without TLS, so this suite puts a TLS-terminating proxy in
 *   front of it that answers PostgreSQL's SSLRequest and presents a certificate for `localhost`
 *   signed by a throwaway CA made with openssl here. The pool verifies it against DATABASE_CA_FILE
 *   exactly as it will verify RDS against the bundle in the image; the proxy refuses plaintext.
 * - Refused logins: real server answers, but the local server trusts every connection from
 *   127.0.0.1 (pg_hba.conf: trust), so a wrong PASSWORD is accepted here and 28P01 cannot be
 *   produced. The "rotation" is therefore a secret whose first version names a role the server
 *   does not have: PostgreSQL refuses it with a real 28000, the pool reads the secret again and
 *   logs in with the second version. The 28P01 path is the same code (isRefusedLogin) and is
 *   exercised with a stand-in server in db-credentials.test.ts.
 */

const ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-0f4c2a7e-9b1d-4c3e-8f2a-5d6e7f8a9b0c-Ab12Cd';
const sm = mockClient(SecretsManagerClient);
afterAll(() => sm.restore());
const reads = () => sm.commandCalls(GetSecretValueCommand).length;
const secret = (username: string) => ({ SecretString: JSON.stringify({ username, password: 'ignored-by-trust-auth-0001' }) });

describe('the database as parts: the CA bundle', () => {
  it('a missing CA bundle stops openDatabase with an error naming DATABASE_CA_FILE', async () => {
    await expect(openDatabase({ parts: { host: 'localhost', port: 5432, name: 'payments', credentialsArn: ARN, caFile: '/nonexistent/rds-global-bundle.pem' } })).rejects.toThrow(
      'DATABASE_CA_FILE: cannot read /nonexistent/rds-global-bundle.pem (ENOENT)',
    );
  });

  it('a file that holds no certificate is refused the same way', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'upiik-ca-'));
    try {
      writeFileSync(join(dir, 'empty.pem'), 'not a certificate\n');
      await expect(openDatabase({ parts: { host: 'localhost', port: 5432, name: 'payments', credentialsArn: ARN, caFile: join(dir, 'empty.pem') } })).rejects.toThrow(
        `DATABASE_CA_FILE: ${join(dir, 'empty.pem')} holds no PEM certificate`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface Pki {
  dir: string;
  caFile: string;
  otherCaFile: string;
  key: Buffer;
  cert: Buffer;
}

/** A throwaway CA, a server certificate for DNS:localhost signed by it, and an unrelated CA. */
function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'upiik-pki-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const name of ['ca', 'other-ca']) {
    run('req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=upiik ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  }
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  return { dir, caFile: join(dir, 'ca.pem'), otherCaFile: join(dir, 'other-ca.pem'), key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) };
}

const SSL_REQUEST_CODE = 80877103;

interface TlsProxy {
  port: number;
  /** Client connections that completed a TLS handshake. */
  handshakes: number;
  /** Client connections that did not open with an SSLRequest (refused). */
  plaintext: number;
  close(): Promise<void>;
}

/** Terminates PostgreSQL's TLS (SSLRequest, then a TLS handshake) and forwards the stream to the real server. */
async function startTlsProxy(upstream: { host: string; port: number }, pki: Pki): Promise<TlsProxy> {
  const sockets = new Set<Socket>();
  const state = { handshakes: 0, plaintext: 0 };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (first) => {
      if (first.length !== 8 || first.readInt32BE(0) !== 8 || first.readInt32BE(4) !== SSL_REQUEST_CODE) {
        state.plaintext += 1;
        socket.destroy();
        return;
      }
      socket.write('S');
      const secure = new TLSSocket(socket, { isServer: true, key: pki.key, cert: pki.cert });
      secure.on('error', () => socket.destroy());
      secure.once('secure', () => {
        state.handshakes += 1;
        const db = tcpConnect(upstream.port, upstream.host);
        sockets.add(db);
        db.on('close', () => sockets.delete(db));
        db.on('error', () => secure.destroy());
        secure.pipe(db).pipe(secure);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get handshakes() {
      return state.handshakes;
    },
    get plaintext() {
      return state.plaintext;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const suite = process.env.DATABASE_URL ? describe : describe.skip;

suite('the database as parts against the real PostgreSQL server', () => {
  let own: TestDatabase;
  let pki: Pki;
  let proxy: TlsProxy;
  let serverUser: string;
  let databaseName: string;
  const opened: DatabaseHandle[] = [];

  beforeAll(async () => {
    own = await createTestDatabase({ poolMax: 1 });
    const url = new URL(own.url!);
    serverUser = decodeURIComponent(url.username) || 'postgres';
    databaseName = url.pathname.slice(1);
    pki = makePki();
    proxy = await startTlsProxy({ host: url.hostname, port: Number(url.port || 5432) }, pki);
  });
  beforeEach(() => sm.reset());
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((h) => h.close()));
  });
  afterAll(async () => {
    await proxy?.close();
    await own?.close();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  const parts = (overrides: { host?: string; caFile?: string } = {}) => ({
    host: overrides.host ?? 'localhost',
    port: proxy.port,
    name: databaseName,
    credentialsArn: ARN,
    caFile: overrides.caFile ?? pki.caFile,
  });
  const open = async (options: Parameters<typeof openDatabase>[0]) => {
    const handle = await openDatabase({ poolMax: 2, ...options });
    opened.push(handle);
    return handle;
  };
  const whoAmI = (handle: DatabaseHandle) =>
    sql<{ user: string; database: string }>`select current_user as user, current_database() as database`.execute(handle.db).then((r) => r.rows[0]);

  it('connects over TLS verified against DATABASE_CA_FILE, as the user the secret names, reading the secret once', async () => {
    sm.on(GetSecretValueCommand).resolves(secret(serverUser));
    const handle = await open({ parts: parts() });
    const before = proxy.handshakes;
    await expect(whoAmI(handle)).resolves.toEqual({ user: serverUser, database: databaseName });
    await Promise.all([whoAmI(handle), whoAmI(handle), whoAmI(handle)]);
    expect(proxy.handshakes).toBeGreaterThan(before);
    expect(proxy.plaintext).toBe(0);
    expect(reads()).toBe(1);
    expect(sm.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: ARN });
  });

  it('refuses a server whose certificate does not chain to DATABASE_CA_FILE', async () => {
    sm.on(GetSecretValueCommand).resolves(secret(serverUser));
    const handle = await open({ parts: parts({ caFile: pki.otherCaFile }) });
    await expect(whoAmI(handle)).rejects.toThrow(/unable to verify|self[- ]signed|unable to get (local )?issuer/i);
  });

  it('refuses a certificate that does not name the host it connected to', async () => {
    sm.on(GetSecretValueCommand).resolves(secret(serverUser));
    const handle = await open({ parts: parts({ host: '127.0.0.1' }) });
    await expect(whoAmI(handle)).rejects.toThrow(/Hostname\/IP does not match|altnames/i);
  });

  it('a login the real server refuses (28000) makes the pool read the rotated secret once and connect', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce(secret('upiik_rotated_away')).resolves(secret(serverUser));
    let now = 1_000_000;
    const credentials = new SecretsManagerCredentials({ secretArn: ARN, now: () => now });
    await credentials.current();
    now += 7 * 86_400_000; // a week later: the floor has long passed
    const handle = await open({ parts: parts(), credentials });
    await expect(whoAmI(handle)).resolves.toEqual({ user: serverUser, database: databaseName });
    expect(reads()).toBe(2);
    expect(credentials.cached()?.username).toBe(serverUser);
  });

  it('within the floor, the real refusal is the query error (28000), Secrets Manager is not asked again, and the pool recovers later', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce(secret('upiik_rotated_away')).resolves(secret(serverUser));
    let now = 1_000_000;
    const credentials = new SecretsManagerCredentials({ secretArn: ARN, now: () => now });
    const connectionErrors: Error[] = [];
    const handle = await open({ parts: parts(), credentials, onConnectionError: (e) => connectionErrors.push(e) });
    await expect(whoAmI(handle)).rejects.toMatchObject({ code: '28000' });
    await expect(whoAmI(handle)).rejects.toMatchObject({ code: '28000' });
    expect(reads()).toBe(1);
    now += 30_000;
    await expect(whoAmI(handle)).resolves.toEqual({ user: serverUser, database: databaseName });
    expect(reads()).toBe(2);
    // A refused login is the failing query's error, not a dropped connection reported to the log.
    expect(connectionErrors).toEqual([]);
  });
});
