/**
 * Decodes `application/x-www-form-urlencoded` bodies and query strings the way Stripe's API does:
 * bracketed keys nest (`a[b][c]=x`), numeric or empty indices build arrays (`items[0][price]=`,
 * `expand[]=`). The SDK always sends indexed arrays, curl users often send `[]`.
 */
export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type FormObject = { [key: string]: FormValue };

export function parseForm(text: string): FormObject {
  const root: FormObject = {};
  if (!text) return root;
  for (const [rawKey, value] of new URLSearchParams(text)) {
    const path = splitKey(rawKey);
    if (path.length > 0) assign(root, path, value);
  }
  return arraysFromIndexedObjects(root) as FormObject;
}

function splitKey(key: string): string[] {
  const first = key.indexOf('[');
  if (first < 0) return [key];
  const parts = [key.slice(0, first)];
  const re = /\[([^\]]*)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(key.slice(first))) !== null) parts.push(m[1] ?? '');
  return parts;
}

function assign(target: FormObject, path: string[], value: string): void {
  let node: FormObject = target;
  for (let i = 0; i < path.length - 1; i++) {
    let seg = path[i] as string;
    // `[]` appends: give it a fresh index so arraysFromIndexedObjects keeps the order.
    if (seg === '') seg = String(Object.keys(node).length);
    const next = node[seg];
    if (next === undefined || typeof next === 'string' || Array.isArray(next)) {
      const created: FormObject = {};
      node[seg] = created;
      node = created;
    } else {
      node = next;
    }
  }
  let last = path[path.length - 1] as string;
  if (last === '') last = String(Object.keys(node).length);
  node[last] = value;
}

function arraysFromIndexedObjects(value: FormValue): FormValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  for (const k of keys) value[k] = arraysFromIndexedObjects(value[k] as FormValue);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
    return keys
      .map(Number)
      .sort((a, b) => a - b)
      .map((i) => value[String(i)] as FormValue);
  }
  return value;
}
