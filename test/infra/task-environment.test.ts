import { ConfigError, loadConfig } from '../../service/shared/config';
import { TYPES, ofType } from '../../infra/policies/types';
import { runProgram, type StackName } from './harness';

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

describe.each<StackName>(['staging', 'production'])('the %s task definition', (stack) => {
  test("declares an environment the service's config schema accepts, including the token lifetime bounds", async () => {
    const run = await runProgram(stack);
    const [td] = ofType(run.resources, TYPES.taskDefinition);
    const raw = td?.props.containerDefinitions;
    const containers = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Container[];
    const app = containers[0]!;
    const env: Record<string, string> = {};
    for (const { name, value } of app.environment ?? []) env[name] = value;
    for (const { name } of app.secrets ?? []) {
      const standIn = SECRET_STAND_INS[stack][name] ?? COMMON_STAND_INS[name];
      if (standIn === undefined) throw new Error(`no stand-in for secret ${name}: add one of the right shape`);
      env[name] = standIn;
    }
    let problems: string[] = [];
    try {
      loadConfig(env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual([]);
    expect(env.AUTH_TOKEN_MAX_LIFETIME_SECONDS).toBe('86400');
    expect(env.AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS).toBe('3600');
    // Optional for the schema, required here: /metrics behind a token, the web app's origin allowed.
    expect((app.secrets ?? []).map((s) => s.name)).toContain('METRICS_AUTH_TOKEN');
    expect((app.environment ?? []).map((e) => e.name)).not.toContain('METRICS_AUTH_TOKEN');
    expect(env.CORS_ALLOWED_ORIGINS).toBe(stack === 'production' ? 'https://upiik.app' : 'https://staging.upiik.app');
  });

  test('passes every secret the service reads in production by valueFrom from a secret of this stack', async () => {
    const run = await runProgram(stack);
    const [td] = ofType(run.resources, TYPES.taskDefinition);
    const app = (JSON.parse(String(td?.props.containerDefinitions)) as Container[])[0]!;
    const secretArns = new Set(ofType(run.resources, TYPES.secret).map((s) => s.props.arn));
    const names = (app.secrets ?? []).map((s) => s.name).sort();
    expect(names).toEqual(['AUTH_JWT_SECRET', 'DATABASE_URL', 'METRICS_AUTH_TOKEN', 'REDIS_URL', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET']);
    for (const { valueFrom } of app.secrets ?? []) expect(secretArns.has(valueFrom)).toBe(true);
  });
});
