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
  let value = obj[head];
  if (value === undefined) value = includable(engine, obj, head);
  if (typeof value === 'string') {
    const found = engine.state.lookup(value);
    if (found === undefined) throw invalidRequest(`This property cannot be expanded (${full}).`, 'expand');
    value = structuredClone(found);
  } else if (value === undefined) {
    throw invalidRequest(`This property cannot be expanded (${full}).`, 'expand');
  }
  obj[head] = value;
  if (rest.length > 0) expandPath(engine, value, rest, full);
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
