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
  ])('rejects %j', (argv, message) => {
    expect(() => parseReplayArgs(argv as string[], now)).toThrow(UsageError);
    expect(() => parseReplayArgs(argv as string[], now)).toThrow(message);
  });
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
});
