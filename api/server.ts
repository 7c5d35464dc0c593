/** HTTP API (Fastify): health, readiness and anomaly history, read through store/. */
import Fastify, { type FastifyInstance } from 'fastify';
import { AnomaliesQuery } from '../schemas/index.js';
import { InvalidCursorError, queryAnomalies, queryAnomalyBuckets, type Queryable } from '../store/index.js';
import type { Metrics } from './metrics.js';

export interface ApiDeps {
  db: Queryable;
  /** Readiness checks by name: each answers true when that dependency is usable. */
  readiness: Record<string, () => boolean | Promise<boolean>>;
  metrics?: Metrics;
  /** The score at or above which a window counts as anomalous in bucketed history (the alert threshold). */
  threshold: number;
}

export function buildApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({ logger: false });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(deps.readiness)) {
      try { checks[name] = await check(); } catch { checks[name] = false; }
    }
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });

  app.get('/metrics', async (_req, reply) => {
    if (!deps.metrics) return reply.code(404).send({ error: 'not_found' });
    return reply.header('content-type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.get('/v1/anomalies', async (req, reply) => {
    const parsed = AnomaliesQuery.safeParse(req.query);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.code === 'unrecognized_keys' ? issue.keys.join(',') : issue.path.join('.');
      return reply.code(400).send({
        error: 'invalid_query',
        field,
        message: `${field}: ${issue.message}`,
        issues: parsed.error.issues.map((i) => ({ field: i.code === 'unrecognized_keys' ? i.keys.join(',') : i.path.join('.'), message: i.message })),
      });
    }
    const q = parsed.data;
    if (q.from && q.to && Date.parse(q.from) >= Date.parse(q.to)) {
      return reply.code(400).send({ error: 'invalid_query', field: 'to', message: 'to: must be after from' });
    }
    if (q.bucket) {
      const buckets = await queryAnomalyBuckets(deps.db, { ...q, bucket: q.bucket }, q.threshold ?? deps.threshold);
      return { count: buckets.length, bucket: q.bucket, threshold: q.threshold ?? deps.threshold, buckets };
    }
    try {
      const page = await queryAnomalies(deps.db, q);
      return { count: page.rows.length, rows: page.rows, nextCursor: page.nextCursor };
    } catch (e) {
      if (e instanceof InvalidCursorError) return reply.code(400).send({ error: 'invalid_query', field: 'cursor', message: e.message });
      throw e;
    }
  });

  return app;
}
