/**
 * The model registry: every model version with its kind, parameters, training window, metrics and a short
 * card; one is active (its scores drive alerts and are the history's default), others run in shadow
 * (scored and stored, never alerting) or are retired. Activations are logged, so a roll-back returns to
 * the model active before the current one.
 */
import { TributaryError } from '../schemas/errors.js';
import { operatingThreshold } from '../schemas/index.js';
import type { Db, Queryable } from './db.js';

export type ModelState = 'active' | 'shadow' | 'retired';
export interface ModelInfo {
  version: string;
  kind: string;
  state: ModelState;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  card: string;
  /** The score its windows count as anomalous at (schemas/threshold.ts); null: the alert threshold. */
  threshold: number | null;
  trainedFrom: string | null;
  trainedTo: string | null;
  createdAt: string;
  activatedAt: string | null;
}
export interface ModelRegistration {
  version: string;
  kind: string;
  params?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  card?: string;
  trainedFrom?: number | null;
  trainedTo?: number | null;
  state?: 'shadow' | 'retired';
}

export class ModelStateError extends TributaryError {
  constructor(message: string, status: 404 | 409) {
    super(status === 404 ? 'not_found' : 'conflict', message);
  }
}

interface ModelRow {
  version: string;
  kind: string;
  state: ModelState;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  card: string;
  threshold: number | null;
  trained_from: Date | null;
  trained_to: Date | null;
  created_at: Date;
  activated_at: Date | null;
}
const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
const modelOf = (r: ModelRow): ModelInfo => ({
  version: r.version,
  kind: r.kind,
  state: r.state,
  params: r.params,
  metrics: r.metrics,
  card: r.card,
  threshold: r.threshold,
  trainedFrom: iso(r.trained_from),
  trainedTo: iso(r.trained_to),
  createdAt: iso(r.created_at)!,
  activatedAt: iso(r.activated_at),
});

/** Adds a model (nothing if the version exists); the first model registered becomes active. */
export async function registerModel(db: Db, m: ModelRegistration, by = 'system'): Promise<ModelInfo> {
  return db.transaction(async (tx) => {
    const inserted = await tx.query<ModelRow>(
      `
      INSERT INTO models (version, kind, state, params, metrics, card, trained_from, trained_to, threshold)
      VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7::timestamptz, $8::timestamptz, $9) ON CONFLICT (version) DO NOTHING RETURNING *`,
      [
        m.version,
        m.kind,
        m.state ?? 'shadow',
        JSON.stringify(m.params ?? {}),
        JSON.stringify(m.metrics ?? {}),
        m.card ?? '',
        m.trainedFrom == null ? null : new Date(m.trainedFrom).toISOString(),
        m.trainedTo == null ? null : new Date(m.trainedTo).toISOString(),
        m.kind === 'fusion' ? operatingThreshold(m.params ?? {}) : null,
      ],
    );
    if (inserted.rows.length)
      await tx.query(`INSERT INTO model_activations (version, action, by) VALUES ($1, 'register', $2)`, [
        m.version,
        by,
      ]);
    const active = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM models WHERE state = 'active'`,
    );
    if (active.rows[0].n === 0) await setActive(tx, m.version, null, 'activate', by);
    return modelOf(
      (await tx.query<ModelRow>('SELECT * FROM models WHERE version = $1', [m.version])).rows[0],
    );
  });
}

async function setActive(
  tx: Queryable,
  version: string,
  previous: string | null,
  action: 'activate' | 'rollback',
  by: string,
): Promise<void> {
  if (previous) await tx.query(`UPDATE models SET state = 'shadow' WHERE version = $1`, [previous]);
  await tx.query(`UPDATE models SET state = 'active', activated_at = now() WHERE version = $1`, [version]);
  await tx.query('INSERT INTO model_activations (version, previous, action, by) VALUES ($1, $2, $3, $4)', [
    version,
    previous,
    action,
    by,
  ]);
}

export async function listModels(db: Queryable): Promise<ModelInfo[]> {
  return (
    await db.query<ModelRow>(
      `SELECT * FROM models ORDER BY (state = 'active') DESC, created_at DESC, version`,
    )
  ).rows.map(modelOf);
}

/**
 * Every model's version, kind and state for the service's periodic registry read: parameters only for
 * kinds other than `fusion` (a fusion model's are its weights, read once with getModel when first seen).
 */
export async function modelStates(
  db: Queryable,
): Promise<Array<Pick<ModelInfo, 'version' | 'kind' | 'state' | 'params'>>> {
  return (
    await db.query<Pick<ModelInfo, 'version' | 'kind' | 'state' | 'params'>>(
      `SELECT version, kind, state, CASE WHEN kind = 'fusion' THEN '{}'::jsonb ELSE params END AS params FROM models ORDER BY (state = 'active') DESC, created_at DESC, version`,
    )
  ).rows;
}

export async function getModel(db: Queryable, version: string): Promise<ModelInfo | null> {
  const r = await db.query<ModelRow>('SELECT * FROM models WHERE version = $1', [version]);
  return r.rows[0] ? modelOf(r.rows[0]) : null;
}

/** Makes `version` the active model; the one it replaces goes to shadow. */
export async function activateModel(db: Db, version: string, by: string): Promise<ModelInfo> {
  return db.transaction(async (tx) => {
    const target = (await tx.query<ModelRow>('SELECT * FROM models WHERE version = $1 FOR UPDATE', [version]))
      .rows[0];
    if (!target) throw new ModelStateError(`model ${version} not found`, 404);
    if (target.state === 'active') throw new ModelStateError(`model ${version} is already active`, 409);
    const cur =
      (await tx.query<{ version: string }>(`SELECT version FROM models WHERE state = 'active' FOR UPDATE`))
        .rows[0]?.version ?? null;
    await setActive(tx, version, cur, 'activate', by);
    return modelOf((await tx.query<ModelRow>('SELECT * FROM models WHERE version = $1', [version])).rows[0]);
  });
}

/** Returns to the model that was active before the current one (409 when there is none). */
export async function rollbackModel(db: Db, by: string): Promise<ModelInfo> {
  return db.transaction(async (tx) => {
    const last = (
      await tx.query<{ version: string; previous: string | null }>(
        `SELECT version, previous FROM model_activations WHERE action IN ('activate', 'rollback') ORDER BY id DESC LIMIT 1`,
      )
    ).rows[0];
    if (!last?.previous) throw new ModelStateError('no earlier active model to roll back to', 409);
    const prev = (await tx.query<ModelRow>('SELECT * FROM models WHERE version = $1', [last.previous]))
      .rows[0];
    if (!prev || prev.state === 'retired')
      throw new ModelStateError(`the earlier model ${last.previous} is retired`, 409);
    await setActive(tx, last.previous, last.version, 'rollback', by);
    return modelOf(
      (await tx.query<ModelRow>('SELECT * FROM models WHERE version = $1', [last.previous])).rows[0],
    );
  });
}

export async function retireModel(db: Queryable, version: string): Promise<ModelInfo> {
  const cur = await getModel(db, version);
  if (!cur) throw new ModelStateError(`model ${version} not found`, 404);
  if (cur.state === 'active')
    throw new ModelStateError(`model ${version} is active: activate another first`, 409);
  await db.query(`UPDATE models SET state = 'retired' WHERE version = $1`, [version]);
  return { ...cur, state: 'retired' };
}

export async function modelActivations(
  db: Queryable,
  limit = 50,
): Promise<Array<{ version: string; previous: string | null; action: string; by: string; at: string }>> {
  const r = await db.query<{
    version: string;
    previous: string | null;
    action: string;
    by: string;
    at: Date;
  }>('SELECT version, previous, action, by, at FROM model_activations ORDER BY id DESC LIMIT $1', [limit]);
  return r.rows.map((x) => ({ ...x, at: iso(x.at)! }));
}

/** A version's operating threshold (null: the alert threshold, or no such version). */
export async function modelThreshold(db: Queryable, version: string): Promise<number | null> {
  return (
    (
      await db.query<{ threshold: number | null }>('SELECT threshold FROM models WHERE version = $1', [
        version,
      ])
    ).rows[0]?.threshold ?? null
  );
}

/**
 * What a model has done in service: windows scored and at or above its operating threshold (the roll-ups
 * count them above the threshold they were built with, `threshold`), alerts, operator feedback.
 */
export async function modelMetrics(
  db: Queryable,
  version: string,
): Promise<{
  windowsScored: number;
  windowsAbove: number;
  threshold: number | null;
  maxScore: number | null;
  firstWindow: string | null;
  lastWindow: string | null;
  alertsOpened: number;
  feedback: { truePositive: number; falsePositive: number; precision: number | null };
}> {
  const w = (
    await db.query<{
      w: number | null;
      a: number | null;
      t: number | null;
      mx: number | null;
      f: Date | null;
      l: Date | null;
    }>(
      'SELECT sum(windows)::int AS w, sum(above)::int AS a, max(threshold) AS t, max(max_score) AS mx, min(bucket) AS f, max(bucket) AS l FROM score_rollup_1h WHERE model_version = $1',
      [version],
    )
  ).rows[0];
  const a = (
    await db.query<{ n: number; tp: number; fp: number }>(
      `
    SELECT count(DISTINCT a.id)::int AS n,
           count(f.id) FILTER (WHERE f.label = 'true_positive')::int AS tp, count(f.id) FILTER (WHERE f.label = 'false_positive')::int AS fp
      FROM alerts a LEFT JOIN alert_feedback f ON f.alert_id = a.id WHERE a.model_version = $1`,
      [version],
    )
  ).rows[0];
  return {
    windowsScored: w.w ?? 0,
    windowsAbove: w.a ?? 0,
    threshold: w.t,
    maxScore: w.mx,
    firstWindow: iso(w.f),
    lastWindow: iso(w.l),
    alertsOpened: a.n,
    feedback: {
      truePositive: a.tp,
      falsePositive: a.fp,
      precision: a.tp + a.fp ? a.tp / (a.tp + a.fp) : null,
    },
  };
}

/** Stores input-drift figures of fusion models (one row per model, plant and time). */
export async function recordDrift(
  db: Queryable,
  at: number,
  rows: Array<{
    modelVersion: string;
    plant: string;
    windows: number;
    maxPsi: number;
    psi: Record<string, number>;
  }>,
): Promise<void> {
  if (!rows.length) return;
  await db.query(
    `
    INSERT INTO model_drift (model_version, plant, at, windows, max_psi, psi)
    SELECT model_version, plant, $2::timestamptz, windows, max_psi, psi FROM jsonb_to_recordset($1::jsonb)
        AS x(model_version text, plant text, windows int, max_psi float8, psi jsonb)
    ON CONFLICT DO NOTHING`,
    [
      JSON.stringify(
        rows.map((r) => ({
          model_version: r.modelVersion,
          plant: r.plant,
          windows: r.windows,
          max_psi: r.maxPsi,
          psi: r.psi,
        })),
      ),
      new Date(at).toISOString(),
    ],
  );
}

/** The latest input-drift figures of a model, per plant. */
export async function latestDrift(
  db: Queryable,
  version: string,
): Promise<
  Array<{ plant: string; at: string; windows: number; maxPsi: number; psi: Record<string, number> }>
> {
  const r = await db.query<{
    plant: string;
    at: Date;
    windows: number;
    max_psi: number;
    psi: Record<string, number>;
  }>(
    `
    SELECT DISTINCT ON (plant) plant, at, windows, max_psi, psi FROM model_drift WHERE model_version = $1 ORDER BY plant, at DESC`,
    [version],
  );
  return r.rows.map((x) => ({
    plant: x.plant,
    at: iso(x.at)!,
    windows: x.windows,
    maxPsi: x.max_psi,
    psi: x.psi,
  }));
}

/** A model's stored scores in [from, to) by plant and asset, in window order (scored windows only; a revised window's latest revision). */
export async function modelScoreSeries(
  db: Queryable,
  version: string,
  from: number,
  to: number,
  asset?: { plant: string; asset: string },
): Promise<Map<string, { t: number[]; s: number[] }>> {
  const r = await db.query<{ plant: string; asset: string; w: Date; score: number }>(
    `SELECT * FROM (
       SELECT DISTINCT ON (plant, asset, window_start) plant, asset, window_start AS w, score FROM scores
        WHERE model_version = $1 AND window_start >= $2 AND window_start < $3
          ${asset ? 'AND plant = $4 AND asset = $5' : ''}
        ORDER BY plant, asset, window_start, revision DESC) x
      WHERE score IS NOT NULL ORDER BY plant, asset, w`,
    [version, new Date(from), new Date(to), ...(asset ? [asset.plant, asset.asset] : [])],
  );
  const out = new Map<string, { t: number[]; s: number[] }>();
  for (const x of r.rows) {
    const key = `${x.plant}/${x.asset}`;
    const e = out.get(key) ?? out.set(key, { t: [], s: [] }).get(key)!;
    e.t.push(new Date(x.w).getTime());
    e.s.push(Number(x.score));
  }
  return out;
}

/** The plants and assets a model scored in [from, to). */
export async function modelAssets(
  db: Queryable,
  version: string,
  from: number,
  to: number,
): Promise<Array<{ plant: string; asset: string }>> {
  return (
    await db.query<{ plant: string; asset: string }>(
      'SELECT DISTINCT plant, asset FROM scores WHERE model_version = $1 AND window_start >= $2 AND window_start < $3 ORDER BY plant, asset',
      [version, new Date(from), new Date(to)],
    )
  ).rows;
}

/** Anomaly alerts opened in [from, to) that operators labelled (their latest label), with their windows. */
export async function labelledAlerts(
  db: Queryable,
  from: number,
  to: number,
): Promise<Array<{ key: string; opened: number; last: number; label: 'true_positive' | 'false_positive' }>> {
  const r = await db.query<{
    plant: string;
    asset: string;
    opened_window: Date;
    last_window: Date;
    label: 'true_positive' | 'false_positive';
  }>(
    `SELECT a.plant, a.asset, a.opened_window, a.last_window, f.label
       FROM alerts a
       JOIN LATERAL (SELECT label FROM alert_feedback WHERE alert_id = a.id ORDER BY at DESC, id DESC LIMIT 1) f ON true
      WHERE a.kind = 'anomaly' AND a.opened_window >= $1 AND a.opened_window < $2`,
    [new Date(from), new Date(to)],
  );
  return r.rows.map((x) => ({
    key: `${x.plant}/${x.asset}`,
    opened: new Date(x.opened_window).getTime(),
    last: new Date(x.last_window).getTime(),
    label: x.label,
  }));
}

/** Records a promotion decision in the model's metrics (`promotion`), replacing an earlier one. */
export async function recordPromotion(db: Queryable, version: string, decision: object): Promise<void> {
  await db.query(
    `UPDATE models SET metrics = metrics || jsonb_build_object('promotion', $2::jsonb) WHERE version = $1`,
    [version, JSON.stringify(decision)],
  );
}

/**
 * The active model's input drift per plant over [from, to): the median of the stored rows' largest feature
 * PSI (rows from every instance: each stores the drift of the windows it scored), the row count, and the
 * largest PSI's feature in the latest row.
 */
export async function activeModelDrift(
  db: Queryable,
  from: number,
  to: number,
): Promise<
  Array<{ modelVersion: string; plant: string; psi: number; rows: number; feature: string | null }>
> {
  const r = await db.query<{
    model_version: string;
    plant: string;
    psi: number;
    rows: number;
    psi_latest: Record<string, number>;
  }>(
    `SELECT d.model_version, d.plant, percentile_cont(0.5) WITHIN GROUP (ORDER BY d.max_psi) AS psi, count(*)::int AS rows,
            (array_agg(d.psi ORDER BY d.at DESC))[1] AS psi_latest
       FROM model_drift d JOIN models m ON m.version = d.model_version AND m.state = 'active'
      WHERE d.at >= $1 AND d.at < $2
      GROUP BY d.model_version, d.plant ORDER BY d.plant`,
    [new Date(from), new Date(to)],
  );
  return r.rows.map((x) => {
    const top = Object.entries(x.psi_latest ?? {}).sort((a, b) => b[1] - a[1])[0];
    return {
      modelVersion: x.model_version,
      plant: x.plant,
      psi: Number(x.psi),
      rows: x.rows,
      feature: top?.[0] ?? null,
    };
  });
}
