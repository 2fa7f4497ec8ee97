import type { Store } from '../shared/store';

/** The store key of the maintenance flag (the seed's name; the rollback tooling sets it too). */
export const MAINTENANCE_KEY = 'stripe:maintenance';
/** The seed's default TTL: maintenance ends by itself if nobody clears it. */
export const DEFAULT_MAINTENANCE_TTL_SECONDS = 3600;

export interface MaintenanceState {
  maintenance: boolean;
  reason?: string;
  since?: string;
  /** ISO time the flag expires. */
  until?: string;
}

/** The state a request acts on; `unknown` when the store could not be read (Redis down). */
export type MaintenanceView = MaintenanceState & { unknown?: true };

/** The last state this instance read, per store: what the status banner shows while Redis is down. */
const lastKnown = new WeakMap<Store, MaintenanceState>();

interface StoredFlag {
  reason?: string;
  since?: string;
}

export async function readMaintenance(store: Store, now: Date): Promise<MaintenanceState> {
  const raw = await store.get(MAINTENANCE_KEY);
  if (raw === null) return { maintenance: false };
  let flag: StoredFlag = {};
  try {
    flag = JSON.parse(raw) as StoredFlag;
  } catch {
    // A flag set by hand (redis-cli SET stripe:maintenance 1) still means maintenance.
  }
  const ttl = await store.ttlSeconds(MAINTENANCE_KEY);
  return {
    maintenance: true,
    ...(flag.reason ? { reason: flag.reason } : {}),
    ...(flag.since ? { since: flag.since } : {}),
    ...(ttl !== null ? { until: new Date(now.getTime() + ttl * 1000).toISOString() } : {}),
  };
}

/**
 * The maintenance state for a user request, read from the store on every call (a flag set on any
 * instance applies to the next request everywhere). When the store does not answer, the last state
 * this instance read comes back marked `unknown` (maintenance off if it never read one): callers
 * decide what unknown means for them (checkout and portal refuse with 503, the banner shows it).
 */
export async function maintenanceForRequest(store: Store, now: Date): Promise<MaintenanceView> {
  try {
    const state = await readMaintenance(store, now);
    lastKnown.set(store, state);
    return state;
  } catch {
    return { ...(lastKnown.get(store) ?? { maintenance: false }), unknown: true };
  }
}

export async function enableMaintenance(
  store: Store,
  options: { reason?: string; ttlSeconds?: number; now: Date },
): Promise<MaintenanceState> {
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_MAINTENANCE_TTL_SECONDS;
  const flag: StoredFlag = { reason: options.reason, since: options.now.toISOString() };
  await store.set(MAINTENANCE_KEY, JSON.stringify(flag), { ttlSeconds });
  return readMaintenance(store, options.now);
}

export async function disableMaintenance(store: Store): Promise<boolean> {
  return store.del(MAINTENANCE_KEY);
}
