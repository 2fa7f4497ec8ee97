import fc from 'fast-check';
import { passesLuhn, REDACTED } from '../../../service/shared/redact';
import { captureLogger } from '../../support/logger';
import { startTestService } from '../../support/service';

/** A Luhn-valid card number of 13-19 digits, written plain, with spaces or with dashes. */
const cardNumber = fc
  .tuple(fc.integer({ min: 13, max: 19 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 18, maxLength: 18 }), fc.constantFrom('', ' ', '-'))
  .map(([length, digits, separator]) => {
    const body = [4, ...digits].slice(0, length - 1).join('');
    const check = [...Array(10).keys()].find((d) => passesLuhn(`${body}${d}`))!;
    const full = `${body}${check}`;
    return separator === '' ? full : full.replace(/(\d{4})(?=\d)/g, `$1${separator}`);
  });

const token = (min: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9]{${min},32}$`));
const secret = fc.oneof(
  token(8).map((t) => `sk_live_${t}`),
  token(8).map((t) => `sk_test_${t}`),
  token(8).map((t) => `rk_live_${t}`),
  token(8).map((t) => `whsec_${t}`),
  fc.tuple(token(6), token(10)).map(([id, s]) => `pi_${id}_secret_${s}`),
  fc.tuple(token(6), token(10)).map(([id, s]) => `seti_${id}_secret_${s}`),
  cardNumber,
);

/** Harmless key names only: the value patterns alone must catch the planted secret. */
const plainKey = fc.stringMatching(/^[a-z]{1,10}$/).filter((k) => !/secret|token|pass|pwd|auth|cookie|key|card|cvc|cvv|pan|iban|signature|credential|method/.test(k));
/** Text around a secret must not glue it to more digits (a longer digit run is not that card number). */
const surrounding = fc.stringMatching(/^[ a-zA-Z.,:;=()[\]{}"'/-]{0,12}$/);

const leaf = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null), fc.double({ noNaN: true }));
const tree = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(plainKey, tie('node'), { maxKeys: 4 })),
})).node;

/** Puts `value` somewhere in `root` at a random depth, creating containers as needed; returns the new root. */
function plant(root: unknown, path: Array<{ key: string; asArray: boolean }>, value: string): unknown {
  if (path.length === 0) return value;
  const [step, ...rest] = path;
  if (step!.asArray) {
    const arr = Array.isArray(root) ? [...root] : [root];
    arr.push(plant(undefined, rest, value));
    return arr;
  }
  const obj: Record<string, unknown> = root !== null && typeof root === 'object' && !Array.isArray(root) ? { ...(root as Record<string, unknown>) } : { wrapped: root };
  obj[step!.key] = plant(obj[step!.key], rest, value);
  return obj;
}

const payload = fc
  .record({
    base: tree,
    plantings: fc.array(
      fc.record({
        path: fc.array(fc.record({ key: plainKey, asArray: fc.boolean() }), { minLength: 1, maxLength: 8 }),
        secret,
        before: surrounding,
        after: surrounding,
        sensitiveKey: fc.option(fc.constantFrom('client_secret', 'password', 'authorization', 'stripe-signature', 'payment_method', 'card', 'apiToken'), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ base, plantings }) => {
    let root: unknown = { data: base };
    for (const p of plantings) {
      const path = p.sensitiveKey ? [...p.path, { key: p.sensitiveKey, asArray: false }] : p.path;
      root = plant(root, path, p.sensitiveKey ? p.secret : `${p.before}${p.secret}${p.after}`);
    }
    return { root: root as Record<string, unknown>, secrets: plantings.map((p) => p.secret) };
  });

describe('redaction in the logger (property)', () => {
  it('never lets a planted secret or card number reach the log line, and never mutates the payload', () => {
    const logs = captureLogger();
    let lines = 0;
    fc.assert(
      fc.property(payload, fc.constantFrom('info', 'warn', 'error'), ({ root, secrets }, level) => {
        const before = structuredClone(root);
        const start = logs.text().length;
        logs.logger.log(level, 'payload received', root);
        lines += 1;
        const written = logs.text().slice(start);
        expect(written.length).toBeGreaterThan(0);
        for (const s of secrets) {
          expect(written).not.toContain(s);
          // The digits of a card must not survive in another layout either.
          const digits = s.replace(/[ -]/g, '');
          if (/^\d+$/.test(digits)) expect(written.replace(/[ -]/g, '')).not.toContain(digits);
        }
        expect(root).toEqual(before);
      }),
      { numRuns: 3000 },
    );
    expect(lines).toBe(3000);
    expect(logs.text()).toContain(REDACTED);
  });

  it('redacts secrets in messages, error messages, stacks and causes', () => {
    const logs = captureLogger();
    const err = new Error('Stripe said no for sk_live_abcdefghijkl and 4242 4242 4242 4242', { cause: new Error('whsec_zzzzzzzzzzzz') });
    logs.logger.error('charging 4000056655665556 failed', { error: err });
    const text = logs.text();
    for (const s of ['sk_live_abcdefghijkl', '4242 4242 4242 4242', 'whsec_zzzzzzzzzzzz', '4000056655665556']) expect(text).not.toContain(s);
    expect(err.message).toContain('sk_live_abcdefghijkl');
  });
});

describe('request logging', () => {
  it('logs one line per request without the Authorization, Cookie or Stripe-Signature headers, bodies, query strings, or card numbers in paths', async () => {
    const svc = await startTestService();
    try {
      const jwt = await svc.tokenFor({ id: 'log_user', admin: true });
      await fetch(`${svc.url}/api/payments/checkout-session?client_secret=pi_abc_secret_def123`, {
        method: 'POST',
        headers: { authorization: `Bearer ${jwt}`, cookie: 'session=s3cr3t-cookie', 'content-type': 'application/json' },
        body: JSON.stringify({ plan: 'monthly', card: '4242424242424242' }),
      });
      await fetch(`${svc.url}/api/webhooks/stripe`, {
        method: 'POST',
        headers: { 'stripe-signature': 't=1,v1=deadbeefdeadbeef', 'content-type': 'application/json' },
        body: '{"id":"evt_1","data":{"object":{"client_secret":"pi_x_secret_y"}}}',
      });
      await fetch(`${svc.url}/api/admin/payments/users/4242424242424242`, { headers: { authorization: `Bearer ${jwt}` } });
      const text = svc.logs.text();
      const requestLines = svc.logs.lines().filter((l) => l.message === 'request completed');
      expect(requestLines.length).toBeGreaterThanOrEqual(3);
      expect(requestLines.every((l) => typeof l.requestId === 'string')).toBe(true);
      for (const s of [jwt, 's3cr3t-cookie', 'deadbeefdeadbeef', 'pi_abc_secret_def123', 'pi_x_secret_y', '4242424242424242']) expect(text).not.toContain(s);
    } finally {
      await svc.close();
    }
  });
});
