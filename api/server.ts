/** HTTP API (Fastify): health, readiness and anomaly history, read through store/. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import helmet from '@fastify/helmet';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createServer } from 'node:http';
import { AnomaliesQuery, classify, TributaryError } from '../schemas/index.js';
import { modelThreshold, queryAnomalies, queryAnomalyBuckets, type Db } from '../store/index.js';
import { registerAlertRoutes, type AlertApiDeps } from './alerts.js';
import { allowedPlants, forbiddenPlant, maySee, registerAuth } from './auth.js';
import { registerCatalogRoutes } from './catalog.js';
import { registerMaintenanceRoutes, type MaintenanceApiDeps } from './maintenance.js';
import { DASHBOARD_HTML } from './dashboard.js';
import type { Metrics } from './metrics.js';
import { createEventHub, type EventHub } from './stream.js';
import { doc } from './validate.js';

declare module 'fastify' {
  interface FastifyInstance {
    hub: EventHub;
  }
}

export interface ApiDeps {
  db: Db;
  /** Alert and webhook routes (absent: not served). */
  alerts?: AlertApiDeps;
  /** Maintenance window routes (absent: not served). */
  maintenance?: MaintenanceApiDeps;
  /** Readiness checks by name: each answers true when that dependency is usable. */
  readiness: Record<string, () => boolean | Promise<boolean>>;
  metrics?: Metrics;
  /**
   * The alert threshold: the score at or above which a window counts as anomalous in bucketed history,
   * for model versions without an operating threshold of their own in the registry.
   */
  threshold: number;
  /** The active model's own operating threshold when it has one (a calibrated fusion model's probability). */
  operatingThreshold?: () => number | undefined;
  /**
   * The alert threshold the score roll-ups were built with (absent: history never reads them). A version
   * with its own operating threshold has its roll-ups built with that; bucketed history reads them when
   * the threshold asked is the version's.
   */
  rollupThreshold?: number;
  /** API keys: per-key rate limit. */
  rateLimit?: { perMinute: number; burst: number };
  /** The live stream's poll interval (default 1 s). */
  streamPollMs?: number;
  /** The active model version (history's default model). */
  activeModel?: () => string | undefined;
  /** Called after a model is activated, rolled back or retired. */
  modelsChanged?: () => Promise<void> | void;
  /** Where errors behind a 500 are logged, with the request id the client gets. */
  logger?: Logger;
  /** A request (headers and body) must arrive within this (default 30 s). */
  requestTimeoutMs?: number;
  /** A kept-alive connection with no request for this long is closed (default 5 s). */
  idleTimeoutMs?: number;
  /** Requests without a usable API key, per client address (default 120 a minute, bursts of 100). */
  authFailures?: { perMinute: number; burst: number };
}

/** The first string holding a NUL character (PostgreSQL cannot store one), by its path: null when none. */
function nulField(x: unknown, path: string[] = []): string | null {
  if (typeof x === 'string') return x.includes('\u0000') ? path.join('.') || '(body)' : null;
  if (x && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) {
      if (k.includes('\u0000')) return [...path, k].join('.');
      const f = nulField(v, [...path, k]);
      if (f !== null) return f;
    }
  }
  return null;
}

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  // A request must arrive whole within requestTimeoutMs (a body trickled in a byte at a time is cut off).
  // (node checks at connectionsCheckingInterval, 30 s by default: checked at least twice per timeout.)
  // A connection that never sends a request is cut off at the headers timeout; one kept alive after a
  // request is closed when idle for idleTimeoutMs.
  const requestTimeout = deps.requestTimeoutMs ?? 30_000;
  const keepAliveTimeout = deps.idleTimeoutMs ?? 5_000;
  const app = Fastify({
    logger: false,
    bodyLimit: 1_048_576,
    serverFactory: (handler) => {
      const server = createServer(
        {
          requestTimeout,
          headersTimeout: requestTimeout,
          keepAliveTimeout,
          connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(requestTimeout / 2))),
        },
        handler,
      );
      server.keepAliveTimeout = keepAliveTimeout;
      return server;
    },
  });
  // Strings PostgreSQL refuses (a NUL character) are a 400 naming the field, before any handler runs.
  app.addHook('preHandler', async (req, reply) => {
    for (const v of [req.params, req.query, req.body]) {
      const field = nulField(v);
      if (field !== null)
        return reply
          .code(400)
          .send({ error: 'invalid_request', field, message: `${field}: NUL characters are not accepted` });
    }
  });
  // A 500 says nothing of the database or the code: the error is logged under the request id it gives.
  // One handler maps every error to its answer through the catalogue (schemas/errors.ts): Tributary's own
  // errors by their code, Fastify's 4xx as they are, the database's by classify().
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof TributaryError && err.status < 500) {
      return reply
        .code(err.status)
        .send({ error: err.code, ...(err.field ? { field: err.field } : {}), message: err.message });
    }
    if (!(err instanceof TributaryError) && err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: err.code ?? 'bad_request', message: err.message });
    }
    // The API's own connections all busy past the wait, or a read stopped by its statement timeout: the
    // service is fine but this read must wait or shrink. A lost database connection: it must wait. 503
    // with Retry-After, not an internal error.
    const kind = classify(err);
    if (kind.status === 503) {
      const timedOut = (err as { code?: string }).code === '57014';
      const reason =
        kind.code === 'unavailable'
          ? 'database unavailable'
          : timedOut
            ? 'statement timeout'
            : 'no free API connection';
      deps.logger?.warn(
        { requestId: req.id, method: req.method, url: req.url.split('?')[0], reason, err: err.message },
        `read refused: ${kind.code}`,
      );
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({
          error: kind.code,
          message:
            kind.code === 'unavailable'
              ? 'the database connection was lost; retry shortly'
              : timedOut
                ? 'the read took longer than the API allows; ask for a shorter range or a coarser resolution'
                : 'every API connection is busy with other reads; retry shortly',
          requestId: req.id,
        });
    }
    deps.logger?.error(
      {
        requestId: req.id,
        method: req.method,
        url: req.url.split('?')[0],
        err: err.message,
        code: (err as { code?: string }).code,
      },
      'request failed',
    );
    return reply
      .code(500)
      .send({ error: 'internal', message: 'internal error; the service logged it', requestId: req.id });
  });
  // Route schemas document the API (OpenAPI at /docs/json, interactive docs at /docs); requests are
  // validated by the zod schemas in the handlers, whose errors name the field.
  app.setValidatorCompiler(() => (data) => ({ value: data }));
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Tributary',
        version: '0.1.0',
        description:
          'Multimodal anomaly detection for plant equipment: history, alerts, webhooks, models, health and metrics. Every route but /healthz, /readyz, the dashboard page and these docs needs an API key: `Authorization: Bearer <key>` (`tributary keys create`).',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key from `tributary keys create`' },
        },
      },
      security: [{ apiKey: [] }],
    },
  });
  // Security headers on every answer (nosniff, no framing, no referrer); the CSP allows the dashboard's and
  // the docs' own inline script and styles and nothing from elsewhere.
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "'unsafe-inline'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
      },
    },
    crossOriginEmbedderPolicy: false,
    hsts: false, // served on plain http inside plants; a proxy in front adds it for https
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  const auth = registerAuth(app, {
    db: deps.db,
    rateLimit: deps.rateLimit ?? { perMinute: 1200, burst: 200 },
    failures: deps.authFailures,
  });
  const hub = createEventHub(deps.db, { pollMs: deps.streamPollMs ?? 1000 });
  app.addHook('onClose', async () => {
    auth.stop();
    hub.stop();
  });

  const page = async (_req: unknown, reply: import('fastify').FastifyReply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(DASHBOARD_HTML);
  app.get('/', { schema: { hide: true } }, page);
  app.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) => reply.code(204).send());
  app.get(
    '/dashboard',
    { schema: { summary: 'The dashboard page (static; it asks for an API key)', tags: ['dashboard'] } },
    page,
  );

  app.get('/healthz', { schema: { summary: 'The process is alive', tags: ['health'] } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Database reachable and (Kafka mode) consumer joined: 200, else 503',
        tags: ['health'],
      },
    },
    async (_req, reply) => {
      const checks: Record<string, boolean> = {};
      for (const [name, check] of Object.entries(deps.readiness)) {
        try {
          checks[name] = await check();
        } catch {
          checks[name] = false;
        }
      }
      const ready = Object.values(checks).every(Boolean);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
    },
  );

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['health'] } },
    async (_req, reply) => {
      if (!deps.metrics) return reply.code(404).send({ error: 'not_found' });
      return reply
        .header('content-type', deps.metrics.registry.contentType)
        .send(await deps.metrics.registry.metrics());
    },
  );

  app.get(
    '/v1/anomalies',
    {
      schema: {
        summary:
          'Anomaly history: score rows (latest revision, newest first, cursor pages) or per-asset buckets',
        tags: ['history'],
        querystring: doc(AnomaliesQuery),
      },
    },
    async (req, reply) => {
      const parsed = AnomaliesQuery.safeParse(req.query);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = issue.code === 'unrecognized_keys' ? issue.keys.join(',') : issue.path.join('.');
        return reply.code(400).send({
          error: 'invalid_query',
          field,
          message: `${field}: ${issue.message}`,
          issues: parsed.error.issues.map((i) => ({
            field: i.code === 'unrecognized_keys' ? i.keys.join(',') : i.path.join('.'),
            message: i.message,
          })),
        });
      }
      const q = {
        ...parsed.data,
        model: parsed.data.model ?? deps.activeModel?.(),
        plants: allowedPlants(req) ?? undefined,
      };
      if (q.from && q.to && Date.parse(q.from) >= Date.parse(q.to)) {
        return reply
          .code(400)
          .send({ error: 'invalid_query', field: 'to', message: 'to: must be after from' });
      }
      if (q.plant && !maySee(req, q.plant)) return forbiddenPlant(reply, q.plant);
      // Another plant's asset answers as one that does not exist: the rows are filtered to the key's plants.
      if (q.bucket) {
        // The model version's operating threshold (a calibrated fusion model's), else the alert threshold; the
        // version's roll-ups count windows above it.
        const own = q.model ? await modelThreshold(deps.db, q.model) : null;
        const threshold = q.threshold ?? own ?? deps.threshold;
        const buckets = await queryAnomalyBuckets(
          deps.db,
          { ...q, bucket: q.bucket },
          threshold,
          deps.rollupThreshold === undefined ? undefined : (own ?? deps.rollupThreshold),
        );
        return { count: buckets.length, bucket: q.bucket, threshold, model: q.model ?? null, buckets };
      }
      const page = await queryAnomalies(deps.db, q);
      return { count: page.rows.length, rows: page.rows, nextCursor: page.nextCursor };
    },
  );

  if (deps.alerts) registerAlertRoutes(app, deps.db, deps.alerts);
  if (deps.maintenance) registerMaintenanceRoutes(app, deps.db, deps.maintenance);
  registerCatalogRoutes(app, deps.db, {
    threshold: () => deps.operatingThreshold?.() ?? deps.threshold,
    hub,
    modelsChanged: () => deps.modelsChanged?.(),
  });

  app.decorate('hub', hub);
  return app;
}
