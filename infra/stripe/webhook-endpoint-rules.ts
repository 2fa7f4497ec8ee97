import type Stripe from 'stripe';

/**
 * Pure rules of the webhook endpoint provider (no Stripe calls), kept apart so the provider file
 * stays about the lifecycle. Serialized with the provider: no imports beyond types.
 */

/** Stripe: "You can register up to 16 webhook endpoints on each Stripe account" (docs.stripe.com/development/dashboard/webhooks). */
export const MAX_WEBHOOK_ENDPOINTS = 16;

/** Query parameter that tells the endpoints of two API versions apart (Stripe's upgrade guide does the same). */
export const VERSION_PARAM = 'api_version';

/**
 * The URL registered in Stripe: the service's webhook URL plus the endpoint's API version. During
 * an API version change the old and the new endpoint exist side by side; Stripe's versioning guide
 * gives the new endpoint "the same URL ... but add a query parameter to distinguish" them, so the
 * two never share a URL and a request log shows which endpoint delivered. The service routes on
 * the path only.
 */
export function registeredUrl(url: string, apiVersion: string): string {
  const u = new URL(url);
  u.searchParams.set(VERSION_PARAM, apiVersion);
  return u.toString();
}

/** The service URL behind a registered URL (what the program declares). */
export function serviceUrlOf(registered: string): string {
  const u = new URL(registered);
  u.searchParams.delete(VERSION_PARAM);
  return u.toString();
}

/** Why Stripe would refuse this enabled_events list (empty when it is well-formed). */
export function enabledEventsProblems(events: unknown): string[] {
  if (!Array.isArray(events) || events.length === 0) return ['must list at least one event type'];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const e of events) {
    if (typeof e !== 'string' || !(e === '*' || /^[a-z0-9_]+(\.[a-z0-9_]+)+$/.test(e))) problems.push(`${JSON.stringify(e)} is not an event type (type.action, or '*')`);
    else if (seen.has(e)) problems.push(`${e} is listed twice`);
    seen.add(String(e));
  }
  if (seen.has('*') && events.length > 1) problems.push(`'*' already enables every event: list it alone or not at all`);
  return problems;
}

export function sameEvents(a: readonly string[], b: readonly string[]): boolean {
  return [...a].sort().join(',') === [...b].sort().join(',');
}

/** How create treats an endpoint already registered for the service's webhook URL. */
export type ExistingEndpoint = 'adopt' | 'predecessor' | 'conflict' | 'unrelated';

/**
 * - `adopt`: the endpoint named by adoptEndpointId, not yet managed by Pulumi: taken over.
 * - `predecessor`: an endpoint Pulumi manages (metadata) on the same service URL with another API
 *   version: the one this create replaces (create-before-delete); Pulumi deletes it at the end of
 *   the update. An adopted endpoint is marked managed when adopted, so a later version change
 *   replaces it instead of adopting it again.
 * - `conflict`: anything else on the service URL: its signing secret cannot be read back, so its
 *   deliveries could never be verified; refused with an explanation.
 */
export function classifyExisting(
  endpoint: Pick<Stripe.WebhookEndpoint, 'id' | 'url' | 'api_version' | 'metadata'>,
  inputs: { url: string; apiVersion: string; adoptEndpointId?: string },
): ExistingEndpoint {
  const managed = endpoint.metadata?.managed_by === 'pulumi';
  const otherVersion = endpoint.api_version !== null && endpoint.api_version !== inputs.apiVersion;
  if (endpoint.id === inputs.adoptEndpointId) return managed && otherVersion ? 'predecessor' : 'adopt';
  if (serviceUrlOf(endpoint.url) !== serviceUrlOf(inputs.url)) return 'unrelated';
  return managed && otherVersion ? 'predecessor' : 'conflict';
}

/**
 * Of the endpoints registered for one service URL, the one that serves it: the one the stack
 * manages; else the one already right (on the version, enabled, subscribed to the events); else
 * the oldest on the version (a later one is more likely the stray); else the oldest. The
 * operational commands check and reconcile this one and name the others.
 */
export function servingEndpoint<E extends Pick<Stripe.WebhookEndpoint, 'id' | 'status' | 'enabled_events' | 'api_version' | 'created'>>(
  candidates: E[],
  declared: { apiVersion: string; events: readonly string[] },
  managedId?: string,
): E | undefined {
  return (
    candidates.find((e) => e.id === managedId) ??
    candidates.find((e) => e.api_version === declared.apiVersion && e.status === 'enabled' && sameEvents(e.enabled_events, declared.events)) ??
    oldest(candidates.filter((e) => e.api_version === declared.apiVersion)) ??
    oldest(candidates)
  );
}

/** The earliest created; within one second the later in Stripe's list, which runs newest first. */
function oldest<E extends { created: number }>(endpoints: E[]): E | undefined {
  let found: E | undefined;
  for (const e of endpoints) if (!found || e.created <= found.created) found = e;
  return found;
}
