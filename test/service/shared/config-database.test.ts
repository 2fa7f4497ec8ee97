import { DEFAULT_DATABASE_CA_FILE, loadConfig } from '../../../service/shared/config';
import { BASE_TEST_ENV, problemsOf } from '../../support/config';

/**
 * The database as parts (AWS with RDS, whose master password RDS rotates) beside DATABASE_URL:
 * exactly one way to a real server, the parts together, every problem named by its variable.
 */

const ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-0f4c2a7e-9b1d-4c3e-8f2a-5d6e7f8a9b0c-Ab12Cd';
const PARTS = { DATABASE_HOST: 'upiik-payments-production.abc123xyz.eu-central-1.rds.amazonaws.com', DATABASE_NAME: 'payments', DATABASE_CREDENTIALS_ARN: ARN };
const DEPLOYED = {
  NODE_ENV: 'staging',
  REDIS_URL: 'rediss://cache.internal:6379',
  CHECKOUT_SUCCESS_URL: 'https://upiik.app/s',
  CHECKOUT_CANCEL_URL: 'https://upiik.app/c',
  BILLING_PORTAL_RETURN_URL: 'https://upiik.app/a',
};

describe('the database as parts (DATABASE_HOST)', () => {
  it('gives the db layer host, port, name, secret ARN and CA file, with port 5432 and the image bundle by default', () => {
    const config = loadConfig({ ...BASE_TEST_ENV, ...PARTS });
    expect(config.database).toEqual({
      url: undefined,
      parts: { host: PARTS.DATABASE_HOST, port: 5432, name: 'payments', credentialsArn: ARN, caFile: '/app/certs/rds-global-bundle.pem' },
      pgliteDir: undefined,
    });
    expect(DEFAULT_DATABASE_CA_FILE).toBe('/app/certs/rds-global-bundle.pem');
  });

  it('takes DATABASE_PORT and DATABASE_CA_FILE when given', () => {
    const config = loadConfig({ ...BASE_TEST_ENV, ...PARTS, DATABASE_PORT: '6543', DATABASE_CA_FILE: '/etc/ssl/rds.pem' });
    expect(config.database.parts).toMatchObject({ port: 6543, caFile: '/etc/ssl/rds.pem' });
  });

  it('gives the db layer only the URL in DATABASE_URL mode', () => {
    const config = loadConfig({ ...BASE_TEST_ENV, DATABASE_URL: 'postgres://payments@db.internal/payments' });
    expect(config.database.parts).toBeUndefined();
    expect(config.database.url).toBe('postgres://payments@db.internal/payments');
  });

  it('satisfies staging and production in place of DATABASE_URL', () => {
    expect(problemsOf({ ...BASE_TEST_ENV, ...DEPLOYED, ...PARTS })).toEqual([]);
    expect(problemsOf({ ...BASE_TEST_ENV, ...DEPLOYED, NODE_ENV: 'production', STRIPE_SECRET_KEY: 'sk_live_x', STRIPE_PUBLISHABLE_KEY: 'pk_live_x', ...PARTS })).toEqual([]);
  });

  it('names both ways in the message when staging has neither', () => {
    const problems = problemsOf({ ...BASE_TEST_ENV, ...DEPLOYED });
    expect(problems).toEqual([
      'DATABASE_URL: is required when NODE_ENV=staging, or DATABASE_HOST with DATABASE_NAME and DATABASE_CREDENTIALS_ARN (the embedded database is for local use only)',
    ]);
  });

  it('takes OPS_BACKUP_DIR on a local stack only: a task\'s disk is gone with the task', () => {
    expect(loadConfig({ ...BASE_TEST_ENV, OPS_BACKUP_DIR: '.data/backups' }).opsBackupDir).toBe('.data/backups');
    expect(loadConfig(BASE_TEST_ENV).opsBackupDir).toBeUndefined();
    expect(problemsOf({ ...BASE_TEST_ENV, ...DEPLOYED, ...PARTS, OPS_BACKUP_DIR: '/tmp/backups' })).toEqual([
      'OPS_BACKUP_DIR: must be unset when NODE_ENV=staging (a task\'s disk is gone with the task; the rollback takes an RDS snapshot)',
    ]);
  });

  it('refuses DATABASE_URL and DATABASE_HOST together, naming both', () => {
    const problems = problemsOf({ ...BASE_TEST_ENV, ...PARTS, DATABASE_URL: 'postgres://payments@db.internal/payments' });
    expect(problems).toEqual([
      'DATABASE_URL: DATABASE_URL and DATABASE_HOST are both set; set exactly one (DATABASE_URL, or DATABASE_HOST with DATABASE_NAME and DATABASE_CREDENTIALS_ARN)',
    ]);
  });

  it.each([
    ['DATABASE_HOST', 'DATABASE_NAME and DATABASE_CREDENTIALS_ARN'],
    ['DATABASE_NAME', 'DATABASE_HOST and DATABASE_CREDENTIALS_ARN'],
    ['DATABASE_CREDENTIALS_ARN', 'DATABASE_HOST and DATABASE_NAME'],
  ])('names %s when it is missing from the parts', (missing, given) => {
    const env: Record<string, string | undefined> = { ...BASE_TEST_ENV, ...PARTS, [missing]: undefined };
    expect(problemsOf(env)).toEqual([
      `${missing}: is required with ${given} (the database as parts needs DATABASE_HOST, DATABASE_NAME and DATABASE_CREDENTIALS_ARN)`,
    ]);
  });

  it('treats an empty part as missing (env files leave unset variables empty)', () => {
    expect(problemsOf({ ...BASE_TEST_ENV, ...PARTS, DATABASE_NAME: '  ' })).toEqual([expect.stringMatching(/^DATABASE_NAME: is required with DATABASE_HOST and DATABASE_CREDENTIALS_ARN/)]);
  });

  it('refuses a stray part beside DATABASE_URL, naming the missing parts and DATABASE_URL', () => {
    const problems = problemsOf({ ...BASE_TEST_ENV, DATABASE_URL: 'postgres://db/payments', DATABASE_NAME: 'payments' });
    expect(problems).toEqual([
      'DATABASE_HOST: is required with DATABASE_NAME (the database as parts needs DATABASE_HOST, DATABASE_NAME and DATABASE_CREDENTIALS_ARN)',
      'DATABASE_CREDENTIALS_ARN: is required with DATABASE_NAME (the database as parts needs DATABASE_HOST, DATABASE_NAME and DATABASE_CREDENTIALS_ARN)',
      'DATABASE_URL: is set together with DATABASE_NAME; set DATABASE_URL or the DATABASE_HOST parts, not both',
    ]);
  });

  it('names every given part when DATABASE_URL is set beside several', () => {
    expect(problemsOf({ ...BASE_TEST_ENV, DATABASE_URL: 'postgres://db/payments', DATABASE_NAME: 'payments', DATABASE_CREDENTIALS_ARN: ARN })).toEqual([
      'DATABASE_HOST: is required with DATABASE_NAME and DATABASE_CREDENTIALS_ARN (the database as parts needs DATABASE_HOST, DATABASE_NAME and DATABASE_CREDENTIALS_ARN)',
      'DATABASE_URL: is set together with DATABASE_NAME and DATABASE_CREDENTIALS_ARN; set DATABASE_URL or the DATABASE_HOST parts, not both',
    ]);
  });

  it('trims optional values, and whitespace alone means unset', () => {
    const config = loadConfig({ ...BASE_TEST_ENV, DATABASE_HOST: '  db.internal ', DATABASE_NAME: 'payments', DATABASE_CREDENTIALS_ARN: ARN, AUTH_JWT_ISSUER: ' https://id.upiik.app ', AUTH_JWT_AUDIENCE: '   ' });
    expect(config.database.parts?.host).toBe('db.internal');
    expect(config.auth.issuer).toBe('https://id.upiik.app');
    expect(config.auth.audience).toBeUndefined();
  });

  it.each(['DATABASE_PORT', 'DATABASE_CA_FILE'])('refuses %s without DATABASE_HOST (it would be silently ignored)', (name) => {
    const value = name === 'DATABASE_PORT' ? '5432' : '/app/certs/rds-global-bundle.pem';
    expect(problemsOf({ ...BASE_TEST_ENV, DATABASE_URL: 'postgres://db/payments', [name]: value })).toEqual([
      `${name}: only applies with DATABASE_HOST (the database as parts); unset it or set DATABASE_HOST, DATABASE_NAME and DATABASE_CREDENTIALS_ARN`,
    ]);
  });

  it.each([
    ['DATABASE_CREDENTIALS_ARN', 'rds!db-0f4c2a7e', 'DATABASE_CREDENTIALS_ARN: must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)'],
    ['DATABASE_CREDENTIALS_ARN', 'arn:aws:ssm:eu-central-1:123456789012:parameter/db', 'DATABASE_CREDENTIALS_ARN: must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)'],
    ['DATABASE_CREDENTIALS_ARN', 'arn:aws:secretsmanager:eu-central-1:1234:secret:x', 'DATABASE_CREDENTIALS_ARN: must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)'],
    ['DATABASE_PORT', '0', 'DATABASE_PORT: must be a port (1-65535)'],
    ['DATABASE_PORT', '65536', 'DATABASE_PORT: must be a port (1-65535)'],
    ['DATABASE_PORT', 'fivefourthreetwo', 'DATABASE_PORT: must be a number'],
    ['DATABASE_PORT', '54.32', 'DATABASE_PORT: must be an integer'],
    ['DATABASE_HOST', 'postgres://db.internal', 'DATABASE_HOST: must be a host name or IPv4 address (no scheme, port or path)'],
    ['DATABASE_HOST', 'db.internal:5432', 'DATABASE_HOST: must be a host name or IPv4 address (no scheme, port or path)'],
    ['DATABASE_NAME', 'pay ments', 'DATABASE_NAME: must be a PostgreSQL database name (letters, digits, _ and $, at most 63)'],
    ['DATABASE_NAME', 'p'.repeat(64), 'DATABASE_NAME: must be a PostgreSQL database name (letters, digits, _ and $, at most 63)'],
  ])('%s=%s: %s', (name, value, problem) => {
    expect(problemsOf({ ...BASE_TEST_ENV, ...PARTS, [name]: value })).toEqual([problem]);
  });

  it.each([
    ['DATABASE_PORT', '1'],
    ['DATABASE_PORT', '65535'],
    ['DATABASE_HOST', '10.0.3.17'],
    ['DATABASE_NAME', 'p'.repeat(63)],
    ['DATABASE_CREDENTIALS_ARN', 'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:payments/db_master+x=y.z@w-AbCdEf'],
  ])('accepts %s=%s', (name, value) => {
    expect(problemsOf({ ...BASE_TEST_ENV, ...PARTS, [name]: value })).toEqual([]);
  });
});
