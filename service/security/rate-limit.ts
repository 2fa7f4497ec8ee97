import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, MemoryStore, rateLimit, type Store as RateLimitStore } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logger';
import { isRedisStore, type Store } from '../shared/store';
import { type AuthConfig, verifyToken } from './auth';

export interface RateLimiterOptions {
  /** Names the limiter in metrics, logs and the Redis key space (`ratelimit:<name>:`). */
  name: string;
  windowMs: number;
  max: number;
  /** The shared store: Redis makes the limit hold across instances; memory falls back to per process. */
  store: Store;
  auth: AuthConfig;
  logger: Logger;
  onRejected?: (limiter: string) => void;
}

/** Which backend a limiter counts in (tests assert the fallback). */
export type RateLimitBackend = 'redis' | 'memory';

export interface RateLimiter {
  middleware: RequestHandler;
  backend: RateLimitBackend;
}

/**
 * Who a request counts against: the authenticated user when it carries a valid token, else its
 * client address. `req.ip` is the client as the one trusted proxy hop (the ALB, `trust proxy` 1)
 * reported it, so a client cannot pick its own bucket with a forged X-Forwarded-For entry; IPv6
 * addresses are grouped by subnet so one host cannot rotate through its /64.
 */
async function clientKey(req: Request, auth: AuthConfig): Promise<string> {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
  if (match?.[1]) {
    try {
      return `user:${(await verifyToken(auth, match[1])).id}`;
    } catch {
      // An invalid token counts against the address it came from; the route answers 401 anyway.
    }
  }
  return `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`;
}

/**
 * Counts in Redis and, while Redis does not answer, in this process: the limit then holds per
 * instance (looser by the number of instances) instead of failing closed (a Redis outage would
 * refuse every checkout and lock on-call out of the admin API) or open (no limit at all, the
 * moment someone would notice). Every limiter uses it: payments and admin alike.
 */
export class FailoverRateLimitStore implements RateLimitStore {
  readonly localKeys = false;
  private failing = false;

  constructor(
    private readonly primary: RateLimitStore,
    private readonly local: RateLimitStore,
    private readonly onFailover: (failing: boolean, error?: unknown) => void,
  ) {}

  async init(options: Parameters<NonNullable<RateLimitStore['init']>>[0]): Promise<void> {
    this.local.init?.(options);
    // rate-limit-redis loads its script here; when Redis is down now, the first increment retries it.
    await Promise.resolve(this.primary.init?.(options)).catch((error: unknown) => this.switchTo(true, error));
  }

  async increment(key: string) {
    try {
      const info = await this.primary.increment(key);
      this.switchTo(false);
      return info;
    } catch (error) {
      this.switchTo(true, error);
      return this.local.increment(key);
    }
  }

  async decrement(key: string): Promise<void> {
    await Promise.allSettled([this.primary.decrement(key), this.local.decrement(key)]);
  }

  async resetKey(key: string): Promise<void> {
    await Promise.allSettled([this.primary.resetKey(key), this.local.resetKey(key)]);
  }

  /** Reports each change of backend once, not every request. */
  private switchTo(failing: boolean, error?: unknown): void {
    if (failing === this.failing) return;
    this.failing = failing;
    this.onFailover(failing, error);
  }
}

function backendStore(options: RateLimiterOptions): { store: RateLimitStore; backend: RateLimitBackend } {
  const shared = options.store;
  if (isRedisStore(shared)) {
    const redis = new RedisStore({
      // The raw ioredis client adds the store's keyPrefix to every key it sends, so limits
      // live under <keyPrefix>ratelimit:<name>: next to the rest of this service's keys.
      sendCommand: (command: string, ...args: string[]) => shared.redis.call(command, ...args) as Promise<RedisReply>,
      prefix: `ratelimit:${options.name}:`,
    });
    const onFailover = (failing: boolean, error?: unknown) => {
      if (failing) options.logger.warn('rate limiter: Redis unavailable, counting per instance until it answers', { limiter: options.name, error: errorMessage(error) });
      else options.logger.info('rate limiter: Redis answers again, counting across instances', { limiter: options.name });
    };
    return { backend: 'redis', store: new FailoverRateLimitStore(redis, new MemoryStore(), onFailover) };
  }
  return { backend: 'memory', store: new MemoryStore() };
}

/**
 * A limiter built once, when the app is built (the seed built one inside the handler, so every
 * request got a fresh counter and nothing was ever limited). Standard `RateLimit` /
 * `RateLimit-Policy` headers (IETF draft 7), 429 `{error: {code: 'rate_limited'}}` with Retry-After.
 * When Redis fails, counting moves into the process (FailoverRateLimitStore); should even that
 * fail, the request passes: losing the limit for a moment beats refusing payments.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { store, backend } = backendStore(options);
  const middleware = rateLimit({
    windowMs: options.windowMs,
    limit: options.max,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    store,
    passOnStoreError: true,
    keyGenerator: (req) => clientKey(req, options.auth),
    logger: {
      error: (error, message) => options.logger.error(message ?? 'rate limiter error', { limiter: options.name, error: errorMessage(error) }),
      warn: (error, message) => options.logger.warn(message ?? 'rate limiter warning', { limiter: options.name, error: errorMessage(error) }),
    },
    handler: (req, res, _next, opts) => {
      options.onRejected?.(options.name);
      options.logger.warn('rate limit exceeded', { limiter: options.name, method: req.method, path: req.path });
      res.status(opts.statusCode).json({
        error: {
          code: 'rate_limited',
          message: `Too many requests; at most ${options.max} per ${Math.round(options.windowMs / 1000)} s. Retry after ${res.get('Retry-After') ?? 'a while'} s.`,
        },
      });
    },
  });
  return { middleware, backend };
}
