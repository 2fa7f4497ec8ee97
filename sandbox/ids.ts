import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Stripe-looking ids: a prefix and 24 base62 characters (e.g. `cus_...`, `cs_test_...`). */
// One crypto call per 4 KiB of randomness instead of one per id: ids are minted on every event.
let pool = randomBytes(4096);
let offset = 0;

export function newId(prefix: string, length = 24): string {
  if (offset + length > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[(pool[offset + i] as number) % ALPHABET.length];
  offset += length;
  return `${prefix}_${out}`;
}
