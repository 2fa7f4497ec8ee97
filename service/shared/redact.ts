/**
 * Redaction applied by the logger to every line (messages, metadata, errors). Returns a redacted
 * copy; never mutates what the caller still holds. Two nets: sensitive key names, and values that
 * look like secrets or card numbers wherever they appear (including inside longer strings).
 */

export const REDACTED = '[REDACTED]';

const SENSITIVE_KEY = /(secret|token|password|passwd|pwd|authorization|cookie|api[-_]?key|private[-_]?key|credential|signature|client[-_]?secret|payment[-_]?method|^card$|^card[-_]|[-_]card$|^cvc$|^cvv$|^pan$|^iban$)/i;

/**
 * Stripe secret/restricted/ephemeral keys, webhook secrets, client secrets, bearer tokens and JWTs.
 * No leading word boundary: a key glued to other text ("key=xsk_live_...") is still a key, and
 * over-redacting a lookalike costs nothing.
 */
const SECRET_VALUE_PATTERNS: RegExp[] = [
  /(sk|rk|ek)_(live|test)_[A-Za-z0-9_]{6,}/g,
  /whsec_[A-Za-z0-9_+/=]{6,}/g,
  /(pi|seti|cs_test|cs_live|src)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
];

/** Runs of 13–19 digits, optionally separated by single spaces or dashes, as card numbers are written. */
const CARD_CANDIDATE = /(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])/g;

export function passesLuhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export function redactString(value: string): string {
  let out = value;
  for (const pattern of SECRET_VALUE_PATTERNS) out = out.replace(pattern, REDACTED);
  out = out.replace(CARD_CANDIDATE, (match) => {
    const digits = match.replace(/[ -]/g, '');
    return digits.length >= 13 && digits.length <= 19 && passesLuhn(digits) ? REDACTED : match;
  });
  return out;
}

export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

const MAX_DEPTH = 12;

/** Deep, cycle-safe, non-mutating redaction of any value. */
export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redactString(value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    const text = String(value);
    return /^[0-9]{13,19}$/.test(text) && passesLuhn(text) ? REDACTED : value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
    if (value instanceof Date) return value;
    if (Buffer.isBuffer(value)) return `[Buffer ${value.length} bytes]`;
    if (value instanceof Error) return redactError(value, depth, seen);
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      // Keys are text too: a secret used as a map key must not survive either.
      out[redactString(key)] = isSensitiveKey(key) && child !== null && child !== undefined && child !== '' ? REDACTED : redact(child, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

function redactError(err: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: redactString(err.message) };
  if (err.stack) out.stack = redactString(err.stack);
  for (const [key, child] of Object.entries(err)) {
    // Stripe SDK errors carry the raw request/response; headers there include Authorization.
    if (key === 'raw' || key === 'headers' || key === 'requestHeaders') continue;
    out[key] = isSensitiveKey(key) ? REDACTED : redact(child, depth + 1, seen);
  }
  if (err.cause !== undefined) out.cause = redact(err.cause, depth + 1, seen);
  return out;
}
