/**
 * The route template a request matched (`/api/admin/payments/users/:userId`), never the raw path:
 * it labels metrics (bounded cardinality) and request logs (no path parameters in the label).
 */
interface RoutedRequest {
  route?: { path?: unknown };
  baseUrl?: string;
  originalUrl: string;
}

/**
 * `/api/payments/checkout-session`, `/api/admin/payments/users/:userId`, or `unmatched`.
 * Express restores `req.baseUrl` when an error leaves a router, so the mount prefix is rebuilt from
 * the original path minus as many segments as the route template has. Mount paths match case
 * insensitively, so the rebuilt prefix is lower-cased: `/API/Admin/...` must not mint a new label.
 */
export function routeLabel(req: RoutedRequest, status: number): string {
  const template = req.route?.path;
  if (typeof template !== 'string') return status === 404 ? 'unmatched' : 'unrouted';
  if (req.baseUrl) return joinPath(req.baseUrl.toLowerCase(), template);
  const segments = (req.originalUrl.split('?')[0] ?? '').split('/').filter(Boolean);
  const templateSegments = template.split('/').filter(Boolean).length;
  const prefix = segments.slice(0, Math.max(0, segments.length - templateSegments));
  return joinPath(prefix.length > 0 ? `/${prefix.join('/').toLowerCase()}` : '', template);
}

function joinPath(base: string, path: string): string {
  const joined = `${base}${path === '/' ? '' : path}`;
  return joined === '' ? '/' : joined;
}
