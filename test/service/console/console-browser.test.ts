import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { upsertUser } from '../../../service/checkout/repository';
import type { Dashboard } from '../../../service/dashboard';
import type { TestService } from '../../support/service';
import { waitUntil } from '../../support/wait';
import { startWebhookService, subscribe } from '../webhooks/support';

/**
 * The admin console in real headless Chromium (Debian's `chromium`, driven by playwright-core; no
 * browser download), against a service whose data came through the sandbox and the real webhook
 * path. Skipped, saying so, where no Chromium is installed (.ci/run installs it).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = join(__dirname, '../../../reports/console');
/** Page-side code as strings (this project compiles without the DOM library); evaluated by the driver, not by the page's CSP. */
const storeToken = (token: string) => `sessionStorage.setItem('upiik.adminToken', ${JSON.stringify(token)})`;
const suite = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) process.stderr.write(`console-browser: skipped, no Chromium at ${CHROMIUM}; install it (apt-get install -y chromium) or set CHROMIUM_PATH\n`);

suite('admin console in Chromium', () => {
  let svc: TestService;
  let browser: Browser;
  let page: Page;
  let admin: string;
  const problems: string[] = [];

  beforeAll(async () => {
    svc = await startWebhookService();
    admin = await svc.tokenFor({ id: 'admin_console', admin: true });
    for (const [i, city] of ['Paris', 'Lyon', 'Paris'].entries()) {
      const userId = `console_user_${i}`;
      await upsertUser(svc.database.db, { id: userId, city });
      await subscribe(svc, userId, { plan: i === 1 ? 'yearly' : 'monthly' });
    }
    // Every subscription's first invoice paid and recorded through the webhook path.
    await waitUntil(
      async () => {
        const d = await dashboardApi('?timeframe=7d');
        return d.revenue.transactionCount === 3 && d.summary.premiumUsers === 3;
      },
      { what: 'three paid subscriptions on the dashboard', intervalMs: 200 },
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'fr-FR' });
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await svc?.close();
  });

  async function dashboardApi(query = ''): Promise<Dashboard> {
    const res = await fetch(`${svc.url}/api/admin/payments/dashboard${query}`, { headers: { authorization: `Bearer ${admin}` } });
    return (await res.json()) as Dashboard;
  }
  async function signIn(token: string) {
    await page.goto(`${svc.url}/admin`);
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  const kpi = async (key: string) => Number(await page.locator(`[data-kpi="${key}"]`).getAttribute('data-value'));

  test('a user token is told it is not an admin token, and stays on sign-in', async () => {
    await signIn(await svc.tokenFor({ id: 'console_user_0' }));
    await page.getByText('This token is not an admin token').waitFor();
    expect(await page.evaluate("sessionStorage.getItem('upiik.adminToken')")).toBeNull();
  });

  test('signed in, the KPI tiles show the API figures, and the overview is saved as a screenshot', async () => {
    await signIn(admin);
    await page.locator('[data-kpi="revenue"]').waitFor();
    const d = await dashboardApi();
    expect(await kpi('revenue')).toBe(d.revenue.total);
    expect(await kpi('net')).toBe(d.revenue.net);
    expect(await kpi('mrr')).toBe(d.subscriptions.mrr);
    expect(await kpi('premium')).toBe(d.summary.premiumUsers);
    expect(await kpi('conversion')).toBe(d.subscriptions.conversionRate);
    expect(await kpi('failed')).toBe(d.revenue.failedPayments);
    expect(d.revenue.total).toBe(400 + 3000 + 400);
    // fr-FR with the currency: 38,00 € (a narrow no-break space before €).
    expect(await page.locator('[data-kpi="revenue"] .value').textContent()).toMatch(/^38,00\s€$/);
    await expect(page.getByRole('table', { name: 'Revenue by city' }).textContent()).resolves.toContain('Paris');
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('main').innerText()).not.toMatch(/\bnull\b|\bundefined\b|NaN|\[object/);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'overview.png'), fullPage: true });
  });

  test('the timeframe is in the URL and switching it redraws the chart with that many days', async () => {
    await page.getByRole('link', { name: '7 days' }).click();
    await page.locator('.chart[data-points="7"]').waitFor();
    expect(page.url()).toMatch(/#\/overview\?timeframe=7d$/);
    await page.getByRole('link', { name: '90 days' }).click();
    await page.locator('.chart[data-points="90"]').waitFor();
    await page.locator('#from').fill('2026-01-01');
    await page.locator('#to').fill('2026-01-10');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('.chart[data-points="10"]').waitFor();
    expect(page.url()).toMatch(/timeframe=custom&from=2026-01-01&to=2026-01-10$/);
    // A shared link opens the same view.
    const other = await browser.newPage();
    await other.goto(`${svc.url}/admin#/overview?timeframe=7d`);
    await other.evaluate(storeToken(admin));
    await other.reload();
    await other.locator('.chart[data-points="7"]').waitFor();
    await other.close();
  });

  test('maintenance on from the page, then off behind a confirmation', async () => {
    await page.goto(`${svc.url}/admin#/overview?timeframe=7d`);
    await page.locator('[data-maintenance="off"]').waitFor();
    await page.getByLabel('Reason').fill('console test');
    await page.getByRole('button', { name: 'Start maintenance' }).click();
    await page.locator('[data-maintenance="on"]').waitFor();
    expect(await (await fetch(`${svc.url}/api/payments/status`)).json()).toMatchObject({ maintenance: true, reason: 'console test' });
    await page.getByRole('button', { name: 'End maintenance…' }).click();
    await page.getByRole('button', { name: 'Keep maintenance' }).click();
    expect(await (await fetch(`${svc.url}/api/payments/status`)).json()).toMatchObject({ maintenance: true });
    await page.getByRole('button', { name: 'End maintenance…' }).click();
    await page.locator('#confirm-off-yes').click();
    await page.locator('[data-maintenance="off"]').waitFor();
    expect(await (await fetch(`${svc.url}/api/payments/status`)).json()).toMatchObject({ maintenance: false });
  });

  test("the user page shows local and Stripe records, and Force sync shows what it did and lands in the audit trail", async () => {
    await page.getByRole('link', { name: 'User lookup' }).click();
    await page.getByLabel('User id').fill('console_user_1');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByRole('heading', { name: 'User console_user_1' }).waitFor();
    await expect(page.getByRole('table', { name: 'Local subscriptions' }).textContent()).resolves.toContain('yearly');
    await expect(page.getByRole('table', { name: 'Subscriptions in Stripe' }).textContent()).resolves.toContain('active');
    await page.getByRole('button', { name: 'Force sync from Stripe' }).click();
    await page.getByRole('heading', { name: 'Sync done' }).waitFor();
    expect(await page.locator('#sync-result [data-field="premium"]').textContent()).toBe('true');
    await expect(page.getByRole('table', { name: 'Latest admin actions on this user' }).textContent()).resolves.toContain('payments.user_sync');
  });

  test('keyboard only: Tab reaches the period links and Enter switches the period', async () => {
    await page.goto(`${svc.url}/admin#/overview?timeframe=30d`);
    await page.locator('.chart[data-points="30"]').waitFor();
    await page.locator('body').focus();
    let focused = '';
    for (let i = 0; i < 15 && focused !== '7 days'; i++) {
      await page.keyboard.press('Tab');
      focused = String(await page.evaluate('document.activeElement && document.activeElement.textContent'));
    }
    expect(focused).toBe('7 days');
    await page.keyboard.press('Enter');
    await page.locator('.chart[data-points="7"]').waitFor();
  });

  test('on a 375 px phone the overview fits the screen width', async () => {
    const phone = await browser.newPage({ viewport: { width: 375, height: 800 } });
    await phone.goto(`${svc.url}/admin`);
    await phone.evaluate(storeToken(admin));
    await phone.goto(`${svc.url}/admin#/overview?timeframe=30d`);
    await phone.locator('[data-kpi="revenue"]').waitFor();
    await phone.locator('.chart canvas').first().waitFor();
    expect(await phone.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await phone.screenshot({ path: join(SCREENSHOTS, 'overview-phone.png'), fullPage: true });
    await phone.close();
  });

  test('a token the API refuses later sends the user back to sign-in with a message', async () => {
    await page.evaluate(storeToken('not-a-token'));
    await page.goto(`${svc.url}/admin#/overview`);
    await page.getByText('Your session ended').waitFor();
    await page.getByLabel('Admin token').waitFor();
  });

  test('no script error and no Content-Security-Policy violation on any page', () => {
    // The refusals the tests provoke on purpose (a user token: 403; a junk token: 401) are the only ones.
    expect(problems.filter((p) => !/status of 40[13]/.test(p))).toEqual([]);
    expect(problems.length).toBeGreaterThan(0);
  });
});
