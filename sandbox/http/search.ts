import { invalidRequest } from './errors';
import { parseParams } from './params';
import type { FormObject } from './form';
import type { Engine } from '../engine';

/**
 * Stripe's search query language, the subset the sandbox's searchable resources use:
 * `field:'value'` (exact, case-insensitive), `field~'sub'` (substring, 3+ characters, only on
 * fields that allow it), `-clause` (negation), `metadata['key']:'value'`, numeric comparisons
 * `created>n`, `>=`, `<`, `<=`, `:`; up to 10 clauses joined by spaces / `AND` or by `OR`, never both.
 * Anything else is refused with a 400 naming `query`, so a query that Stripe would reject does not
 * silently match everything here.
 */
export interface SearchField {
  kind: 'string' | 'number' | 'metadata';
  /** Whether `~` (substring) is allowed on the field. */
  substring?: boolean;
  read: (obj: never, key?: string) => string | number | null | undefined;
}

interface Clause {
  negate: boolean;
  field: string;
  key?: string;
  op: ':' | '~' | '>' | '>=' | '<' | '<=';
  value: string | number;
}

const CLAUSE = /^(-?)([a-z_]+)(?:\[(?:'([^']*)'|"([^"]*)")\])?(:|~|>=|<=|>|<)(?:'([^']*)'|"([^"]*)"|(-?\d+(?:\.\d+)?))$/;
const MAX_CLAUSES = 10;

function tokenize(query: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (const ch of query.trim()) {
    if (quote) {
      current += ch;
      if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      current += ch;
    } else if (/\s/.test(ch)) {
      if (current) tokens.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (quote) throw invalidRequest('Invalid search query: unterminated string.', 'query');
  if (current) tokens.push(current);
  return tokens;
}

export function parseQuery(query: string, fields: Record<string, SearchField>, resource: string): { clauses: Clause[]; any: boolean } {
  const tokens = tokenize(query);
  if (tokens.length === 0) throw invalidRequest('Missing required param: query.', 'query', 'parameter_missing');
  const clauses: Clause[] = [];
  const joins = new Set<string>();
  tokens.forEach((token, i) => {
    const upper = token.toUpperCase();
    if (upper === 'AND' || upper === 'OR') {
      if (i === 0 || i === tokens.length - 1) throw invalidRequest(`Invalid search query: dangling ${upper}.`, 'query');
      joins.add(upper);
      return;
    }
    const m = CLAUSE.exec(token);
    if (!m) throw invalidRequest(`Invalid search query: could not parse \`${token}\`.`, 'query');
    const [, neg, field, key1, key2, op, s1, s2, num] = m;
    const def = Object.hasOwn(fields, field as string) ? fields[field as string] : undefined;
    if (!def) throw invalidRequest(`Field \`${field}\` is an unsupported search field for resource \`${resource}\`.`, 'query');
    const key = key1 ?? key2;
    if ((def.kind === 'metadata') !== (key !== undefined)) throw invalidRequest(`Invalid search query: \`${token}\`.`, 'query');
    const text = s1 ?? s2;
    if (def.kind === 'number') {
      if (num === undefined || op === '~') throw invalidRequest(`Field \`${field}\` takes a number and one of : > >= < <=.`, 'query');
    } else {
      if (text === undefined) throw invalidRequest(`Field \`${field}\` takes a quoted string.`, 'query');
      if (op !== ':' && op !== '~') throw invalidRequest(`Field \`${field}\` does not support numeric comparison.`, 'query');
      if (op === '~' && !def.substring) throw invalidRequest(`Field \`${field}\` does not support substring matching.`, 'query');
      if (op === '~' && text.length < 3) throw invalidRequest('Substring matching needs at least 3 characters.', 'query');
    }
    clauses.push({ negate: neg === '-', field: field as string, key, op: op as Clause['op'], value: def.kind === 'number' ? Number(num) : (text as string) });
  });
  if (joins.size > 1) throw invalidRequest('Invalid search query: AND and OR cannot be combined in one query.', 'query');
  if (clauses.length > MAX_CLAUSES) throw invalidRequest(`Invalid search query: at most ${MAX_CLAUSES} clauses.`, 'query');
  return { clauses, any: joins.has('OR') };
}

function clauseMatches(clause: Clause, def: SearchField, obj: never): boolean {
  const actual = def.read(obj, clause.key);
  let hit: boolean;
  if (actual === null || actual === undefined) hit = false;
  else if (typeof clause.value === 'number') {
    const n = Number(actual);
    hit = clause.op === ':' ? n === clause.value
      : clause.op === '>' ? n > clause.value
        : clause.op === '>=' ? n >= clause.value
          : clause.op === '<' ? n < clause.value
            : n <= clause.value;
  } else {
    const a = String(actual).toLowerCase();
    const v = clause.value.toLowerCase();
    hit = clause.op === '~' ? a.includes(v) : a === v;
  }
  return clause.negate ? !hit : hit;
}

export interface SearchResult<T> {
  object: 'search_result';
  data: T[];
  has_more: boolean;
  next_page: string | null;
  url: string;
}

/**
 * What the search index holds: objects created at least `engine.searchIndexLagSeconds` ago on the
 * sandbox clock (changes to an indexed object are searchable at once; see docs/sandbox.md).
 */
export function indexed<T extends { created: number }>(engine: Engine, items: Iterable<T>): Iterable<T> {
  const lag = engine.searchIndexLagSeconds;
  if (lag <= 0) return items;
  const cutoff = engine.now() - lag;
  return [...items].filter((item) => item.created <= cutoff);
}

/**
 * `GET /v1/<resource>/search`: `query` (required), `limit` 1..100 (default 10), `page` (the
 * previous result's `next_page`). Results newest first.
 */
export function search<T extends { id: string }>(
  items: Iterable<T>,
  input: FormObject,
  fields: Record<string, SearchField>,
  resource: string,
  url: string,
): SearchResult<T> {
  const p = parseParams<{ query?: string; limit?: number; page?: string }>(input, { query: 'string', limit: 'integer', page: 'string' }, ['query']);
  const limit = p.limit ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalidRequest('This value must be greater than or equal to 1 and less than or equal to 100.', 'limit');
  }
  const { clauses, any } = parseQuery(p.query as string, fields, resource);
  const matches = (item: T): boolean => {
    const results = clauses.map((c) => clauseMatches(c, fields[c.field] as SearchField, item as never));
    return any ? results.some(Boolean) : results.every(Boolean);
  };
  const all = [...items].reverse().filter(matches);
  let start = 0;
  if (p.page) {
    const offset = /^page_(\d+)$/.exec(p.page);
    if (!offset) throw invalidRequest(`Invalid page: ${p.page}`, 'page');
    start = Number(offset[1]);
  }
  const data = all.slice(start, start + limit);
  const hasMore = start + limit < all.length;
  return { object: 'search_result', data, has_more: hasMore, next_page: hasMore ? `page_${start + limit}` : null, url };
}
