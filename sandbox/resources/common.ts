import type Stripe from 'stripe';
import { resourceMissing } from '../http/errors';
import { LIST_SHAPE, Shape } from '../http/params';

/** Stripe sends decimal amounts as strings; the SDK's branded Decimal type is that string on the wire. */
export function decimal(value: number): Stripe.Decimal {
  return String(value) as unknown as Stripe.Decimal;
}

/** Looks an id up: without `param` it came from the URL path (404), with one from a parameter (400). */
export function mustGet<T>(map: Map<string, T>, id: string, kind: string, param?: string): T {
  const found = map.get(id);
  if (!found) throw resourceMissing(kind, id, param);
  return found;
}

export function listShape(extra: Shape): Shape {
  return { ...LIST_SHAPE, ...extra };
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}
