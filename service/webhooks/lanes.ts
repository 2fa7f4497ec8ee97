import type Stripe from 'stripe';

/**
 * Whose events must stay in order: the customer the object belongs to, else the object itself.
 * Events of one customer touch the same user row (locked by every event that changes the user), so
 * running them one after another also avoids waiting on each other's locks.
 */
export function eventLane(event: Stripe.Event): string {
  const object = event.data.object as { id?: unknown };
  return eventCustomer(event) ?? (typeof object.id === 'string' ? object.id : event.id);
}

/** The customer the event's object names (as an id or expanded), if any. */
export function eventCustomer(event: Stripe.Event): string | undefined {
  const customer = (event.data.object as { customer?: unknown }).customer;
  if (typeof customer === 'string') return customer;
  const id = (customer as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Runs `apply` over events given in Stripe order: lanes (customers) side by side, `concurrency` at
 * a time (p-map), each lane's events one after another in the order given. Used by the drain and
 * by replay: a backlog is bound by database round trips, not by one event at a time (issue 15).
 */
export async function inLanes<T>(items: readonly T[], eventOf: (item: T) => Stripe.Event, concurrency: number, apply: (item: T) => Promise<void>): Promise<void> {
  const lanes = new Map<string, T[]>();
  for (const item of items) {
    const lane = eventLane(eventOf(item));
    const list = lanes.get(lane);
    if (list) list.push(item);
    else lanes.set(lane, [item]);
  }
  if (lanes.size <= 1) {
    for (const item of items) await apply(item);
    return;
  }
  // p-map is ESM-only: loaded where it is used (module "node16" keeps this a real dynamic import).
  const { default: pMap } = await import('p-map');
  await pMap(
    lanes.values(),
    async (lane) => {
      for (const item of lane) await apply(item);
    },
    { concurrency },
  );
}
