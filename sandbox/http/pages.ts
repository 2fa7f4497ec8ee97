import type { Engine } from '../engine';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function money(amount: number | null, currency: string | null): string {
  return `${((amount ?? 0) / 100).toFixed(2)} ${(currency ?? 'usd').toUpperCase()}`;
}

/**
 * The hosted Checkout stand-in: two buttons that call the same completion endpoint tests use,
 * then follow success_url or cancel_url (with `{CHECKOUT_SESSION_ID}` filled in, as Stripe does).
 */
export function renderCheckoutPage(engine: Engine, id: string): string | undefined {
  const session = engine.state.checkoutSessions.get(id);
  if (!session) return undefined;
  const items = (engine.state.checkoutLineItems.get(id) ?? [])
    .map((li) => `<li>${escapeHtml(li.description ?? 'Item')} × ${li.quantity ?? 1}: ${money(li.amount_total, li.currency)}</li>`)
    .join('');
  const fill = (url: string | null): string => (url ?? '').replace('{CHECKOUT_SESSION_ID}', session.id);
  const config = JSON.stringify({
    complete: `/_sandbox/checkout_sessions/${encodeURIComponent(id)}/complete`,
    success: fill(session.success_url),
    cancel: fill(session.cancel_url),
  }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox Checkout</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto}button{font-size:1rem;padding:.6rem 1rem;margin-right:.5rem}#msg{color:#b00}</style>
</head><body>
<h1>Stripe sandbox checkout</h1>
<p>Session <code>${escapeHtml(session.id)}</code> · mode ${escapeHtml(session.mode)} · status <strong>${escapeHtml(session.status ?? '')}</strong></p>
<ul>${items}</ul>
<p>Total: <strong>${money(session.amount_total, session.currency)}</strong></p>
${session.status === 'open' ? '<button id="pay">Pay with test card</button><button id="decline">Decline</button>' : '<p>This session is no longer open.</p>'}
<p id="msg"></p>
<script>
const cfg = ${config};
async function complete(pm, after) {
  const res = await fetch(cfg.complete, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ payment_method: pm }) });
  const body = await res.json();
  if (res.ok) { location.href = cfg.success; return; }
  document.getElementById('msg').textContent = (body.error && body.error.message) || 'Payment failed';
  if (after) setTimeout(() => { location.href = after; }, 1500);
}
const pay = document.getElementById('pay');
if (pay) pay.onclick = () => complete('pm_card_visa');
const decline = document.getElementById('decline');
if (decline) decline.onclick = () => complete('pm_card_chargeDeclined', cfg.cancel);
</script>
</body></html>`;
}

/** A minimal portal: shows the customer's subscriptions and links back to return_url. */
export function renderPortalPage(engine: Engine, id: string): string | undefined {
  const session = engine.state.portalSessions.get(id);
  if (!session) return undefined;
  const subs = [...engine.state.subscriptions.values()]
    .filter((s) => s.customer === session.customer)
    .map((s) => `<li><code>${escapeHtml(s.id)}</code>: ${escapeHtml(s.status)}${s.cancel_at_period_end ? ' (cancels at period end)' : ''}</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox billing portal</title></head><body>
<h1>Stripe sandbox billing portal</h1>
<p>Customer <code>${escapeHtml(session.customer)}</code></p>
<ul>${subs || '<li>No subscriptions</li>'}</ul>
${session.return_url ? `<p><a href="${escapeHtml(session.return_url)}">Return</a></p>` : ''}
</body></html>`;
}
