import { FormValue, FormObject } from './form';
import { invalidRequest, missingParameter, unknownParameter } from './errors';

/**
 * A tiny parameter schema: enough to reject unknown parameters the way Stripe does
 * ("Received unknown parameter: items[0][foo]") and to coerce form strings to the types the SDK's
 * `*Params` interfaces declare, so handlers can work with those types.
 */
export type Field =
  | 'string'
  | 'integer'
  | 'boolean'
  | 'metadata'
  | 'strings'
  | 'timestamp_range'
  | 'currency'
  | 'email'
  | { object: Shape; required?: string[] }
  | { enum: readonly string[] }
  | { array: Field };
export type Shape = Record<string, Field>;

const ISO_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** `expand` is accepted by every endpoint. */
const COMMON: Shape = { expand: 'strings' };

export function parseParams<T>(input: FormObject, shape: Shape, required: string[] = []): T {
  return coerceObject(input, { ...COMMON, ...shape }, required, '') as T;
}

function coerceObject(input: FormValue, shape: Shape, required: string[], prefix: string): unknown {
  if (typeof input === 'string' || Array.isArray(input)) {
    if (input === '' && prefix) return null; // an empty string unsets an optional hash
    throw invalidRequest(`Invalid object`, prefix || undefined, 'parameter_invalid_object');
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const name = prefix ? `${prefix}[${key}]` : key;
    // Own keys only: `constructor` or `toString` must not find Object.prototype's members.
    const field = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (!field) throw unknownParameter(name);
    out[key] = coerce(value, field, name);
  }
  for (const key of required) {
    const v = out[key];
    if (v === undefined || v === null || v === '') throw missingParameter(prefix ? `${prefix}[${key}]` : key);
  }
  return out;
}

function coerce(value: FormValue, field: Field, name: string): unknown {
  if (typeof field === 'object') {
    // The SDK types these `'a' | 'b' | OtherString`, so a misspelt value compiles; Stripe refuses it.
    if ('enum' in field) {
      if (typeof value !== 'string' || !field.enum.includes(value)) {
        throw invalidRequest(`Invalid ${name}: must be one of ${field.enum.join(', ')}`, name);
      }
      return value;
    }
    if ('object' in field) return coerceObject(value, field.object, field.required ?? [], name);
    if (value === '') return [];
    if (!Array.isArray(value)) throw invalidRequest(`Invalid array`, name, 'parameter_invalid_array');
    return value.map((v, i) => coerce(v, field.array, `${name}[${i}]`));
  }
  switch (field) {
    case 'string':
      if (typeof value !== 'string') throw invalidRequest(`Invalid string: ${JSON.stringify(value)}`, name, 'parameter_invalid_string');
      return value;
    case 'integer': {
      // Past 2^53 a JavaScript number would silently round the value; Stripe refuses it too.
      if (typeof value !== 'string' || !/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
        throw invalidRequest(`Invalid integer: ${typeof value === 'string' ? value : JSON.stringify(value)}`, name, 'parameter_invalid_integer');
      }
      return Number(value);
    }
    case 'boolean':
      if (value === 'true') return true;
      if (value === 'false') return false;
      throw invalidRequest(`Invalid boolean: ${String(value)}`, name, 'parameter_invalid_boolean');
    case 'strings':
      if (typeof value === 'string') return value === '' ? [] : [value];
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
        throw invalidRequest(`Invalid array`, name, 'parameter_invalid_array');
      }
      return value;
    case 'metadata': {
      if (value === '') return null;
      if (typeof value === 'string' || Array.isArray(value)) throw invalidRequest('Invalid hash', name);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw invalidRequest(`Invalid metadata value for key ${k}`, `${name}[${k}]`);
        // Stripe's documented limits: keys up to 40 characters, values up to 500.
        if (k.length > 40) throw invalidRequest(`Metadata keys can have up to 40 characters. The key "${k}" has ${k.length}.`, `${name}[${k}]`);
        if (v.length > 500) throw invalidRequest(`Metadata values can have up to 500 characters, but you passed in a value that is ${v.length} characters.`, `${name}[${k}]`);
      }
      return value;
    }
    case 'currency': {
      // Stripe takes ISO 4217 codes (answered in lowercase); `euro` or `eu` pass nowhere.
      if (typeof value !== 'string' || !ISO_CURRENCIES.has(value.toUpperCase())) {
        throw invalidRequest(`Invalid currency: ${typeof value === 'string' ? value : JSON.stringify(value)}.`, name);
      }
      return value.toLowerCase();
    }
    case 'email': {
      // Stripe refuses what is not an address (`email_invalid`); '' unsets it on update.
      if (typeof value !== 'string') throw invalidRequest(`Invalid string: ${JSON.stringify(value)}`, name);
      if (value !== '' && (value.length > 512 || !EMAIL.test(value))) throw invalidRequest(`Invalid email address: ${value}`, name, 'email_invalid');
      return value;
    }
    case 'timestamp_range': {
      if (typeof value === 'string') return coerce(value, 'integer', name);
      if (Array.isArray(value)) throw invalidRequest('Invalid range', name);
      return coerceObject(value, { gt: 'integer', gte: 'integer', lt: 'integer', lte: 'integer' }, [], name);
    }
  }
}

/** Stripe refuses URLs it could not redirect to (`url_invalid`): absolute http(s) only. */
export function checkUrlParam(value: string | undefined, param: string): void {
  if (value === undefined) return;
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) throw invalidRequest('Not a valid URL', param, 'url_invalid');
}

/** Applies Stripe's metadata update rule: keys merge, an empty string deletes a key. */
export function mergeMetadata(
  current: Record<string, string> | null | undefined,
  update: Record<string, string> | null | undefined,
): Record<string, string> {
  if (update === null) return {};
  const merged: Record<string, string> = { ...(current ?? {}) };
  if (!update) return merged;
  for (const [k, v] of Object.entries(update)) {
    if (v === '') delete merged[k];
    else merged[k] = v;
  }
  if (Object.keys(merged).length > 50) throw invalidRequest('Metadata can have at most 50 keys.', 'metadata');
  return merged;
}

export type Range = number | { gt?: number; gte?: number; lt?: number; lte?: number };

export function inRange(value: number, range: Range | undefined): boolean {
  if (range === undefined) return true;
  if (typeof range === 'number') return value === range;
  if (range.gt !== undefined && !(value > range.gt)) return false;
  if (range.gte !== undefined && !(value >= range.gte)) return false;
  if (range.lt !== undefined && !(value < range.lt)) return false;
  if (range.lte !== undefined && !(value <= range.lte)) return false;
  return true;
}

export const LIST_SHAPE: Shape = {
  limit: 'integer',
  starting_after: 'string',
  ending_before: 'string',
  created: 'timestamp_range',
};
