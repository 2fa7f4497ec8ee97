import http from 'node:http';
import type { Engine } from '../engine';
import { newId } from '../ids';
import { RENDERED_API_VERSION } from '../events/emit';
import { parseForm, FormObject } from './form';
import { Router } from './router';
import { StripeApiError, unrecognizedUrl } from './errors';
import { IdempotencyStore } from './idempotency';
import { expandResponse } from './expand';

export interface SandboxHttpDeps {
  engine: Engine;
  api: Router;
  /** `/_sandbox/...` control routes and hosted pages; answered without an API key. */
  handleOther: (req: http.IncomingMessage, res: http.ServerResponse, body: string, url: URL) => Promise<boolean>;
  idempotency: IdempotencyStore;
}

const TEST_KEY = /^(sk|rk)_test_[A-Za-z0-9_]+$/;
const LIVE_KEY = /^(sk|rk|pk)_live_/;
const MAX_BODY = 1024 * 1024;

export function createSandboxServer(deps: SandboxHttpDeps): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      void handle(deps, req, res, body).catch((err: unknown) => {
        deps.engine.log(`sandbox internal error: ${(err as Error).stack ?? String(err)}`);
        if (!res.headersSent) sendJson(res, 500, { error: { type: 'api_error', message: 'Sandbox internal error' } });
      });
    });
  });
}

async function handle(deps: SandboxHttpDeps, req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sandbox.local');
  if (!url.pathname.startsWith('/v1/')) {
    if (await deps.handleOther(req, res, body, url)) return;
    sendJson(res, 404, unrecognizedUrl(req.method ?? 'GET', url.pathname).toBody());
    return;
  }
  if (deps.engine.apiLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, deps.engine.apiLatencyMs));
  const requestId = newId('req', 14);
  res.setHeader('Request-Id', requestId);
  res.setHeader('Stripe-Version', RENDERED_API_VERSION);
  let apiKey: string;
  try {
    apiKey = authenticate(req.headers.authorization);
  } catch (err) {
    sendJson(res, (err as StripeApiError).status, (err as StripeApiError).toBody());
    return;
  }
  const method = req.method ?? 'GET';
  const idempotencyKey = method === 'POST' ? headerValue(req.headers['idempotency-key']) : undefined;
  if (idempotencyKey) res.setHeader('Idempotency-Key', idempotencyKey);
  try {
    if (idempotencyKey) {
      const replay = deps.idempotency.begin(apiKey, idempotencyKey, `${method} ${url.pathname}\n${body}`);
      if (replay) {
        res.setHeader('Idempotent-Replayed', 'true');
        sendRaw(res, replay.status, replay.body);
        return;
      }
    }
  } catch (err) {
    sendJson(res, (err as StripeApiError).status, (err as StripeApiError).toBody());
    return;
  }
  const { status, text, executed } = runApi(deps, method, url, body, requestId, idempotencyKey);
  if (idempotencyKey) deps.idempotency.complete(apiKey, idempotencyKey, status, text, executed);
  sendRaw(res, status, text);
}

function runApi(
  deps: SandboxHttpDeps,
  method: string,
  url: URL,
  body: string,
  requestId: string,
  idempotencyKey: string | undefined,
): { status: number; text: string; executed: boolean } {
  const { engine } = deps;
  try {
    const route = deps.api.match(method, url.pathname);
    if (!route) throw unrecognizedUrl(method, url.pathname);
    const params: FormObject = method === 'POST' ? parseForm(body) : parseForm(url.search.slice(1));
    engine.events.currentRequest = { id: requestId, idempotency_key: idempotencyKey ?? null };
    let result: unknown;
    try {
      result = route.handler({ engine, params, path: route.path, method, url: url.pathname });
    } finally {
      engine.events.currentRequest = null;
    }
    const expand = params.expand;
    const paths = Array.isArray(expand) ? expand.filter((p): p is string => typeof p === 'string') : typeof expand === 'string' ? [expand] : [];
    return { status: 200, text: JSON.stringify(expandResponse(engine, result, paths)), executed: true };
  } catch (err) {
    if (err instanceof StripeApiError) {
      // Card errors happen after the request executed, so Stripe replays them; validation does not.
      return { status: err.status, text: JSON.stringify(err.toBody()), executed: err.status === 402 };
    }
    engine.log(`sandbox internal error on ${method} ${url.pathname}: ${(err as Error).stack ?? String(err)}`);
    return { status: 500, text: JSON.stringify({ error: { type: 'api_error', message: 'Sandbox internal error' } }), executed: false };
  }
}

function authenticate(header: string | undefined): string {
  let key: string | undefined;
  if (header?.startsWith('Bearer ')) key = header.slice(7).trim();
  else if (header?.startsWith('Basic ')) key = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':')[0];
  if (!key) {
    throw new StripeApiError(
      'You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. \'Authorization: Bearer YOUR_SECRET_KEY\').',
      { status: 401, type: 'invalid_request_error' },
    );
  }
  if (LIVE_KEY.test(key)) {
    throw new StripeApiError(
      'The Stripe sandbox refuses live-mode keys: use a test-mode key (sk_test_... or rk_test_...). Nothing here ever reaches Stripe.',
      { status: 403, type: 'invalid_request_error', code: 'livemode_key_refused' },
    );
  }
  if (!TEST_KEY.test(key)) {
    throw new StripeApiError(`Invalid API Key provided: ${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`, {
      status: 401,
      type: 'invalid_request_error',
      code: 'api_key_invalid',
    });
  }
  return key;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  sendRaw(res, status, JSON.stringify(body));
}

function sendRaw(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
