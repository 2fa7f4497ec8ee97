/**
 * The service's operational admin API (service/ops/router.ts, maintenance) as the commands call it:
 * over HTTPS with a short-lived ops token, each call bounded in time, a non-2xx answer an error
 * that names the route, the status and the service's own message.
 */
export class OpsApiError extends Error {
  override readonly name = 'OpsApiError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export class OpsApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly fetchFn: typeof fetch = fetch,
    private readonly timeoutMs = 60_000,
  ) {}

  async call<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.fetchFn(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new OpsApiError(`${method} ${path} answered ${res.status}${error?.message ? `: ${error.message}` : ''}`, res.status, error?.code);
    }
    return json as T;
  }
}
