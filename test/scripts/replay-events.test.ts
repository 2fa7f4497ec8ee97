import { join } from 'node:path';
import { main, parseReplayArgs, UsageError } from '../../scripts/replay-events';
import type { TestService } from '../support/service';
import { SETTLE_MS } from '../support/wait';
import { startWebhookService, subscribe } from '../service/webhooks/support';

describe('replay-events arguments', () => {
  const now = new Date('2026-11-20T00:00:00Z');

  test('parses --since, --types, --dry-run and --json', () => {
    expect(parseReplayArgs(['--since', '2026-11-19T10:00:00Z', '--types', 'invoice.payment_failed,customer.subscription.updated', '--dry-run', '--json'], now)).toEqual({
      since: new Date('2026-11-19T10:00:00Z'),
      types: ['invoice.payment_failed', 'customer.subscription.updated'],
      dryRun: true,
      json: true,
      yes: false,
    });
  });

  test.each([
    [[], /--since is required/],
    [['--since', 'yesterday'], /not an ISO time/],
    [['--since', '2026-10-01T00:00:00Z'], /more than 30 days/],
    [['--since', '2026-11-21T00:00:00Z'], /in the future/],
    [['--since', '2026-11-19T00:00:00Z', '--types', 'DROP TABLE'], /not an event type/],
    [['--since', '2026-11-19T00:00:00Z', '--bogus'], /Unknown option/],
    [['--env', 'staging', '--since', '2026-11-19T00:00:00Z'], /--env staging needs --in-cluster/],
    [['--env', 'local', '--in-cluster', '--since', '2026-11-19T00:00:00Z'], /--in-cluster is for --env staging\|production/],
    [['--since', '2026-11-19T00:00:00Z', '--who', 'me'], /only with --env local/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseReplayArgs(argv as string[], now)).toThrow(UsageError);
    expect(() => parseReplayArgs(argv as string[], now)).toThrow(message);
  });
});

test('--env local names the ops token\'s actor (--who, else the local user)', () => {
  expect(parseReplayArgs(['--env', 'local', '--since', '2026-11-19T10:00:00Z'], new Date('2026-11-20T00:00:00Z'), { USER: 'oncall' })).toMatchObject({ local: { who: 'oncall' } });
  expect(parseReplayArgs(['--env', 'local', '--who', 'ann', '--since', '2026-11-19T10:00:00Z'], new Date('2026-11-20T00:00:00Z'))).toMatchObject({ local: { who: 'ann' } });
});

test('--env staging|production without --in-cluster is exit 2, saying to add --in-cluster (a runner cannot reach the database)', async () => {
  let stderr = '';
  const code = await main(['--env', 'production', '--since', new Date(Date.now() - 60_000).toISOString()], {}, { stderr: (s) => (stderr += s), connect: () => Promise.reject(new Error('must not connect')) });
  expect(code).toBe(2);
  expect(stderr).toMatch(/--env production needs --in-cluster: nothing outside the cluster/);
});

describe('replay-events command', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startWebhookService();
  });
  afterAll(async () => {
    await svc.close();
  });

  const run = async (argv: string[], env: NodeJS.ProcessEnv = { NODE_ENV: 'test' }) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, env, { connect: async () => ({ deps: svc.deps, close: async () => undefined }), stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
    return { code, out: out.join(''), err: err.join('') };
  };

  test('refuses NODE_ENV=production without --yes, before touching anything', async () => {
    const result = await run(['--since', new Date(Date.now() - 60_000).toISOString()], { NODE_ENV: 'production' });
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/--yes/);
  });

  test('replays missed events with a JSON summary and exit 0; the dry run writes nothing', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    await svc.stripe.webhookEndpoints.update(svc.webhookEndpointId, { disabled: true });
    await subscribe(svc, 'user_script_replay');
    await svc.sandbox.control.waitForDeliveries(SETTLE_MS);

    const dry = await run(['--since', since, '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.out)).toMatchObject({ dryRun: true, applied: 5, alreadyApplied: 0, failed: 0 });
    expect(await svc.database.db.selectFrom('payments').select('id').execute()).toHaveLength(0);

    const real = await run(['--since', since, '--json']);
    expect(real.code).toBe(0);
    expect(JSON.parse(real.out)).toMatchObject({ seen: 5, applied: 5, failed: 0 });
    expect(await svc.database.db.selectFrom('payments').select('id').execute()).toHaveLength(1);

    const text = await run(['--since', since]);
    expect(text.out).toMatch(/already applied 5/);
  });

  test('--env local: the replay runs in the running service through its admin API (dry run and --types honoured), audited as ops:<who>', async () => {
    // The previous test's events are a second older than `since` (Stripe's times are in seconds).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const since = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    await subscribe(svc, 'user_local_replay');
    await svc.sandbox.control.waitForDeliveries(SETTLE_MS);
    const local = async (argv: string[]) => {
      let out = '';
      let err = '';
      const env = { PORT: new URL(svc.url).port, SANDBOX_PORT: new URL(svc.sandbox.url).port, STRIPE_SECRET_KEY: 'sk_test_replay', AUTH_JWT_SECRET: svc.config.auth.secret, USER: 'oncall' };
      // No connect: --env local must reach the service over HTTP, never the database.
      const code = await main(['--env', 'local', '--since', since, ...argv], env, { stdout: (s) => (out += s), stderr: (s) => (err += s), opsEnv: { localEnvFile: join(__dirname, 'no-such.env') } });
      return { code, out, err };
    };
    const subscriptions = () => svc.database.db.selectFrom('subscriptions').select('id').where('user_id', '=', 'user_local_replay').execute();

    const dry = await local(['--dry-run', '--types', 'customer.subscription.created', '--json']);
    expect({ code: dry.code, err: dry.err }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(dry.out)).toMatchObject({ dryRun: true, seen: 1, applied: 1, alreadyApplied: 0, failed: 0 });
    expect(await subscriptions()).toHaveLength(0);

    const real = await local([]);
    expect({ code: real.code, err: real.err }).toEqual({ code: 0, err: '' });
    expect(real.out).toBe('replay-events:\n  seen            5\n  applied         5 (1 superseded by a later state of their subscription in the same second)\n  already applied 0\n  failed          0\n');
    expect(await subscriptions()).toHaveLength(1);
    expect((await local([])).out).toMatch(/already applied 5/);

    const audited = await svc.database.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'ops.replay').orderBy('id').execute();
    expect(audited.map((a) => [a.actor, (a.details as { dryRun: boolean }).dryRun, (a.details as { types: unknown }).types])).toEqual([
      ['ops:oncall', true, ['customer.subscription.created']],
      ['ops:oncall', false, null],
      ['ops:oncall', false, null],
    ]);
  });
});
