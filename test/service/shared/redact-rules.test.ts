import type { Config } from '../../../service/shared/config';
import { configuredSecrets, passesLuhn, REDACTED, redact, redactString, registerSecrets, safeDecode } from '../../../service/shared/redact';

/**
 * The redaction rules one by one, as exact outputs: what goes and, as much, what stays. The
 * property suite (redact-property.test.ts) proves planted secrets never get out; only exact
 * outputs catch a rule that erases too much (a whole error, every digit group, a missing token
 * that should read as missing) or too little of a structure. Registration is process-wide, so the
 * first test runs before anything is registered.
 */

describe('configured secrets, by exact value', () => {
  test('with nothing registered, text passes unchanged', () => {
    expect(redactString('plain text, nothing registered yet')).toBe('plain text, nothing registered yet');
  });

  test('a registered secret that looks like nothing goes in every form it travels in; one shorter than 8 characters is not matched by value', () => {
    const secret = 'correct horse/battery+staple';
    registerSecrets([secret, 'seven77', 'eight888', null, undefined]);
    expect(redactString(`raw ${secret} end`)).toBe(`raw ${REDACTED} end`);
    expect(redactString(`json ${JSON.stringify({ v: secret })}`)).toBe(`json {"v":"${REDACTED}"}`);
    expect(redactString(`query v=${encodeURIComponent(secret)}&x=1`)).toBe(`query v=${REDACTED}&x=1`);
    expect(redactString(`form v=${new URLSearchParams({ v: secret }).toString().slice(2)}`)).toBe(`form v=${REDACTED}`);
    expect(redactString(`b64 ${Buffer.from(secret).toString('base64')}`)).toBe(`b64 ${REDACTED}`);
    expect(redactString('short seven77 stays; eight888 goes')).toBe(`short seven77 stays; ${REDACTED} goes`);
  });

  test('base64 of a secret goes even glued to other base64 text, at every byte alignment, and in its URL-safe alphabet', () => {
    registerSecrets(['glued-base64-secret-value', 'url>>>safe???secret']);
    // Decoding the whole run cannot reveal these (the glued letters shift the alignment): only the
    // registered base64 forms of the secret, at each of the three alignments, find them.
    const b64 = (prefix: string, secret: string) => Buffer.from(prefix + secret).toString('base64');
    expect(['a', 'ab', 'abc'].map((glue) => redactString(`${glue}${b64('', 'glued-base64-secret-value')}`))).toEqual(['a', 'ab', 'abc'].map((glue) => `${glue}${REDACTED}`));
    expect(redactString(`a${b64('x', 'glued-base64-secret-value')}`)).toBe(`aeGds${REDACTED}dWU=`);
    expect(redactString(`ab${b64('xx', 'glued-base64-secret-value')}`)).toBe(`abeHhn${REDACTED}`);
    const standard = b64('', 'url>>>safe???secret');
    expect(standard).toMatch(/[+/]/);
    const urlSafe = standard.replace(/\+/g, '-').replace(/\//g, '_');
    expect(redactString(`q${standard.replace(/=+$/, '')}`)).toBe(`q${REDACTED}`);
    expect(redactString(`q${urlSafe.replace(/=+$/, '')}`)).toBe(`q${REDACTED}`);
    expect(redactString(`q${b64('x', 'url>>>safe???secret').replace(/\+/g, '-').replace(/\//g, '_')}`)).not.toContain('safe');
  });

  test('quotes and spaces: the JSON-escaped and the form-encoded (+ for spaces) forms go too', () => {
    const secret = 'it\'s a "quoted" secret!';
    registerSecrets([secret]);
    expect(redactString(`json ${JSON.stringify(secret)}`)).toBe(`json "${REDACTED}"`);
    expect(redactString(`form ${encodeURIComponent(secret).replace(/%20/g, '+')}`)).toBe(`form ${REDACTED}`);
  });

  test('the longest registered secret wins when one secret starts another', () => {
    registerSecrets(['prefix-secret-0001', 'prefix-secret-0001-and-more']);
    expect(redactString('a prefix-secret-0001-and-more b')).toBe(`a ${REDACTED} b`);
    expect(redactString('a prefix-secret-0001 b')).toBe(`a ${REDACTED} b`);
  });

  test('configuredSecrets takes the keys, tokens and URL passwords (decoded too), and nothing from URLs without one', () => {
    const config = (databaseUrl: string | undefined, redisUrl: string | undefined) =>
      ({
        auth: { secret: 'jwt-secret-value' },
        stripe: { secretKey: 'sk_test_value', webhookSecret: 'whsec_value' },
        monitoring: { metricsToken: 'metrics-token' },
        database: { url: databaseUrl },
        redis: { url: redisUrl },
      }) as unknown as Config;
    expect(configuredSecrets(config('postgres://app:p%40ss@db/x', 'redis://:r3dis@cache:6379'))).toEqual([
      'jwt-secret-value',
      'sk_test_value',
      'whsec_value',
      'metrics-token',
      'p%40ss',
      'p@ss',
      'r3dis',
      'r3dis',
    ]);
    expect(configuredSecrets(config('postgres://app@db/x', 'not a url'))).toEqual(['jwt-secret-value', 'sk_test_value', 'whsec_value', 'metrics-token']);
    expect(configuredSecrets(config(undefined, undefined))).toHaveLength(4);
    const noMetricsToken = { ...config(undefined, undefined), monitoring: { metricsToken: undefined } } as unknown as Config;
    expect(configuredSecrets(noMetricsToken)).toStrictEqual(['jwt-secret-value', 'sk_test_value', 'whsec_value']);
  });
});

describe('card numbers', () => {
  test.each([
    ['order 4242424242424242 shipped', `order ${REDACTED} shipped`],
    ['card 4242 4242 4242 4242 exp', `card ${REDACTED} exp`],
    ['card 4242-4242-4242-4242.', `card ${REDACTED}.`],
    // The card is found among other digit groups; the groups around it stay.
    ['ref 12 4242 4242 4242 4242 99', `ref 12 ${REDACTED} 99`],
    // 13 digits (Visa's shortest) and 19 (the longest PAN) go; 12 and 20 are not card numbers.
    ['visa13 4222222222222 end', `visa13 ${REDACTED} end`],
    ['pan19 4242424242424242428 end', `pan19 ${REDACTED} end`],
    ['twelve 424242424242 end', 'twelve 424242424242 end'],
    ['twenty 10000000000000000008 end', 'twenty 10000000000000000008 end'],
    // Fails Luhn: an order number, not a card.
    ['order 4242424242424241', 'order 4242424242424241'],
    ['phone 0612 3456 78', 'phone 0612 3456 78'],
    // "18" passes Luhn on its own; short digit groups are never card numbers, whatever follows.
    ['ids 18 123456789012', 'ids 18 123456789012'],
    ['amounts 400 and 3000 cents', 'amounts 400 and 3000 cents'],
  ])('%s', (input, expected) => {
    expect(redactString(input)).toBe(expected);
  });

  test('Luhn itself', () => {
    expect(['4242424242424242', '5555555555554444', '378282246310005', '6011111111111117', '4000056655665556'].map(passesLuhn)).toEqual([true, true, true, true, true]);
    expect(['4242424242424241', '5555555555554443', '378282246310006'].map(passesLuhn)).toEqual([false, false, false]);
  });

  test('numbers and bigints that are card numbers go; other numbers stay as numbers', () => {
    expect(redact(4242424242424242)).toBe(REDACTED);
    expect(redact(BigInt('4242424242424242'))).toBe(REDACTED);
    expect(redact(42)).toBe(42);
    expect(redact(4242424242424241)).toBe(4242424242424241);
    // Luhn-valid but 20 digits long: an id, not a card (the whole number must have 13-19 digits).
    expect(redact(BigInt('10000000000000000008'))).toBe(BigInt('10000000000000000008'));
    expect(redact(BigInt('42424242424242424242'))).toBe(BigInt('42424242424242424242'));
  });
});

describe('encodings', () => {
  test('percent-encoded card numbers go; encoded text with nothing to hide comes back as it was', () => {
    expect(redactString('%34%32%34%32%34%32%34%32%34%32%34%32%34%32%34%32')).toBe(REDACTED);
    expect(redactString('q=4242%204242%204242%204242')).toBe(`q=${REDACTED}`);
    // Double-encoded (%2534 is "%34"): decoded in rounds.
    expect(redactString('q=%2534%2532%2534%2532%2534%2532%2534%2532%2534%2532%2534%2532%2534%2532%2534%2532')).toBe(`q=${REDACTED}`);
    expect(redactString('path%2Fwith%20spaces')).toBe('path%2Fwith%20spaces');
  });

  test('safeDecode decodes what decodes, keeps malformed escapes, and still decodes ASCII next to a bad byte', () => {
    expect(safeDecode('a%20b')).toBe('a b');
    expect(safeDecode('%FF%34%32')).toBe('%FF42');
    expect(safeDecode('100%')).toBe('100%');
    expect(safeDecode('%E2%82%AC')).toBe('€');
  });
});

describe('structures', () => {
  test('a sensitive key loses its value, but a missing value stays missing (an empty token reads as empty)', () => {
    expect(redact({ password: 'x', token: null, secret: undefined, apiKey: '', user: 'ana' })).toEqual({ password: REDACTED, token: null, secret: undefined, apiKey: '', user: 'ana' });
    expect(redact({ authorization: 'Bearer abc' })).toEqual({ authorization: REDACTED });
  });

  test('cycles, depth, dates, buffers and arrays', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    expect(redact(cyclic)).toEqual({ name: 'loop', self: '[Circular]' });

    // The same object twice is not a cycle.
    const shared = { v: 1 };
    expect(redact({ a: shared, b: shared, list: [shared, shared] })).toEqual({ a: { v: 1 }, b: { v: 1 }, list: [{ v: 1 }, { v: 1 }] });

    let deep: unknown = 'bottom';
    for (let i = 0; i < 13; i++) deep = { d: deep };
    let out = redact(deep) as Record<string, unknown>;
    let levels = 0;
    while (typeof out.d === 'object') {
      out = out.d as Record<string, unknown>;
      levels++;
    }
    expect({ levels, last: out.d }).toEqual({ levels: 11, last: '[Truncated]' });
    let nested: unknown = 'bottom';
    for (let i = 0; i < 13; i++) nested = [nested];
    expect(JSON.stringify(redact(nested))).toBe(`${'['.repeat(12)}"[Truncated]"${']'.repeat(12)}`);

    const when = new Date('2026-01-02T03:04:05Z');
    const result = redact({ when, bytes: Buffer.from('abc'), cards: ['4242424242424242', 'ok'] }) as { when: Date; bytes: string; cards: string[] };
    expect(result.when).toBeInstanceOf(Date);
    expect(result.when.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(result).toEqual({ when, bytes: '[Buffer 3 bytes]', cards: [REDACTED, 'ok'] });
  });

  test('an error keeps what describes the failure and loses what carries the caller’s input', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const err = Object.assign(new Error('query failed for 4242424242424242'), {
      code: '57P01',
      detail: 'terminating connection',
      params: ['a', 'b', 'c'],
      payload: '{"id":"evt_1"}',
      header: 't=1,v1=abc',
      raw: { headers: { authorization: 'Bearer x' } },
      headers: { authorization: 'Bearer x' },
      requestHeaders: { authorization: 'Bearer x' },
      command: { name: 'auth', args: ['hunter2-password'] },
      apiKey: 'anything',
      where: { table: 'payments', column: 'amount' },
    });
    Object.defineProperty(err, 'cause', { value: cause, enumerable: false });
    const out = redact(err) as Record<string, unknown>;
    expect(typeof out.stack).toBe('string');
    expect(out.stack as string).not.toContain('4242424242424242');
    delete out.stack;
    expect(out).toEqual({
      name: 'Error',
      message: `query failed for ${REDACTED}`,
      code: '57P01',
      detail: 'terminating connection',
      params: '[3 values omitted]',
      payload: '[omitted]',
      header: '[omitted]',
      command: { name: 'auth' },
      apiKey: REDACTED,
      where: { table: 'payments', column: 'amount' },
      cause: expect.objectContaining({ name: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' }),
    });
    // A string `command` (not ioredis's object) is ordinary text; an object without a name keeps an empty one.
    expect(redact(Object.assign(new Error('e'), { command: 'SELECT 1' }))).toMatchObject({ command: 'SELECT 1' });
    expect(redact(Object.assign(new Error('e'), { command: { args: ['x'] } }))).toMatchObject({ command: { name: '' } });
    expect(redact(Object.assign(new Error('e'), { command: null }))).toMatchObject({ command: null });
    // No cause: no cause field.
    expect(Object.keys(redact(new Error('plain')) as object)).not.toContain('cause');
    // Causes and error fields count towards the depth bound like any nesting.
    let chain = new Error('root');
    for (let i = 0; i < 14; i++) chain = new Error(`level ${i}`, { cause: chain });
    expect(JSON.stringify(redact(chain)).match(/\[Truncated\]/g)).toHaveLength(1);
    expect(JSON.stringify(redact(chain))).not.toContain('"root"');
    let fields: unknown = 'bottom';
    for (let i = 0; i < 12; i++) fields = { f: fields };
    expect(JSON.stringify(redact(Object.assign(new Error('e'), { nested: fields })))).toContain('[Truncated]');
    // Errors nested deeper in a structure are redacted the same way, with the depth they sit at.
    expect(redact({ failure: err })).toMatchObject({ failure: { params: '[3 values omitted]', message: `query failed for ${REDACTED}` } });
  });
});
