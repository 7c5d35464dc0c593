/**
 * Alerts and feedback. An alert's change, its event row and its outbox rows (one per matching endpoint,
 * store/webhooks.ts) always commit in one transaction: whatever crashes, an event is either wholly
 * recorded and queued for every endpoint, or not. Rules: store/rules.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { TributaryError } from '../schemas/errors.js';
import { SEVERITY_RANK, type Alert, type AlertEventType, type Severity } from '../schemas/index.js';
import { insertRows } from './insert.js';
import { recordEvents } from './webhooks.js';
import { deferring, type Db, type Queryable } from './db.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const ms = (d: unknown): number | null =>
  d === null || d === undefined ? null : d instanceof Date ? d.getTime() : Date.parse(String(d));

// ─── alerts ──────────────────────────────────────────────────────────────────────────────────────

interface AlertDbRow {
  id: string;
  state: Alert['state'];
  severity: Severity;
  acknowledged_by: string | null;
  acknowledged_at: Date | string | null;
  snoozed_until: Date | string | null;
  resolved_by: string | null;
  resolved_window: Date | string | null;
  doc: Alert | null;
  plant: string;
  asset: string;
  rule: string;
  opened_window: Date | string;
  last_window: Date | string;
  peak_score: number;
  model_version: string;
  contributions: Record<string, number>;
  kind: string;
  created_at: Date | string;
  unack_escalated: boolean;
}

/** The alert as stored: the rule engine's document with what people did (the columns) laid over it. */
function alertOf(r: AlertDbRow): Alert {
  const d =
    r.doc ??
    ({
      id: r.id,
      plant: r.plant,
      asset: r.asset,
      rule: r.rule,
      kind: 'anomaly',
      openedWindow: ms(r.opened_window)!,
      lastWindow: ms(r.last_window)!,
      peakScore: r.peak_score,
      modelVersion: r.model_version,
      contributions: r.contributions,
      topModality: null,
      topChannel: null,
      notes: [],
      reason: null,
      links: { timeline: '' },
    } as unknown as Alert);
  return {
    ...d,
    state: r.state,
    severity: r.severity,
    resolvedWindow: ms(r.resolved_window),
    acknowledgedBy: r.acknowledged_by,
    acknowledgedAt: ms(r.acknowledged_at),
    snoozedUntil: ms(r.snoozed_until),
    resolvedBy: r.resolved_by,
  };
}

const ALERT_COLS: Record<string, string> = {
  id: 'text',
  plant: 'text',
  asset: 'text',
  rule: 'text',
  kind: 'text',
  state: 'text',
  severity: 'text',
  opened_window: 'timestamptz',
  last_window: 'timestamptz',
  resolved_window: 'timestamptz',
  peak_score: 'float8',
  model_version: 'text',
  contributions: 'jsonb',
  snoozed_until: 'timestamptz',
  doc: 'jsonb',
};
const alertRow = (a: Alert) => ({
  id: a.id,
  plant: a.plant,
  asset: a.asset,
  rule: a.rule,
  kind: a.kind,
  state: a.state,
  severity: a.severity,
  opened_window: iso(a.openedWindow),
  last_window: iso(a.lastWindow),
  resolved_window: iso(a.resolvedWindow),
  peak_score: a.peakScore,
  model_version: a.modelVersion,
  contributions: a.contributions,
  snoozed_until: iso(a.snoozedUntil),
  doc: a,
});

export const eventIdOf = (...parts: Array<string | number>) =>
  `evt_${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 26)}`;

/** A rule engine's (or the data-quality monitor's) decision: the alert as it decided it, and the event, if any. */
export interface AlertChange {
  alert: Alert;
  type: AlertEventType | null;
  eventId: string | null;
  by: string;
  comment?: string | null;
  /** The event's time (the rule engine uses window time, so a replay writes the identical payload); default now. */
  at?: number;
}

/**
 * Writes decisions of the rule engine. An alert a person resolved stays resolved (its later decisions
 * are dropped); what people did (state acknowledged, snooze) is kept; severity only rises.
 */
export async function writeAlertChanges(
  tx: Queryable,
  changes: AlertChange[],
  now = Date.now(),
): Promise<void> {
  if (changes.length === 0) return;
  const ids = [...new Set(changes.map((c) => c.alert.id))];
  const closed = new Set(
    (
      await tx.query<{ id: string }>(
        `SELECT id FROM alerts WHERE id = ANY($1::text[]) AND state = 'resolved' AND resolved_by IS NOT NULL`,
        [ids],
      )
    ).rows.map((r) => r.id),
  );
  const live = changes.filter((c) => !closed.has(c.alert.id));
  if (live.length === 0) return;
  const last = new Map<string, Alert>();
  for (const c of live) last.set(c.alert.id, c.alert);
  // Writes go with the next read (see Queryable.defer).
  await insertRows(
    deferring(tx),
    'alerts',
    ALERT_COLS,
    [...last.values()].map(alertRow),
    `ON CONFLICT (id) DO UPDATE SET
      last_window = EXCLUDED.last_window, peak_score = EXCLUDED.peak_score, contributions = EXCLUDED.contributions,
      resolved_window = EXCLUDED.resolved_window, doc = EXCLUDED.doc, updated_at = now(),
      severity = CASE WHEN (CASE EXCLUDED.severity WHEN 'critical' THEN 2 WHEN 'major' THEN 1 ELSE 0 END)
                         > (CASE alerts.severity WHEN 'critical' THEN 2 WHEN 'major' THEN 1 ELSE 0 END) THEN EXCLUDED.severity ELSE alerts.severity END,
      state = CASE WHEN EXCLUDED.state = 'resolved' THEN 'resolved' ELSE alerts.state END
    WHERE alerts.state <> 'resolved'`,
  );
  const withEvents = live.filter((c) => c.type !== null && c.eventId !== null);
  if (withEvents.length === 0) return;
  const current = new Map(
    (await getAlerts(tx, [...new Set(withEvents.map((c) => c.alert.id))])).map((a) => [a.id, a]),
  );
  await recordEvents(
    tx,
    withEvents.map((c) => ({
      eventId: c.eventId!,
      event: {
        type: c.type!,
        timestamp: new Date(c.at ?? now).toISOString(),
        data: current.get(c.alert.id) ?? c.alert,
        by: c.by,
        comment: c.comment ?? null,
      },
    })),
    now,
  );
}

export async function getAlerts(db: Queryable, ids: string[]): Promise<Alert[]> {
  if (ids.length === 0) return [];
  return (await db.query<AlertDbRow>(`SELECT * FROM alerts WHERE id = ANY($1::text[])`, [ids])).rows.map(
    alertOf,
  );
}

/**
 * One alert with its events and feedback. `by` is who the acting request said it was; `keyId` the API key
 * that made the request (null: the rule engine, the timed checks, or a change from before keys were kept).
 */
export async function getAlert(
  db: Queryable,
  id: string,
): Promise<{
  alert: Alert;
  events: Array<{ type: string; at: string; by: string; keyId: string | null; comment: string | null }>;
  feedback: unknown[];
} | null> {
  const [a] = await getAlerts(db, [id]);
  if (!a) return null;
  const events = (
    await db.query<{ type: string; at: Date; by: string; key_id: string | null; comment: string | null }>(
      `SELECT type, at, by, key_id, comment FROM alert_events WHERE alert_id = $1 ORDER BY at, event_id`,
      [id],
    )
  ).rows.map((e) => ({
    type: e.type,
    at: new Date(e.at).toISOString(),
    by: e.by,
    keyId: e.key_id,
    comment: e.comment,
  }));
  const feedback = (
    await db.query<{
      at: Date;
      by: string;
      key_id: string | null;
      label: string;
      failure_mode: string | null;
      comment: string | null;
    }>(
      `SELECT at, by, key_id, label, failure_mode, comment FROM alert_feedback WHERE alert_id = $1 ORDER BY id`,
      [id],
    )
  ).rows.map((f) => ({
    at: new Date(f.at).toISOString(),
    by: f.by,
    keyId: f.key_id,
    label: f.label,
    failureMode: f.failure_mode,
    comment: f.comment,
  }));
  return { alert: a, events, feedback };
}

export interface AlertFilter {
  state?: string[];
  plant?: string;
  plants?: string[];
  asset?: string;
  severity?: Severity;
  kind?: string;
  rule?: string;
  limit: number;
  cursor?: string;
}

export class InvalidAlertCursorError extends TributaryError {
  constructor() {
    super('invalid_query', 'cursor: not a cursor from a previous page', { field: 'cursor' });
  }
}

/** Newest first (by when the alert was created), with a cursor for the next page. */
export async function listAlerts(
  db: Queryable,
  f: AlertFilter,
): Promise<{ alerts: Alert[]; nextCursor: string | null }> {
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (f.state?.length) where.push(`state = ANY(${p(f.state)}::text[])`);
  if (f.plant) where.push(`plant = ${p(f.plant)}`);
  if (f.plants?.length) where.push(`plant = ANY(${p(f.plants)}::text[])`);
  if (f.asset) where.push(`asset = ${p(f.asset)}`);
  if (f.kind) where.push(`kind = ${p(f.kind)}`);
  if (f.rule) where.push(`rule = ${p(f.rule)}`);
  if (f.severity)
    where.push(
      `(CASE severity WHEN 'critical' THEN 2 WHEN 'major' THEN 1 ELSE 0 END) >= ${p(SEVERITY_RANK[f.severity])}`,
    );
  if (f.cursor) {
    let c: [string, string];
    try {
      c = JSON.parse(Buffer.from(f.cursor, 'base64url').toString('utf8')) as [string, string];
    } catch {
      throw new InvalidAlertCursorError();
    }
    if (
      !Array.isArray(c) ||
      typeof c[0] !== 'string' ||
      typeof c[1] !== 'string' ||
      !Number.isFinite(Date.parse(c[0]))
    )
      throw new InvalidAlertCursorError();
    where.push(`(created_at, id) < (${p(c[0])}::timestamptz, ${p(c[1])})`);
  }
  const rows = (
    await db.query<AlertDbRow>(
      `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ${p(f.limit + 1)}`,
      params,
    )
  ).rows;
  const page = rows.slice(0, f.limit);
  const lastRow = page[page.length - 1];
  const nextCursor =
    rows.length > f.limit && lastRow
      ? Buffer.from(JSON.stringify([new Date(lastRow.created_at).toISOString(), lastRow.id])).toString(
          'base64url',
        )
      : null;
  return { alerts: page.map(alertOf), nextCursor };
}

/** Alerts not resolved, with what the timed checks need. */
export async function activeAlerts(
  db: Queryable,
): Promise<Array<{ alert: Alert; createdAt: number; unackEscalated: boolean }>> {
  return (await db.query<AlertDbRow>(`SELECT * FROM alerts WHERE state <> 'resolved'`)).rows.map((r) => ({
    alert: alertOf(r),
    createdAt: ms(r.created_at)!,
    unackEscalated: r.unack_escalated,
  }));
}

/**
 * A change made outside the rule engine (a person, the timed checks): read the alert under a row lock,
 * let `change` decide, write the alert, its event and its outbox rows, all in one transaction.
 */
export async function changeAlert(
  db: Db,
  id: string,
  now: number,
  change: (
    a: Alert,
    unackEscalated: boolean,
  ) => {
    alert: Alert;
    event: AlertEventType;
    by: string;
    comment?: string | null;
    eventId?: string;
    unackEscalated?: boolean;
    keyId?: string | null;
  } | null,
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
      [
        id,
        a.state,
        a.severity,
        a.acknowledgedBy,
        iso(a.acknowledgedAt),
        iso(a.snoozedUntil),
        a.resolvedBy,
        iso(a.resolvedWindow),
        c.unackEscalated ?? false,
      ],
    );
    await recordEvents(
      tx,
      [
        {
          eventId: c.eventId ?? `evt_${randomBytes(13).toString('hex')}`,
          event: {
            type: c.event,
            timestamp: new Date(now).toISOString(),
            data: a,
            by: c.by,
            comment: c.comment ?? null,
          },
          keyId: c.keyId ?? null,
        },
      ],
      now,
    );
    return a;
  });
}

export async function addFeedback(
  db: Db,
  id: string,
  f: {
    by: string;
    keyId?: string | null;
    label: 'true_positive' | 'false_positive';
    failureMode?: string | null;
    comment?: string | null;
  },
  now = Date.now(),
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [a] = await getAlerts(tx, [id]);
    if (!a) return false;
    await tx.query(
      `INSERT INTO alert_feedback (alert_id, at, by, label, failure_mode, comment, key_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [id, iso(now), f.by, f.label, f.failureMode ?? null, f.comment ?? null, f.keyId ?? null],
    );
    await recordEvents(
      tx,
      [
        {
          eventId: `evt_${randomBytes(13).toString('hex')}`,
          event: {
            type: 'alert.feedback',
            timestamp: new Date(now).toISOString(),
            data: a,
            by: f.by,
            comment: f.comment ?? f.label,
          },
          keyId: f.keyId ?? null,
        },
      ],
      now,
    );
    return true;
  });
}

/** Operator feedback as training labels: the alert's asset and period with the verdict. */
export async function feedbackLabels(db: Queryable): Promise<
  Array<{
    alertId: string;
    asset: string;
    from: number;
    to: number;
    label: string;
    failureMode: string | null;
  }>
> {
  const r = await db.query<{
    alert_id: string;
    asset: string;
    opened_window: Date;
    last_window: Date;
    label: string;
    failure_mode: string | null;
  }>(
    `SELECT DISTINCT ON (f.alert_id) f.alert_id, a.asset, a.opened_window, a.last_window, f.label, f.failure_mode
       FROM alert_feedback f JOIN alerts a ON a.id = f.alert_id ORDER BY f.alert_id, f.id DESC`,
  );
  return r.rows.map((x) => ({
    alertId: x.alert_id,
    asset: x.asset,
    from: ms(x.opened_window)!,
    to: ms(x.last_window)!,
    label: x.label,
    failureMode: x.failure_mode,
  }));
}

export { type Severity };

/** Alerts counted by state and severity (the metrics' gauge). */
export async function alertCounts(
  db: Queryable,
): Promise<Array<{ state: string; severity: string; n: number }>> {
  return (
    await db.query<{ state: string; severity: string; n: number }>(
      'SELECT state, severity, count(*)::int AS n FROM alerts GROUP BY state, severity',
    )
  ).rows;
}
