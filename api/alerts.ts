/**
 * Routes for alerts (list, get, acknowledge, snooze, resolve, feedback), alert rules, and webhook
 * endpoints (create, update, delete, rotate the secret, test, delivery log, redeliver).
 * A bad body or query gets a 400 naming the field; an unknown id a 404; a state that does not allow the
 * action (acknowledging a resolved alert) a 409.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allowedPlants, forbiddenPlant, maySee } from './auth.js';
import { heavyGate } from './heavy.js';
import { z } from 'zod';
import { doc, notFound, valid } from './validate.js';
import { applyAction, refusedWebhookUrl, type AlertAction } from '../alerts/index.js';
import {
  AcknowledgeBody,
  AlertRule,
  AlertsQuery,
  AttemptsQuery,
  Config,
  EndpointCreate,
  EndpointPatch,
  FeedbackBody,
  RedeliverBody,
  ResolveBody,
  RotateBody,
  SnoozeBody,
  TimelineQuery,
} from '../schemas/index.js';
import {
  addFeedback,
  changeAlert,
  createEndpoint,
  deleteEndpoint,
  deleteRule,
  getAlert,
  getAlerts,
  getEndpoint,
  listAlerts,
  listAttempts,
  listEndpoints,
  listRules,
  plantOfAsset,
  putRule,
  queryTimeline,
  recordEvents,
  redeliver,
  rotateSecret,
  updateEndpoint,
  type Db,
  type EndpointRow,
} from '../store/index.js';

/** Reading buckets per channel a timeline answer holds at most. */
const TIMELINE_MAX_BUCKETS = 2_000;

export interface AlertApiDeps {
  cfg: Config;
  wake(): void;
  rulesChanged(): Promise<void> | void;
}

/**
 * An endpoint as the API shows it: never its secrets (shown once, when made or rotated), each named by a
 * fingerprint (the first 12 hex digits of its SHA-256) to tell them apart.
 */
const publicEndpoint = (e: EndpointRow) => ({
  ...e,
  secrets: e.secrets.map((s) => ({
    createdAt: s.createdAt,
    expiresAt: s.expiresAt,
    fingerprint: createHash('sha256').update(s.secret).digest('hex').slice(0, 12),
  })),
});

export function registerAlertRoutes(app: FastifyInstance, db: Db, deps: AlertApiDeps): void {
  // Timelines: all but one of the API's connections at most, twice as many waiting, the rest refused.
  const heavy = heavyGate(
    Math.max(1, deps.cfg.database.apiPoolSize - 1),
    2 * Math.max(1, deps.cfg.database.apiPoolSize - 1),
  );
  const tags = ['alerts'];
  app.get(
    '/v1/alerts',
    {
      schema: {
        summary: 'Alerts, newest first, with filters and cursor pages',
        tags,
        querystring: doc(AlertsQuery),
      },
    },
    async (req, reply) => {
      const q = valid(AlertsQuery, req.query, reply, 'query');
      if (!q) return reply;
      if (q.plant && !maySee(req, q.plant)) return forbiddenPlant(reply, q.plant);
      // Another plant's asset answers as one that does not exist: the list is filtered to the key's plants.
      const page = await listAlerts(db, {
        ...q,
        state: q.state?.split(','),
        plants: allowedPlants(req) ?? undefined,
      });
      return { count: page.alerts.length, alerts: page.alerts, nextCursor: page.nextCursor };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/alerts/:id',
    { schema: { summary: 'One alert with its events and feedback', tags } },
    async (req, reply) => {
      const a = await getAlert(db, req.params.id);
      // Another plant's alert answers as one that does not exist.
      return a && maySee(req, a.alert.plant) ? a : notFound(reply, `alert ${req.params.id}`);
    },
  );

  /**
   * The alert's plant check for a key restricted to plants: true when the request may act on it (else the
   * reply is sent). An unrestricted key needs no read here: the action itself answers 404 for an unknown id.
   */
  const guard = async (
    req: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
  ): Promise<boolean> => {
    if (!allowedPlants(req)) return true;
    const [a] = await getAlerts(db, [req.params.id]);
    if (!a || !maySee(req, a.plant)) {
      void notFound(reply, `alert ${req.params.id}`);
      return false;
    }
    return true;
  };
  /** Who acts: the body's `by`, else the API key's name; and the key that made the request, kept beside it. */
  const actor = (req: FastifyRequest, b: Record<string, unknown>) => ({
    ...b,
    by: (b.by as string | undefined) ?? req.apiKey?.name ?? 'api',
    keyId: req.apiKey?.id ?? null,
  });

  const action = (
    path: string,
    schema: z.ZodType<Record<string, unknown>>,
    summary: string,
    make: (b: Record<string, unknown>) => AlertAction,
  ) => {
    app.post<{ Params: { id: string } }>(
      `/v1/alerts/:id/${path}`,
      { schema: { summary, tags, body: doc(schema) } },
      async (req, reply) => {
        const parsed = valid(schema, req.body, reply, 'body');
        if (!parsed) return reply;
        if (!(await guard(req, reply))) return reply;
        const who = actor(req, parsed);
        const act = make(who);
        const now = Date.now();
        const a = await changeAlert(db, req.params.id, now, (cur) => ({
          ...applyAction(cur, act, now),
          by: act.by,
          comment: act.comment ?? null,
          keyId: who.keyId,
        }));
        if (!a) return notFound(reply, `alert ${req.params.id}`);
        deps.wake();
        return a;
      },
    );
  };
  action('acknowledge', AcknowledgeBody, 'Acknowledge (with a comment)', (b) => ({
    type: 'acknowledge',
    by: b.by as string,
    comment: (b.comment as string) ?? null,
  }));
  action('snooze', SnoozeBody, 'Hold notifications until a time', (b) => ({
    type: 'snooze',
    by: b.by as string,
    until: Date.parse(b.until as string),
    comment: (b.comment as string) ?? null,
  }));
  action('resolve', ResolveBody, 'Resolve by hand', (b) => ({
    type: 'resolve',
    by: b.by as string,
    comment: (b.comment as string) ?? null,
  }));

  app.post<{ Params: { id: string } }>(
    '/v1/alerts/:id/feedback',
    {
      schema: {
        summary: 'True or false positive, failure mode, comment (training labels)',
        tags,
        body: doc(FeedbackBody),
      },
    },
    async (req, reply) => {
      const parsed = valid(FeedbackBody, req.body, reply, 'body');
      if (!parsed) return reply;
      if (!(await guard(req, reply))) return reply;
      const b = actor(req, parsed) as typeof parsed & { by: string; keyId: string | null };
      if (!(await addFeedback(db, req.params.id, b))) return notFound(reply, `alert ${req.params.id}`);
      deps.wake();
      return reply.code(201).send({ status: 'recorded' });
    },
  );

  app.get(
    '/v1/alert-rules',
    { schema: { summary: 'Alert rules (from the configuration and the API)', tags } },
    async () => ({ rules: await listRules(db) }),
  );
  app.put<{ Params: { id: string } }>(
    '/v1/alert-rules/:id',
    { schema: { summary: 'Create or replace a rule', tags, body: doc(AlertRule) } },
    async (req, reply) => {
      const r = valid(AlertRule, { ...(req.body as object), id: req.params.id }, reply, 'body');
      if (!r) return reply;
      const res = await putRule(db, r);
      if (res === 'config')
        return reply
          .code(409)
          .send({ error: 'conflict', message: `rule ${r.id} comes from the configuration` });
      await deps.rulesChanged();
      return reply.code(res === 'created' ? 201 : 200).send({ rule: r, source: 'api' });
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/v1/alert-rules/:id',
    { schema: { summary: 'Delete a rule made through the API', tags } },
    async (req, reply) => {
      const res = await deleteRule(db, req.params.id);
      if (res === 'missing') return notFound(reply, `rule ${req.params.id}`);
      if (res === 'config')
        return reply
          .code(409)
          .send({ error: 'conflict', message: `rule ${req.params.id} comes from the configuration` });
      await deps.rulesChanged();
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { asset: string } }>(
    '/v1/assets/:asset/timeline',
    {
      schema: {
        summary:
          "An asset's timeline: readings at a resolution, scores with contributions, notes, frames, alerts",
        tags: ['history'],
        querystring: doc(TimelineQuery),
      },
    },
    async (req, reply) => {
      const q = valid(TimelineQuery, req.query, reply, 'query');
      if (!q) return reply;
      const to = q.to ? Date.parse(q.to) : Date.now();
      const from = q.from ? Date.parse(q.from) : to - 6 * 3_600_000;
      if (from >= to)
        return reply
          .code(400)
          .send({ error: 'invalid_query', field: 'to', message: 'to: must be after from' });
      if (to - from > 31 * 86_400_000)
        return reply
          .code(400)
          .send({ error: 'invalid_query', field: 'from', message: 'from: at most 31 days before to' });
      const unit: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };
      const asked = q.resolution
        ? Number(q.resolution.slice(0, -1)) * unit[q.resolution.slice(-1)]
        : Math.max(1000, Math.ceil((to - from) / 500 / 1000) * 1000);
      // At most TIMELINE_MAX_BUCKETS reading buckets per channel: a finer resolution is coarsened, and the answer says so.
      const res = Math.max(asked, Math.ceil((to - from) / TIMELINE_MAX_BUCKETS / 1000) * 1000);
      const plant = await plantOfAsset(db, req.params.asset);
      if (plant === null || !maySee(req, plant)) return notFound(reply, `asset ${req.params.asset}`);
      const release = await heavy.acquire();
      if (!release)
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ error: 'busy', message: 'too many timeline reads at once; retry shortly' });
      let timeline: Awaited<ReturnType<typeof queryTimeline>>;
      try {
        timeline = await queryTimeline(db, req.params.asset, from, to, res);
      } finally {
        release();
      }
      return res > asked
        ? {
            ...timeline,
            requestedResolutionMs: asked,
            coarsened: `at most ${TIMELINE_MAX_BUCKETS} buckets per channel: ${asked} ms coarsened to ${res} ms`,
          }
        : timeline;
    },
  );

  const wtags = ['webhooks'];
  app.get(
    '/v1/webhooks',
    { schema: { summary: 'Webhook endpoints (secrets never shown: a fingerprint each)', tags: wtags } },
    async () => ({ endpoints: (await listEndpoints(db)).map(publicEndpoint) }),
  );
  app.post(
    '/v1/webhooks',
    {
      schema: {
        summary: 'Create an endpoint; its secret is returned once',
        tags: wtags,
        body: doc(EndpointCreate),
      },
    },
    async (req, reply) => {
      const b = valid(EndpointCreate, req.body, reply, 'body');
      if (!b) return reply;
      const refused = await refusedWebhookUrl(b.url, deps.cfg.delivery.allowPrivateNetworks);
      if (refused)
        return reply.code(400).send({ error: 'invalid_body', field: 'url', message: `url: ${refused}` });
      const e = await createEndpoint(db, b);
      return reply.code(201).send({ ...publicEndpoint(e), secret: e.secrets[0].secret });
    },
  );
  app.get<{ Params: { id: string } }>(
    '/v1/webhooks/:id',
    { schema: { summary: 'One endpoint', tags: wtags } },
    async (req, reply) => {
      const e = await getEndpoint(db, req.params.id);
      return e ? publicEndpoint(e) : notFound(reply, `endpoint ${req.params.id}`);
    },
  );
  app.patch<{ Params: { id: string } }>(
    '/v1/webhooks/:id',
    {
      schema: {
        summary: 'Change URL, filters, description; enable or disable',
        tags: wtags,
        body: doc(EndpointPatch),
      },
    },
    async (req, reply) => {
      const b = valid(EndpointPatch, req.body, reply, 'body');
      if (!b) return reply;
      const refused = b.url ? await refusedWebhookUrl(b.url, deps.cfg.delivery.allowPrivateNetworks) : null;
      if (refused)
        return reply.code(400).send({ error: 'invalid_body', field: 'url', message: `url: ${refused}` });
      const e = await updateEndpoint(db, req.params.id, b);
      if (!e) return notFound(reply, `endpoint ${req.params.id}`);
      if (b.enabled) deps.wake();
      return publicEndpoint(e);
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/v1/webhooks/:id',
    { schema: { summary: 'Delete an endpoint (its pending messages fail)', tags: wtags } },
    async (req, reply) => {
      return (await deleteEndpoint(db, req.params.id))
        ? reply.code(204).send()
        : notFound(reply, `endpoint ${req.params.id}`);
    },
  );
  app.post<{ Params: { id: string } }>(
    '/v1/webhooks/:id/rotate-secret',
    {
      schema: {
        summary: 'A new secret; the old one keeps signing for graceMs',
        tags: wtags,
        body: doc(RotateBody),
      },
    },
    async (req, reply) => {
      const b = valid(RotateBody, req.body, reply, 'body');
      if (!b) return reply;
      const r = await rotateSecret(db, req.params.id, b.graceMs);
      return r ?? notFound(reply, `endpoint ${req.params.id}`);
    },
  );
  app.post<{ Params: { id: string } }>(
    '/v1/webhooks/:id/test',
    { schema: { summary: 'Queue a webhook.test message to this endpoint', tags: wtags } },
    async (req, reply) => {
      const e = await getEndpoint(db, req.params.id);
      if (!e) return notFound(reply, `endpoint ${req.params.id}`);
      const now = Date.now();
      const eventId = `evt_test_${now.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
      const data = {
        id: 'test',
        plant: 'test',
        asset: 'test',
        rule: 'test',
        kind: 'anomaly' as const,
        state: 'open' as const,
        severity: 'warning' as const,
        openedWindow: now,
        lastWindow: now,
        resolvedWindow: null,
        peakScore: 0,
        modelVersion: '',
        contributions: {},
        topModality: null,
        topChannel: null,
        notes: [],
        acknowledgedBy: null,
        acknowledgedAt: null,
        snoozedUntil: null,
        resolvedBy: null,
        reason: 'a test message',
        links: { timeline: '' },
      };
      await recordEvents(
        db,
        [
          {
            eventId,
            event: {
              type: 'webhook.test',
              timestamp: new Date(now).toISOString(),
              data,
              by: 'api',
              comment: null,
            },
          },
        ],
        now,
        e.id,
      );
      deps.wake();
      return reply.code(202).send({ eventId });
    },
  );
  app.get<{ Params: { id: string } }>(
    '/v1/webhooks/:id/deliveries',
    {
      schema: {
        summary: 'The delivery log: every attempt, newest first',
        tags: wtags,
        querystring: doc(AttemptsQuery),
      },
    },
    async (req, reply) => {
      const q = valid(AttemptsQuery, req.query, reply, 'query');
      if (!q) return reply;
      if (!(await getEndpoint(db, req.params.id))) return notFound(reply, `endpoint ${req.params.id}`);
      return { attempts: await listAttempts(db, req.params.id, q.limit) };
    },
  );
  app.post<{ Params: { id: string } }>(
    '/v1/webhooks/:id/redeliver',
    {
      schema: {
        summary: 'Send one message again, or everything since a time',
        tags: wtags,
        body: doc(RedeliverBody),
      },
    },
    async (req, reply) => {
      const b = valid(RedeliverBody, req.body, reply, 'body');
      if (!b) return reply;
      const e = await getEndpoint(db, req.params.id);
      if (!e) return notFound(reply, `endpoint ${req.params.id}`);
      if (!e.enabled)
        return reply.code(409).send({
          error: 'conflict',
          message: `endpoint ${e.id} is disabled (${e.disabledReason}); enable it first`,
        });
      const n = await redeliver(
        db,
        e.id,
        'eventId' in b ? { eventId: b.eventId } : { since: Date.parse(b.since) },
      );
      if ('eventId' in b && n === 0) return notFound(reply, `message ${b.eventId} for endpoint ${e.id}`);
      deps.wake();
      return reply.code(202).send({ queued: n });
    },
  );
}
