/** Plants and assets as the service has seen them: the catalogue the batch writer keeps, with open alerts. */
import type { StoredFrameRow } from '../ingest/frames.js';
import type { Queryable } from './db.js';

export interface AssetSummary {
  plant: string;
  asset: string;
  firstWindow: string;
  lastWindow: string;
  status: string;
  score: number | null;
  model: string;
  contributions: Record<string, number>;
  openAlerts: number;
  worstSeverity: string | null;
}
export interface PlantSummary {
  plant: string;
  assets: number;
  lastWindow: string;
  anomalous: number;
  openAlerts: number;
}

const iso = (d: unknown) => new Date(d as string).toISOString();

export async function listPlants(
  db: Queryable,
  o: { plants?: string[]; threshold: number },
): Promise<PlantSummary[]> {
  const r = await db.query<{ plant: string; assets: number; last: Date; anomalous: number; open: number }>(
    `
    SELECT a.plant, count(*)::int AS assets, max(a.last_window) AS last,
           count(*) FILTER (WHERE a.last_score >= $1)::int AS anomalous,
           coalesce(sum(o.n), 0)::int AS open
      FROM assets a LEFT JOIN (SELECT asset, count(*) AS n FROM alerts WHERE state <> 'resolved' GROUP BY asset) o ON o.asset = a.asset
     ${o.plants?.length ? 'WHERE a.plant = ANY($2::text[])' : ''}
     GROUP BY a.plant ORDER BY a.plant`,
    o.plants?.length ? [o.threshold, o.plants] : [o.threshold],
  );
  return r.rows.map((x) => ({
    plant: x.plant,
    assets: x.assets,
    lastWindow: iso(x.last),
    anomalous: x.anomalous,
    openAlerts: x.open,
  }));
}

export async function listAssets(
  db: Queryable,
  o: { plant?: string; plants?: string[]; asset?: string; limit: number; cursor?: string },
): Promise<{ assets: AssetSummary[]; nextCursor: string | null }> {
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (o.plant) where.push(`a.plant = ${p(o.plant)}`);
  if (o.plants?.length) where.push(`a.plant = ANY(${p(o.plants)}::text[])`);
  if (o.asset) where.push(`a.asset = ${p(o.asset)}`);
  if (o.cursor) where.push(`a.asset > ${p(Buffer.from(o.cursor, 'base64url').toString('utf8'))}`);
  const r = await db.query<Record<string, unknown>>(
    `
    SELECT a.*, coalesce(o.n, 0)::int AS open_alerts, o.worst
      FROM assets a LEFT JOIN (
        SELECT asset, count(*) AS n, (array_agg(severity ORDER BY CASE severity WHEN 'critical' THEN 2 WHEN 'major' THEN 1 ELSE 0 END DESC))[1] AS worst
          FROM alerts WHERE state <> 'resolved' GROUP BY asset) o ON o.asset = a.asset
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY a.asset LIMIT ${p(o.limit + 1)}`,
    params,
  );
  const rows = r.rows.slice(0, o.limit).map((x): AssetSummary => ({
    plant: x.plant as string,
    asset: x.asset as string,
    firstWindow: iso(x.first_window),
    lastWindow: iso(x.last_window),
    status: x.last_status as string,
    score: x.last_score as number | null,
    model: x.last_model as string,
    contributions: x.contributions as Record<string, number>,
    openAlerts: x.open_alerts as number,
    worstSeverity: (x.worst as string | null) ?? null,
  }));
  const more = r.rows.length > o.limit;
  return {
    assets: rows,
    nextCursor: more ? Buffer.from(rows[rows.length - 1].asset).toString('base64url') : null,
  };
}

/** The plant an asset belongs to (null: never seen). */
export async function plantOfAsset(db: Queryable, asset: string): Promise<string | null> {
  // The owner (claimed when the asset's first record was read), else where its scores and alerts are.
  const r = await db.query<{ plant: string }>(
    `
    SELECT plant FROM asset_owners WHERE asset = $1
    UNION ALL (SELECT plant FROM assets WHERE asset = $1)
    UNION ALL (SELECT plant FROM alerts WHERE asset = $1 LIMIT 1) LIMIT 1`,
    [asset],
  );
  return r.rows[0]?.plant ?? null;
}

/**
 * The plant that owns the asset id: the given plant when the id is new (it is claimed for it, atomically
 * across instances), else the plant that claimed it first.
 */
export async function claimAsset(db: Queryable, plant: string, asset: string): Promise<string> {
  const r = await db.query<{ plant: string }>(
    `
    WITH ins AS (INSERT INTO asset_owners (asset, plant) VALUES ($1, $2) ON CONFLICT (asset) DO NOTHING RETURNING plant)
    SELECT plant FROM ins UNION ALL SELECT plant FROM asset_owners WHERE asset = $1`,
    [asset, plant],
  );
  if (r.rows[0]) return r.rows[0].plant;
  // Another instance claimed it after this statement's snapshot was taken (the insert saw its row, the
  // select did not): a new statement sees it.
  const again = await db.query<{ plant: string }>('SELECT plant FROM asset_owners WHERE asset = $1', [asset]);
  return again.rows[0].plant;
}

/** The ids of a plant's assets (every one claimed so far, by any instance). */
export async function plantAssets(db: Queryable, plant: string): Promise<string[]> {
  const r = await db.query<{ asset: string }>('SELECT asset FROM asset_owners WHERE plant = $1', [plant]);
  return r.rows.map((x) => x.asset);
}

/** A stored camera frame (a thermal matrix, an encoded image, or a reference only). */
export interface StoredFrame extends StoredFrameRow {
  ts: Date;
  uri: string | null;
}

/** An asset's latest frame (of one camera, or at one time, when given); null when there is none. */
export async function latestFrame(
  db: Queryable,
  asset: string,
  o: { camera?: string; ts?: string } = {},
): Promise<StoredFrame | null> {
  const params: unknown[] = [asset];
  let where = 'asset = $1';
  if (o.camera) {
    params.push(o.camera);
    where += ` AND camera = $${params.length}`;
  }
  if (o.ts) {
    params.push(o.ts);
    where += ` AND ts = $${params.length}::timestamptz`;
  }
  const r = await db.query<StoredFrame>(
    `SELECT ts, kind, width, height, unit, data, encoding, base64, coding, uri FROM images WHERE ${where} ORDER BY ts DESC LIMIT 1`,
    params,
  );
  return r.rows[0] ?? null;
}

/** The database's clock (epoch ms): stamps compared with rows' stamps are read from the same clock. */
export async function databaseNow(db: Queryable): Promise<number> {
  return new Date((await db.query<{ t: Date }>('SELECT now() AS t')).rows[0].t).getTime();
}

export interface AssetChange {
  plant: string;
  asset: string;
  last_window: Date;
  last_status: string;
  last_score: number | null;
  last_model: string;
  contributions: Record<string, number>;
  updated_at: Date;
}
export interface AlertEventChange {
  event_id: string;
  alert_id: string;
  type: string;
  at: Date;
  by: string;
  comment: string | null;
  data: Record<string, unknown>;
  plant: string;
  asset: string;
  recorded_at: Date;
}

/** What changed since `since` (ISO): catalogue rows of assets with a new latest score, and alert events, in the order they were stamped. */
export async function changesSince(
  db: Queryable,
  since: string,
): Promise<{ assets: AssetChange[]; events: AlertEventChange[] }> {
  const assets = await db.query<AssetChange>(
    'SELECT plant, asset, last_window, last_status, last_score, last_model, contributions, updated_at FROM assets WHERE updated_at >= $1 ORDER BY updated_at',
    [since],
  );
  const events = await db.query<AlertEventChange>(
    `
    SELECT e.event_id, e.alert_id, e.type, e.at, e.by, e.comment, e.data, a.plant, a.asset, e.recorded_at
      FROM alert_events e JOIN alerts a ON a.id = e.alert_id WHERE e.recorded_at >= $1 ORDER BY e.recorded_at, e.event_id`,
    [since],
  );
  return { assets: assets.rows, events: events.rows };
}
