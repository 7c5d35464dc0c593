/**
 * Everything one consumed batch produced, written in one transaction, set-at-a-time
 * (one INSERT … SELECT FROM jsonb_to_recordset per table, never a statement per row).
 * Every write is idempotent on its natural key, so a replay after a crash writes nothing twice.
 * The checkpoint row commits with the effects it describes.
 */
import { createHash } from 'node:crypto';
import type { ImageFrame, OperatorNote, ScoreRow, WindowTuple } from '../schemas/index.js';
import { writeAlertChanges, type AlertChange } from './alerts.js';
import type { Queryable } from './db.js';

export interface LateRecord { key: string; modality: string; plant: string; asset: string | null; reason: string; value: unknown }
export interface DeadLetterRow { key: string; source: string; code: string; reason: string; value: Uint8Array | null }
export interface ModelParamsRow { modelVersion: string; asset: string; kind: string; params: unknown; referenceTo: number }

export interface BatchWrite {
  tuples: WindowTuple[];
  scores: ScoreRow[];
  images: ImageFrame[];
  notes: OperatorNote[];
  late: LateRecord[];
  deadLetters: DeadLetterRow[];
  /** The rule engine's decisions: alert rows, their events and (fanned out to endpoints) outbox rows. */
  alerts: AlertChange[];
  modelParams: ModelParamsRow[];
  checkpoint: { partitionKey: string; state: unknown } | null;
}

export const emptyBatch = (): BatchWrite => ({
  tuples: [], scores: [], images: [], notes: [], late: [], deadLetters: [], alerts: [], modelParams: [], checkpoint: null,
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Column name → SQL type, in table order: the one description each write below is generated from. */
type Columns = Record<string, string>;

/**
 * One statement for all rows: INSERT … SELECT FROM jsonb_to_recordset($1), so the batch costs one round
 * trip per table whatever its size. `onConflict` makes the write idempotent.
 */
export async function insertRows(tx: Queryable, table: string, columns: Columns, rows: Array<Record<string, unknown>>, onConflict: string): Promise<void> {
  if (rows.length === 0) return;
  const names = Object.keys(columns);
  const decoded = names.map((n) => (columns[n] === 'bytea' ? `decode(${n}, 'base64')` : n));
  const types = names.map((n) => `${n} ${columns[n] === 'bytea' ? 'text' : columns[n]}`);
  await tx.query(
    `INSERT INTO ${table} (${names.join(', ')}) SELECT ${decoded.join(', ')}
       FROM jsonb_to_recordset($1::jsonb) AS x(${types.join(', ')}) ${onConflict}`,
    [JSON.stringify(rows)]);
}

const READINGS: Columns = { plant: 'text', asset: 'text', device: 'text', channel: 'text', window_start: 'timestamptz', n: 'int', t_offset_ms: 'int[]', v: 'float8[]' };
const SCORES: Columns = {
  plant: 'text', asset: 'text', window_start: 'timestamptz', window_end: 'timestamptz', revision: 'int', model_version: 'text', status: 'text',
  score: 'float8', contributions: 'jsonb', quality: 'jsonb', image_ts: 'timestamptz', note_count: 'int',
};
const IMAGES: Columns = {
  plant: 'text', asset: 'text', camera: 'text', ts: 'timestamptz', kind: 'text', width: 'int', height: 'int', unit: 'text',
  data: 'real[]', encoding: 'text', base64: 'text', uri: 'text',
};
const NOTES: Columns = { id: 'text', plant: 'text', asset: 'text', author: 'text', ts: 'timestamptz', text: 'text' };
const LATE: Columns = { record_key: 'text', modality: 'text', plant: 'text', asset: 'text', reason: 'text', value: 'jsonb' };
const DEAD: Columns = { record_key: 'text', source: 'text', code: 'text', reason: 'text', value: 'bytea' };
const MODEL_PARAMS: Columns = { model_version: 'text', asset: 'text', kind: 'text', params: 'jsonb', reference_to: 'timestamptz' };

export async function writeBatch(tx: Queryable, b: BatchWrite): Promise<void> {
  // Readings are stored once: each window writes the samples of its first slide (all of them when tumbling).
  await insertRows(tx, 'readings', READINGS, b.tuples.flatMap((t) => Object.entries(t.channels).map(([channel, s]) => {
    let n = s.t.length;
    while (n > 0 && s.t[n - 1] >= t.windowStart + t.slideMs) n--;
    return {
      plant: t.plant, asset: t.asset, device: s.device, channel, window_start: iso(t.windowStart),
      n, t_offset_ms: s.t.slice(0, n).map((x) => x - t.windowStart), v: s.v.slice(0, n),
    };
  }).filter((r) => r.n > 0)), 'ON CONFLICT (asset, channel, device, window_start) DO UPDATE SET n = EXCLUDED.n, t_offset_ms = EXCLUDED.t_offset_ms, v = EXCLUDED.v');

  await insertRows(tx, 'scores', SCORES, b.scores.map((s) => ({
    plant: s.plant, asset: s.asset, window_start: iso(s.windowStart), window_end: iso(s.windowEnd), revision: s.revision,
    model_version: s.modelVersion, status: s.status, score: s.score, contributions: s.contributions,
    quality: s.quality, image_ts: iso(s.imageTs), note_count: s.noteCount,
  })), 'ON CONFLICT (asset, window_start, model_version, revision) DO NOTHING');

  await insertRows(tx, 'images', IMAGES, b.images.map((f) => ({
    plant: f.plant, asset: f.asset, camera: f.camera, ts: iso(f.ts), kind: f.kind,
    width: 'data' in f ? f.width : null, height: 'data' in f ? f.height : null, unit: 'data' in f ? f.unit : null,
    data: 'data' in f ? f.data : null, encoding: 'encoding' in f ? f.encoding : null,
    base64: 'base64' in f ? f.base64 : null, uri: 'uri' in f ? f.uri : null,
  })), 'ON CONFLICT DO NOTHING');

  await insertRows(tx, 'notes', NOTES, b.notes.map((n) => ({
    id: noteId(n), plant: n.plant, asset: n.asset ?? null, author: n.author, ts: iso(n.ts), text: n.text,
  })), 'ON CONFLICT DO NOTHING');

  await insertRows(tx, 'late_records', LATE, b.late.map((l) => ({
    record_key: l.key, modality: l.modality, plant: l.plant, asset: l.asset, reason: l.reason, value: l.value,
  })), 'ON CONFLICT DO NOTHING');

  await insertRows(tx, 'dead_letters', DEAD, b.deadLetters.map((d) => ({
    record_key: d.key, source: d.source, code: d.code, reason: d.reason,
    value: d.value ? Buffer.from(d.value).toString('base64') : null,
  })), 'ON CONFLICT DO NOTHING');

  await writeAlertChanges(tx, b.alerts);

  await insertRows(tx, 'model_params', MODEL_PARAMS, b.modelParams.map((m) => ({
    model_version: m.modelVersion, asset: m.asset, kind: m.kind, params: m.params, reference_to: iso(m.referenceTo),
  })), 'ON CONFLICT DO NOTHING');

  if (b.checkpoint) {
    await tx.query(`
      INSERT INTO align_checkpoints (partition_key, state) VALUES ($1, $2::jsonb)
      ON CONFLICT (partition_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
      [b.checkpoint.partitionKey, JSON.stringify(b.checkpoint.state)]);
  }
}

export function noteId(n: OperatorNote): string {
  return createHash('sha256').update(JSON.stringify([n.plant, n.asset ?? null, n.author, n.ts, n.text])).digest('hex').slice(0, 32);
}
