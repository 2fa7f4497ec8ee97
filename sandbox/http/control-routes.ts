import type http from 'node:http';
import type { SandboxControl } from '../control';
import type { Engine } from '../engine';
import type { DeliveryFaults } from '../events/delivery';
import { StripeApiError } from './errors';
import { sendJson } from './server';
import { renderCheckoutPage, renderPortalPage } from './pages';

/**
 * `/_sandbox/...` (JSON in, JSON out) and the hosted pages. No API key: these exist only in the
 * sandbox, for tests and for a developer's browser.
 */
export function createOtherHandler(engine: Engine, control: SandboxControl) {
  return async (req: http.IncomingMessage, res: http.ServerResponse, body: string, url: URL): Promise<boolean> => {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    let json: Record<string, unknown> = {};
    if (body) {
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        sendJson(res, 400, { error: { type: 'invalid_request_error', message: 'Control API bodies are JSON.' } });
        return true;
      }
    }
    const page = /^\/(checkout|billing_portal)\/([^/]+)$/.exec(path);
    if (method === 'GET' && page) {
      const html = page[1] === 'checkout' ? renderCheckoutPage(engine, decodeURIComponent(page[2] as string)) : renderPortalPage(engine, decodeURIComponent(page[2] as string));
      res.writeHead(html ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(html ?? '<!doctype html><title>Not found</title><p>No such session.</p>');
      return true;
    }
    if (!path.startsWith('/_sandbox/')) return false;
    const complete = /^\/_sandbox\/checkout_sessions\/([^/]+)\/complete$/.exec(path);
    const dispute = /^\/_sandbox\/charges\/([^/]+)\/dispute$/.exec(path);
    const closeDispute = /^\/_sandbox\/disputes\/([^/]+)\/close$/.exec(path);
    const failRefund = /^\/_sandbox\/refunds\/([^/]+)\/fail$/.exec(path);
    try {
      if (method === 'POST' && complete) {
        const pm = typeof json.payment_method === 'string' ? json.payment_method : 'pm_card_visa';
        sendJson(res, 200, await control.completeCheckoutSession(decodeURIComponent(complete[1] as string), pm));
      } else if (method === 'POST' && dispute) {
        const amount = json.amount === undefined ? undefined : Number(json.amount);
        const reason = typeof json.reason === 'string' ? json.reason : undefined;
        sendJson(res, 200, await control.openDispute(decodeURIComponent(dispute[1] as string), { reason, amount }));
      } else if (method === 'POST' && closeDispute) {
        if (json.outcome !== 'won' && json.outcome !== 'lost') throw new StripeApiError('outcome must be "won" or "lost"', { status: 400, type: 'invalid_request_error', param: 'outcome' });
        sendJson(res, 200, await control.closeDispute(decodeURIComponent(closeDispute[1] as string), json.outcome));
      } else if (method === 'POST' && failRefund) {
        const failureReason = typeof json.failure_reason === 'string' ? json.failure_reason : undefined;
        sendJson(res, 200, await control.failRefund(decodeURIComponent(failRefund[1] as string), failureReason));
      } else if (method === 'POST' && path === '/_sandbox/reset') {
        control.reset();
        sendJson(res, 200, { ok: true, now: control.now() });
      } else if (method === 'GET' && path === '/_sandbox/clock') {
        sendJson(res, 200, { now: control.now() });
      } else if (method === 'POST' && path === '/_sandbox/clock/advance') {
        const seconds = Number(json.seconds);
        if (!Number.isFinite(seconds) || seconds < 0) throw new StripeApiError('seconds must be a non-negative number', { status: 400, type: 'invalid_request_error', param: 'seconds' });
        sendJson(res, 200, await control.advanceClock(seconds));
      } else if (method === 'POST' && path === '/_sandbox/search-index-lag') {
        const seconds = Number(json.seconds);
        if (!Number.isFinite(seconds) || seconds < 0) throw new StripeApiError('seconds must be a non-negative number', { status: 400, type: 'invalid_request_error', param: 'seconds' });
        control.setSearchIndexLag(seconds);
        sendJson(res, 200, { seconds });
      } else if (method === 'POST' && path === '/_sandbox/api-latency') {
        const ms = Number(json.ms);
        if (!Number.isFinite(ms) || ms < 0) throw new StripeApiError('ms must be a non-negative number', { status: 400, type: 'invalid_request_error', param: 'ms' });
        control.setApiLatency(ms);
        sendJson(res, 200, { ms });
      } else if (method === 'POST' && path === '/_sandbox/faults') {
        control.setFaults(json as DeliveryFaults);
        sendJson(res, 200, { ok: true });
      } else if (method === 'DELETE' && path === '/_sandbox/faults') {
        control.clearFaults();
        sendJson(res, 200, { ok: true });
      } else if (method === 'GET' && path === '/_sandbox/deliveries') {
        const q = Object.fromEntries(url.searchParams);
        sendJson(res, 200, { object: 'list', data: control.deliveries(q) });
      } else if (method === 'POST' && path === '/_sandbox/deliveries/wait') {
        await control.waitForDeliveries(typeof json.timeout_ms === 'number' ? json.timeout_ms : undefined);
        sendJson(res, 200, { ok: true });
      } else if (method === 'POST' && (path === '/_sandbox/deliveries/pause' || path === '/_sandbox/deliveries/resume')) {
        if (path.endsWith('pause')) control.pauseDeliveries();
        else control.resumeDeliveries();
        sendJson(res, 200, { ok: true });
      } else {
        return false;
      }
    } catch (err) {
      if (err instanceof StripeApiError) sendJson(res, err.status, err.toBody());
      else sendJson(res, path.endsWith('/wait') ? 408 : 500, { error: { type: 'api_error', message: (err as Error).message } });
    }
    return true;
  };
}
