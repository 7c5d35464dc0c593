/**
 * Maintenance windows: an asset and a time range in which its alert rules do not see its windows (the
 * windows are scored and stored as ever, flagged with the window's id). Made through the API; ended
 * early by moving the end to now; never deleted.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from './db.js';

export interface MaintenanceWindow {
  id: string;
  plant: string;
  asset: string;
  /** Event time, ms. */
  from: number;
  to: number;
  reason: string;
  createdBy: string;
  createdAt: string;
}

interface Row {
  id: string;
  plant: string;
  asset: string;
  from_ms: number;
  to_ms: number;
  reason: string;
  created_by: string;
  created_at: Date;
}
const COLUMNS = `id, plant, asset, (extract(epoch FROM starts_at) * 1000)::float8 AS from_ms, (extract(epoch FROM ends_at) * 1000)::float8 AS to_ms, reason, created_by, created_at`;
const toWindow = (r: Row): MaintenanceWindow => ({
  id: r.id,
  plant: r.plant,
  asset: r.asset,
  from: Number(r.from_ms),
  to: Number(r.to_ms),
  reason: r.reason,
  createdBy: r.created_by,
  createdAt: new Date(r.created_at).toISOString(),
});

export async function createMaintenance(
  db: Queryable,
  m: {
    plant: string;
    asset: string;
    from: number;
    to: number;
    reason: string;
    by: string;
    keyId: string | null;
  },
): Promise<MaintenanceWindow> {
  const r = await db.query<Row>(
    `
    INSERT INTO maintenance_windows (id, plant, asset, starts_at, ends_at, reason, created_by, key_id)
    VALUES ($1, $2, $3, to_timestamp($4 / 1000.0), to_timestamp($5 / 1000.0), $6, $7, $8) RETURNING ${COLUMNS}`,
    [`mw_${randomUUID()}`, m.plant, m.asset, m.from, m.to, m.reason, m.by, m.keyId],
  );
  return toWindow(r.rows[0]);
}

/** Windows that end after `endsAfter` (ms; default all), of some plants and an asset, newest start first. */
export async function listMaintenance(
  db: Queryable,
  o: { asset?: string; plants?: string[]; endsAfter?: number } = {},
): Promise<MaintenanceWindow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (o.asset) {
    params.push(o.asset);
    where.push(`asset = $${params.length}`);
  }
  if (o.plants) {
    params.push(o.plants);
    where.push(`plant = ANY($${params.length})`);
  }
  if (o.endsAfter !== undefined) {
    params.push(o.endsAfter);
    where.push(`ends_at > to_timestamp($${params.length} / 1000.0)`);
  }
  const r = await db.query<Row>(
    `SELECT ${COLUMNS} FROM maintenance_windows ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY starts_at DESC, id`,
    params,
  );
  return r.rows.map(toWindow);
}

export async function getMaintenance(db: Queryable, id: string): Promise<MaintenanceWindow | null> {
  const r = await db.query<Row>(`SELECT ${COLUMNS} FROM maintenance_windows WHERE id = $1`, [id]);
  return r.rows[0] ? toWindow(r.rows[0]) : null;
}

/** Ends a window at `at` (ms) if it would end later; one not begun by then ends where it starts. */
export async function endMaintenance(
  db: Queryable,
  id: string,
  at: number,
): Promise<MaintenanceWindow | null> {
  const r = await db.query<Row>(
    `
    UPDATE maintenance_windows SET ends_at = greatest(starts_at, least(ends_at, to_timestamp($2 / 1000.0)))
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, at],
  );
  return r.rows[0] ? toWindow(r.rows[0]) : null;
}

/** The maintenance window of `asset` that overlaps [start, end), if any (the latest made). */
export function maintenanceOf(
  windows: readonly MaintenanceWindow[],
  plant: string,
  asset: string,
  start: number,
  end: number,
): MaintenanceWindow | null {
  let found: MaintenanceWindow | null = null;
  for (const w of windows) {
    if (
      w.asset === asset &&
      w.plant === plant &&
      start < w.to &&
      end > w.from &&
      (!found || w.createdAt > found.createdAt)
    )
      found = w;
  }
  return found;
}
