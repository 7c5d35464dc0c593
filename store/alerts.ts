/**
 * Alerts, their events, feedback and rules; webhook endpoints, the outbox and its delivery log.
 * An alert's change, its event row and its outbox rows (one per matching endpoint) always commit in one
 * transaction: whatever crashes, an event is either wholly recorded and queued for every endpoint, or not.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  matchesAny, SEVERITY_RANK, type Alert, type AlertEvent, type AlertEventType, type AlertRule, type Severity, type WebhookFilters,
} from '../schemas/index.js';
import { insertRows } from './batch.js';
import { deferring, type Db, type Queryable } from './db.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const ms = (d: unknown): number | null => (d === null || d === undefined ? null : d instanceof Date ? d.getTime() : Date.parse(String(d)));

// ─── alerts ──────────────────────────────────────────────────────────────────────────────────────

interface AlertDbRow {
  id: string; state: Alert['state']; severity: Severity; acknowledged_by: string | null; acknowledged_at: Date | string | null;
  snoozed_until: Date | string | null; resolved_by: string | null; resolved_window: Date | string | null; doc: Alert | null;
  plant: string; asset: string; rule: string; opened_window: Date | string; last_window: Date | string; peak_score: number;
  model_version: string; contributions: Record<string, number>; kind: string; created_at: Date | string; unack_escalated: boolean;
}

/** The alert as stored: the rule engine's document with what people did (the columns) laid over it. */
function alertOf(r: AlertDbRow): Alert {
  const d = r.doc ?? ({
    id: r.id, plant: r.plant, asset: r.asset, rule: r.rule, kind: 'anomaly', openedWindow: ms(r.opened_window)!, lastWindow: ms(r.last_window)!,
    peakScore: r.peak_score, modelVersion: r.model_version, contributions: r.contributions, topModality: null, topChannel: null, notes: [],
    reason: null, links: { timeline: '' },
  } as unknown as Alert);
  return {
    ...d, state: r.state, severity: r.severity, resolvedWindow: ms(r.resolved_window), acknowledgedBy: r.acknowledged_by,
    acknowledgedAt: ms(r.acknowledged_at), snoozedUntil: ms(r.snoozed_until), resolvedBy: r.resolved_by,
  };
}

const ALERT_COLS: Record<string, string> = {
  id: 'text', plant: 'text', asset: 'text', rule: 'text', kind: 'text', state: 'text', severity: 'text', opened_window: 'timestamptz',
  last_window: 'timestamptz', resolved_window: 'timestamptz', peak_score: 'float8', model_version: 'text', contributions: 'jsonb',
  snoozed_until: 'timestamptz', doc: 'jsonb',
};
const alertRow = (a: Alert) => ({
  id: a.id, plant: a.plant, asset: a.asset, rule: a.rule, kind: a.kind, state: a.state, severity: a.severity,
  opened_window: iso(a.openedWindow), last_window: iso(a.lastWindow), resolved_window: iso(a.resolvedWindow), peak_score: a.peakScore,
  model_version: a.modelVersion, contributions: a.contributions, snoozed_until: iso(a.snoozedUntil), doc: a,
});

export const eventIdOf = (...parts: Array<string | number>) => `evt_${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 26)}`;

/** A rule engine's (or the data-quality monitor's) decision: the alert as it decided it, and the event, if any. */
export interface AlertChange {
  alert: Alert; type: AlertEventType | null; eventId: string | null; by: string; comment?: string | null;
  /** The event's time (the rule engine uses window time, so a replay writes the identical payload); default now. */
  at?: number;
}

/**
 * Writes decisions of the rule engine. An alert a person resolved stays resolved (its later decisions
 * are dropped); what people did (state acknowledged, snooze) is kept; severity only rises.
 */
export async function writeAlertChanges(tx: Queryable, changes: AlertChange[], now = Date.now()): Promise<void> {
  if (changes.length === 0) return;
  const ids = [...new Set(changes.map((c) => c.alert.id))];
  const closed = new Set((await tx.query<{ id: string }>(
    `SELECT id FROM alerts WHERE id = ANY($1::text[]) AND state = 'resolved' AND resolved_by IS NOT NULL`, [ids])).rows.map((r) => r.id));
  const live = changes.filter((c) => !closed.has(c.alert.id));
  if (live.length === 0) return;
  const last = new Map<string, Alert>();
  for (const c of live) last.set(c.alert.id, c.alert);
  // Writes go with the next read (see Queryable.defer).
  await insertRows(deferring(tx), 'alerts', ALERT_COLS, [...last.values()].map(alertRow), `ON CONFLICT (id) DO UPDATE SET
      last_window = EXCLUDED.last_window, peak_score = EXCLUDED.peak_score, contributions = EXCLUDED.contributions,
      resolved_window = EXCLUDED.resolved_window, doc = EXCLUDED.doc, updated_at = now(),
      severity = CASE WHEN (CASE EXCLUDED.severity WHEN 'critical' THEN 2 WHEN 'major' THEN 1 ELSE 0 END)
                         > (CASE alerts.severity WHEN 'critical' THEN 2 WHEN 'major' THEN 1 ELSE 0 END) THEN EXCLUDED.severity ELSE alerts.severity END,
      state = CASE WHEN EXCLUDED.state = 'resolved' THEN 'resolved' ELSE alerts.state END
    WHERE alerts.state <> 'resolved'`);
  const withEvents = live.filter((c) => c.type !== null && c.eventId !== null);
  if (withEvents.length === 0) return;
  const current = new Map((await getAlerts(tx, [...new Set(withEvents.map((c) => c.alert.id))])).map((a) => [a.id, a]));
  await recordEvents(tx, withEvents.map((c) => ({
    eventId: c.eventId!,
    event: { type: c.type!, timestamp: new Date(c.at ?? now).toISOString(), data: current.get(c.alert.id) ?? c.alert, by: c.by, comment: c.comment ?? null },
  })), now);
}

export async function getAlerts(db: Queryable, ids: string[]): Promise<Alert[]> {
  if (ids.length === 0) return [];
  return (await db.query<AlertDbRow>(`SELECT * FROM alerts WHERE id = ANY($1::text[])`, [ids])).rows.map(alertOf);
}

/**
 * One alert with its events and feedback. `by` is who the acting request said it was; `keyId` the API key
 * that made the request (null: the rule engine, the timed checks, or a change from before keys were kept).
 */
export async function getAlert(db: Queryable, id: string): Promise<{ alert: Alert; events: Array<{ type: string; at: string; by: string; keyId: string | null; comment: string | null }>; feedback: unknown[] } | null> {
  const [a] = await getAlerts(db, [id]);
  if (!a) return null;
  const events = (await db.query<{ type: string; at: Date; by: string; key_id: string | null; comment: string | null }>(
    `SELECT type, at, by, key_id, comment FROM alert_events WHERE alert_id = $1 ORDER BY at, event_id`, [id])).rows
    .map((e) => ({ type: e.type, at: new Date(e.at).toISOString(), by: e.by, keyId: e.key_id, comment: e.comment }));
  const feedback = (await db.query<{ at: Date; by: string; key_id: string | null; label: string; failure_mode: string | null; comment: string | null }>(
    `SELECT at, by, key_id, label, failure_mode, comment FROM alert_feedback WHERE alert_id = $1 ORDER BY id`, [id])).rows
    .map((f) => ({ at: new Date(f.at).toISOString(), by: f.by, keyId: f.key_id, label: f.label, failureMode: f.failure_mode, comment: f.comment }));
  return { alert: a, events, feedback };
}

export interface AlertFilter { state?: string[]; plant?: string; plants?: string[]; asset?: string; severity?: Severity; kind?: string; rule?: string; limit: number; cursor?: string }

export class InvalidAlertCursorError extends Error { constructor() { super('cursor: not a cursor from a previous page'); } }

/** Newest first (by when the alert was created), with a cursor for the next page. */
export async function listAlerts(db: Queryable, f: AlertFilter): Promise<{ alerts: Alert[]; nextCursor: string | null }> {
  const params: unknown[] = [];
  const p = (v: unknown) => { params.push(v); return `$${params.length}`; };
  const where: string[] = [];
  if (f.state?.length) where.push(`state = ANY(${p(f.state)}::text[])`);
  if (f.plant) where.push(`plant = ${p(f.plant)}`);
  if (f.plants?.length) where.push(`plant = ANY(${p(f.plants)}::text[])`);
  if (f.asset) where.push(`asset = ${p(f.asset)}`);
  if (f.kind) where.push(`kind = ${p(f.kind)}`);
  if (f.rule) where.push(`rule = ${p(f.rule)}`);
  if (f.severity) where.push(`(CASE severity WHEN 'critical' THEN 2 WHEN 'major' THEN 1 ELSE 0 END) >= ${p(SEVERITY_RANK[f.severity])}`);
  if (f.cursor) {
    let c: [string, string];
    try { c = JSON.parse(Buffer.from(f.cursor, 'base64url').toString('utf8')) as [string, string]; } catch { throw new InvalidAlertCursorError(); }
    if (!Array.isArray(c) || typeof c[0] !== 'string' || typeof c[1] !== 'string' || !Number.isFinite(Date.parse(c[0]))) throw new InvalidAlertCursorError();
    where.push(`(created_at, id) < (${p(c[0])}::timestamptz, ${p(c[1])})`);
  }
  const rows = (await db.query<AlertDbRow>(
    `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ${p(f.limit + 1)}`, params)).rows;
  const page = rows.slice(0, f.limit);
  const lastRow = page[page.length - 1];
  const nextCursor = rows.length > f.limit && lastRow ? Buffer.from(JSON.stringify([new Date(lastRow.created_at).toISOString(), lastRow.id])).toString('base64url') : null;
  return { alerts: page.map(alertOf), nextCursor };
}

/** Alerts not resolved, with what the timed checks need. */
export async function activeAlerts(db: Queryable): Promise<Array<{ alert: Alert; createdAt: number; unackEscalated: boolean }>> {
  return (await db.query<AlertDbRow>(`SELECT * FROM alerts WHERE state <> 'resolved'`)).rows
    .map((r) => ({ alert: alertOf(r), createdAt: ms(r.created_at)!, unackEscalated: r.unack_escalated }));
}

/**
 * A change made outside the rule engine (a person, the timed checks): read the alert under a row lock,
 * let `change` decide, write the alert, its event and its outbox rows, all in one transaction.
 */
export async function changeAlert(
  db: Db, id: string, now: number,
  change: (a: Alert, unackEscalated: boolean) => { alert: Alert; event: AlertEventType; by: string; comment?: string | null; eventId?: string; unackEscalated?: boolean; keyId?: string | null } | null,
): Promise<Alert | null> {
  return db.transaction(async (tx) => {
    const r = (await tx.query<AlertDbRow>(`SELECT * FROM alerts WHERE id = $1 FOR UPDATE`, [id])).rows[0];
    if (!r) return null;
    const c = change(alertOf(r), r.unack_escalated);
    if (!c) return alertOf(r);
    const a = c.alert;
    await tx.query(
      `UPDATE alerts SET state = $2, severity = $3, acknowledged_by = $4, acknowledged_at = $5, snoozed_until = $6, resolved_by = $7,
         resolved_window = $8, unack_escalated = unack_escalated OR $9, updated_at = now() WHERE id = $1`,
      [id, a.state, a.severity, a.acknowledgedBy, iso(a.acknowledgedAt), iso(a.snoozedUntil), a.resolvedBy, iso(a.resolvedWindow), c.unackEscalated ?? false]);
    await recordEvents(tx, [{
      eventId: c.eventId ?? `evt_${randomBytes(13).toString('hex')}`,
      event: { type: c.event, timestamp: new Date(now).toISOString(), data: a, by: c.by, comment: c.comment ?? null },
      keyId: c.keyId ?? null,
    }], now);
    return a;
  });
}

export async function addFeedback(db: Db, id: string, f: { by: string; keyId?: string | null; label: 'true_positive' | 'false_positive'; failureMode?: string | null; comment?: string | null }, now = Date.now()): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [a] = await getAlerts(tx, [id]);
    if (!a) return false;
    await tx.query(`INSERT INTO alert_feedback (alert_id, at, by, label, failure_mode, comment, key_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [id, iso(now), f.by, f.label, f.failureMode ?? null, f.comment ?? null, f.keyId ?? null]);
    await recordEvents(tx, [{ eventId: `evt_${randomBytes(13).toString('hex')}`, event: { type: 'alert.feedback', timestamp: new Date(now).toISOString(), data: a, by: f.by, comment: f.comment ?? f.label }, keyId: f.keyId ?? null }], now);
    return true;
  });
}

/** Operator feedback as training labels: the alert's asset and period with the verdict. */
export async function feedbackLabels(db: Queryable): Promise<Array<{ alertId: string; asset: string; from: number; to: number; label: string; failureMode: string | null }>> {
  const r = await db.query<{ alert_id: string; asset: string; opened_window: Date; last_window: Date; label: string; failure_mode: string | null }>(
    `SELECT DISTINCT ON (f.alert_id) f.alert_id, a.asset, a.opened_window, a.last_window, f.label, f.failure_mode
       FROM alert_feedback f JOIN alerts a ON a.id = f.alert_id ORDER BY f.alert_id, f.id DESC`);
  return r.rows.map((x) => ({ alertId: x.alert_id, asset: x.asset, from: ms(x.opened_window)!, to: ms(x.last_window)!, label: x.label, failureMode: x.failure_mode }));
}

// ─── events and the outbox ───────────────────────────────────────────────────────────────────────

export interface EndpointRow {
  id: string; url: string; description: string; secrets: Array<{ secret: string; createdAt: string; expiresAt: string | null }>;
  filters: WebhookFilters; enabled: boolean; disabledReason: string | null; failingSince: string | null; source: 'config' | 'api';
  createdAt: string;
}
const endpointOf = (r: Record<string, unknown>): EndpointRow => ({
  id: r.id as string, url: r.url as string, description: r.description as string, secrets: r.secrets as EndpointRow['secrets'],
  filters: r.filters as WebhookFilters, enabled: r.enabled as boolean, disabledReason: (r.disabled_reason as string | null) ?? null,
  failingSince: r.failing_since ? new Date(r.failing_since as string).toISOString() : null, source: r.source as 'config' | 'api',
  createdAt: new Date(r.created_at as string).toISOString(),
});

export function endpointWants(f: WebhookFilters, e: AlertEvent): boolean {
  if (e.type === 'webhook.test') return true;
  if (f.eventTypes?.length && !f.eventTypes.includes(e.type)) return false;
  if (!matchesAny(f.plants, e.data.plant) || !matchesAny(f.assets, e.data.asset)) return false;
  if (f.minSeverity && SEVERITY_RANK[e.data.severity] < SEVERITY_RANK[f.minSeverity]) return false;
  return true;
}

const OUTBOX_COLS = { event_id: 'text', endpoint_id: 'text', endpoint_url: 'text', event_type: 'text', payload: 'jsonb', next_attempt_at: 'timestamptz' };

/**
 * Records events and queues each for every enabled endpoint whose filters match. An escalation of a
 * snoozed alert is recorded but not sent. `only`: queue for that endpoint alone (tests of an endpoint).
 */
export async function recordEvents(tx: Queryable, events: Array<{ eventId: string; event: AlertEvent; keyId?: string | null }>, now: number, only?: string): Promise<void> {
  if (events.length === 0) return;
  await insertRows(deferring(tx), 'alert_events', { event_id: 'text', alert_id: 'text', type: 'text', at: 'timestamptz', by: 'text', comment: 'text', data: 'jsonb', key_id: 'text' },
    events.filter((e) => e.event.type !== 'webhook.test').map((e) => ({
      event_id: e.eventId, alert_id: e.event.data.id, type: e.event.type, at: e.event.timestamp, by: e.event.by, comment: e.event.comment, data: e.event.data, key_id: e.keyId ?? null,
    })), 'ON CONFLICT DO NOTHING');
  const endpoints = (await tx.query<Record<string, unknown>>(
    only ? `SELECT * FROM webhook_endpoints WHERE id = $1` : `SELECT * FROM webhook_endpoints WHERE enabled`, only ? [only] : [])).rows.map(endpointOf);
  const rows = [];
  for (const { eventId, event } of events) {
    const silenced = event.type === 'alert.escalated' && event.data.snoozedUntil !== null && event.data.snoozedUntil > now;
    if (silenced) continue;
    for (const ep of endpoints) {
      if (!endpointWants(ep.filters, event)) continue;
      rows.push({ event_id: eventId, endpoint_id: ep.id, endpoint_url: ep.url, event_type: event.type, payload: event, next_attempt_at: iso(now) });
    }
  }
  await insertRows(deferring(tx), 'webhook_outbox', OUTBOX_COLS, rows, 'ON CONFLICT DO NOTHING');
}

export interface DueDelivery { eventId: string; endpointId: string; url: string; secrets: string[]; event: AlertEvent; attempts: number }

/** Leases up to `limit` due deliveries to enabled endpoints (a crashed sender's lease runs out). */
export async function claimDeliveries(db: Queryable, limit: number, leaseMs: number, now: number): Promise<DueDelivery[]> {
  const r = await db.query<{ event_id: string; endpoint_id: string; payload: AlertEvent; attempts: number; url: string; secrets: EndpointRow['secrets'] }>(`
    WITH due AS (
      SELECT o.event_id, o.endpoint_id FROM webhook_outbox o JOIN webhook_endpoints e ON e.id = o.endpoint_id AND e.enabled
       WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= $3::timestamptz
       ORDER BY o.created_at, o.event_id LIMIT $1 FOR UPDATE OF o SKIP LOCKED),
    leased AS (
      UPDATE webhook_outbox o SET next_attempt_at = $3::timestamptz + ($2::int * interval '1 millisecond')
        FROM due WHERE o.event_id = due.event_id AND o.endpoint_id = due.endpoint_id
      RETURNING o.event_id, o.endpoint_id, o.payload, o.attempts, o.created_at)
    SELECT l.event_id, l.endpoint_id, l.payload, l.attempts, e.url, e.secrets FROM leased l JOIN webhook_endpoints e ON e.id = l.endpoint_id
     ORDER BY l.created_at, l.event_id`, [limit, leaseMs, iso(now)]);
  return r.rows.map((x) => ({
    eventId: x.event_id, endpointId: x.endpoint_id, url: x.url, event: x.payload, attempts: x.attempts,
    secrets: x.secrets.filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now).map((s) => s.secret),
  }));
}

export interface Outcome { ok: boolean; status: number | null; error: string | null; retryInMs: number | null; durationMs: number; disable?: string | null }

/**
 * Settles one attempt: logs it, then delivered, due again after `retryInMs`, or failed; the endpoint's
 * failure streak starts or ends; an endpoint failing for `disableAfterMs` (or told to, 410) is disabled.
 */
export async function settleDelivery(db: Db, d: { eventId: string; endpointId: string; attempts: number }, o: Outcome, now: number, disableAfterMs: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`INSERT INTO webhook_attempts (event_id, endpoint_id, attempt, at, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT DO NOTHING`, [d.eventId, d.endpointId, d.attempts + 1, iso(now), o.status, o.error, Math.round(o.durationMs)]);
    await tx.query(`
      UPDATE webhook_outbox SET attempts = attempts + 1, last_status = $3, last_error = $4,
             delivered_at = CASE WHEN $5::boolean THEN $7::timestamptz END,
             failed_at = CASE WHEN NOT $5::boolean AND $6::int IS NULL THEN $7::timestamptz END,
             next_attempt_at = CASE WHEN $6::int IS NOT NULL THEN $7::timestamptz + ($6::int * interval '1 millisecond') ELSE next_attempt_at END
       WHERE event_id = $1 AND endpoint_id = $2`,
    [d.eventId, d.endpointId, o.status, o.error, o.ok, o.retryInMs, iso(now)]);
    if (o.ok) {
      await tx.query(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, [d.endpointId]);
      return;
    }
    await tx.query(`
      UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2::timestamptz),
             enabled = CASE WHEN $3::text IS NOT NULL OR $2::timestamptz - COALESCE(failing_since, $2::timestamptz) >= ($4::bigint * interval '1 millisecond') THEN false ELSE enabled END,
             disabled_reason = CASE WHEN $3::text IS NOT NULL THEN $3
                                    WHEN $2::timestamptz - COALESCE(failing_since, $2::timestamptz) >= ($4::bigint * interval '1 millisecond') THEN 'failing since ' || COALESCE(failing_since, $2::timestamptz)::text
                                    ELSE disabled_reason END,
             updated_at = now()
       WHERE id = $1`, [d.endpointId, iso(now), o.disable ?? null, disableAfterMs]);
  });
}

// ─── endpoints ───────────────────────────────────────────────────────────────────────────────────

export const configEndpointId = (url: string) => `ep_${createHash('md5').update(url).digest('hex').slice(0, 16)}`;
export const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/** The configured endpoints, upserted; configured ones no longer configured are disabled. */
export async function syncConfigEndpoints(db: Db, hooks: Array<{ url: string; secret?: string; filters?: WebhookFilters }>): Promise<void> {
  await db.transaction(async (tx) => {
    const ids = hooks.map((h) => configEndpointId(h.url));
    for (const h of hooks) {
      const secrets = h.secret ? [{ secret: h.secret, createdAt: new Date(0).toISOString(), expiresAt: null }] : [];
      await tx.query(`INSERT INTO webhook_endpoints (id, url, secrets, filters, source) VALUES ($1, $2, $3::jsonb, $4::jsonb, 'config')
        ON CONFLICT (id) DO UPDATE SET secrets = EXCLUDED.secrets, filters = EXCLUDED.filters, updated_at = now()`,
      [configEndpointId(h.url), h.url, JSON.stringify(secrets), JSON.stringify(h.filters ?? {})]);
    }
    await tx.query(`UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'removed from the configuration'
      WHERE source = 'config' AND enabled AND NOT (id = ANY($1::text[]))`, [ids]);
  });
}

export async function listEndpoints(db: Queryable): Promise<EndpointRow[]> {
  return (await db.query<Record<string, unknown>>(`SELECT * FROM webhook_endpoints ORDER BY created_at, id`)).rows.map(endpointOf);
}
export async function getEndpoint(db: Queryable, id: string): Promise<EndpointRow | null> {
  const r = (await db.query<Record<string, unknown>>(`SELECT * FROM webhook_endpoints WHERE id = $1`, [id])).rows[0];
  return r ? endpointOf(r) : null;
}
export async function createEndpoint(db: Queryable, e: { url: string; description?: string; filters?: WebhookFilters; secret?: string }): Promise<EndpointRow> {
  const id = `ep_${randomBytes(8).toString('hex')}`;
  const secrets = [{ secret: e.secret ?? newSecret(), createdAt: new Date().toISOString(), expiresAt: null }];
  await db.query(`INSERT INTO webhook_endpoints (id, url, description, secrets, filters, source) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, 'api')`,
    [id, e.url, e.description ?? '', JSON.stringify(secrets), JSON.stringify(e.filters ?? {})]);
  return (await getEndpoint(db, id))!;
}
export async function updateEndpoint(db: Queryable, id: string, e: { url?: string; description?: string; filters?: WebhookFilters; enabled?: boolean }): Promise<EndpointRow | null> {
  await db.query(`UPDATE webhook_endpoints SET url = COALESCE($2, url), description = COALESCE($3, description), filters = COALESCE($4::jsonb, filters),
      enabled = COALESCE($5, enabled), disabled_reason = CASE WHEN $5 IS TRUE THEN NULL ELSE disabled_reason END,
      failing_since = CASE WHEN $5 IS TRUE THEN NULL ELSE failing_since END, updated_at = now() WHERE id = $1`,
  [id, e.url ?? null, e.description ?? null, e.filters ? JSON.stringify(e.filters) : null, e.enabled ?? null]);
  return getEndpoint(db, id);
}
export async function deleteEndpoint(db: Db, id: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ id: string }>(`DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id`, [id]);
    await tx.query(`UPDATE webhook_outbox SET failed_at = now(), last_error = 'endpoint deleted' WHERE endpoint_id = $1 AND delivered_at IS NULL AND failed_at IS NULL`, [id]);
    return r.rows.length > 0;
  });
}
/** A new secret; the old ones keep signing (a second signature) for `graceMs`, so receivers can switch over. */
export async function rotateSecret(db: Queryable, id: string, graceMs: number, now = Date.now()): Promise<{ secret: string } | null> {
  const ep = await getEndpoint(db, id);
  if (!ep) return null;
  const secret = newSecret();
  const secrets = [
    { secret, createdAt: new Date(now).toISOString(), expiresAt: null },
    ...ep.secrets.filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now).map((s) => ({ ...s, expiresAt: s.expiresAt ?? new Date(now + graceMs).toISOString() })),
  ];
  await db.query(`UPDATE webhook_endpoints SET secrets = $2::jsonb, updated_at = now() WHERE id = $1`, [id, JSON.stringify(secrets)]);
  return { secret };
}
/** Queues one message or everything since a time for another delivery (the same webhook-id). */
export async function redeliver(db: Queryable, endpointId: string, o: { eventId?: string; since?: number }, now = Date.now()): Promise<number> {
  const r = await db.query<{ event_id: string }>(`
    UPDATE webhook_outbox SET delivered_at = NULL, failed_at = NULL, attempts = 0, next_attempt_at = $4::timestamptz
     WHERE endpoint_id = $1 AND (($2::text IS NOT NULL AND event_id = $2) OR ($3::timestamptz IS NOT NULL AND created_at >= $3::timestamptz))
    RETURNING event_id`, [endpointId, o.eventId ?? null, o.since === undefined ? null : iso(o.since), iso(now)]);
  return r.rows.length;
}
export async function listAttempts(db: Queryable, endpointId: string, limit: number): Promise<Array<{ eventId: string; attempt: number; at: string; status: number | null; error: string | null; durationMs: number }>> {
  const r = await db.query<{ event_id: string; attempt: number; at: Date; status: number | null; error: string | null; duration_ms: number }>(
    `SELECT * FROM webhook_attempts WHERE endpoint_id = $1 ORDER BY at DESC, attempt DESC LIMIT $2`, [endpointId, limit]);
  return r.rows.map((x) => ({ eventId: x.event_id, attempt: x.attempt, at: new Date(x.at).toISOString(), status: x.status, error: x.error, durationMs: x.duration_ms }));
}

// ─── rules ───────────────────────────────────────────────────────────────────────────────────────

export async function syncConfigRules(db: Db, rules: AlertRule[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`DELETE FROM alert_rules WHERE source = 'config'`);
    for (const r of rules) {
      await tx.query(`INSERT INTO alert_rules (id, rule, source) VALUES ($1, $2::jsonb, 'config') ON CONFLICT (id) DO UPDATE SET rule = EXCLUDED.rule, source = 'config', updated_at = now()`,
        [r.id, JSON.stringify(r)]);
    }
  });
}
export async function listRules(db: Queryable): Promise<Array<{ rule: AlertRule; source: 'config' | 'api' }>> {
  return (await db.query<{ rule: AlertRule; source: 'config' | 'api' }>(`SELECT rule, source FROM alert_rules ORDER BY id`)).rows;
}
export async function putRule(db: Queryable, r: AlertRule): Promise<'created' | 'updated' | 'config'> {
  const cur = (await db.query<{ source: string }>(`SELECT source FROM alert_rules WHERE id = $1`, [r.id])).rows[0];
  if (cur?.source === 'config') return 'config';
  await db.query(`INSERT INTO alert_rules (id, rule, source) VALUES ($1, $2::jsonb, 'api') ON CONFLICT (id) DO UPDATE SET rule = EXCLUDED.rule, updated_at = now()`, [r.id, JSON.stringify(r)]);
  return cur ? 'updated' : 'created';
}
export async function deleteRule(db: Queryable, id: string): Promise<'deleted' | 'missing' | 'config'> {
  const cur = (await db.query<{ source: string }>(`SELECT source FROM alert_rules WHERE id = $1`, [id])).rows[0];
  if (!cur) return 'missing';
  if (cur.source === 'config') return 'config';
  await db.query(`DELETE FROM alert_rules WHERE id = $1`, [id]);
  return 'deleted';
}
export { type Severity };

/** Alerts counted by state and severity (the metrics' gauge). */
export async function alertCounts(db: Queryable): Promise<Array<{ state: string; severity: string; n: number }>> {
  return (await db.query<{ state: string; severity: string; n: number }>('SELECT state, severity, count(*)::int AS n FROM alerts GROUP BY state, severity')).rows;
}
