/**
 * Everything one consumed batch produced, written in one transaction, set-at-a-time
 * (one INSERT … SELECT FROM jsonb_to_recordset per table, never a statement per row).
 * Every write is idempotent on its natural key, so a replay after a crash writes nothing twice.
 * The checkpoint row commits with the effects it describes.
 */
import { TributaryError } from '../schemas/errors.js';
import { createHash } from 'node:crypto';
import type { ImageFrame, OperatorNote, ScoreRow, ThermalPixels, WindowTuple } from '../schemas/index.js';
import { writeAlertChanges, type AlertChange } from './alerts.js';
import { binaryChunks, binaryWritable } from './copy-binary.js';
import { deferring, type Queryable } from './db.js';
import { insertRows, type Columns } from './insert.js';

export interface LateRecord {
  key: string;
  modality: string;
  plant: string;
  asset: string | null;
  reason: string;
  value: unknown;
}
export interface DeadLetterRow {
  key: string;
  source: string;
  code: string;
  reason: string;
  value: Uint8Array | null;
}
export interface ModelParamsRow {
  modelVersion: string;
  asset: string;
  kind: string;
  params: unknown;
  referenceTo: number;
}

export interface BatchWrite {
  tuples: WindowTuple[];
  scores: ScoreRow[];
  /** Frames to store (an encoded thermal frame with its decoded pixels: only their size is kept). */
  images: Array<ImageFrame & { pixels?: ThermalPixels }>;
  notes: OperatorNote[];
  late: LateRecord[];
  deadLetters: DeadLetterRow[];
  /** The rule engine's decisions: alert rows, their events and (fanned out to endpoints) outbox rows. */
  alerts: AlertChange[];
  modelParams: ModelParamsRow[];
  /** URI frames fetched since: their bytes join their stored rows. */
  fetchedFrames?: Array<{
    asset: string;
    camera: string;
    uri: string;
    encoding: string;
    base64: string;
    width: number;
    height: number;
  }>;
  /**
   * The partition's checkpoint, and the per-asset rows of the parts that changed (part → asset → state), replacing
   * theirs. With `epoch`: written only while the partition's owner epoch is still this one (else
   * FencedError, nothing written).
   */
  checkpoint: {
    partitionKey: string;
    state: unknown;
    assets?: Record<string, Record<string, unknown>>;
    epoch?: number;
  } | null;
  /**
   * The alert threshold: the roll-ups count windows above it for model versions without an operating
   * threshold of their own (a calibrated fusion model's, in the registry).
   */
  threshold?: number;
  /** The active model: its scores are the asset catalogue's latest (default: every model's). */
  activeModel?: string;
}

export const emptyBatch = (): BatchWrite => ({
  tuples: [],
  scores: [],
  images: [],
  notes: [],
  late: [],
  deadLetters: [],
  alerts: [],
  modelParams: [],
  checkpoint: null,
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The readings table's columns, in order (the benches COPY them too). */
export const READINGS: Columns = {
  plant: 'text',
  asset: 'text',
  device: 'text',
  channel: 'text',
  window_start: 'timestamptz',
  n: 'int',
  t_offset_ms: 'int[]',
  v: 'float8[]',
};
const SCORES: Columns = {
  plant: 'text',
  asset: 'text',
  window_start: 'timestamptz',
  window_end: 'timestamptz',
  revision: 'int',
  model_version: 'text',
  status: 'text',
  score: 'float8',
  contributions: 'jsonb',
  quality: 'jsonb',
  image_ts: 'timestamptz',
  note_count: 'int',
  explanation: 'jsonb',
};
const IMAGES: Columns = {
  plant: 'text',
  asset: 'text',
  camera: 'text',
  ts: 'timestamptz',
  kind: 'text',
  width: 'int',
  height: 'int',
  unit: 'text',
  data: 'real[]',
  encoding: 'text',
  base64: 'text',
  uri: 'text',
  coding: 'jsonb',
};
const NOTES: Columns = {
  id: 'text',
  plant: 'text',
  asset: 'text',
  author: 'text',
  ts: 'timestamptz',
  text: 'text',
};
const LATE: Columns = {
  record_key: 'text',
  modality: 'text',
  plant: 'text',
  asset: 'text',
  reason: 'text',
  value: 'jsonb',
};
const DEAD: Columns = { record_key: 'text', source: 'text', code: 'text', reason: 'text', value: 'bytea' };
const MODEL_PARAMS: Columns = {
  model_version: 'text',
  asset: 'text',
  kind: 'text',
  params: 'jsonb',
  reference_to: 'timestamptz',
};

/** From this many reading rows (score or frame rows), a batch on the PostgreSQL server writes them through COPY. */
const COPY_FROM_ROWS = 200,
  COPY_SCORES_FROM_ROWS = 50;

/**
 * Writes rows, `onConflict` resolving the ones already there. Small batches, and PGlite, through
 * insertRows. From `copyFromRows` rows on the PostgreSQL server, binary COPY (numbers as their bytes: no
 * JSON, no decimal text either side) straight into the table under a savepoint: the common case at raw COPY speed. A unique
 * violation (an amended window, a replay after a crash) rolls back to the savepoint; the rows then go
 * through a session-temporary table and one INSERT … SELECT with `onConflict`, since COPY itself cannot
 * resolve conflicts.
 */
async function writeRows(
  tx: Queryable,
  table: string,
  columns: Columns,
  rows: Array<Record<string, unknown>>,
  onConflict: string,
  copyFromRows: number,
): Promise<void> {
  if (!tx.copyIn || !tx.tempTable || rows.length < copyFromRows || !binaryWritable(columns))
    return insertRows(tx, table, columns, rows, onConflict);
  const cols = Object.keys(columns).join(', ');
  const w = deferring(tx);
  await w.query(`SAVEPOINT copy_${table}`);
  try {
    await tx.copyIn(`COPY ${table} (${cols}) FROM STDIN WITH (FORMAT binary)`, binaryChunks(rows, columns));
  } catch (e) {
    if ((e as { code?: unknown }).code !== '23505') throw e;
    await tx.query(`ROLLBACK TO SAVEPOINT copy_${table}`);
    await tx.tempTable(`${table}_in`, table);
    await tx.copyIn(
      `COPY ${table}_in (${cols}) FROM STDIN WITH (FORMAT binary)`,
      binaryChunks(rows, columns),
    );
    await w.query(`INSERT INTO ${table} (${cols}) SELECT ${cols} FROM ${table}_in ${onConflict}`);
    return;
  }
  await w.query(`RELEASE SAVEPOINT copy_${table}`);
}

/** The batch's partition has been claimed by another instance since this one took it: nothing was written. */
export class FencedError extends TributaryError {
  constructor(
    readonly partitionKey: string,
    readonly epoch: number,
    readonly current: number | null,
  ) {
    super(
      'fenced',
      `partition ${partitionKey} belongs to epoch ${current ?? 'none'}, not ${epoch}: another instance owns it`,
    );
  }
}

/** Takes a partition: the next owner epoch (a zombie holding an older one can no longer commit). */
export async function claimPartition(db: Queryable, partitionKey: string): Promise<number> {
  const r = await db.query<{ epoch: string | number }>(
    `
    INSERT INTO partition_owners (partition_key, epoch) VALUES ($1, 1)
    ON CONFLICT (partition_key) DO UPDATE SET epoch = partition_owners.epoch + 1, claimed_at = now()
    RETURNING epoch`,
    [partitionKey],
  );
  return Number(r.rows[0].epoch);
}

/** The first n times as offsets from the window's start (one array, no intermediate copy). */
function offsetsOf(t: number[], n: number, start: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = t[i] - start;
  return out;
}

/** The readings rows of `tuples`: each window writes the samples of its first slide (all of them when tumbling). */
export function readingRows(tuples: WindowTuple[]): Array<Record<string, unknown>> {
  return tuples.flatMap((t) =>
    Object.entries(t.channels)
      .map(([channel, s]) => {
        let n = s.t.length;
        while (n > 0 && s.t[n - 1] >= t.windowStart + t.slideMs) n--;
        return {
          plant: t.plant,
          asset: t.asset,
          device: s.device,
          channel,
          window_start: t.windowStart,
          n,
          t_offset_ms: offsetsOf(s.t, n, t.windowStart),
          v: n === s.v.length ? s.v : s.v.slice(0, n),
        };
      })
      .filter((r) => r.n > 0),
  );
}

export async function writeBatch(tx: Queryable, b: BatchWrite): Promise<void> {
  // The statements whose results are not read go to the server together (see Queryable.defer).
  const w = deferring(tx);
  // Fencing first: the owner row stays locked to the commit, so a claim waits for this batch or fences it.
  if (b.checkpoint?.epoch !== undefined) {
    const r = await tx.query<{ epoch: string | number }>(
      'SELECT epoch FROM partition_owners WHERE partition_key = $1 FOR UPDATE',
      [b.checkpoint.partitionKey],
    );
    const current = r.rows[0] ? Number(r.rows[0].epoch) : null;
    if (current !== b.checkpoint.epoch)
      throw new FencedError(b.checkpoint.partitionKey, b.checkpoint.epoch, current);
  }
  // Readings are stored once (see readingRows).
  await writeRows(
    tx,
    'readings',
    READINGS,
    readingRows(b.tuples),
    'ON CONFLICT (asset, channel, device, window_start) DO UPDATE SET n = EXCLUDED.n, t_offset_ms = EXCLUDED.t_offset_ms, v = EXCLUDED.v',
    COPY_FROM_ROWS,
  );
  await writeRows(
    tx,
    'scores',
    SCORES,
    b.scores.map((s) => ({
      plant: s.plant,
      asset: s.asset,
      window_start: s.windowStart,
      window_end: s.windowEnd,
      revision: s.revision,
      model_version: s.modelVersion,
      status: s.status,
      score: s.score,
      contributions: s.contributions,
      quality: s.quality,
      image_ts: s.imageTs,
      note_count: s.noteCount,
      explanation: s.explanation ?? null,
    })),
    'ON CONFLICT (asset, window_start, model_version, revision) DO NOTHING',
    COPY_SCORES_FROM_ROWS,
  );
  await updateRollups(w, b.scores, b.threshold ?? 6);
  await updateAssets(w, b.activeModel ? b.scores.filter((x) => x.modelVersion === b.activeModel) : b.scores);

  await writeRows(
    tx,
    'images',
    IMAGES,
    b.images.map((f) => ({
      plant: f.plant,
      asset: f.asset,
      camera: f.camera,
      ts: f.ts,
      kind: f.kind,
      width: 'data' in f ? f.width : (f.pixels?.width ?? null),
      height: 'data' in f ? f.height : (f.pixels?.height ?? null),
      unit: 'data' in f ? f.unit : null,
      data: 'data' in f ? f.data : null,
      encoding: 'encoding' in f ? (f.encoding ?? null) : null,
      base64: 'base64' in f ? f.base64 : null,
      uri: 'uri' in f ? f.uri : null,
      coding:
        'data' in f
          ? null
          : {
              unit: f.unit,
              scale: f.scale,
              range: f.range,
              palette: f.palette,
              paletteStops: f.paletteStops,
            },
    })),
    'ON CONFLICT DO NOTHING',
    // An encoded frame is tens of KiB of base64: through COPY it goes as it is, where the JSON of
    // insertRows made PostgreSQL parse it (in the frames bench, about half the server's extra CPU).
    b.images.some((f) => 'base64' in f) ? 1 : COPY_SCORES_FROM_ROWS,
  );

  for (const f of b.fetchedFrames ?? []) {
    await w.query(
      'UPDATE images SET encoding = $4, base64 = $5, width = $6, height = $7 WHERE asset = $1 AND camera = $2 AND uri = $3',
      [f.asset, f.camera, f.uri, f.encoding, f.base64, f.width, f.height],
    );
  }
  await insertRows(
    w,
    'notes',
    NOTES,
    b.notes.map((n) => ({
      id: noteId(n),
      plant: n.plant,
      asset: n.asset ?? null,
      author: n.author,
      ts: iso(n.ts),
      text: n.text,
    })),
    'ON CONFLICT DO NOTHING',
  );

  await insertRows(
    w,
    'late_records',
    LATE,
    b.late.map((l) => ({
      record_key: l.key,
      modality: l.modality,
      plant: l.plant,
      asset: l.asset,
      reason: l.reason,
      value: l.value,
    })),
    'ON CONFLICT DO NOTHING',
  );

  await insertRows(
    w,
    'dead_letters',
    DEAD,
    b.deadLetters.map((d) => ({
      record_key: d.key,
      source: d.source,
      code: d.code,
      reason: d.reason,
      value: d.value ? Buffer.from(d.value).toString('base64') : null,
    })),
    'ON CONFLICT DO NOTHING',
  );

  await writeAlertChanges(tx, b.alerts);

  await insertRows(
    w,
    'model_params',
    MODEL_PARAMS,
    b.modelParams.map((m) => ({
      model_version: m.modelVersion,
      asset: m.asset,
      kind: m.kind,
      params: m.params,
      reference_to: iso(m.referenceTo),
    })),
    'ON CONFLICT DO NOTHING',
  );

  if (b.checkpoint) {
    await w.query(
      `
      INSERT INTO align_checkpoints (partition_key, state) VALUES ($1, $2::jsonb)
      ON CONFLICT (partition_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
      [b.checkpoint.partitionKey, JSON.stringify(b.checkpoint.state)],
    );
    if (b.checkpoint.assets && Object.keys(b.checkpoint.assets).length) {
      // One JSON object for all rows: json_each hands each value's text over as it is (no per-row escaping
      // of a text[] parameter, no jsonb parse).
      await w.query(
        `
        INSERT INTO asset_checkpoints (partition_key, asset, part, state)
        SELECT $1, a.key, p.key, a.value::text FROM json_each($2::json) AS p, json_each(p.value) AS a
        ON CONFLICT (partition_key, asset, part) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
        [b.checkpoint.partitionKey, JSON.stringify(b.checkpoint.assets)],
      );
    }
  }
}

/**
 * Recomputes the minute and hour roll-ups of the (asset, model version, bucket) cells this batch's scores
 * fall in, from the latest revision of each window: exact under revisions and replays, and a few rows per
 * batch. Cells of different assets never collide, so instances owning different partitions never wait
 * on each other here.
 */
export async function updateRollups(
  tx: Queryable,
  scores: Array<{ asset: string; modelVersion: string; windowStart: number }>,
  threshold: number,
): Promise<void> {
  if (!scores.length) return;
  const cells = new Map<string, { asset: string; mv: string; m: string }>();
  for (const s of scores) {
    const m = iso(Math.floor(s.windowStart / 60_000) * 60_000)!;
    cells.set(`${s.asset}\u0000${s.modelVersion}\u0000${m}`, { asset: s.asset, mv: s.modelVersion, m });
  }
  const list = JSON.stringify([...cells.values()]);
  await tx.query(
    `
    INSERT INTO score_rollup_1m AS r (plant, asset, model_version, bucket, windows, sum_score, max_score, above, threshold)
    SELECT l.plant, l.asset, l.model_version, c.m, count(*)::int, coalesce(sum(l.score), 0), max(l.score), (count(*) FILTER (WHERE l.score >= c.thr))::int, c.thr
      FROM (SELECT c.*, coalesce(mo.threshold, $2) AS thr
              FROM jsonb_to_recordset($1::jsonb) AS c(asset text, mv text, m timestamptz) LEFT JOIN models mo ON mo.version = c.mv) c
      CROSS JOIN LATERAL (
        SELECT DISTINCT ON (window_start) plant, asset, model_version, status, score FROM scores s
         WHERE s.asset = c.asset AND s.model_version = c.mv AND s.window_start >= c.m AND s.window_start < c.m + interval '1 minute'
         ORDER BY window_start, revision DESC) l
     WHERE l.status = 'scored'
     GROUP BY l.plant, l.asset, l.model_version, c.m, c.thr
    ON CONFLICT (asset, model_version, bucket) DO UPDATE SET windows = EXCLUDED.windows, sum_score = EXCLUDED.sum_score,
      max_score = EXCLUDED.max_score, above = EXCLUDED.above, threshold = EXCLUDED.threshold`,
    [list, threshold],
  );
  await tx.query(
    `
    INSERT INTO score_rollup_1h AS r (plant, asset, model_version, bucket, windows, sum_score, max_score, above, threshold)
    SELECT m.plant, m.asset, m.model_version, h.h, sum(windows)::int, sum(sum_score), max(max_score), sum(above)::int, max(m.threshold)
      FROM (SELECT DISTINCT asset, mv, date_bin('1 hour', m, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS h FROM jsonb_to_recordset($1::jsonb) AS c(asset text, mv text, m timestamptz)) h
      JOIN score_rollup_1m m ON m.asset = h.asset AND m.model_version = h.mv AND m.bucket >= h.h AND m.bucket < h.h + interval '1 hour'
     GROUP BY m.plant, m.asset, m.model_version, h.h
    ON CONFLICT (asset, model_version, bucket) DO UPDATE SET windows = EXCLUDED.windows, sum_score = EXCLUDED.sum_score,
      max_score = EXCLUDED.max_score, above = EXCLUDED.above, threshold = EXCLUDED.threshold`,
    [list],
  );
  await tx.query(
    `
    INSERT INTO score_rollup_day AS r (plant, asset, model_version, day, cells)
    SELECT min(m.plant), m.asset, m.model_version, d.d, ${PACK} ORDER BY m.bucket)
      FROM (SELECT DISTINCT asset, mv, date_bin('1 day', m, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS d FROM jsonb_to_recordset($1::jsonb) AS c(asset text, mv text, m timestamptz)) d
      JOIN score_rollup_1h m ON m.asset = d.asset AND m.model_version = d.mv AND m.bucket >= d.d AND m.bucket < d.d + interval '1 day'
     GROUP BY m.asset, m.model_version, d.d
    ON CONFLICT (asset, model_version, day) DO UPDATE SET plant = EXCLUDED.plant, cells = EXCLUDED.cells`,
    [list],
  );
}

/** One hour cell packed for score_rollup_day (the aggregate is closed by the caller's ORDER BY). */
const PACK = `string_agg(float8send((extract(epoch FROM m.bucket) * 1000)::float8) || float8send(m.windows::float8) || float8send(m.sum_score)
  || float8send(coalesce(m.max_score, 'NaN'::float8)) || float8send(m.above::float8), ''::bytea`;

/** The asset catalogue: each asset's plant, first and latest window, and its latest score. */
async function updateAssets(tx: Queryable, scores: ScoreRow[]): Promise<void> {
  const latest = new Map<string, ScoreRow>();
  for (const s of scores) {
    const cur = latest.get(s.asset);
    if (
      !cur ||
      s.windowStart > cur.windowStart ||
      (s.windowStart === cur.windowStart && s.revision > cur.revision)
    )
      latest.set(s.asset, s);
  }
  if (!latest.size) return;
  const first = new Map<string, number>();
  for (const s of scores) first.set(s.asset, Math.min(first.get(s.asset) ?? Infinity, s.windowStart));
  await tx.query(
    `
    INSERT INTO assets AS a (plant, asset, first_window, last_window, last_status, last_score, last_model, contributions)
    SELECT plant, asset, first_window, last_window, last_status, last_score, last_model, contributions
      FROM jsonb_to_recordset($1::jsonb) AS x(plant text, asset text, first_window timestamptz, last_window timestamptz, last_status text,
           last_score float8, last_model text, contributions jsonb)
    ON CONFLICT (asset) DO UPDATE SET
      plant = EXCLUDED.plant,
      first_window = least(a.first_window, EXCLUDED.first_window),
      last_window = greatest(a.last_window, EXCLUDED.last_window),
      last_status = CASE WHEN EXCLUDED.last_window >= a.last_window THEN EXCLUDED.last_status ELSE a.last_status END,
      last_score = CASE WHEN EXCLUDED.last_window >= a.last_window THEN EXCLUDED.last_score ELSE a.last_score END,
      last_model = CASE WHEN EXCLUDED.last_window >= a.last_window THEN EXCLUDED.last_model ELSE a.last_model END,
      contributions = CASE WHEN EXCLUDED.last_window >= a.last_window THEN EXCLUDED.contributions ELSE a.contributions END,
      updated_at = now()`,
    [
      JSON.stringify(
        [...latest.values()].map((s) => ({
          plant: s.plant,
          asset: s.asset,
          first_window: iso(first.get(s.asset)!),
          last_window: iso(s.windowStart),
          last_status: s.status,
          last_score: s.score,
          last_model: s.modelVersion,
          contributions: s.contributions,
        })),
      ),
    ],
  );
}

/** Whether a roll-up cell counts windows above another threshold than its version's (the alert threshold changed). */
export async function rollupsStale(db: Queryable, threshold: number): Promise<boolean> {
  return (
    (
      await db.query(
        `
    SELECT 1 FROM score_rollup_1h r LEFT JOIN models mo ON mo.version = r.model_version
     WHERE r.threshold <> coalesce(mo.threshold, $1) LIMIT 1`,
        [threshold],
      )
    ).rows.length > 0
  );
}

/** Rebuilds every roll-up from the scores (start-up does it when they are stale). */
export async function rebuildRollups(tx: Queryable, threshold: number): Promise<void> {
  await tx.query('DELETE FROM score_rollup_1m');
  await tx.query('DELETE FROM score_rollup_1h');
  await tx.query(
    `
    INSERT INTO score_rollup_1m (plant, asset, model_version, bucket, windows, sum_score, max_score, above, threshold)
    SELECT plant, asset, model_version, date_bin('1 minute', window_start, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           count(*), coalesce(sum(score), 0), max(score), count(*) FILTER (WHERE score >= thr), thr
      FROM (SELECT l.*, coalesce(mo.threshold, $1) AS thr
              FROM (SELECT DISTINCT ON (asset, window_start, model_version) * FROM scores ORDER BY asset, window_start, model_version, revision DESC) l
              LEFT JOIN models mo ON mo.version = l.model_version) l
     WHERE status = 'scored' GROUP BY 1, 2, 3, 4, thr`,
    [threshold],
  );
  await tx.query(`
    INSERT INTO score_rollup_1h (plant, asset, model_version, bucket, windows, sum_score, max_score, above, threshold)
    SELECT plant, asset, model_version, date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           sum(windows), sum(sum_score), max(max_score), sum(above), max(threshold)
      FROM score_rollup_1m GROUP BY 1, 2, 3, 4`);
  await tx.query('DELETE FROM score_rollup_day');
  await tx.query(`
    INSERT INTO score_rollup_day (plant, asset, model_version, day, cells)
    SELECT min(m.plant), m.asset, m.model_version, date_bin('1 day', m.bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'), ${PACK} ORDER BY m.bucket)
      FROM score_rollup_1h m GROUP BY m.asset, m.model_version, 4`);
}

export function noteId(n: OperatorNote): string {
  return createHash('sha256')
    .update(JSON.stringify([n.plant, n.asset ?? null, n.author, n.ts, n.text]))
    .digest('hex')
    .slice(0, 32);
}
