import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIssueTokenArgs, resolveAuthConfig, UsageError } from '../../scripts/issue-token';

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
    expect(resolveAuthConfig({}, file)).toEqual({ secret: 'local-dev-only-jwt-secret-change-me-0123456789', audience: 'payments' });
  });

  test('lets the environment override the file', () => {
    const file = join(dir, 'local.env');
    writeFileSync(file, 'AUTH_JWT_SECRET=from-file\n');
    expect(resolveAuthConfig({ AUTH_JWT_SECRET: 'from-env', AUTH_JWT_ISSUER: 'iss' }, file)).toEqual({ secret: 'from-env', issuer: 'iss' });
  });

  test('explains a missing secret and names the file it looked in', () => {
    const missing = join(dir, 'absent.env');
    expect(() => resolveAuthConfig({}, missing)).toThrow(`AUTH_JWT_SECRET is not set in the environment nor in ${missing}`);
  });
});
