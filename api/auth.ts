/**
 * API keys on every route but the health checks, the static dashboard page and the API docs (they hold
 * no data): `Authorization: Bearer <key>` (or `X-API-Key`). The scope a route needs comes from its
 * method and path: reads need `read`, alert actions `write`, webhooks and changes to rules and models
 * `admin` (and a key not restricted to plants, since they span plants). A key restricted to plants sees
 * only their assets, alerts and scores; a request naming another plant's asset gets a 403.
 * Each key has a token bucket (rate limit): over it, a 429 with Retry-After. Requests without a usable key
 * are limited per client address the same way (`failures`), before any lookup, so a flood of made-up keys
 * costs no database work; keys found and keys not found are cached apart (least recently used first),
 * so such a flood never evicts the keys in use.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { findApiKey, hasScope, touchApiKeys, type ApiKey, type Db, type Scope } from '../store/index.js';

export interface AuthOptions {
  db: Db;
  rateLimit: { perMinute: number; burst: number };
  /** Requests without a usable key (none, unknown, revoked) per client address. */
  failures?: { perMinute: number; burst: number };
  /** How long a key lookup (or a miss) is cached: a revoked key stops working within this. */
  cacheMs?: number;
  now?: () => number;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKey | null;
  }
}

const PUBLIC = [
  /^\/healthz$/,
  /^\/readyz$/,
  /^\/favicon\.ico$/,
  /^\/docs(\/|$)/,
  /^\/$/,
  /^\/dashboard(\/|$)/,
];

/** The scope a route needs (null: public). */
export function scopeFor(method: string, route: string): Scope | null {
  if (PUBLIC.some((r) => r.test(route))) return null;
  if (route.startsWith('/v1/webhooks')) return 'admin';
  if (route.startsWith('/v1/alert-rules') || route.startsWith('/v1/models'))
    return method === 'GET' ? 'read' : 'admin';
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

/** Routes whose data spans plants: only a key with no plant restriction may use them. */
const ALL_PLANTS = [/^\/metrics$/, /^\/v1\/webhooks/, /^\/v1\/alert-rules/, /^\/v1\/models/];

export function keyOf(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (h && /^Bearer\s+/i.test(h)) return h.replace(/^Bearer\s+/i, '').trim();
  const x = req.headers['x-api-key'];
  return typeof x === 'string' && x ? x.trim() : null;
}

/** The plants the request's key may see (null: all). */
export const allowedPlants = (req: FastifyRequest): string[] | null =>
  req.apiKey && req.apiKey.plants.length ? req.apiKey.plants : null;
export const maySee = (req: FastifyRequest, plant: string | null | undefined): boolean => {
  const allowed = allowedPlants(req);
  return !allowed || (plant !== null && plant !== undefined && allowed.includes(plant));
};
export const forbiddenPlant = (reply: FastifyReply, plant: string | null | undefined) =>
  reply
    .code(403)
    .send({ error: 'forbidden', message: `this key may not see plant ${JSON.stringify(plant ?? null)}` });

export function registerAuth(app: FastifyInstance, o: AuthOptions): { stop(): void } {
  const now = o.now ?? Date.now;
  const cacheMs = o.cacheMs ?? 10_000;
  const found = new LRUCache<string, ApiKey>({ max: 10_000, ttl: cacheMs });
  const missing = new LRUCache<string, true>({ max: 10_000, ttl: cacheMs });
  const buckets = new LRUCache<string, { tokens: number; at: number }>({ max: 100_000 });
  const failBuckets = new LRUCache<string, { tokens: number; at: number }>({ max: 100_000 });
  const failures = o.failures ?? { perMinute: 120, burst: 100 };
  /** Takes a token from the bucket (null), or says how long to wait for one (seconds). */
  const take = (
    m: LRUCache<string, { tokens: number; at: number }>,
    id: string,
    r: { perMinute: number; burst: number },
    peek = false,
  ): number | null => {
    const t = now();
    const b = m.get(id) ?? { tokens: r.burst, at: t };
    b.tokens = Math.min(r.burst, b.tokens + ((t - b.at) / 60_000) * r.perMinute);
    b.at = t;
    m.set(id, b);
    if (b.tokens < 1) return Math.max(1, Math.ceil(((1 - b.tokens) * 60) / r.perMinute));
    if (!peek) b.tokens -= 1;
    return null;
  };
  const refuse = (reply: FastifyReply, wait: number) =>
    reply
      .code(429)
      .header('retry-after', String(wait))
      .send({
        error: 'rate_limited',
        message: `too many requests without a usable API key from this address; retry after ${wait} s`,
      });
  const used = new Set<string>();
  const flush = setInterval(() => {
    const ids = [...used];
    used.clear();
    touchApiKeys(o.db, ids).catch(() => {
      /* a usage stamp is best effort */
    });
  }, 30_000);
  flush.unref();

  app.decorateRequest('apiKey', null);
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url ?? req.url.split('?')[0];
    const need = scopeFor(req.method, route);
    if (need === null) return;
    const presented = keyOf(req);
    let key = presented ? found.get(presented) : undefined;
    if (!key) {
      // No key, or one not known to work: limited per address before any lookup.
      const wait = take(failBuckets, req.ip, failures, true);
      if (wait !== null) return refuse(reply, wait);
      if (presented && !missing.has(presented)) {
        const k = await findApiKey(o.db, presented);
        if (k) found.set(presented, (key = k));
        else missing.set(presented, true);
      }
      if (!key) {
        take(failBuckets, req.ip, failures);
        return presented
          ? reply
              .code(401)
              .header('www-authenticate', 'Bearer error="invalid_token"')
              .send({ error: 'unauthorized', message: 'unknown or revoked API key' })
          : reply.code(401).header('www-authenticate', 'Bearer').send({
              error: 'unauthorized',
              message: 'an API key is required: Authorization: Bearer <key>',
            });
      }
    }
    if (!hasScope(key.scopes, need))
      return reply.code(403).send({
        error: 'forbidden',
        message: `this route needs the ${need} scope; the key has ${key.scopes.join(', ')}`,
      });
    if (key.plants.length && ALL_PLANTS.some((r) => r.test(route))) {
      return reply.code(403).send({
        error: 'forbidden',
        message: 'this route spans plants: it needs a key not restricted to plants',
      });
    }
    // Token bucket: `burst` requests at once, refilled at perMinute / 60 a second.
    void reply.header('ratelimit-limit', String(o.rateLimit.perMinute));
    const wait = take(buckets, key.id, o.rateLimit);
    if (wait !== null) {
      return reply
        .code(429)
        .header('retry-after', String(wait))
        .send({
          error: 'rate_limited',
          message: `over ${o.rateLimit.perMinute} requests a minute for this key; retry after ${wait} s`,
        });
    }
    void reply.header('ratelimit-remaining', String(Math.floor(buckets.get(key.id)!.tokens)));
    req.apiKey = key;
    used.add(key.id);
  });
  return { stop: () => clearInterval(flush) };
}
