/** Reads of the store, and the outbox's claim and settle: all SQL outside batch writes and migrations. */
import { TributaryError } from '../schemas/errors.js';
import type { AnomaliesQuery } from '../schemas/index.js';
import type { Queryable } from './db.js';

export interface AnomalyRow {
  plant: string;
  asset: string;
  windowStart: string;
  windowEnd: string;
  revision: number;
  modelVersion: string;
  status: string;
  score: number | null;
  contributions: Record<string, number>;
  quality: Record<string, number>;
  imageTs: string | null;
  noteCount: number;
  /** Fusion models: raw score, gates, note terms, the reason a window is unscorable. */
  explanation?: Record<string, unknown>;
}

const isoOf = (d: unknown) =>
  d instanceof Date ? d.toISOString() : d === null ? null : new Date(String(d)).toISOString();

/** The position after the last row of a page: (window start, asset, model version), newest first. */
interface Cursor {
  ws: string;
  asset: string;
  mv: string;
}
const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify([c.ws, c.asset, c.mv])).toString('base64url');
function decodeCursor(s: string): Cursor | null {
  try {
    const [ws, asset, mv] = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as string[];
    return typeof ws === 'string' &&
      typeof asset === 'string' &&
      typeof mv === 'string' &&
      Number.isFinite(Date.parse(ws))
      ? { ws, asset, mv }
      : null;
  } catch {
    return null;
  }
}

export class InvalidCursorError extends TributaryError {
  constructor() {
    super('invalid_query', 'cursor: not a cursor from a previous page', { field: 'cursor' });
  }
}

/** Filters the history queries take beyond the request: the plants a key may see, the model version. */
export type HistoryQuery = AnomaliesQuery & { plants?: string[] };

/** Which rows a history query covers (asset, plant, the key's plants, model), as SQL conditions: scores and roll-ups alike. */
function scopeFilters(q: HistoryQuery, p: (v: unknown) => string): string[] {
  const w: string[] = [];
  if (q.asset) w.push(`asset = ${p(q.asset)}`);
  if (q.plant) w.push(`plant = ${p(q.plant)}`);
  if (q.plants?.length) w.push(`plant = ANY(${p(q.plants)}::text[])`);
  if (q.model) w.push(`model_version = ${p(q.model)}`);
  return w;
}

/** The latest revision of each window matching the window filters (over [from, to)), as a SQL subquery. */
function latestWindows(
  q: HistoryQuery,
  p: (v: unknown) => string,
  range: { from?: string; to?: string } = q,
): string {
  const inner = scopeFilters(q, p);
  if (range.from) inner.push(`window_start >= ${p(range.from)}::timestamptz`);
  if (range.to) inner.push(`window_start < ${p(range.to)}::timestamptz`);
  return `(SELECT DISTINCT ON (asset, window_start, model_version)
             plant, asset, window_start, window_end, revision, model_version, status, score, contributions, quality, image_ts, note_count, explanation
        FROM scores ${inner.length ? `WHERE ${inner.join(' AND ')}` : ''}
       ORDER BY asset, window_start, model_version, revision DESC)`;
}

export async function queryAnomalies(
  db: Queryable,
  q: HistoryQuery,
): Promise<{ rows: AnomalyRow[]; nextCursor: string | null }> {
  // Window filters pick rows before the latest revision is chosen; the score filter and the cursor apply
  // to the latest revision.
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const latest = latestWindows(q, p);
  const outer: string[] = [];
  if (q.minScore !== undefined) outer.push(`score >= ${p(q.minScore)}`);
  if (q.cursor) {
    const c = decodeCursor(q.cursor);
    if (!c) throw new InvalidCursorError();
    const ws = p(c.ws);
    outer.push(
      `(window_start < ${ws}::timestamptz OR (window_start = ${ws}::timestamptz AND (asset, model_version) > (${p(c.asset)}, ${p(c.mv)})))`,
    );
  }
  const r = await db.query<Record<string, unknown>>(
    `
    SELECT * FROM ${latest} latest
     ${outer.length ? `WHERE ${outer.join(' AND ')}` : ''}
     ORDER BY window_start DESC, asset, model_version
     LIMIT ${p(q.limit + 1)}`,
    params,
  );
  const more = r.rows.length > q.limit;
  const rows = r.rows.slice(0, q.limit).map((x) => ({
    plant: x.plant as string,
    asset: x.asset as string,
    windowStart: isoOf(x.window_start)!,
    windowEnd: isoOf(x.window_end)!,
    revision: x.revision as number,
    modelVersion: x.model_version as string,
    status: x.status as string,
    score: x.score as number | null,
    contributions: x.contributions as Record<string, number>,
    quality: x.quality as Record<string, number>,
    imageTs: isoOf(x.image_ts),
    noteCount: x.note_count as number,
    ...(x.explanation ? { explanation: x.explanation as Record<string, unknown> } : {}),
  }));
  const last = rows[rows.length - 1];
  return {
    rows,
    nextCursor:
      more && last ? encodeCursor({ ws: last.windowStart, asset: last.asset, mv: last.modelVersion }) : null,
  };
}

export interface AnomalyBucket {
  bucketStart: string;
  plant: string;
  asset: string;
  windows: number;
  maxScore: number | null;
  meanScore: number | null;
  aboveThreshold: number;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const bucketMs = (bucket: string) => {
  const m = /^(\d+)([smhd])$/.exec(bucket)!;
  return Number(m[1]) * UNIT_MS[m[2]];
};
const ROLLUPS = [
  { table: 'score_rollup_1h', ms: 3_600_000 },
  { table: 'score_rollup_1m', ms: 60_000 },
];
const ORIGIN = `TIMESTAMPTZ '2000-01-01 00:00:00+00'`;

/**
 * Anomaly history in buckets per asset (latest revisions, scored windows): max and mean score and the
 * windows at or above the threshold. Whole roll-up cells inside [from, to) come from the hour or minute
 * roll-up (the coarsest that divides the bucket), the ragged edges from the score rows, so the answer
 * equals a scan of the scores. Roll-ups count windows above the threshold they were built with; another
 * threshold reads the scores.
 */
export async function queryAnomalyBuckets(
  db: Queryable,
  q: HistoryQuery & { bucket: string },
  threshold: number,
  rollupThreshold?: number,
): Promise<AnomalyBucket[]> {
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const size = bucketMs(q.bucket);
  let intervalParam: string | null = null;
  const interval = () => (intervalParam ??= p(`${size / 1000} seconds`));
  let thrParam: string | null = null;
  const thr = () => (thrParam ??= p(threshold));
  const raw = (range: { from?: string; to?: string }) => `
    SELECT date_bin(${interval()}::interval, window_start, ${ORIGIN}) AS bucket, plant, asset, count(*)::int AS windows,
           coalesce(sum(score), 0) AS sum_score, max(score) AS max_score, count(*) FILTER (WHERE score >= ${thr()})::int AS above
      FROM ${latestWindows(q, p, range)} latest WHERE status = 'scored' GROUP BY 1, plant, asset`;
  const level = rollupThreshold === threshold ? ROLLUPS.find((r) => size % r.ms === 0) : undefined;
  const fromMs = q.from ? Date.parse(q.from) : null,
    toMs = q.to ? Date.parse(q.to) : null;
  const parts: string[] = [];
  if (!level) parts.push(raw(q));
  else {
    const a = fromMs === null ? null : Math.ceil(fromMs / level.ms) * level.ms;
    const b = toMs === null ? null : Math.floor(toMs / level.ms) * level.ms;
    const iso = (t: number) => new Date(t).toISOString();
    if (a !== null && b !== null && a >= b) parts.push(raw(q));
    else {
      if (a !== null && a > fromMs!) parts.push(raw({ from: q.from, to: iso(a) }));
      if (b !== null && b < toMs!) parts.push(raw({ from: iso(b), to: q.to }));
      const where = scopeFilters(q, p);
      if (a !== null) where.push(`bucket >= ${p(iso(a))}::timestamptz`);
      if (b !== null) where.push(`bucket < ${p(iso(b))}::timestamptz`);
      const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
      // Hour buckets over whole days: the packed day roll-up (a row per asset and day).
      if (parts.length === 0 && size === HOUR && level.ms === HOUR) {
        const dA = a === null ? null : Math.ceil(a / DAY) * DAY,
          dB = b === null ? null : Math.floor(b / DAY) * DAY;
        if (dA === null || dB === null || dA < dB) return packedHours(db, q, { a, b, dA, dB });
      }
      // Buckets of exactly the roll-up's size with no ragged edges: the roll-up rows are the answer.
      if (parts.length === 0 && size === level.ms) {
        return rowsOf(
          await db.query<Record<string, unknown>>(
            `
          SELECT ${ROLLUP_CELLS}
            FROM ${level.table} ${filter}
           ORDER BY bucket DESC, asset
           LIMIT ${p(q.limit)}`,
            params,
          ),
        );
      }
      parts.push(`
        SELECT date_bin(${interval()}::interval, bucket, ${ORIGIN}) AS bucket, plant, asset, sum(windows)::int AS windows,
               sum(sum_score) AS sum_score, max(max_score) AS max_score, sum(above)::int AS above
          FROM ${level.table} ${filter} GROUP BY 1, plant, asset`);
    }
  }
  return rowsOf(
    await db.query<Record<string, unknown>>(
      `
    SELECT (extract(epoch FROM bucket) * 1000)::float8 AS bucket_ms, plant, asset, sum(windows)::int AS windows, max(max_score) AS max_score,
           sum(sum_score) / nullif(sum(windows), 0) AS mean_score, sum(above)::int AS above
      FROM (${parts.join(' UNION ALL ')}) parts
     GROUP BY bucket, plant, asset
     ORDER BY bucket DESC, asset
     LIMIT ${p(q.limit)}`,
      params,
    ),
  );
}

const HOUR = 3_600_000,
  DAY = 86_400_000;
/** A roll-up cell as a bucket row (what rowsOf reads). */
const ROLLUP_CELLS =
  '(extract(epoch FROM bucket) * 1000)::float8 AS bucket_ms, plant, asset, windows, max_score, sum_score / nullif(windows, 0) AS mean_score, above';

/**
 * Hour buckets, newest first, from the packed day roll-up for the whole days of [a, b) and the hour
 * roll-up for the partial days at either end. The same rows, in the same order, as the hour roll-up alone.
 */
async function packedHours(
  db: Queryable,
  q: HistoryQuery,
  r: { a: number | null; b: number | null; dA: number | null; dB: number | null },
): Promise<AnomalyBucket[]> {
  const iso = (t: number) => new Date(t).toISOString();
  const hours = async (from: number | null, to: number | null, limit: number): Promise<AnomalyBucket[]> => {
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const w = scopeFilters(q, p);
    if (from !== null) w.push(`bucket >= ${p(iso(from))}::timestamptz`);
    if (to !== null) w.push(`bucket < ${p(iso(to))}::timestamptz`);
    return rowsOf(
      await db.query<Record<string, unknown>>(
        `
      SELECT ${ROLLUP_CELLS}
        FROM score_rollup_1h ${w.length ? `WHERE ${w.join(' AND ')}` : ''} ORDER BY bucket DESC, asset LIMIT ${p(limit)}`,
        params,
      ),
    );
  };
  const out: AnomalyBucket[] = [];
  // Newest first: the partial day after the whole days, the whole days, the partial day before them.
  if (r.dB !== null && r.b !== null && r.dB < r.b) out.push(...(await hours(r.dB, r.b, q.limit)));
  if (out.length < q.limit) {
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const w = scopeFilters(q, p);
    if (r.dA !== null) w.push(`day >= ${p(iso(r.dA))}::timestamptz`);
    if (r.dB !== null) w.push(`day < ${p(iso(r.dB))}::timestamptz`);
    const rows = (
      await db.query<{ day: Date; plant: string; asset: string; cells: Buffer }>(
        `SELECT day, plant, asset, cells FROM score_rollup_day ${w.length ? `WHERE ${w.join(' AND ')}` : ''} ORDER BY day DESC, asset`,
        params,
      )
    ).rows;
    const isoMs = cachedIso();
    for (let i = 0; i < rows.length && out.length < q.limit;) {
      // One day: every asset's cells, then newest hour first and assets in the database's order.
      const day = new Date(rows[i].day).getTime();
      const cells: Array<{ t: number; rank: number; b: AnomalyBucket }> = [];
      for (let rank = 0; i < rows.length && new Date(rows[i].day).getTime() === day; i++, rank++) {
        const x = rows[i];
        const c = Buffer.isBuffer(x.cells) ? x.cells : Buffer.from(x.cells as Uint8Array);
        for (let o = 0; o + 40 <= c.length; o += 40) {
          const t = c.readDoubleBE(o),
            windows = c.readDoubleBE(o + 8),
            sum = c.readDoubleBE(o + 16),
            max = c.readDoubleBE(o + 24);
          cells.push({
            t,
            rank,
            b: {
              bucketStart: isoMs(t),
              plant: x.plant,
              asset: x.asset,
              windows,
              maxScore: Number.isNaN(max) ? null : max,
              meanScore: windows ? Math.round((sum / windows) * 1e6) / 1e6 : null,
              aboveThreshold: c.readDoubleBE(o + 32),
            },
          });
        }
      }
      cells.sort((u, v) => v.t - u.t || u.rank - v.rank);
      for (const c of cells) {
        if (out.length >= q.limit) break;
        out.push(c.b);
      }
    }
  }
  if (out.length < q.limit && r.dA !== null && r.a !== null && r.a < r.dA)
    out.push(...(await hours(r.a, r.dA, q.limit - out.length)));
  return out;
}

/** ISO text of epoch ms, each distinct time formatted once: a plant-wide answer repeats each bucket start for every asset. */
function cachedIso(): (ms: number) => string {
  const cache = new Map<number, string>();
  return (ms) => {
    let s = cache.get(ms);
    if (s === undefined) {
      s = new Date(ms).toISOString();
      cache.set(ms, s);
    }
    return s;
  };
}

/** Bucket rows as the API gives them (the bucket start comes as epoch ms: no date parsing per row). */
function rowsOf(r: { rows: Array<Record<string, unknown>> }): AnomalyBucket[] {
  const isoMs = cachedIso();
  const out = new Array<AnomalyBucket>(r.rows.length);
  for (let i = 0; i < r.rows.length; i++) {
    const x = r.rows[i];
    out[i] = {
      bucketStart: isoMs(Number(x.bucket_ms)),
      plant: x.plant as string,
      asset: x.asset as string,
      windows: x.windows as number,
      maxScore: x.max_score as number | null,
      meanScore: x.mean_score === null ? null : Math.round((x.mean_score as number) * 1e6) / 1e6,
      aboveThreshold: x.above as number,
    };
  }
  return out;
}

export async function loadCheckpoint(db: Queryable, partitionKey: string): Promise<unknown | null> {
  const r = await db.query<{ state: unknown }>(
    'SELECT state FROM align_checkpoints WHERE partition_key = $1',
    [partitionKey],
  );
  return r.rows[0]?.state ?? null;
}

/** The partition's per-asset checkpoint rows (asset → part → its state, parsed). */
export async function loadAssetCheckpoints(
  db: Queryable,
  partitionKey: string,
): Promise<Map<string, Record<string, unknown>>> {
  const r = await db.query<{ asset: string; part: string; state: string }>(
    'SELECT asset, part, state FROM asset_checkpoints WHERE partition_key = $1',
    [partitionKey],
  );
  const out = new Map<string, Record<string, unknown>>();
  for (const x of r.rows) {
    let a = out.get(x.asset);
    if (!a) out.set(x.asset, (a = {}));
    a[x.part] = JSON.parse(x.state) as unknown;
  }
  return out;
}

/** The latest window end stored for any asset (the embedded simulator resumes after it). */
export async function latestWindowEnd(db: Queryable): Promise<number | null> {
  const r = await db.query<{ t: Date | null }>('SELECT max(window_end) AS t FROM scores');
  return r.rows[0]?.t ? new Date(r.rows[0].t).getTime() : null;
}

/** Claims due outbox rows with a lease, so a crashed sender's rows come back and two senders never share one. */
export async function countRows(
  db: Queryable,
  table:
    | 'scores'
    | 'alerts'
    | 'readings'
    | 'late_records'
    | 'dead_letters'
    | 'webhook_outbox'
    | 'webhook_attempts'
    | 'alert_events',
): Promise<number> {
  const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return r.rows[0].n;
}

/** The most a timeline answer holds of each list; past it, `truncated` says where the next page starts. */
export const TIMELINE_MAX_ROWS = 5_000;

export interface Timeline {
  asset: string;
  from: string;
  to: string;
  resolutionMs: number;
  /** Lists cut at TIMELINE_MAX_ROWS: the time the next page starts at (ask again with `from` = it). */
  truncated: { scores?: string; notes?: string; frames?: string };
  /** Per channel: bucket start and the mean, min and max of the samples in it. */
  readings: Record<string, Array<{ t: string; mean: number; min: number; max: number; n: number }>>;
  scores: Array<{
    windowStart: string;
    windowEnd: string;
    revision: number;
    status: string;
    score: number | null;
    contributions: Record<string, number>;
    modelVersion: string;
  }>;
  notes: Array<{ ts: string; author: string; text: string }>;
  /** Each frame with its PNG thumbnail's path (thermal matrices and encoded images). */
  frames: Array<{
    ts: string;
    camera: string;
    kind: string;
    maxC: number | null;
    meanC: number | null;
    thumbnail: string;
  }>;
  alerts: Array<{
    id: string;
    rule: string;
    state: string;
    severity: string;
    openedWindow: string;
    resolvedWindow: string | null;
  }>;
}

/** One asset over [from, to): readings downsampled to `resolutionMs`, scores, notes, frames and alerts. */
export async function queryTimeline(
  db: Queryable,
  asset: string,
  from: number,
  to: number,
  resolutionMs: number,
): Promise<Timeline> {
  const f = new Date(from).toISOString(),
    t = new Date(to).toISOString();
  const readings = await db.query<{
    channel: string;
    b: Date;
    mean: number;
    min: number;
    max: number;
    n: number;
  }>(
    `
    SELECT channel, date_bin($4::bigint * interval '1 millisecond', ts, 'epoch'::timestamptz) AS b,
           avg(v)::float8 AS mean, min(v)::float8 AS min, max(v)::float8 AS max, count(*)::int AS n
      FROM (SELECT r.channel, r.window_start + u.o * interval '1 millisecond' AS ts, u.v
              FROM readings r, unnest(r.t_offset_ms, r.v) AS u(o, v)
             WHERE r.asset = $1 AND r.window_start >= $2::timestamptz - interval '1 day' AND r.window_start < $3::timestamptz) x
     WHERE ts >= $2::timestamptz AND ts < $3::timestamptz
     GROUP BY channel, b ORDER BY channel, b`,
    [asset, f, t, resolutionMs],
  );
  const out: Timeline['readings'] = {};
  for (const r of readings.rows)
    (out[r.channel] ??= []).push({
      t: new Date(r.b).toISOString(),
      mean: r.mean,
      min: r.min,
      max: r.max,
      n: r.n,
    });
  const scores = await db.query<{
    window_start: Date;
    window_end: Date;
    revision: number;
    status: string;
    score: number | null;
    contributions: Record<string, number>;
    model_version: string;
  }>(
    `
    SELECT DISTINCT ON (window_start, model_version) window_start, window_end, revision, status, score, contributions, model_version
      FROM scores WHERE asset = $1 AND window_start >= $2::timestamptz AND window_start < $3::timestamptz
     ORDER BY window_start, model_version, revision DESC LIMIT ${TIMELINE_MAX_ROWS + 1}`,
    [asset, f, t],
  );
  const notes = await db.query<{ ts: Date; author: string; text: string }>(
    `SELECT ts, author, text FROM notes WHERE asset = $1 AND ts >= $2::timestamptz AND ts < $3::timestamptz ORDER BY ts LIMIT ${TIMELINE_MAX_ROWS + 1}`,
    [asset, f, t],
  );
  const frames = await db.query<{
    ts: Date;
    camera: string;
    kind: string;
    maxc: number | null;
    meanc: number | null;
  }>(
    `
    SELECT ts, camera, kind, (SELECT max(x) FROM unnest(data) x)::float8 AS maxc, (SELECT avg(x) FROM unnest(data) x)::float8 AS meanc
      FROM images WHERE asset = $1 AND ts >= $2::timestamptz AND ts < $3::timestamptz ORDER BY ts LIMIT ${TIMELINE_MAX_ROWS + 1}`,
    [asset, f, t],
  );
  const alerts = await db.query<{
    id: string;
    rule: string;
    state: string;
    severity: string;
    opened_window: Date;
    resolved_window: Date | null;
  }>(
    `
    SELECT id, rule, state, severity, opened_window, resolved_window FROM alerts
     WHERE asset = $1 AND opened_window < $3::timestamptz AND (resolved_window IS NULL OR resolved_window >= $2::timestamptz) ORDER BY opened_window`,
    [asset, f, t],
  );
  const iso = (d: Date) => new Date(d).toISOString();
  // A list past the cap: its first row left out is where the next page starts.
  const truncated: Timeline['truncated'] = {};
  const cut = <R>(rows: R[], at: (r: R) => Date, name: keyof Timeline['truncated']): R[] => {
    if (rows.length <= TIMELINE_MAX_ROWS) return rows;
    truncated[name] = iso(at(rows[TIMELINE_MAX_ROWS]));
    return rows.slice(0, TIMELINE_MAX_ROWS);
  };
  scores.rows = cut(scores.rows, (r) => r.window_start, 'scores');
  notes.rows = cut(notes.rows, (r) => r.ts, 'notes');
  frames.rows = cut(frames.rows, (r) => r.ts, 'frames');
  return {
    asset,
    from: f,
    to: t,
    resolutionMs,
    truncated,
    readings: out,
    scores: scores.rows.map((s) => ({
      windowStart: iso(s.window_start),
      windowEnd: iso(s.window_end),
      revision: s.revision,
      status: s.status,
      score: s.score,
      contributions: s.contributions,
      modelVersion: s.model_version,
    })),
    notes: notes.rows.map((n) => ({ ts: iso(n.ts), author: n.author, text: n.text })),
    frames: frames.rows.map((x) => ({
      ts: iso(x.ts),
      camera: x.camera,
      kind: x.kind,
      maxC: x.maxc,
      meanC: x.meanc,
      thumbnail: `/v1/assets/${encodeURIComponent(asset)}/frame.png?camera=${encodeURIComponent(x.camera)}&ts=${encodeURIComponent(iso(x.ts))}`,
    })),
    alerts: alerts.rows.map((a) => ({
      id: a.id,
      rule: a.rule,
      state: a.state,
      severity: a.severity,
      openedWindow: iso(a.opened_window),
      resolvedWindow: a.resolved_window ? iso(a.resolved_window) : null,
    })),
  };
}

/** The latest revision of every stored window (every model version), by asset and window start. */
export async function latestRevisions(db: Queryable): Promise<
  Array<{
    asset: string;
    modelVersion: string;
    windowStart: number;
    windowEnd: number;
    status: string;
    score: number | null;
    contributions: Record<string, number>;
  }>
> {
  const r = await db.query<{
    asset: string;
    model_version: string;
    ws: number;
    we: number;
    status: string;
    score: number | null;
    contributions: Record<string, number>;
  }>(`
    SELECT DISTINCT ON (asset, window_start, model_version) asset, model_version, (extract(epoch FROM window_start) * 1000)::float8 AS ws,
           (extract(epoch FROM window_end) * 1000)::float8 AS we, status, score, contributions
      FROM scores ORDER BY asset, window_start, model_version, revision DESC`);
  return r.rows.map((x) => ({
    asset: x.asset,
    modelVersion: x.model_version,
    windowStart: x.ws,
    windowEnd: x.we,
    status: x.status,
    score: x.score,
    contributions: x.contributions,
  }));
}
