/**
 * Webhook endpoints, the outbox and its delivery log: events recorded and queued for every endpoint whose
 * filters match, deliveries leased and settled.
 */
import { createHash, randomBytes } from 'node:crypto';
import { matchesAny, SEVERITY_RANK, type AlertEvent, type WebhookFilters } from '../schemas/index.js';
import { deferring, type Db, type Queryable } from './db.js';
import { insertRows } from './insert.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

// ─── events and the outbox ───────────────────────────────────────────────────────────────────────

export interface EndpointRow {
  id: string;
  url: string;
  description: string;
  secrets: Array<{ secret: string; createdAt: string; expiresAt: string | null }>;
  filters: WebhookFilters;
  enabled: boolean;
  disabledReason: string | null;
  failingSince: string | null;
  source: 'config' | 'api';
  createdAt: string;
}
const endpointOf = (r: Record<string, unknown>): EndpointRow => ({
  id: r.id as string,
  url: r.url as string,
  description: r.description as string,
  secrets: r.secrets as EndpointRow['secrets'],
  filters: r.filters as WebhookFilters,
  enabled: r.enabled as boolean,
  disabledReason: (r.disabled_reason as string | null) ?? null,
  failingSince: r.failing_since ? new Date(r.failing_since as string).toISOString() : null,
  source: r.source as 'config' | 'api',
  createdAt: new Date(r.created_at as string).toISOString(),
});

export function endpointWants(f: WebhookFilters, e: AlertEvent): boolean {
  if (e.type === 'webhook.test') return true;
  if (f.eventTypes?.length && !f.eventTypes.includes(e.type)) return false;
  if (!matchesAny(f.plants, e.data.plant) || !matchesAny(f.assets, e.data.asset)) return false;
  if (f.minSeverity && SEVERITY_RANK[e.data.severity] < SEVERITY_RANK[f.minSeverity]) return false;
  return true;
}

const OUTBOX_COLS = {
  event_id: 'text',
  endpoint_id: 'text',
  endpoint_url: 'text',
  event_type: 'text',
  payload: 'jsonb',
  next_attempt_at: 'timestamptz',
};

/**
 * Records events and queues each for every enabled endpoint whose filters match. An escalation of a
 * snoozed alert is recorded but not sent. `only`: queue for that endpoint alone (tests of an endpoint).
 */
export async function recordEvents(
  tx: Queryable,
  events: Array<{ eventId: string; event: AlertEvent; keyId?: string | null }>,
  now: number,
  only?: string,
): Promise<void> {
  if (events.length === 0) return;
  await insertRows(
    deferring(tx),
    'alert_events',
    {
      event_id: 'text',
      alert_id: 'text',
      type: 'text',
      at: 'timestamptz',
      by: 'text',
      comment: 'text',
      data: 'jsonb',
      key_id: 'text',
    },
    events
      .filter((e) => e.event.type !== 'webhook.test')
      .map((e) => ({
        event_id: e.eventId,
        alert_id: e.event.data.id,
        type: e.event.type,
        at: e.event.timestamp,
        by: e.event.by,
        comment: e.event.comment,
        data: e.event.data,
        key_id: e.keyId ?? null,
      })),
    'ON CONFLICT DO NOTHING',
  );
  const endpoints = (
    await tx.query<Record<string, unknown>>(
      only
        ? `SELECT * FROM webhook_endpoints WHERE id = $1`
        : `SELECT * FROM webhook_endpoints WHERE enabled`,
      only ? [only] : [],
    )
  ).rows.map(endpointOf);
  const rows = [];
  for (const { eventId, event } of events) {
    const silenced =
      event.type === 'alert.escalated' && event.data.snoozedUntil !== null && event.data.snoozedUntil > now;
    if (silenced) continue;
    for (const ep of endpoints) {
      if (!endpointWants(ep.filters, event)) continue;
      rows.push({
        event_id: eventId,
        endpoint_id: ep.id,
        endpoint_url: ep.url,
        event_type: event.type,
        payload: event,
        next_attempt_at: iso(now),
      });
    }
  }
  await insertRows(deferring(tx), 'webhook_outbox', OUTBOX_COLS, rows, 'ON CONFLICT DO NOTHING');
}

export interface DueDelivery {
  eventId: string;
  endpointId: string;
  url: string;
  secrets: string[];
  event: AlertEvent;
  attempts: number;
}

/** Leases up to `limit` due deliveries to enabled endpoints (a crashed sender's lease runs out). */
export async function claimDeliveries(
  db: Queryable,
  limit: number,
  leaseMs: number,
  now: number,
): Promise<DueDelivery[]> {
  const r = await db.query<{
    event_id: string;
    endpoint_id: string;
    payload: AlertEvent;
    attempts: number;
    url: string;
    secrets: EndpointRow['secrets'];
  }>(
    `
    WITH due AS (
      SELECT o.event_id, o.endpoint_id FROM webhook_outbox o JOIN webhook_endpoints e ON e.id = o.endpoint_id AND e.enabled
       WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= $3::timestamptz
       ORDER BY o.created_at, o.event_id LIMIT $1 FOR UPDATE OF o SKIP LOCKED),
    leased AS (
      UPDATE webhook_outbox o SET next_attempt_at = $3::timestamptz + ($2::int * interval '1 millisecond')
        FROM due WHERE o.event_id = due.event_id AND o.endpoint_id = due.endpoint_id
      RETURNING o.event_id, o.endpoint_id, o.payload, o.attempts, o.created_at)
    SELECT l.event_id, l.endpoint_id, l.payload, l.attempts, e.url, e.secrets FROM leased l JOIN webhook_endpoints e ON e.id = l.endpoint_id
     ORDER BY l.created_at, l.event_id`,
    [limit, leaseMs, iso(now)],
  );
  return r.rows.map((x) => ({
    eventId: x.event_id,
    endpointId: x.endpoint_id,
    url: x.url,
    event: x.payload,
    attempts: x.attempts,
    secrets: x.secrets
      .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now)
      .map((s) => s.secret),
  }));
}

export interface Outcome {
  ok: boolean;
  status: number | null;
  error: string | null;
  retryInMs: number | null;
  durationMs: number;
  disable?: string | null;
}

/**
 * Settles one attempt: logs it, then delivered, due again after `retryInMs`, or failed; the endpoint's
 * failure streak starts or ends; an endpoint failing for `disableAfterMs` (or told to, 410) is disabled.
 */
export async function settleDelivery(
  db: Db,
  d: { eventId: string; endpointId: string; attempts: number },
  o: Outcome,
  now: number,
  disableAfterMs: number,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO webhook_attempts (event_id, endpoint_id, attempt, at, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT DO NOTHING`,
      [d.eventId, d.endpointId, d.attempts + 1, iso(now), o.status, o.error, Math.round(o.durationMs)],
    );
    await tx.query(
      `
      UPDATE webhook_outbox SET attempts = attempts + 1, last_status = $3, last_error = $4,
             delivered_at = CASE WHEN $5::boolean THEN $7::timestamptz END,
             failed_at = CASE WHEN NOT $5::boolean AND $6::int IS NULL THEN $7::timestamptz END,
             next_attempt_at = CASE WHEN $6::int IS NOT NULL THEN $7::timestamptz + ($6::int * interval '1 millisecond') ELSE next_attempt_at END
       WHERE event_id = $1 AND endpoint_id = $2`,
      [d.eventId, d.endpointId, o.status, o.error, o.ok, o.retryInMs, iso(now)],
    );
    if (o.ok) {
      await tx.query(
        `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`,
        [d.endpointId],
      );
      return;
    }
    await tx.query(
      `
      UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2::timestamptz),
             enabled = CASE WHEN $3::text IS NOT NULL OR $2::timestamptz - COALESCE(failing_since, $2::timestamptz) >= ($4::bigint * interval '1 millisecond') THEN false ELSE enabled END,
             disabled_reason = CASE WHEN $3::text IS NOT NULL THEN $3
                                    WHEN $2::timestamptz - COALESCE(failing_since, $2::timestamptz) >= ($4::bigint * interval '1 millisecond') THEN 'failing since ' || COALESCE(failing_since, $2::timestamptz)::text
                                    ELSE disabled_reason END,
             updated_at = now()
       WHERE id = $1`,
      [d.endpointId, iso(now), o.disable ?? null, disableAfterMs],
    );
  });
}

// ─── endpoints ───────────────────────────────────────────────────────────────────────────────────

export const configEndpointId = (url: string) =>
  `ep_${createHash('md5').update(url).digest('hex').slice(0, 16)}`;
export const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/** The configured endpoints, upserted; configured ones no longer configured are disabled. */
export async function syncConfigEndpoints(
  db: Db,
  hooks: Array<{ url: string; secret?: string; filters?: WebhookFilters }>,
): Promise<void> {
  await db.transaction(async (tx) => {
    const ids = hooks.map((h) => configEndpointId(h.url));
    for (const h of hooks) {
      const secrets = h.secret
        ? [{ secret: h.secret, createdAt: new Date(0).toISOString(), expiresAt: null }]
        : [];
      await tx.query(
        `INSERT INTO webhook_endpoints (id, url, secrets, filters, source) VALUES ($1, $2, $3::jsonb, $4::jsonb, 'config')
        ON CONFLICT (id) DO UPDATE SET secrets = EXCLUDED.secrets, filters = EXCLUDED.filters, updated_at = now()`,
        [configEndpointId(h.url), h.url, JSON.stringify(secrets), JSON.stringify(h.filters ?? {})],
      );
    }
    await tx.query(
      `UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'removed from the configuration'
      WHERE source = 'config' AND enabled AND NOT (id = ANY($1::text[]))`,
      [ids],
    );
  });
}

export async function listEndpoints(db: Queryable): Promise<EndpointRow[]> {
  return (
    await db.query<Record<string, unknown>>(`SELECT * FROM webhook_endpoints ORDER BY created_at, id`)
  ).rows.map(endpointOf);
}
export async function getEndpoint(db: Queryable, id: string): Promise<EndpointRow | null> {
  const r = (await db.query<Record<string, unknown>>(`SELECT * FROM webhook_endpoints WHERE id = $1`, [id]))
    .rows[0];
  return r ? endpointOf(r) : null;
}
export async function createEndpoint(
  db: Queryable,
  e: { url: string; description?: string; filters?: WebhookFilters; secret?: string },
): Promise<EndpointRow> {
  const id = `ep_${randomBytes(8).toString('hex')}`;
  const secrets = [{ secret: e.secret ?? newSecret(), createdAt: new Date().toISOString(), expiresAt: null }];
  await db.query(
    `INSERT INTO webhook_endpoints (id, url, description, secrets, filters, source) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, 'api')`,
    [id, e.url, e.description ?? '', JSON.stringify(secrets), JSON.stringify(e.filters ?? {})],
  );
  return (await getEndpoint(db, id))!;
}
export async function updateEndpoint(
  db: Queryable,
  id: string,
  e: { url?: string; description?: string; filters?: WebhookFilters; enabled?: boolean },
): Promise<EndpointRow | null> {
  await db.query(
    `UPDATE webhook_endpoints SET url = COALESCE($2, url), description = COALESCE($3, description), filters = COALESCE($4::jsonb, filters),
      enabled = COALESCE($5, enabled), disabled_reason = CASE WHEN $5 IS TRUE THEN NULL ELSE disabled_reason END,
      failing_since = CASE WHEN $5 IS TRUE THEN NULL ELSE failing_since END, updated_at = now() WHERE id = $1`,
    [
      id,
      e.url ?? null,
      e.description ?? null,
      e.filters ? JSON.stringify(e.filters) : null,
      e.enabled ?? null,
    ],
  );
  return getEndpoint(db, id);
}
export async function deleteEndpoint(db: Db, id: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ id: string }>(`DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id`, [
      id,
    ]);
    await tx.query(
      `UPDATE webhook_outbox SET failed_at = now(), last_error = 'endpoint deleted' WHERE endpoint_id = $1 AND delivered_at IS NULL AND failed_at IS NULL`,
      [id],
    );
    return r.rows.length > 0;
  });
}
/** A new secret; the old ones keep signing (a second signature) for `graceMs`, so receivers can switch over. */
export async function rotateSecret(
  db: Queryable,
  id: string,
  graceMs: number,
  now = Date.now(),
): Promise<{ secret: string } | null> {
  const ep = await getEndpoint(db, id);
  if (!ep) return null;
  const secret = newSecret();
  const secrets = [
    { secret, createdAt: new Date(now).toISOString(), expiresAt: null },
    ...ep.secrets
      .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now)
      .map((s) => ({ ...s, expiresAt: s.expiresAt ?? new Date(now + graceMs).toISOString() })),
  ];
  await db.query(`UPDATE webhook_endpoints SET secrets = $2::jsonb, updated_at = now() WHERE id = $1`, [
    id,
    JSON.stringify(secrets),
  ]);
  return { secret };
}
/** Queues one message or everything since a time for another delivery (the same webhook-id). */
export async function redeliver(
  db: Queryable,
  endpointId: string,
  o: { eventId?: string; since?: number },
  now = Date.now(),
): Promise<number> {
  const r = await db.query<{ event_id: string }>(
    `
    UPDATE webhook_outbox SET delivered_at = NULL, failed_at = NULL, attempts = 0, next_attempt_at = $4::timestamptz
     WHERE endpoint_id = $1 AND (($2::text IS NOT NULL AND event_id = $2) OR ($3::timestamptz IS NOT NULL AND created_at >= $3::timestamptz))
    RETURNING event_id`,
    [endpointId, o.eventId ?? null, o.since === undefined ? null : iso(o.since), iso(now)],
  );
  return r.rows.length;
}
export async function listAttempts(
  db: Queryable,
  endpointId: string,
  limit: number,
): Promise<
  Array<{
    eventId: string;
    attempt: number;
    at: string;
    status: number | null;
    error: string | null;
    durationMs: number;
  }>
> {
  const r = await db.query<{
    event_id: string;
    attempt: number;
    at: Date;
    status: number | null;
    error: string | null;
    duration_ms: number;
  }>(`SELECT * FROM webhook_attempts WHERE endpoint_id = $1 ORDER BY at DESC, attempt DESC LIMIT $2`, [
    endpointId,
    limit,
  ]);
  return r.rows.map((x) => ({
    eventId: x.event_id,
    attempt: x.attempt,
    at: new Date(x.at).toISOString(),
    status: x.status,
    error: x.error,
    durationMs: x.duration_ms,
  }));
}
