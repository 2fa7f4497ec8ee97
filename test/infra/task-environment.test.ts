import { ConfigError, DEFAULT_DATABASE_CA_FILE, loadConfig } from '../../service/shared/config';
import { TYPES, ofType } from '../../infra/policies/types';
import { MOCK_IMAGE, type ProgramRun, runProgram, type StackName } from './harness';

/**
 * The task definition and the service's configuration contract are one contract: the plain
 * environment Pulumi declares, plus a well-formed value for each secret passed by valueFrom, must
 * be accepted by the service's own schema (a variable the service needs but the task definition
 * forgets, or a value it refuses, stops every task at startup).
 */

interface Container {
  environment?: { name: string; value: string }[];
  secrets?: { name: string; valueFrom: string }[];
}

/** Stand-ins of the right shape per stack for what Secrets Manager holds (no real secret here). */
const SECRET_STAND_INS: Record<StackName, Record<string, string>> = {
  staging: { STRIPE_SECRET_KEY: 'sk_test_standin0123456789' },
  production: { STRIPE_SECRET_KEY: 'sk_live_standin0123456789' },
};
const COMMON_STAND_INS: Record<string, string> = {
  STRIPE_WEBHOOK_SECRET: 'whsec_standin0123456789',
  DATABASE_URL: 'postgres://payments:standin@db.internal:5432/payments',
  REDIS_URL: 'rediss://:standin-token-0123456789@cache.internal:6379',
  AUTH_JWT_SECRET: 'standin-jwt-secret-0123456789-0123456789',
  REDIS_AUTH_TOKEN: 'standin-token-0123456789',
  METRICS_AUTH_TOKEN: 'standin-metrics-token-0123456789',
};

type DatabaseMode = 'rds' | 'external';
const MODES: [StackName, DatabaseMode][] = [['staging', 'rds'], ['production', 'rds'], ['staging', 'external'], ['production', 'external']];
const overridesFor = (mode: DatabaseMode): Record<string, string> => (mode === 'external' ? { databaseMode: 'external', databaseUrl: 'postgres://payments:ext-db-password@db.example.net:5432/payments' } : {});

function containerOf(run: ProgramRun): Container {
  const [td] = ofType(run.resources, TYPES.taskDefinition);
  const raw = td?.props.containerDefinitions;
  return ((typeof raw === 'string' ? JSON.parse(raw) : raw) as Container[])[0]!;
}

describe.each(MODES)('the %s task definition with the %s database', (stack, mode) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(stack, overridesFor(mode));
  });

  test("declares an environment the service's config schema accepts, including the token lifetime bounds", () => {
    const app = containerOf(run);
    const env: Record<string, string> = {};
    for (const { name, value } of app.environment ?? []) env[name] = value;
    for (const { name } of app.secrets ?? []) {
      const standIn = SECRET_STAND_INS[stack][name] ?? COMMON_STAND_INS[name];
      if (standIn === undefined) throw new Error(`no stand-in for secret ${name}: add one of the right shape`);
      env[name] = standIn;
    }
    let problems: string[] = [];
    let config: ReturnType<typeof loadConfig> | undefined;
    try {
      config = loadConfig(env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual([]);
    // What runs is named by the image's digest (the ops status shows it).
    expect(config?.version).toBe(MOCK_IMAGE.split('@')[1]);
    expect(config?.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(env.AUTH_TOKEN_MAX_LIFETIME_SECONDS).toBe('86400');
    expect(env.AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS).toBe('3600');
    // Optional for the schema, required here: /metrics behind a token, the web app's origin allowed.
    expect((app.secrets ?? []).map((s) => s.name)).toContain('METRICS_AUTH_TOKEN');
    expect((app.environment ?? []).map((e) => e.name)).not.toContain('METRICS_AUTH_TOKEN');
    expect(env.CORS_ALLOWED_ORIGINS).toBe(stack === 'production' ? 'https://upiik.app' : 'https://staging.upiik.app');
    // The service connects the way the stack means: parts with RDS, the URL otherwise.
    expect(config?.database.parts !== undefined).toBe(mode === 'rds');
    expect(config?.database.url !== undefined).toBe(mode === 'external');
  });

  test('keeps the replaced revision registered, so a rollback can return to it', () => {
    const [td] = ofType(run.resources, TYPES.taskDefinition);
    expect(td?.props.skipDestroy).toBe(true);
  });

  test('passes every secret the service reads in production by valueFrom from a secret of this stack', () => {
    const app = containerOf(run);
    const secretArns = new Set(ofType(run.resources, TYPES.secret).map((s) => s.props.arn));
    const names = (app.secrets ?? []).map((s) => s.name).sort();
    const database = mode === 'external' ? ['DATABASE_URL'] : [];
    expect(names).toEqual(['AUTH_JWT_SECRET', ...database, 'METRICS_AUTH_TOKEN', 'REDIS_URL', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'].sort());
    for (const { valueFrom } of app.secrets ?? []) expect(secretArns.has(valueFrom)).toBe(true);
  });

  test(mode === 'rds'
    ? "finds the stack's RDS instance by plain host, port and name, and its RDS-managed credentials secret by ARN"
    : 'declares no database parts and no RDS instance', () => {
    const env = Object.fromEntries((containerOf(run).environment ?? []).map(({ name, value }) => [name, value]));
    const [db, ...more] = ofType(run.resources, TYPES.dbInstance);
    if (mode === 'external') {
      expect(db).toBeUndefined();
      expect(Object.keys(env).filter((k) => k.startsWith('DATABASE_'))).toEqual([]);
      return;
    }
    expect(more).toEqual([]);
    const secretArn = (db?.props.masterUserSecrets as { secretArn: string }[])[0]?.secretArn;
    expect(secretArn).toMatch(/^arn:aws:secretsmanager:eu-central-1:\d{12}:secret:rds!db-/);
    expect(env).toMatchObject({
      DATABASE_HOST: db?.props.address, DATABASE_PORT: '5432', DATABASE_NAME: 'payments', DATABASE_CREDENTIALS_ARN: secretArn, DATABASE_CA_FILE: DEFAULT_DATABASE_CA_FILE,
    });
    // Created with the instance, RDS's own: never one of the stack's Secrets Manager resources.
    expect(ofType(run.resources, TYPES.secret).map((s) => s.props.arn)).not.toContain(secretArn);
  });
});
