import { seedDemo } from '../../scripts/lib/demo';
import type { RunningSandbox } from '../../sandbox';
import { checkRollups } from '../../service/dashboard/rollup-check';
import type { Dashboard } from '../../service/dashboard';
import { issueToken } from '../../service/security';
import type { TestService } from '../support/service';
import { startWebhookService } from '../service/webhooks/support';

/**
 * `npm run seed-demo`'s population, shortened to 12 days: played through the service's checkout API
 * and the sandbox's webhooks on a clock started in the past, it leaves a dashboard whose figures are
 * the sandbox's own (every paid invoice counted once, on its day) and rollups equal to the ledger.
 */
const DAY = 86_400;
let svc: TestService & { ownSandbox: RunningSandbox };
let sandbox: RunningSandbox;

beforeAll(async () => {
  svc = await startWebhookService({ clockStart: Math.floor(Date.now() / 1000) - 12 * DAY });
  sandbox = svc.ownSandbox;
}, 120_000);
afterAll(async () => svc?.close());

test('twelve demo days: the dashboard counts exactly the invoices Stripe says were paid, and the rollups equal the ledger', async () => {
  const summary = await seedDemo({
    serviceUrl: svc.url,
    sandbox,
    stripe: svc.stripe,
    days: 12,
    signupsPerDay: 6,
    tokenFor: (user) => issueToken(svc.config.auth, { userId: user.id, email: user.email, city: user.city }),
  });
  expect(summary.users).toBeGreaterThan(40);
  expect(summary.checkouts).toBeGreaterThan(30);
  expect(sandbox.control.now()).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) - 5);

  const paid: number[] = [];
  for await (const invoice of svc.stripe.invoices.list({ status: 'paid', limit: 100 })) paid.push(invoice.amount_paid);
  const admin = await svc.tokenFor({ id: 'admin_demo', admin: true });
  const res = await fetch(`${svc.url}/api/admin/payments/dashboard?timeframe=30d`, { headers: { authorization: `Bearer ${admin}` } });
  const d = (await res.json()) as Dashboard;
  expect(d.revenue.transactionCount).toBe(paid.length);
  expect(d.revenue.total).toBe(paid.reduce((s, a) => s + a, 0));
  expect(d.revenue.daily.filter((x) => x.transactionCount > 0).length).toBeGreaterThanOrEqual(10);
  expect(d.geographic[0]?.city).toBe('Paris');
  expect(d.summary.totalUsers).toBe(summary.users);
  const check = await checkRollups(svc.database.db);
  expect(check.differences).toEqual([]);
  // Every subscription and user the writers saw, counted as their tables say.
  expect(check.peopleDifferences).toEqual([]);
  expect(d.subscriptions.newInPeriod).toBe(summary.checkouts);
}, 300_000);
