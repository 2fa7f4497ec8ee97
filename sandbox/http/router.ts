import type { Engine } from '../engine';
import type { FormObject } from './form';

export interface ApiContext {
  engine: Engine;
  /** Body for POST, query string for GET and DELETE, decoded as Stripe does. */
  params: FormObject;
  /** Named path segments, e.g. `{id}`. */
  path: Record<string, string>;
  method: string;
  /** The request path without query string, as list objects report it in `url`. */
  url: string;
}

export type Handler = (ctx: ApiContext) => unknown;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

/** Method + path-template routing (`/v1/customers/:id`), no dependencies. */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, template: string, handler: Handler): this {
    const names: string[] = [];
    const source = template.replace(/:([a-z_]+)/g, (_m, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  get(template: string, handler: Handler): this {
    return this.add('GET', template, handler);
  }

  post(template: string, handler: Handler): this {
    return this.add('POST', template, handler);
  }

  delete(template: string, handler: Handler): this {
    return this.add('DELETE', template, handler);
  }

  match(method: string, pathname: string): { handler: Handler; path: Record<string, string> } | undefined {
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      const path: Record<string, string> = {};
      route.names.forEach((name, i) => (path[name] = decodeURIComponent(m[i + 1] ?? '')));
      return { handler: route.handler, path };
    }
    return undefined;
  }
}
