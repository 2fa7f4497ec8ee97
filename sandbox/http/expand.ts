import type { Engine } from '../engine';
import { invalidRequest } from './errors';

/**
 * `expand[]`: replaces id strings along dotted paths with the objects they name; `data.` walks
 * lists. Fields Stripe only includes on request (invoice `payments`, checkout `line_items`) are
 * produced by `includable`.
 */
export function expandResponse(engine: Engine, body: unknown, paths: string[]): unknown {
  if (paths.length === 0) return body;
  const copy = structuredClone(body);
  for (const path of paths) {
    if (path.split('.').length > 4) throw invalidRequest('You cannot expand more than 4 levels of a property.', 'expand');
    expandPath(engine, copy, path.split('.'), path);
  }
  return copy;
}

function expandPath(engine: Engine, node: unknown, segments: string[], full: string): void {
  if (segments.length === 0 || node === null || typeof node !== 'object') return;
  const [head, ...rest] = segments as [string, ...string[]];
  const obj = node as Record<string, unknown>;
  if (head === 'data' && obj.object === 'list' && Array.isArray(obj.data)) {
    for (const item of obj.data) expandPath(engine, item, rest, full);
    return;
  }
  const refused = (): never => {
    throw invalidRequest(`This property cannot be expanded (${full}).`, 'expand');
  };
  // An object's own id names itself, not another object.
  if (head === 'id' || head === 'object') refused();
  let value = obj[head];
  if (value === undefined) value = includable(engine, obj, head);
  if (value === undefined) refused();
  // Generic: any field holding the id of a stored object expands (a list of ids too), so every
  // expandable field Stripe documents works without a per-field list to keep in step.
  const resolve = (id: string): unknown => {
    const found = engine.state.lookup(id);
    return found === undefined ? refused() : structuredClone(found);
  };
  if (typeof value === 'string') value = resolve(value);
  else if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) value = value.map((v: string) => resolve(v));
  obj[head] = value;
  if (rest.length > 0) {
    if (Array.isArray(value)) for (const item of value) expandPath(engine, item, rest, full);
    else expandPath(engine, value, rest, full);
  }
}

function includable(engine: Engine, obj: Record<string, unknown>, field: string): unknown {
  const id = obj.id as string;
  if (obj.object === 'invoice' && field === 'payments') {
    const data = [...engine.state.invoicePayments.values()].filter((p) => p.invoice === id).reverse();
    return structuredClone({ object: 'list', data, has_more: false, url: `/v1/invoice_payments?invoice=${id}` });
  }
  if (obj.object === 'checkout.session' && field === 'line_items') {
    const data = engine.state.checkoutLineItems.get(id) ?? [];
    return structuredClone({ object: 'list', data, has_more: false, url: `/v1/checkout/sessions/${id}/line_items` });
  }
  return undefined;
}
