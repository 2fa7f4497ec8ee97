import qs from 'qs';
import { invalidRequest } from './errors';

/**
 * Decodes `application/x-www-form-urlencoded` bodies and query strings in Stripe's bracket format
 * (`a[b][c]=x`, indexed `items[0][price]=` as the SDK sends, appended `expand[]=` as curl users
 * send) with `qs`, the parser Express's extended body parser uses.
 *
 * qs's defaults silently change input past their limits (keys deeper than 5 levels are kept as
 * literal strings, array indices above 20 turn the array into an object, parameters past 1000 are
 * dropped). Every limit here is set high enough for any request Stripe accepts and made to throw
 * instead, so an over-limit request is refused with a 400 rather than read as something else.
 * Keys named like prototype properties (`__proto__`) are dropped and objects have no prototype.
 */
export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type FormObject = { [key: string]: FormValue };

const OPTIONS: qs.IParseOptions & { decoder?: never } = {
  // `line_items[0][price_data][product_data][metadata][k]` is the deepest the SDK sends (5).
  depth: 10,
  strictDepth: true,
  // `enabled_events` can list every event type Stripe has (a few hundred).
  arrayLimit: 1000,
  parameterLimit: 10_000,
  throwOnLimitExceeded: true,
  allowPrototypes: false,
  plainObjects: true,
  // `a=1&a=2` becomes ['1', '2'], which a string parameter then refuses as an invalid string.
  duplicates: 'combine',
  allowDots: false,
  comma: false,
  charset: 'utf-8',
  charsetSentinel: false,
};

export function parseForm(text: string): FormObject {
  if (!text) return Object.create(null) as FormObject;
  try {
    return qs.parse(text, OPTIONS) as FormObject;
  } catch (err) {
    // qs throws RangeError for exceeded depth, array or parameter limits.
    throw invalidRequest(`Invalid request body or query string: ${(err as Error).message}`);
  }
}
