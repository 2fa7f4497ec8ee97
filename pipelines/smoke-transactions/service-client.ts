/**
 * The deployed service as the smoke user and an admin see it: plain HTTP with short-lived tokens
 * the step signs itself (a runner cannot and must not reach the database). Each request is bounded
 * so one hung connection cannot hold the step past its waits.
 */
export interface SmokeTokens {
  /** A fresh token for the smoke user (`internal: true`, so every dashboard figure leaves it out). */
  user(): Promise<string>;
  /** A fresh short-lived admin token (`ops:<who>`). */
  admin(): Promise<string>;
}

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface SubscriptionAnswer {
  userId: string;
  premium: boolean;
  subscription: null | { id: string; status: string; plan: string };
}

export interface AdminUserAnswer {
  local: {
    user?: { id: string; is_internal: boolean };
    customer?: { customer_id: string };
    payments: Array<{ payment_intent_id: string | null; subscription_id: string | null; invoice_id: string | null; amount: number; currency: string; status: string; failure_code: string | null; failed_attempts: number }>;
  };
}

const REQUEST_TIMEOUT_MS = 15_000;

export class ServiceClient {
  constructor(
    readonly baseUrl: string,
    private readonly fetchFn: typeof fetch,
    private readonly tokens: SmokeTokens,
  ) {}

  async request<T = unknown>(method: string, path: string, options: { as?: 'user' | 'admin'; json?: unknown; rawBody?: string } = {}): Promise<HttpAnswer<T>> {
    const headers: Record<string, string> = {};
    if (options.as) headers.authorization = `Bearer ${await (options.as === 'admin' ? this.tokens.admin() : this.tokens.user())}`;
    let body: string | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.rawBody !== undefined) {
      headers['content-type'] = 'application/json';
      body = options.rawBody;
    }
    const res = await this.fetchFn(`${this.baseUrl}${path}`, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (a load balancer's HTML error page, say): kept as text for the message.
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  subscription(): Promise<HttpAnswer<SubscriptionAnswer>> {
    return this.request<SubscriptionAnswer>('GET', '/api/payments/subscription', { as: 'user' });
  }

  adminUser(userId: string): Promise<HttpAnswer<AdminUserAnswer>> {
    return this.request<AdminUserAnswer>('GET', `/api/admin/payments/users/${encodeURIComponent(userId)}`, { as: 'admin' });
  }
}

/** "503 maintenance: Payments are under maintenance" from the service's `{error: {code, message}}`. */
export function answerText(answer: HttpAnswer): string {
  const error = (answer.body as { error?: { code?: string; message?: string } } | null)?.error;
  if (error) return `${answer.status} ${error.code ?? ''}${error.message ? `: ${error.message}` : ''}`.trim();
  const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  return `${answer.status}${text ? ` ${text.slice(0, 200)}` : ''}`;
}
