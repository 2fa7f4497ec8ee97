import { verifyStripeSignature } from '../../../service/webhooks';
import { refusalOf, sign } from './support';

/**
 * The signature check's exact refusals and boundaries (codes and messages a sender and on-call
 * read), called directly with a fixed clock. Found by mutation testing: the route suites assert
 * only that a bad delivery is a 400.
 */

const SECRET = 'whsec_signature_contract_0123456789';
const NOW_MS = 1_800_000_000_000;
const NOW = NOW_MS / 1000;

describe('signature check', () => {
  const body = JSON.stringify({ id: 'evt_1', object: 'event' });
  const check = (header: string | string[] | undefined, raw: Buffer | undefined = Buffer.from(body)) => refusalOf(() => verifyStripeSignature(raw, header, SECRET, NOW_MS));

  test('a missing or blank header, or several headers, is missing_signature', () => {
    const missing = { code: 'missing_signature', status: 400, message: 'Missing Stripe-Signature header' };
    expect(check(undefined)).toEqual(missing);
    expect(check('')).toEqual(missing);
    expect(check('   ')).toEqual(missing);
    expect(check([sign(SECRET, body, NOW), sign(SECRET, body, NOW)])).toEqual(missing);
  });

  test('while a secret is rolled, Stripe signs with both: either secret verifies, a third does not', () => {
    // runbooks/rotate-webhook-secret.md: old tasks keep the old secret until the new ones run.
    const NEW = 'whsec_rolled_0123456789abcdef';
    const both = `${sign(SECRET, body, NOW)},${sign(NEW, body, NOW).split(',')[1]!}`;
    expect(check(both)).toBe('accepted');
    expect(refusalOf(() => verifyStripeSignature(Buffer.from(body), both, NEW, NOW_MS))).toBe('accepted');
    expect(refusalOf(() => verifyStripeSignature(Buffer.from(body), both, 'whsec_neither_0123456789', NOW_MS))).toMatchObject({ code: 'invalid_signature' });
  });

  test('an absent or empty body is empty_body, checked after the header', () => {
    const empty = { code: 'empty_body', status: 400, message: 'Empty webhook body' };
    expect(check(sign(SECRET, '', NOW), Buffer.alloc(0))).toEqual(empty);
    expect(refusalOf(() => verifyStripeSignature(undefined, sign(SECRET, body, NOW), SECRET, NOW_MS))).toEqual(empty);
    expect(check(undefined, Buffer.alloc(0))).toMatchObject({ code: 'missing_signature' });
  });

  test('exactly one timestamp of 1-12 digits, nothing after it', () => {
    const v1 = sign(SECRET, body, NOW).split(',')[1]!;
    const one = { code: 'invalid_signature', status: 400, message: 'Stripe-Signature must carry exactly one timestamp (t=<unix seconds>)' };
    expect(check(v1)).toEqual(one);
    expect(check(`t=${NOW},t=${NOW},${v1}`)).toEqual(one);
    expect(check(`t=${NOW}abc,${v1}`)).toEqual(one);
    expect(check(`t=${NOW} 1,${v1}`)).toEqual(one);
    expect(check(`t=1234567890123,${v1}`)).toEqual(one);
    expect(check(`t=,${v1}`)).toEqual(one);
    expect(check(`t=${NOW},${v1}`)).toBe('accepted');
  });

  test('a signature made with another secret is invalid_signature', () => {
    expect(check(sign('whsec_someone_else', body, NOW))).toEqual({ code: 'invalid_signature', status: 400, message: 'Invalid webhook signature' });
  });

  test('older than 300 s is stale_signature; 300 s old is accepted', () => {
    expect(check(sign(SECRET, body, NOW - 300))).toBe('accepted');
    expect(check(sign(SECRET, body, NOW - 301))).toEqual({ code: 'stale_signature', status: 400, message: 'Webhook timestamp is older than the tolerance' });
  });

  test('more than 300 s in the future is future_signature; 300 s ahead is accepted', () => {
    expect(check(sign(SECRET, body, NOW + 300))).toBe('accepted');
    expect(check(sign(SECRET, body, NOW + 301))).toEqual({ code: 'future_signature', status: 400, message: 'Webhook timestamp is further in the future than the tolerance' });
  });

  test('a body that is not UTF-8 is invalid_event even when JSON would parse its replacement', () => {
    // {"a":"<0xff>"}: decoded leniently it is valid JSON; the bytes are not UTF-8, so it is refused.
    const raw = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(check(sign(SECRET, raw.toString('utf8'), NOW), raw)).toEqual({ code: 'invalid_event', status: 400, message: 'Webhook body is not UTF-8' });
  });

  test('a body that is not JSON is invalid_event; JSON comes back parsed', () => {
    expect(check(sign(SECRET, 'not json', NOW), Buffer.from('not json'))).toEqual({ code: 'invalid_event', status: 400, message: 'Webhook body is not JSON' });
    expect(verifyStripeSignature(Buffer.from(body), sign(SECRET, body, NOW), SECRET, NOW_MS)).toEqual({ id: 'evt_1', object: 'event' });
  });
});

