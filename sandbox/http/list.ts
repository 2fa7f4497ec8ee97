import { invalidRequest, resourceMissing } from './errors';
import { inRange, Range } from './params';

export interface ListParams {
  limit?: number;
  starting_after?: string;
  ending_before?: string;
  created?: Range;
}

export interface ListObject<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

/**
 * Stripe list semantics over objects kept in creation order: newest first, `limit` 1..100
 * (default 10), cursors by object id.
 */
export function paginate<T extends { id: string; created: number }>(
  items: Iterable<T>,
  params: ListParams,
  url: string,
  filter: (item: T) => boolean = () => true,
): ListObject<T> {
  const limit = params.limit ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalidRequest('This value must be greater than or equal to 1 and less than or equal to 100.', 'limit');
  }
  if (params.starting_after && params.ending_before) {
    throw invalidRequest('You may only specify one of these parameters: ending_before, starting_after.', 'starting_after');
  }
  // Walk backwards from the cursor and stop after limit + 1 matches, so a page costs the page,
  // not the whole collection (lists stay fast with thousands of stored objects).
  const all = Array.isArray(items) ? (items as T[]) : Array.from(items);
  const matches = (item: T): boolean => inRange(item.created, params.created) && filter(item);
  if (params.ending_before) {
    const index = all.findIndex((item) => item.id === params.ending_before);
    if (index < 0) throw resourceMissing('object', params.ending_before, 'ending_before');
    const newer: T[] = [];
    for (let i = index + 1; i < all.length && newer.length <= limit; i++) if (matches(all[i] as T)) newer.push(all[i] as T);
    const hasMore = newer.length > limit;
    return { object: 'list', data: newer.slice(0, limit).reverse(), has_more: hasMore, url };
  }
  let from = all.length - 1;
  if (params.starting_after) {
    const index = all.findIndex((item) => item.id === params.starting_after);
    if (index < 0) throw resourceMissing('object', params.starting_after, 'starting_after');
    from = index - 1;
  }
  const page: T[] = [];
  for (let i = from; i >= 0 && page.length <= limit; i--) if (matches(all[i] as T)) page.push(all[i] as T);
  return { object: 'list', data: page.slice(0, limit), has_more: page.length > limit, url };
}
