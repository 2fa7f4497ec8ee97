import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { TYPES, ofType } from '../../infra/policies/types';
import { verifyToken } from '../../service/security';
import { UsageError } from '../../scripts/lib/cli';
import { opsToken, parseOpsEnv, resolveOpsTarget } from '../../scripts/lib/ops-env';
import { runProgram } from '../infra/harness';

/**
 * Where the operational commands act. `local` reads the environment over env/local.env as
 * `npm start` does; `staging` and `production` read the stack's outputs and Secrets Manager. The
 * AWS half runs on the outputs of this repository's own Pulumi program (runtime mocks) and a
 * Secrets Manager mocked with aws-sdk-client-mock (no AWS here), so a renamed or missing export
 * fails here and not on the first rollback.
 */
jest.setTimeout(300_000);

let dir: string;
let localEnvFile: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'upiik-ops-env-'));
  localEnvFile = join(dir, 'local.env');
  writeFileSync(localEnvFile, 'PORT=3000\nSANDBOX_PORT=12111\nSTRIPE_SECRET_KEY=sk_test_from_file\nAUTH_JWT_SECRET=file-jwt-secret-0123456789-0123456789-abc\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--env', () => {
  test('accepts the three names and refuses anything else as a usage error', () => {
    expect(parseOpsEnv('local')).toBe('local');
    expect(parseOpsEnv('production')).toBe('production');
    expect(() => parseOpsEnv('prod')).toThrow(new UsageError('--env must be one of local, staging, production, got prod'));
    expect(() => parseOpsEnv(undefined)).toThrow(UsageError);
  });
});

describe('local', () => {
  test("is the stack npm start runs: the file's values, the environment's over them", async () => {
    const fromFile = await resolveOpsTarget('local', { env: {}, localEnvFile });
    expect(fromFile).toMatchObject({
      env: 'local',
      serviceUrl: 'http://127.0.0.1:3000',
      webhookUrl: 'http://127.0.0.1:3000/api/webhooks/stripe',
      stripe: { secretKey: 'sk_test_from_file', apiBase: 'http://127.0.0.1:12111' },
      auth: { secret: 'file-jwt-secret-0123456789-0123456789-abc' },
    });
    expect(fromFile.aws).toBeUndefined();
    const overridden = await resolveOpsTarget('local', { env: { PORT: '4000', SANDBOX_PORT: '4111', AUTH_JWT_SECRET: 'env-jwt-secret-0123456789-0123456789-xyz' }, localEnvFile });
    expect(overridden).toMatchObject({ serviceUrl: 'http://127.0.0.1:4000', webhookUrl: 'http://127.0.0.1:4000/api/webhooks/stripe', stripe: { apiBase: 'http://127.0.0.1:4111' }, auth: { secret: 'env-jwt-secret-0123456789-0123456789-xyz' } });
  });

  test('refuses a live key: local is the sandbox', async () => {
    await expect(resolveOpsTarget('local', { env: { STRIPE_SECRET_KEY: 'sk_live_abc' }, localEnvFile })).rejects.toThrow('a live key is refused');
  });

  test('signs a five-minute admin token for ops:<who> that the service accepts', async () => {
    const target = await resolveOpsTarget('local', { env: {}, localEnvFile });
    const token = await opsToken(target, 'run-1234');
    const user = await verifyToken(target.auth, token);
    expect(user).toMatchObject({ id: 'ops:run-1234', role: 'admin' });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };
    expect(claims.exp - claims.iat).toBe(300);
  });
});

// One mock for the file: mockClient stubs the client's prototype, so a second one would replace the first.
const sm = mockClient(SecretsManagerClient);
afterEach(() => sm.reset());

describe.each(['staging', 'production'] as const)('%s, from the stack outputs of this repository\'s program', (stack) => {
  let outputs: Record<string, unknown>;
  let secretArns: Set<unknown>;
  beforeAll(async () => {
    const run = await runProgram(stack);
    outputs = run.outputs;
    secretArns = new Set(ofType(run.resources, TYPES.secret).map((s) => s.props.arn));
  });

  test('reads the service URL, endpoint, prices and in-cluster settings from the outputs and the two secrets it needs by ARN', async () => {
    const opsArns = outputs.opsSecretArns as { authJwtSecret: string; stripeSecretKey: string; stripeWebhookSecret: string };
    // The ARNs are this stack's own secrets.
    for (const arn of Object.values(opsArns)) expect(secretArns.has(arn)).toBe(true);
    sm.on(GetSecretValueCommand, { SecretId: opsArns.authJwtSecret }).resolves({ SecretString: 'stack-jwt-secret-0123456789-0123456789' });
    sm.on(GetSecretValueCommand, { SecretId: opsArns.stripeSecretKey }).resolves({ SecretString: 'sk_test_stack_key' });
    const target = await resolveOpsTarget(stack, { env: { AUTH_JWT_SECRET: 'never-this-one-0123456789-0123456789' }, localEnvFile, stackOutputs: async () => outputs, secretsManager: () => new SecretsManagerClient({ region: 'eu-central-1' }) });
    expect(target).toMatchObject({
      env: stack,
      serviceUrl: outputs.serviceUrl,
      webhookUrl: outputs.webhookUrl,
      stripe: { secretKey: 'sk_test_stack_key', prices: outputs.priceIds, endpointId: outputs.webhookEndpointId },
      auth: { secret: 'stack-jwt-secret-0123456789-0123456789' },
      aws: { clusterName: outputs.clusterName, taskDefinitionFamily: outputs.taskDefinitionFamily, logGroupName: outputs.logGroupName, privateSubnetIds: outputs.privateSubnetIds },
    });
    expect(target.stripe.apiBase).toBeUndefined();
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId).sort()).toEqual([opsArns.authJwtSecret, opsArns.stripeSecretKey].sort());
  });

  test('names every output it lacks, and the secret it could not read (never a value)', async () => {
    const { webhookEndpointId: _w, opsSecretArns: _o, ...partial } = outputs;
    await expect(resolveOpsTarget(stack, { env: {}, stackOutputs: async () => partial })).rejects.toThrow(
      `the ${stack} stack's outputs lack webhookEndpointId, opsSecretArns.authJwtSecret, opsSecretArns.stripeSecretKey, opsSecretArns.stripeWebhookSecret`,
    );
    sm.on(GetSecretValueCommand).rejects(new Error('AccessDeniedException: not authorized'));
    const failure = resolveOpsTarget(stack, { env: {}, stackOutputs: async () => outputs, secretsManager: () => new SecretsManagerClient({ region: 'eu-central-1' }) });
    await expect(failure).rejects.toThrow(/could not read the (JWT secret|Stripe secret key) from Secrets Manager \(arn:aws:secretsmanager:[^)]+\): AccessDeniedException/);
  });
});
