/**
 * Stripe-shaped API errors. Handlers throw these; the server renders
 * `{error: {type, code, param, message, decline_code, doc_url}}` with the status.
 */
export type StripeErrorType =
  | 'invalid_request_error'
  | 'card_error'
  | 'idempotency_error'
  | 'api_error'
  | 'rate_limit_error';

export interface StripeApiErrorOptions {
  status: number;
  type: StripeErrorType;
  code?: string;
  param?: string;
  declineCode?: string;
  /** Extra body fields Stripe includes for card errors (payment_intent, charge...). */
  extra?: Record<string, unknown>;
}

export class StripeApiError extends Error {
  readonly status: number;
  readonly type: StripeErrorType;
  readonly code: string | undefined;
  readonly param: string | undefined;
  readonly declineCode: string | undefined;
  readonly extra: Record<string, unknown> | undefined;

  constructor(message: string, options: StripeApiErrorOptions) {
    super(message);
    this.name = 'StripeApiError';
    this.status = options.status;
    this.type = options.type;
    this.code = options.code;
    this.param = options.param;
    this.declineCode = options.declineCode;
    this.extra = options.extra;
  }

  toBody(): { error: Record<string, unknown> } {
    const error: Record<string, unknown> = { type: this.type, message: this.message };
    if (this.code) {
      error.code = this.code;
      error.doc_url = `https://stripe.com/docs/error-codes/${this.code.replace(/_/g, '-')}`;
    }
    if (this.param) error.param = this.param;
    if (this.declineCode) error.decline_code = this.declineCode;
    return { error: { ...error, ...this.extra } };
  }
}

export function invalidRequest(message: string, param?: string, code?: string): StripeApiError {
  return new StripeApiError(message, { status: 400, type: 'invalid_request_error', param, code });
}

export function unknownParameter(param: string): StripeApiError {
  return invalidRequest(`Received unknown parameter: ${param}`, param, 'parameter_unknown');
}

export function missingParameter(param: string): StripeApiError {
  return invalidRequest(`Missing required param: ${param}.`, param, 'parameter_missing');
}

/**
 * An id that names nothing. Stripe answers 404 only when the id is in the URL path
 * (`GET /v1/customers/cus_x`, `param: 'id'`); an id passed as a parameter
 * (`customer=cus_x`, `items[0][price]=...`, `starting_after=...`) is a 400 naming that parameter.
 * `param` undefined means "the id in the path".
 */
export function resourceMissing(kind: string, id: string, param?: string): StripeApiError {
  return new StripeApiError(`No such ${kind}: '${id}'`, {
    status: param === undefined ? 404 : 400,
    type: 'invalid_request_error',
    code: 'resource_missing',
    param: param ?? 'id',
  });
}

export function unrecognizedUrl(method: string, path: string): StripeApiError {
  return new StripeApiError(
    `Unrecognized request URL (${method}: ${path}). The Stripe sandbox implements only the subset documented in docs/sandbox.md.`,
    { status: 404, type: 'invalid_request_error' },
  );
}
