import fc from 'fast-check';

/**
 * What the redaction tests plant and how they decide a secret leaked. Independent of the code under
 * test on purpose: card numbers come from Stripe's documented test PANs and from a check digit
 * computed here by a different method (a doubling table, left to right), never from the
 * service's own Luhn function.
 */

/** https://docs.stripe.com/testing#cards (brands, lengths 14-19). */
export const STRIPE_TEST_PANS = [
  '4242424242424242', // Visa
  '4000056655665556', // Visa (debit)
  '5555555555554444', // Mastercard
  '2223003122003222', // Mastercard (2-series)
  '5200828282828210', // Mastercard (debit)
  '5105105105105100', // Mastercard (prepaid)
  '378282246310005', // American Express
  '371449635398431', // American Express
  '6011111111111117', // Discover
  '6011000990139424', // Discover
  '3056930009020004', // Diners Club
  '36227206271667', // Diners Club (14 digits)
  '3566002020360505', // JCB
  '6200000000000005', // UnionPay
  '6205500000000000004', // UnionPay (19 digits)
  '4000000000000002', // Visa, generic decline
  '4000000000009995', // Visa, insufficient funds
];

const DOUBLED = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

/** The digit that makes `body + digit` a valid card number (mod-10 with a doubling table). */
export function checkDigitFor(body: string): number {
  let total = 0;
  // Counting from the digit that will sit left of the check digit, every other digit is doubled.
  const parityOfDoubled = body.length % 2;
  for (let i = 0; i < body.length; i++) {
    const digit = Number(body[i]);
    total += i % 2 === 1 - parityOfDoubled ? DOUBLED[digit]! : digit;
  }
  return (10 - (total % 10)) % 10;
}

export function isValidPan(pan: string): boolean {
  return /^[0-9]{13,19}$/.test(pan) && checkDigitFor(pan.slice(0, -1)) === Number(pan.at(-1));
}

const PREFIXES = ['4', '51', '52', '53', '54', '55', '2221', '2720', '34', '37', '6011', '62', '35'];

/** A card number: a documented test PAN, or a generated one of 13-19 digits with an independent check digit. */
export const panArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...STRIPE_TEST_PANS),
  fc
    .tuple(fc.constantFrom(...PREFIXES), fc.integer({ min: 13, max: 19 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 18, maxLength: 18 }))
    .map(([prefix, length, digits]) => {
      const body = `${prefix}${digits.join('')}`.slice(0, length - 1);
      return `${body}${checkDigitFor(body)}`;
    }),
);

/** How a card number gets written in text: plain, grouped, in a query string, percent-encoded. */
export const cardLayoutArb: fc.Arbitrary<(pan: string) => string> = fc.constantFrom(
  (pan: string) => pan,
  (pan: string) => pan.replace(/(\d{4})(?=\d)/g, '$1 '),
  (pan: string) => pan.replace(/(\d{4})(?=\d)/g, '$1-'),
  (pan: string) => pan.replace(/(\d{4})(?=\d)/g, '$1+'),
  (pan: string) => pan.replace(/(\d{4})(?=\d)/g, '$1%20'),
  (pan: string) => [...pan].map((d) => `%${d.charCodeAt(0).toString(16)}`).join(''),
  (pan: string) => pan.replace(/(\d{4})(?=\d)/g, '$1%2520'),
);

const token = (min: number, max = 32) => fc.stringMatching(new RegExp(`^[A-Za-z0-9]{${min},${max}}$`));

/** Values the shape rules must catch with no help from configuration. */
export const shapedSecretArb: fc.Arbitrary<string> = fc.oneof(
  token(8).map((t) => `sk_live_${t}`),
  token(8).map((t) => `sk_test_${t}`),
  token(8).map((t) => `rk_live_${t}`),
  token(8).map((t) => `whsec_${t}`),
  fc.tuple(token(6), token(10)).map(([id, s]) => `pi_${id}_secret_${s}`),
  fc.tuple(token(6), token(10)).map(([id, s]) => `seti_${id}_secret_${s}`),
  fc
    .tuple(fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.stringMatching(/^[a-z0-9]{1,12}$/), { minKeys: 1, maxKeys: 3 }), token(16, 43))
    .map(([claims, signature]) => {
      const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.${signature}`;
    }),
);

/** Anything a human or a shape rule would recognise as a secret: the configured ones must have none of it. */
const RECOGNISABLE = /(sk|rk|ek)_|whsec_|_secret_|eyJ|bearer|basic|:\/\/|[0-9][^A-Za-z]{0,2}[0-9][^A-Za-z]{0,2}[0-9]/i;

/**
 * A configured secret with no recognisable shape: printable ASCII including quotes, backslashes,
 * percent signs, plus and spaces, so its JSON-escaped and URL-encoded forms differ from the raw one.
 */
export const shapelessSecretArb = (minLength: number): fc.Arbitrary<string> =>
  fc
    .string({ unit: fc.constantFrom(...'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~ 23456789'), minLength, maxLength: 40 })
    .filter((s) => !RECOGNISABLE.test(s) && s.trim() === s && !s.includes('%'));

/** The forms a configured secret travels in: raw, percent-encoded (twice over), form-encoded, every byte escaped, base64. */
export const secretEncodingArb: fc.Arbitrary<(secret: string) => string> = fc.constantFrom(
  (s: string) => s,
  (s: string) => encodeURIComponent(s),
  (s: string) => new URLSearchParams({ v: s }).toString().slice(2),
  (s: string) => [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join(''),
  (s: string) => Buffer.from(s).toString('base64'),
  (s: string) => `Basic ${Buffer.from(`user:${s}`).toString('base64')}`,
  (s: string) => JSON.stringify({ value: s }),
);

/** Everything a planted value could still be read from in written text. */
function telltales(planted: string): string[] {
  const forms = new Set([planted, JSON.stringify(planted).slice(1, -1), encodeURIComponent(planted), Buffer.from(planted).toString('base64').replace(/=+$/, '')]);
  return [...forms];
}

/**
 * Throws when `written` still shows `planted` in any readable form. Card numbers are compared as
 * digits after removing the separators anyone would write between groups and decoding escapes.
 */
export function expectNoLeak(written: string, planted: { secrets: string[]; pans: string[] }, where: string): void {
  // JSON escaping can hide a form from a substring search (a planted JSON text is escaped twice):
  // the strings inside every JSON document in the output are searched as well.
  const inner = jsonStrings(written);
  if (inner.length > 0) expectNoLeakIn(inner.join('\n'), planted, `${where} (JSON strings)`);
  expectNoLeakIn(written, planted, where);
}

function jsonStrings(written: string): string[] {
  const documents: unknown[] = [];
  const attempt = (text: string) => {
    try {
      documents.push(JSON.parse(text));
    } catch {
      // not JSON
    }
  };
  attempt(written);
  for (const line of written.split('\n')) if (line.startsWith('{')) attempt(line);
  const embedded = written.indexOf('\n{');
  if (embedded !== -1) attempt(written.slice(embedded + 1));
  const out: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') out.push(value);
    else if (typeof value === 'number') out.push(String(value));
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        out.push(key);
        walk(child);
      }
    }
  };
  documents.forEach(walk);
  return out;
}

function expectNoLeakIn(written: string, planted: { secrets: string[]; pans: string[] }, where: string): void {
  for (const secret of planted.secrets) {
    for (const form of telltales(secret)) {
      if (written.includes(form)) throw new Error(`${where}: secret ${JSON.stringify(secret)} leaked as ${JSON.stringify(form)} in ${written.slice(0, 2000)}`);
    }
  }
  let decoded = written;
  for (let i = 0; i < 3; i++) decoded = decoded.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const digitsOnly = decoded.replace(/[ +\-._/]/g, '');
  for (const pan of planted.pans) {
    if (digitsOnly.includes(pan)) throw new Error(`${where}: card number ${pan} leaked in ${written.slice(0, 2000)}`);
  }
}
