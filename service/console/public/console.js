// The admin console: a client of the admin API, nothing more. No build step: a browser ES module
// served as is by the service (service/console/router.ts). Every value from the API reaches the page
// through textContent or attributes, never as HTML.
import uPlot from '/admin/vendor/uPlot.esm.js';

const TOKEN_KEY = 'upiik.adminToken';
const main = document.getElementById('main');
const nav = document.getElementById('nav');

// ---------------------------------------------------------------- formatting (fr-FR, minor units)
const money = (minor, currency = 'eur') =>
  new Intl.NumberFormat('fr-FR', { style: 'currency', currency: currency.toUpperCase() }).format(minor / 100);
const count = (n) => new Intl.NumberFormat('fr-FR').format(n);
const percent = (ratio) => new Intl.NumberFormat('fr-FR', { style: 'percent', maximumFractionDigits: 1 }).format(ratio);
const dateTime = (iso) => (iso ? new Intl.DateTimeFormat('fr-FR', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso)) : '—');
const shortDay = new Intl.DateTimeFormat('fr-FR', { day: 'numeric', month: 'short', timeZone: 'UTC' });
const day = (iso) => new Intl.DateTimeFormat('fr-FR', { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(`${iso}T00:00:00Z`));

// ---------------------------------------------------------------- DOM helpers
/** h('tag.class', {attr}, ...children): children are nodes or text (never parsed as HTML). */
function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag);
  if (classes.length) el.className = classes.join(' ');
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  return el;
}
const show = (...nodes) => main.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
const stateLine = (text, kind = '') => h(`p.state${kind ? `.${kind}` : ''}`, { role: kind === 'error' ? 'alert' : 'status' }, text);

function table(caption, headers, rows, empty) {
  if (rows.length === 0) return h('p.empty', {}, empty);
  return h(
    'div.table-wrap',
    { tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', {}, h('caption', {}, caption), h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))),
  );
}

// ---------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

async function api(path, { method = 'GET', body, token = sessionStorage.getItem(TOKEN_KEY) } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { error: { message: 'The service cannot be reached' } });
  }
  const payload = await res.json().catch(() => null);
  if (res.status === 401 && path.startsWith('/api/admin')) {
    sessionStorage.removeItem(TOKEN_KEY);
    go('#/signin', 'Your session ended: the token expired or was refused. Sign in again.');
    throw new ApiError(401, payload);
  }
  if (!res.ok && !(path === '/api/payments/health' && res.status === 503 && payload)) throw new ApiError(res.status, payload);
  return payload;
}

// ---------------------------------------------------------------- routing (#/page?query)
let flash = '';
function go(hash, message = '') {
  flash = message;
  if (location.hash === hash) render();
  else location.hash = hash;
}
function route() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  return { parts: path.split('/').filter(Boolean), params: new URLSearchParams(query) };
}

async function render() {
  const { parts, params } = route();
  const signedIn = Boolean(sessionStorage.getItem(TOKEN_KEY));
  nav.hidden = !signedIn;
  if (!signedIn || parts[0] === 'signin') return signIn();
  for (const link of nav.querySelectorAll('[data-nav]')) link.toggleAttribute('aria-current', link.dataset.nav === (parts[0] ?? 'overview'));
  if (parts[0] === 'user') return userPage(parts[1] ? decodeURIComponent(parts[1]) : '');
  return overview(params);
}

// ---------------------------------------------------------------- sign-in
function signIn() {
  const message = flash;
  flash = '';
  const error = h('p.error', { role: 'alert', id: 'signin-error' }, message);
  const input = h('textarea', { id: 'token', name: 'token', rows: 4, required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-help signin-error' });
  const form = h(
    'form.card.signin',
    {
      onsubmit: async (event) => {
        event.preventDefault();
        const token = input.value.trim();
        error.textContent = 'Checking the token…';
        try {
          await api('/api/admin/payments/dashboard?timeframe=7d', { token });
        } catch (err) {
          error.textContent = err.status === 403 ? 'This token is not an admin token: the console needs role "admin".' : err.status === 401 ? `This token was refused: ${err.message}.` : err.message;
          return;
        }
        sessionStorage.setItem(TOKEN_KEY, token);
        go('#/overview');
      },
    },
    h('h1', {}, 'Sign in'),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    h('p.help', { id: 'token-help' }, 'Paste an admin token (locally: npm run -s token -- --user you --admin). It is kept in this tab only and forgotten when the tab closes.'),
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  );
  nav.hidden = true;
  show(form);
  input.focus();
}

// ---------------------------------------------------------------- overview
const TIMEFRAMES = [
  ['7d', '7 days'],
  ['30d', '30 days'],
  ['90d', '90 days'],
];

function timeframeControls(params, period) {
  const current = params.get('timeframe') ?? '30d';
  const from = h('input', { type: 'date', id: 'from', name: 'from', value: params.get('from') ?? period?.start ?? '', required: true });
  const to = h('input', { type: 'date', id: 'to', name: 'to', value: params.get('to') ?? period?.end ?? '', required: true });
  return h(
    'div.timeframe',
    { role: 'group', 'aria-label': 'Period' },
    TIMEFRAMES.map(([value, label]) => h('a.chip', { href: `#/overview?timeframe=${value}`, 'aria-current': current === value ? 'true' : undefined, 'data-timeframe': value }, label)),
    h(
      'form.custom',
      { onsubmit: (e) => (e.preventDefault(), go(`#/overview?timeframe=custom&from=${from.value}&to=${to.value}`)) },
      h('label', { for: 'from' }, 'From'),
      from,
      h('label', { for: 'to' }, 'to'),
      to,
      h('button', { type: 'submit', 'aria-current': current === 'custom' ? 'true' : undefined }, 'Apply'),
    ),
  );
}

/** A KPI tile: value, and its change against the previous period (up is good unless `lowerIsBetter`). */
function tile(key, label, value, previous, format, { lowerIsBetter = false } = {}) {
  let trend = 'no previous figure';
  let direction = 'flat';
  if (previous !== undefined && previous !== null) {
    if (previous === 0) trend = value === 0 ? 'unchanged' : 'new';
    else trend = `${value >= previous ? '+' : ''}${percent((value - previous) / Math.abs(previous))}`;
    direction = value === previous ? 'flat' : value > previous !== lowerIsBetter ? 'good' : 'bad';
  }
  return h(
    'section.tile',
    { 'data-kpi': key, 'data-value': value, 'aria-label': label },
    h('h2', {}, label),
    h('p.value', {}, format(value)),
    h(`p.trend.${direction}`, {}, `${trend} vs previous period (${format(previous ?? 0)})`),
  );
}

let chart;
function revenueChart(d) {
  const wrap = h('div.chart', { 'data-points': d.revenue.daily.length, 'data-start': d.period.start, 'data-end': d.period.end, role: 'img', 'aria-label': `Daily revenue from ${day(d.period.start)} to ${day(d.period.end)}` });
  const xs = d.revenue.daily.map((x) => Date.parse(`${x.date}T00:00:00Z`) / 1000);
  const data = [xs, d.revenue.daily.map((x) => x.totalRevenue / 100), d.revenue.daily.map((x) => x.net / 100)];
  const euros = (v) => (v === null || v === undefined ? '—' : money(v * 100, d.revenue.currency));
  chart?.destroy();
  requestAnimationFrame(() => {
    const width = Math.max(280, wrap.clientWidth);
    chart = new uPlot(
      {
        width,
        height: 260,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'UTC'),
        scales: { x: { time: true } },
        axes: [{ values: (_u, ticks) => ticks.map((t) => shortDay.format(new Date(t * 1000))) }, { values: (_u, ticks) => ticks.map((t) => euros(t)), size: 80 }],
        series: [{ label: 'Day', value: (_u, ts) => (ts ? day(new Date(ts * 1000).toISOString().slice(0, 10)) : '—') }, { label: 'Revenue', stroke: '#2f6fde', fill: 'rgba(47,111,222,0.12)', value: (_u, v) => euros(v) }, { label: 'Net', stroke: '#1a8f5a', value: (_u, v) => euros(v) }],
      },
      data,
      wrap,
    );
  });
  return wrap;
}

function healthPanel() {
  const panel = h('section.card.health', { 'aria-labelledby': 'health-title' }, h('h2', { id: 'health-title' }, 'Payment health (live)'), stateLine('Loading…'));
  api('/api/payments/health')
    .then((hl) => {
      const rateRow = (name, r) => [name, percent(r.rate), `${count(r.failed)} / ${count(r.total)}`, `${percent(r.thresholds.degraded)} / ${percent(r.thresholds.critical)}`, r.sampleTooSmall ? 'sample too small' : r.status];
      panel.replaceChildren(
        h('h2', { id: 'health-title' }, 'Payment health (live)'),
        h(`p.badge.${hl.status}`, { 'data-health': hl.status }, hl.status),
        hl.window ? table('Failure rates in the window', ['rate', 'value', 'failed / total', 'degraded / critical above', 'status'], [rateRow('Payments', hl.window.paymentFailure), rateRow('Webhooks', hl.window.webhookFailure)], '') : stateLine('The database is unavailable: no rates.', 'error'),
        hl.reasons?.length ? h('ul.reasons', {}, hl.reasons.map((r) => h('li', {}, r))) : h('p.help', {}, `Checked ${dateTime(hl.checkedAt)}`),
      );
    })
    .catch((err) => panel.replaceChildren(h('h2', { id: 'health-title' }, 'Payment health (live)'), stateLine(`Health is unavailable: ${err.message}`, 'error')));
  return panel;
}

const DURATIONS = [
  [900, '15 minutes'],
  [3600, '1 hour'],
  [14400, '4 hours'],
  [86400, '24 hours'],
];

function maintenancePanel() {
  const panel = h('section.card.maintenance', { 'aria-labelledby': 'maintenance-title' });
  const title = h('h2', { id: 'maintenance-title' }, 'Maintenance');
  const load = () =>
    api('/api/payments/status')
      .then((st) => {
        const state = h('p.badge', { 'data-maintenance': st.maintenance ? 'on' : 'off', class: `badge ${st.maintenance ? 'critical' : 'healthy'}` }, st.maintenance ? 'Payments are in maintenance' : 'Payments are open');
        const detail = st.maintenance ? h('p', {}, `${st.reason ? `Reason: ${st.reason}. ` : ''}Until ${dateTime(st.until)}.`) : null;
        const message = h('p.help', { role: 'status' });
        if (st.maintenance) {
          const dialog = h(
            'dialog',
            { id: 'confirm-off', 'aria-labelledby': 'confirm-off-title' },
            h(
              'form',
              { method: 'dialog' },
              h('h3', { id: 'confirm-off-title' }, 'End maintenance?'),
              h('p', {}, 'Checkout and the billing portal open again for every user.'),
              h('div.actions', {}, h('button', { value: 'cancel', type: 'submit' }, 'Keep maintenance'), h('button.danger', { value: 'confirm', type: 'submit', id: 'confirm-off-yes' }, 'End maintenance')),
            ),
          );
          dialog.addEventListener('close', async () => {
            if (dialog.returnValue !== 'confirm') return;
            try {
              await api('/api/admin/payments/maintenance', { method: 'DELETE' });
              load();
            } catch (err) {
              message.textContent = `Could not end maintenance: ${err.message}`;
            }
          });
          panel.replaceChildren(...[title, state, detail].filter(Boolean), h('button.danger', { type: 'button', id: 'maintenance-off', onclick: () => dialog.showModal() }, 'End maintenance…'), dialog, message);
        } else {
          const reason = h('input', { id: 'maintenance-reason', name: 'reason', maxlength: 200, placeholder: 'e.g. Stripe incident' });
          const duration = h('select', { id: 'maintenance-duration', name: 'duration' }, DURATIONS.map(([s, label]) => h('option', { value: s, selected: s === 3600 }, label)));
          const form = h(
            'form.inline',
            {
              onsubmit: async (e) => {
                e.preventDefault();
                try {
                  await api('/api/admin/payments/maintenance', { method: 'POST', body: { ...(reason.value.trim() ? { reason: reason.value.trim() } : {}), ttlSeconds: Number(duration.value) } });
                  load();
                } catch (err) {
                  message.textContent = `Could not start maintenance: ${err.message}`;
                }
              },
            },
            h('label', { for: 'maintenance-reason' }, 'Reason'),
            reason,
            h('label', { for: 'maintenance-duration' }, 'For'),
            duration,
            h('button', { type: 'submit', id: 'maintenance-on' }, 'Start maintenance'),
          );
          panel.replaceChildren(title, state, form, message);
        }
      })
      .catch((err) => panel.replaceChildren(title, stateLine(`Maintenance state is unavailable: ${err.message}`, 'error')));
  panel.append(title, stateLine('Loading…'));
  load();
  return panel;
}

async function overview(params) {
  const query = new URLSearchParams();
  for (const key of ['timeframe', 'from', 'to', 'tz']) if (params.get(key)) query.set(key, params.get(key));
  show(h('h1', {}, 'Overview'), timeframeControls(params), stateLine('Loading the dashboard…'));
  let d;
  try {
    d = await api(`/api/admin/payments/dashboard${query.size ? `?${query}` : ''}`);
  } catch (err) {
    if (err.status === 401) return;
    show(h('h1', {}, 'Overview'), timeframeControls(params), stateLine(err.status === 403 ? 'This token is not an admin token.' : `The dashboard could not be loaded: ${err.message}`, 'error'));
    return;
  }
  const r = d.revenue;
  const cur = r.currency;
  const s = d.subscriptions;
  const empty = r.transactionCount === 0 && r.failedPayments === 0 && r.refunds === 0;
  show(
    h('h1', {}, 'Overview'),
    timeframeControls(params, d.period),
    h('p.period', { 'data-period': `${d.period.start}/${d.period.end}` }, `${day(d.period.start)} – ${day(d.period.end)} (${d.period.tz}), compared with ${day(d.period.previous.start)} – ${day(d.period.previous.end)}`),
    h(
      'div.tiles',
      {},
      tile('revenue', 'Revenue', r.total, r.previous.total, (v) => money(v, cur)),
      tile('net', 'Net revenue', r.net, r.previous.net, (v) => money(v, cur)),
      tile('mrr', 'MRR', s.mrr, s.previous.mrr, (v) => money(v, s.currency)),
      tile('premium', 'Premium users', d.summary.premiumUsers, d.summary.previous.premiumUsers, count),
      tile('conversion', 'Conversion rate', s.conversionRate, s.previous.conversionRate, percent),
      tile('failed', 'Failed payments', r.failedPayments, r.previous.failedPayments, count, { lowerIsBetter: true }),
    ),
    h('section.card', { 'aria-labelledby': 'chart-title' }, h('h2', { id: 'chart-title' }, 'Daily revenue'), empty ? h('p.empty', {}, 'No payment in this period.') : null, revenueChart(d)),
    h(
      'div.columns',
      {},
      h('section.card', { 'aria-labelledby': 'plans-title' }, h('h2', { id: 'plans-title' }, 'Plans'), table('Active subscriptions by plan', ['plan', 'subscriptions', 'MRR'], s.active.map((p) => [p.plan, count(p.count), money(p.revenue, p.currency)]), 'No active subscription.'), h('p.help', {}, `${count(s.newInPeriod)} new and ${count(s.canceledInPeriod)} canceled in the period (previous: ${count(s.previous.newInPeriod)} and ${count(s.previous.canceledInPeriod)}).`)),
      h('section.card', { 'aria-labelledby': 'cities-title' }, h('h2', { id: 'cities-title' }, 'Top cities'), table('Revenue by city', ['city', 'revenue', 'payments'], d.geographic.map((c) => [c.city, money(c.revenue, c.currency), count(c.transactions)]), 'No revenue in this period.')),
    ),
    d.currencies ? h('section.card', { 'aria-labelledby': 'currencies-title' }, h('h2', { id: 'currencies-title' }, 'By currency'), table('Each currency on its own', ['currency', 'revenue', 'refunded', 'net', 'failed'], d.currencies.map((c) => [c.currency.toUpperCase(), money(c.total, c.currency), money(c.refunded, c.currency), money(c.net, c.currency), count(c.failedPayments)]), '')) : null,
    h('div.columns', {}, healthPanel(), maintenancePanel()),
    h('p.help', {}, `Users: ${count(d.summary.totalUsers)} (${count(d.summary.premiumUsers)} premium, ${count(d.summary.freeUsers)} free). Refunds: ${money(r.refunded, cur)} (${count(r.refunds)}). Disputes opened: ${count(r.disputesOpened)}.`),
  );
}

// ---------------------------------------------------------------- user page
async function userPage(userId) {
  const input = h('input', { id: 'user-id', name: 'userId', value: userId, required: true, pattern: '[A-Za-z0-9_\\-:.@]{1,128}', autocomplete: 'off' });
  const search = h('form.inline.card', { role: 'search', onsubmit: (e) => (e.preventDefault(), go(`#/user/${encodeURIComponent(input.value.trim())}`)) }, h('label', { for: 'user-id' }, 'User id'), input, h('button', { type: 'submit' }, 'Look up'));
  if (!userId) {
    show(h('h1', {}, 'User lookup'), search);
    input.focus();
    return;
  }
  show(h('h1', {}, 'User lookup'), search, stateLine(`Loading ${userId}…`));
  let u;
  try {
    u = await api(`/api/admin/payments/users/${encodeURIComponent(userId)}`);
  } catch (err) {
    if (err.status === 401) return;
    show(h('h1', {}, 'User lookup'), search, stateLine(err.status === 404 ? `No user ${userId} is known to the payments service.` : `The user could not be loaded: ${err.message}`, 'error'));
    return;
  }
  const { local, stripe } = u;
  const syncResult = h('div.sync-result', { role: 'status', id: 'sync-result' });
  const syncButton = h(
    'button',
    {
      type: 'button',
      id: 'force-sync',
      onclick: async () => {
        syncButton.disabled = true;
        syncResult.replaceChildren(stateLine('Syncing from Stripe…'));
        try {
          const summary = await api(`/api/admin/payments/users/${encodeURIComponent(userId)}/sync`, { method: 'POST', body: {} });
          await userPage(userId);
          const result = document.getElementById('sync-result');
          result.replaceChildren(h('h3', {}, 'Sync done'), h('dl.summary', {}, Object.entries(summary).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-field': k }, typeof v === 'object' ? JSON.stringify(v) : String(v))])));
        } catch (err) {
          syncButton.disabled = false;
          syncResult.replaceChildren(stateLine(`Sync failed: ${err.message}`, 'error'));
        }
      },
    },
    'Force sync from Stripe',
  );
  show(
    h('h1', {}, 'User lookup'),
    search,
    h(
      'section.card',
      { 'aria-labelledby': 'local-title' },
      h('h2', { id: 'local-title' }, `User ${local.user.id}`),
      h(
        'dl.summary',
        {},
        h('dt', {}, 'Email'),
        h('dd', {}, local.user.email ?? '—'),
        h('dt', {}, 'City'),
        h('dd', {}, local.user.city ?? 'unknown'),
        h('dt', {}, 'Premium'),
        h('dd', { 'data-field': 'premium' }, local.user.is_premium ? 'yes' : 'no'),
        h('dt', {}, 'Internal'),
        h('dd', {}, local.user.is_internal ? 'yes (left out of the dashboard)' : 'no'),
        h('dt', {}, 'Stripe customer'),
        h('dd', {}, local.customer?.customer_id ?? 'none yet'),
      ),
      syncButton,
      syncResult,
    ),
    h('section.card', { 'aria-labelledby': 'subs-title' }, h('h2', { id: 'subs-title' }, 'Subscriptions (local)'), table('Local subscriptions', ['id', 'plan', 'status', 'amount', 'period end'], local.subscriptions.map((x) => [x.id, x.plan, x.status, x.amount === null ? '—' : money(x.amount, x.currency ?? 'eur'), dateTime(x.current_period_end)]), 'No subscription recorded.')),
    h('section.card', { 'aria-labelledby': 'payments-title' }, h('h2', { id: 'payments-title' }, 'Payments (latest 50)'), table('Local payments', ['when', 'amount', 'status', 'refunded', 'failed attempts'], local.payments.map((p) => [dateTime(p.occurred_at), money(p.amount, p.currency), p.status, money(p.refunded_amount, p.currency), count(p.failed_attempts)]), 'No payment recorded.')),
    h(
      'section.card',
      { 'aria-labelledby': 'stripe-title' },
      h('h2', { id: 'stripe-title' }, 'Stripe (live)'),
      stripe ? table('Subscriptions in Stripe', ['id', 'status', 'cancel at period end'], stripe.subscriptions.map((x) => [x.id, x.status, x.cancel_at_period_end ? 'yes' : 'no']), 'No subscription in Stripe.') : h('p.empty', {}, 'No Stripe customer yet.'),
    ),
    h('section.card', { 'aria-labelledby': 'audit-title' }, h('h2', { id: 'audit-title' }, 'Audit trail'), table('Latest admin actions on this user', ['when', 'who', 'what'], local.audit.map((a) => [dateTime(a.at), a.actor, a.action]), 'No admin action on this user.')),
  );
}

// ---------------------------------------------------------------- start
document.getElementById('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  go('#/signin', 'Signed out.');
});
window.addEventListener('hashchange', () => {
  render();
  main.focus({ preventScroll: true });
});
render();
