import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, parseIssueTokenArgs, resolveAuthConfig, UsageError } from '../../scripts/issue-token';
import { verifyToken } from '../../service/security';
import { loadConfig } from '../../service/shared/config';
import { BASE_TEST_ENV } from '../support/config';

describe('parseIssueTokenArgs', () => {
  test('reads every option', () => {
    expect(parseIssueTokenArgs(['--user', 'u_123', '--admin', '--email', 'a@b.c', '--city', 'Paris', '--expires', '12h'])).toEqual({
      userId: 'u_123',
      admin: true,
      email: 'a@b.c',
      city: 'Paris',
      expiresIn: '12h',
    });
  });

  test('defaults to a one-hour user token', () => {
    expect(parseIssueTokenArgs(['--user', 'u_1'])).toEqual({ userId: 'u_1', admin: false, expiresIn: '1h' });
  });

  test.each([
    ['no --user', [], /--user is required/],
    ['a user id with a space', ['--user', 'u 1'], /--user must be/],
    ['an unknown option', ['--user', 'u_1', '--root'], /Unknown option '--root'/],
    ['a positional argument', ['--user', 'u_1', 'extra'], /positional/],
    ['a malformed email', ['--user', 'u_1', '--email', 'nope'], /--email/],
    ['a malformed expiry', ['--user', 'u_1', '--expires', 'tomorrow'], /--expires/],
    ['--user without a value', ['--user'], /argument missing/],
  ])('refuses %s', (_name, argv, message) => {
    expect(() => parseIssueTokenArgs(argv as string[])).toThrow(UsageError);
    expect(() => parseIssueTokenArgs(argv as string[])).toThrow(message);
  });
});

describe('resolveAuthConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'issue-token-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('falls back to the local env file, where empty values mean unset', () => {
    const file = join(dir, 'local.env');
    writeFileSync(file, 'AUTH_JWT_SECRET=local-dev-only-jwt-secret-change-me-0123456789\nAUTH_JWT_ISSUER=\nAUTH_JWT_AUDIENCE=payments\n');
    expect(resolveAuthConfig({}, file)).toEqual({
      secret: 'local-dev-only-jwt-secret-change-me-0123456789',
      audience: 'payments',
      maxTokenLifetimeSeconds: { user: 86_400, admin: 3_600 },
    });
  });

  test('lets the environment override the file', () => {
    const file = join(dir, 'local.env');
    writeFileSync(file, 'AUTH_JWT_SECRET=from-file\n');
    expect(resolveAuthConfig({ AUTH_JWT_SECRET: 'from-env', AUTH_JWT_ISSUER: 'iss', AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS: '600' }, file)).toEqual({
      secret: 'from-env',
      issuer: 'iss',
      maxTokenLifetimeSeconds: { user: 86_400, admin: 600 },
    });
  });

  test('explains a missing secret and names the file it looked in', () => {
    const missing = join(dir, 'absent.env');
    expect(() => resolveAuthConfig({}, missing)).toThrow(`AUTH_JWT_SECRET is not set in the environment nor in ${missing}`);
  });
});

describe('issued tokens pass the service', () => {
  const env = { AUTH_JWT_SECRET: BASE_TEST_ENV.AUTH_JWT_SECRET! };
  const serviceAuth = loadConfig(BASE_TEST_ENV).auth;
  let stdout: jest.SpiedFunction<typeof process.stdout.write>;
  let stderr: jest.SpiedFunction<typeof console.error>;
  const written: string[] = [];
  beforeEach(() => {
    written.length = 0;
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (written.push(String(chunk)), true));
    stderr = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    stdout.mockRestore();
    stderr.mockRestore();
  });

  test.each([
    ['a default user token', ['--user', 'u_tok']],
    ['a user token at the 24 h maximum', ['--user', 'u_tok', '--expires', '24h']],
    ['an admin token at the 1 h maximum', ['--user', 'u_tok', '--admin', '--expires', '1h']],
  ])('%s is issued and accepted', async (_what, argv) => {
    expect(await main(argv, env)).toBe(0);
    const user = await verifyToken(serviceAuth, written.join('').trim());
    expect(user.id).toBe('u_tok');
  });

  test.each([
    ['a user token past 24 h', ['--user', 'u_tok', '--expires', '25h']],
    ['an admin token past 1 h', ['--user', 'u_tok', '--admin', '--expires', '12h']],
    ['a user token for a year', ['--user', 'u_tok', '--expires', '52w']],
  ])('%s is refused as a usage error, and nothing is printed to stdout', async (_what, argv) => {
    expect(await main(argv, env)).toBe(2);
    expect(written).toEqual([]);
    expect(String(stderr.mock.calls[0]?.[0])).toMatch(/maximum lifetime/);
  });
});
