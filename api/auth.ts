/**
 * API keys on every route but the health checks, the static dashboard page and the API docs (they hold
 * no data): `Authorization: Bearer <key>` (or `X-API-Key`). The scope a route needs comes from its
 * method and path: reads need `read`, alert actions `write`, webhooks and changes to rules and models
 * `admin` (and a key not restricted to plants, since they span plants). A key restricted to plants sees
 * only their assets, alerts and scores; a request naming another plant's asset gets a 403.
 * Each key has a token bucket (rate limit): over it, a 429 with Retry-After.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findApiKey, hasScope, touchApiKeys, type ApiKey, type Db, type Scope } from '../store/index.js';

export interface AuthOptions {
  db: Db;
  rateLimit: { perMinute: number; burst: number };
  /** How long a key lookup (or a miss) is cached: a revoked key stops working within this. */
  cacheMs?: number;
  now?: () => number;
}

declare module 'fastify' {
  interface FastifyRequest { apiKey: ApiKey | null }
}

const PUBLIC = [/^\/healthz$/, /^\/readyz$/, /^\/favicon\.ico$/, /^\/docs(\/|$)/, /^\/$/, /^\/dashboard(\/|$)/];

/** The scope a route needs (null: public). */
export function scopeFor(method: string, route: string): Scope | null {
  if (PUBLIC.some((r) => r.test(route))) return null;
  if (route.startsWith('/v1/webhooks')) return 'admin';
  if (route.startsWith('/v1/alert-rules') || route.startsWith('/v1/models')) return method === 'GET' ? 'read' : 'admin';
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
export const allowedPlants = (req: FastifyRequest): string[] | null => (req.apiKey && req.apiKey.plants.length ? req.apiKey.plants : null);
export const maySee = (req: FastifyRequest, plant: string | null | undefined): boolean => {
  const allowed = allowedPlants(req);
  return !allowed || (plant !== null && plant !== undefined && allowed.includes(plant));
};
export const forbiddenPlant = (reply: FastifyReply, plant: string | null | undefined) =>
  reply.code(403).send({ error: 'forbidden', message: `this key may not see plant ${JSON.stringify(plant ?? null)}` });

export function registerAuth(app: FastifyInstance, o: AuthOptions): { stop(): void } {
  const now = o.now ?? Date.now;
  const cacheMs = o.cacheMs ?? 10_000;
  const cache = new Map<string, { key: ApiKey | null; until: number }>();
  const buckets = new Map<string, { tokens: number; at: number }>();
  const used = new Set<string>();
  const flush = setInterval(() => {
    const ids = [...used];
    used.clear();
    touchApiKeys(o.db, ids).catch(() => { /* a usage stamp is best effort */ });
  }, 30_000);
  flush.unref();

  app.decorateRequest('apiKey', null);
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url ?? req.url.split('?')[0];
    const need = scopeFor(req.method, route);
    if (need === null) return;
    const presented = keyOf(req);
    if (!presented) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'an API key is required: Authorization: Bearer <key>' });
    }
    let hit = cache.get(presented);
    if (!hit || hit.until < now()) {
      hit = { key: await findApiKey(o.db, presented), until: now() + cacheMs };
      if (cache.size > 10_000) cache.clear();
      cache.set(presented, hit);
    }
    const key = hit.key;
    if (!key) return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'unauthorized', message: 'unknown or revoked API key' });
    if (!hasScope(key.scopes, need)) return reply.code(403).send({ error: 'forbidden', message: `this route needs the ${need} scope; the key has ${key.scopes.join(', ')}` });
    if (key.plants.length && ALL_PLANTS.some((r) => r.test(route))) {
      return reply.code(403).send({ error: 'forbidden', message: 'this route spans plants: it needs a key not restricted to plants' });
    }
    // Token bucket: `burst` requests at once, refilled at perMinute / 60 a second.
    const t = now();
    const b = buckets.get(key.id) ?? { tokens: o.rateLimit.burst, at: t };
    b.tokens = Math.min(o.rateLimit.burst, b.tokens + ((t - b.at) / 60_000) * o.rateLimit.perMinute);
    b.at = t;
    buckets.set(key.id, b);
    void reply.header('ratelimit-limit', String(o.rateLimit.perMinute));
    if (b.tokens < 1) {
      const wait = Math.ceil(((1 - b.tokens) * 60) / o.rateLimit.perMinute);
      return reply.code(429).header('retry-after', String(Math.max(1, wait))).send({ error: 'rate_limited', message: `over ${o.rateLimit.perMinute} requests a minute for this key; retry after ${Math.max(1, wait)} s` });
    }
    b.tokens -= 1;
    void reply.header('ratelimit-remaining', String(Math.floor(b.tokens)));
    req.apiKey = key;
    used.add(key.id);
  });
  return { stop: () => clearInterval(flush) };
}
