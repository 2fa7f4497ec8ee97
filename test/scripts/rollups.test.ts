import { join } from 'node:path';
import { sql } from 'kysely';
import { main, parseRollupsArgs, UsageError } from '../../scripts/rollups';
import { upsertUser } from '../../service/checkout/repository';
import type { Database } from '../../service/shared/db';
import { recordPayment } from '../../service/webhooks/effects/payments';
import { recordRefund } from '../../service/webhooks/effects/refunds';
import { createTestDatabase, type TestDatabase } from '../support/database';
import type { TestService } from '../support/service';
import { startWebhookService } from '../service/webhooks/support';

describe('rollups arguments', () => {
  test.each([
    [['--check'], { action: 'check', json: false, yes: false }],
    [['--rebuild', '--json', '--yes'], { action: 'rebuild', json: true, yes: true }],
    [['--add-zone', 'America/New_York'], { action: 'add-zone', zone: 'America/New_York', json: false, yes: false }],
  ])('parses %j', (argv, expected) => {
    expect(parseRollupsArgs(argv)).toEqual(expected);
  });

  test.each([
    [[], /exactly one of --check, --rebuild, --add-zone/],
    [['--check', '--rebuild'], /exactly one of/],
    [['--add-zone', 'Mars/Olympus'], /--add-zone: not an IANA time zone: Mars\/Olympus/],
    [['--check', '--bogus'], /Unknown option/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseRollupsArgs(argv as string[])).toThrow(UsageError);
    expect(() => parseRollupsArgs(argv as string[])).toThrow(message);
  });
});

// The suite's database is on the real server exactly when DATABASE_URL is set (test/support/database.ts).
const onPostgres = Boolean(process.env.DATABASE_URL);

describe('rollups command', () => {
  let database: TestDatabase;
  let db: Database;
  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, env, { connect: async () => ({ db, close: async () => undefined }), stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
    return { code, stdout, stderr };
  };
  const pay = (key: string, userId: string, amount: number, at: string) =>
    db.transaction().execute((trx) => recordPayment(trx, { paymentKey: key, userId, amount, currency: 'eur', outcome: 'succeeded', occurredAt: new Date(at), stripeTime: Date.parse(at) / 1000 }));

  beforeAll(async () => {
    database = await createTestDatabase();
    db = database.db;
    await upsertUser(db, { id: 'u_paris', city: 'Paris' });
    await upsertUser(db, { id: 'u_lyon', city: 'Lyon' });
    await pay('in_1', 'u_paris', 400, '2026-11-20T10:00:00Z');
    await pay('in_2', 'u_lyon', 3000, '2026-11-20T23:30:00Z');
    await db.transaction().execute((trx) =>
      recordRefund(trx, {
        refundId: 're_1', paymentKey: 'in_2', userId: 'u_lyon', chargeId: null, paymentIntentId: null, amount: 1000, currency: 'eur',
        status: 'succeeded', reason: null, failureReason: null, refundedAt: new Date('2026-11-21T08:00:00Z'), stripeTime: 1_790_000_000,
      }),
    );
  }, 120_000);
  afterAll(async () => database?.close());

  test('--check on rollups kept by the ledger writers: equal, exit 0', async () => {
    const { code, stdout } = await run(['--check']);
    expect(code).toBe(0);
    expect(stdout).toBe('rollups check: zones Europe/Paris, UTC; 5 rows compared; 0 differ\nrollups check: subscription and user rollups: 0 rows differ\n');
  });

  test('--check finds a changed, a missing and a spurious row (exit 1); --rebuild repairs exactly those; a second --rebuild changes nothing', async () => {
    await sql`update dashboard_rollups set gross_amount = gross_amount + 1 where zone = 'UTC' and city = 'Paris'`.execute(db);
    await sql`delete from dashboard_rollups where zone = 'Europe/Paris' and day = '2026-11-21' and city = 'Lyon'`.execute(db);
    await sql`insert into dashboard_rollups (zone, day, currency, city, refunds) values ('UTC', '2026-01-01', 'eur', 'Nowhere', 2)`.execute(db);

    const check = await run(['--check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toBe(
      [
        'rollups check: zones Europe/Paris, UTC; 6 rows compared; 3 differ',
        '  Europe/Paris 2026-11-21 eur Lyon: gross_amount 0 -> 3000, payments_succeeded 0 -> 1, refunded_amount 0 -> 1000, refunds 0 -> 1',
        '  UTC 2026-01-01 eur Nowhere: refunds 2 -> 0',
        '  UTC 2026-11-20 eur Paris: gross_amount 401 -> 400',
        'rollups check: subscription and user rollups: 0 rows differ',
        '  repair: npm run rollups -- --rebuild',
        '',
      ].join('\n'),
    );
    const rebuild = await run(['--rebuild', '--json']);
    expect(rebuild.code).toBe(0);
    expect(JSON.parse(rebuild.stdout).differences).toHaveLength(3);
    expect(await run(['--rebuild'])).toMatchObject({ code: 0, stdout: 'rollups rebuild: zones Europe/Paris, UTC; 5 rows compared; 0 repaired\nrollups rebuild: subscription and user rollups: 0 rows repaired\n' });
    expect((await run(['--check'])).code).toBe(0);
  });

  // Two connections at once: the real server only (PGlite serialises everything behind one).
  (onPostgres ? test : test.skip)('--rebuild while a webhook transaction holds uncommitted ledger rows: it waits, and nothing is counted twice or lost', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let wrote!: () => void;
    const written = new Promise<void>((resolve) => (wrote = resolve));
    const webhook = db.transaction().execute(async (trx) => {
      await recordPayment(trx, { paymentKey: 'in_race', userId: 'u_paris', amount: 700, currency: 'eur', outcome: 'succeeded', occurredAt: new Date('2026-11-22T10:00:00Z'), stripeTime: 1_790_000_100 });
      wrote();
      await held;
    });
    await written;
    let rebuilt = false;
    const rebuild = run(['--rebuild']).then((r) => ((rebuilt = true), r));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(rebuilt).toBe(false);
    release();
    await webhook;
    expect((await rebuild).stdout).toMatch(/ 0 repaired\nrollups rebuild: subscription and user rollups: 0 rows repaired\n$/);
    expect((await run(['--check'])).code).toBe(0);
  });

  test('--add-zone fills the zone from the ledger once; the second time changes nothing', async () => {
    expect(await run(['--add-zone', 'America/New_York'])).toMatchObject({ code: 0, stdout: 'rollups: America/New_York added and filled from the ledger\n' });
    const { rows } = await sql<{ day: string; gross: string }>`
      select to_char(day, 'YYYY-MM-DD') as day, sum(gross_amount)::text as gross from dashboard_rollups where zone = 'America/New_York' group by day order by day`.execute(db);
    expect(rows.filter((r) => r.gross !== '0')[0]).toEqual({ day: '2026-11-20', gross: '3400' });
    expect(await run(['--add-zone', 'America/New_York'])).toMatchObject({ code: 0, stdout: 'rollups: America/New_York already has rollups; nothing changed\n' });
    expect((await run(['--check'])).code).toBe(0);
  });

  test('NODE_ENV=production: --rebuild and --add-zone need --yes; --check does not', async () => {
    expect(await run(['--rebuild'], { NODE_ENV: 'production' })).toMatchObject({ code: 2, stderr: expect.stringContaining('--rebuild writes the production database') });
    expect(await run(['--add-zone', 'Asia/Tokyo'], { NODE_ENV: 'production' })).toMatchObject({ code: 2 });
    expect((await run(['--check'], { NODE_ENV: 'production' })).code).toBe(0);
  });
});


describe('rollups --env local: --check and --rebuild in the running service, through its admin API', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startWebhookService();
  }, 120_000);
  afterAll(async () => svc?.close());

  // No connect: --env local reaches the service over HTTP, never the database.
  const local = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const env = { PORT: new URL(svc.url).port, SANDBOX_PORT: new URL(svc.sandbox.url).port, STRIPE_SECRET_KEY: 'sk_test_rollups', AUTH_JWT_SECRET: svc.config.auth.secret, USER: 'oncall' };
    const code = await main(argv, env, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), opsEnv: { localEnvFile: join(__dirname, 'no-such.env') } });
    return { code, stdout, stderr };
  };

  test('a spurious rollup row: --check lists it (exit 1), --rebuild repairs it (audited with actor and reason), --check is then equal', async () => {
    await sql`insert into dashboard_rollups (zone, day, currency, city, refunds) values ('UTC', '2026-01-01', 'eur', 'Nowhere', 2)`.execute(svc.database.db);
    const check = await local(['--env', 'local', '--check']);
    expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 1, stderr: '' });
    expect(check.stdout).toBe(
      [
        'rollups check: zones Europe/Paris, UTC; 1 rows compared; 1 differ',
        '  UTC 2026-01-01 eur Nowhere: refunds 2 -> 0',
        'rollups check: subscription and user rollups: 0 rows differ',
        '  repair: npm run rollups -- --rebuild',
        '',
      ].join('\n'),
    );
    const rebuild = await local(['--env', 'local', '--rebuild', '--reason', 'test repair', '--json']);
    expect(rebuild.code).toBe(0);
    expect(JSON.parse(rebuild.stdout)).toMatchObject({ action: 'rebuild', differences: [{ zone: 'UTC', city: 'Nowhere' }], peopleDifferences: [] });
    expect(await local(['--env', 'local', '--check'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/; 0 differ\n/) });

    const audited = await svc.database.db.selectFrom('audit_log').select(['actor', 'action', 'target', 'details']).where('action', 'like', 'ops.rollups.%').orderBy('id').execute();
    expect(audited).toEqual([
      { actor: 'ops:oncall', action: 'ops.rollups.check', target: 'payments:rollups', details: { reason: null, rowsCompared: 1, differences: 1, peopleDifferences: 0 } },
      { actor: 'ops:oncall', action: 'ops.rollups.rebuild', target: 'payments:rollups', details: { reason: 'test repair', rowsCompared: 1, differences: 1, peopleDifferences: 0 } },
      { actor: 'ops:oncall', action: 'ops.rollups.check', target: 'payments:rollups', details: { reason: null, rowsCompared: 0, differences: 0, peopleDifferences: 0 } },
    ]);
  });

  test.each([
    [['--env', 'staging', '--check'], '--env staging needs --in-cluster'],
    [['--env', 'production', '--rebuild', '--yes'], '--env production needs --in-cluster'],
    [['--env', 'local', '--add-zone', 'Asia/Tokyo'], 'stop npm start and run it without --env'],
    [['--env', 'local'], 'exactly one of --check, --rebuild'],
  ])('%j is exit 2 with its reason, before anything is touched', async (argv, message) => {
    const result = await local(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
