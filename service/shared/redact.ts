import type { Config } from './config';

/**
 * The one redaction function every sink writes through: the logger, EMF metric lines, alert sinks
 * (log, file, SNS), audit details, webhook inbox errors and error responses. Returns a redacted
 * copy; never mutates what the caller still holds. Three nets:
 * - sensitive key names (`password`, `authorization`, `client_secret`, ...): the whole value goes;
 * - the configured secret values by exact match (registered once from the parsed config), in the
 *   forms they travel in: raw, JSON-escaped, percent/form-encoded and base64;
 * - values shaped like secrets or card numbers wherever they appear, also after percent-decoding
 *   (`4242%204242...`, `%34%32...`) and inside base64 runs.
 */

export const REDACTED = '[REDACTED]';

/**
 * Configured secrets shorter than this are not matched by value: a 1-character password would
 * otherwise erase that character from every line. Short ones are still caught by key name and as
 * URL credentials. Every secret the config schema checks is longer (JWT secret 32, metrics token 16).
 */
export const MIN_SECRET_LENGTH = 8;

const SENSITIVE_KEY =
  /(secret|token|password|passwd|pwd|passphrase|authorization|cookie|api[-_]?key|private[-_]?key|credential|signature|jwt|connection[-_]?string|payment[-_]?method|^card$|^card[-_]|[-_]card$|^cvc$|^cvv$|^pan$|^iban$)/i;

/**
 * Stripe secret/restricted/ephemeral keys, webhook secrets, client secrets, bearer/basic
 * credentials and JWTs. No leading word boundary: a key glued to other text ("key=xsk_live_...")
 * is still a key, and over-redacting a lookalike costs nothing.
 */
const SECRET_VALUE_PATTERNS: RegExp[] = [
  /(sk|rk|ek)_(live|test)_[A-Za-z0-9_]{6,}/g,
  /whsec_[A-Za-z0-9_+/=]{6,}/g,
  /(pi|seti|cs_test|cs_live|src)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+/g,
  // A credential partly redacted already (a configured secret inside it) still goes whole.
  /\b(Bearer|Basic)\s+(?:\[REDACTED\]|[A-Za-z0-9._~+/=-]){6,}/gi,
  /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
];

/** `scheme://user:password@host`: the password goes, whatever its length (DATABASE_URL, REDIS_URL). */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@"'\\]*:)[^\s/?#@"'\\]+@/gi;

/**
 * Digit groups joined by single separators, as card numbers are written ("4242 4242 4242 4242",
 * "4242-4242-...", "4242+4242..." in a query string). Candidates are runs of whole groups.
 */
const DIGIT_RUN = /(?<![0-9])[0-9]+(?:[ .+_/-][0-9]+)*(?![0-9])/g;
const PERCENT_ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;
const BASE64_RUN = /[A-Za-z0-9+/_-]{16,}={0,2}/g;

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

const isCardNumber = (digits: string) => digits.length >= 13 && digits.length <= 19 && passesLuhn(digits);

// ---------------------------------------------------------------------------------------------
// Configured secrets (exact match)

const registeredSecrets = new Set<string>();
let exactPattern: RegExp | null = null;

function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms: string[] = [];
  const standalone = bytes.toString('base64');
  forms.push(standalone, standalone.replace(/=+$/, ''));
  // Inside a longer base64 text ("Basic base64(user:secret)") the secret starts at any of three
  // alignments; keep only the characters that depend on the secret's bytes alone.
  for (let offset = 0; offset < 3; offset++) {
    const total = offset + bytes.length;
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    forms.push(encoded.slice(offset === 0 ? 0 : 4, Math.floor(total / 3) * 4));
  }
  return forms.flatMap((f) => [f, f.replace(/\+/g, '-').replace(/\//g, '_')]);
}

/** The forms a secret travels in: raw, JSON-escaped, percent/form-encoded, base64. */
function formsOf(secret: string): string[] {
  const forms = [
    secret,
    JSON.stringify(secret).slice(1, -1),
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%20/g, '+'),
    new URLSearchParams({ v: secret }).toString().slice(2),
    ...base64Forms(secret),
  ];
  return forms.filter((f) => f.length >= MIN_SECRET_LENGTH);
}

/**
 * Registers secret values to redact by exact match (with their encoded forms). Values shorter than
 * MIN_SECRET_LENGTH are ignored. Idempotent; process-wide, because every sink in the process must
 * know them.
 */
export function registerSecrets(values: Iterable<string | null | undefined>): void {
  for (const value of values) {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
    for (const form of formsOf(value)) {
      if (!registeredSecrets.has(form)) {
        registeredSecrets.add(form);
        exactPattern = null;
      }
    }
  }
}

function passwordOf(url: string | undefined): string[] {
  if (!url) return [];
  try {
    const password = new URL(url).password;
    if (!password) return [];
    return [password, safeDecode(password)];
  } catch {
    return [];
  }
}

/** Every secret in the configuration: keys, tokens, and the passwords inside DATABASE_URL / REDIS_URL. */
export function configuredSecrets(config: Config): string[] {
  return [
    config.auth.secret,
    config.stripe.secretKey,
    config.stripe.webhookSecret,
    config.monitoring.metricsToken,
    ...passwordOf(config.database.url),
    ...passwordOf(config.redis.url),
  ].filter((v): v is string => typeof v === 'string');
}

function exactSecrets(): RegExp | null {
  if (registeredSecrets.size === 0) return null;
  exactPattern ??= new RegExp(
    [...registeredSecrets]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'))
      .join('|'),
    'g',
  );
  return exactPattern;
}

// ---------------------------------------------------------------------------------------------
// Text

/** Redacts every run of whole digit groups (13-19 digits) that passes Luhn; other digits stay. */
function redactCards(text: string): string {
  return text.replace(DIGIT_RUN, (run) => {
    const groups = [...run.matchAll(/[0-9]+/g)].map((m) => ({ start: m.index, end: m.index + m[0].length, digits: m[0] }));
    if (groups.reduce((n, g) => n + g.digits.length, 0) < 13) return run;
    let out = '';
    let copied = 0;
    for (let i = 0; i < groups.length; i++) {
      let digits = '';
      let best = -1;
      for (let j = i; j < groups.length && digits.length + groups[j]!.digits.length <= 19; j++) {
        digits += groups[j]!.digits;
        if (isCardNumber(digits)) best = j;
      }
      if (best >= 0) {
        out += `${run.slice(copied, groups[i]!.start)}${REDACTED}`;
        copied = groups[best]!.end;
        i = best;
      }
    }
    return out + run.slice(copied);
  });
}

function applyRules(text: string): string {
  let out = text;
  const exact = exactSecrets();
  if (exact) out = out.replace(exact, REDACTED);
  for (const pattern of SECRET_VALUE_PATTERNS) out = out.replace(pattern, REDACTED);
  out = out.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
  return redactCards(out);
}

/**
 * Percent-decodes what decodes and leaves the rest as it came; never throws (malformed input is
 * data here). A run that is not valid UTF-8 still has its ASCII bytes decoded, so one stray byte
 * cannot shield an encoded card number.
 */
export function safeDecode(text: string): string {
  return text.replace(PERCENT_ESCAPES, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run.replace(/%([0-7][0-9A-Fa-f])/g, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
  });
}

function percentDecoded(text: string): string {
  let out = text;
  // Double encoding (%2534) decodes in rounds; three is more than any client legitimately sends.
  for (let round = 0; round < 3 && /%[0-9A-Fa-f]{2}/.test(out); round++) out = safeDecode(out);
  return out;
}

/** A base64 run whose decoded text holds a secret or a card number goes whole. */
function redactBase64Runs(text: string): string {
  return text.replace(BASE64_RUN, (run) => {
    const decoded = Buffer.from(run, 'base64').toString('latin1');
    return applyRules(decoded) === decoded ? run : REDACTED;
  });
}

/**
 * Redacts one piece of text. When the percent-decoded text reveals something the raw text hid,
 * the decoded, redacted text is returned (an encoded card number is as secret as a plain one).
 */
export function redactString(value: string): string {
  let out = applyRules(value);
  if (/%[0-9A-Fa-f]{2}/.test(out)) {
    const decoded = percentDecoded(out);
    const redactedDecoded = applyRules(decoded);
    if (redactedDecoded !== decoded) out = redactedDecoded;
  }
  return redactBase64Runs(out);
}

export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

// ---------------------------------------------------------------------------------------------
// Values

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

/**
 * Error fields that hold the caller's input rather than a description of the failure: PGlite's
 * query `params`, the Stripe SDK's signature error `payload` (the whole webhook body) and `header`.
 */
const ERROR_INPUT_FIELDS = new Set(['params', 'parameters', 'args', 'bindings', 'queryOptions', 'payload', 'header']);

function redactError(err: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: redactString(err.message) };
  if (err.stack) out.stack = redactString(err.stack);
  for (const [key, child] of Object.entries(err)) {
    // Stripe SDK errors carry the raw request/response; headers there include Authorization.
    if (key === 'raw' || key === 'headers' || key === 'requestHeaders') continue;
    if (ERROR_INPUT_FIELDS.has(key)) {
      out[key] = Array.isArray(child) ? `[${child.length} values omitted]` : '[omitted]';
    } else if (key === 'command' && child !== null && typeof child === 'object') {
      // ioredis reply errors carry the command with its arguments (AUTH <password>).
      out[key] = { name: redactString(String((child as { name?: unknown }).name ?? '')) };
    } else {
      out[key] = isSensitiveKey(key) ? REDACTED : redact(child, depth + 1, seen);
    }
  }
  if (err.cause !== undefined) out.cause = redact(err.cause, depth + 1, seen);
  return out;
}

/** JSON text of the redacted value: what file and network sinks write. */
export function redactedJson(value: unknown, space?: number): string {
  return JSON.stringify(redact(value), null, space);
}
