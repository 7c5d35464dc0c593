/**
 * Everything one consumed batch produced, written in one transaction, set-at-a-time
 * (one INSERT … SELECT FROM jsonb_to_recordset per table, never a statement per row).
 * Every write is idempotent on its natural key, so a replay after a crash writes nothing twice.
 * The checkpoint row commits with the effects it describes.
 */
import { createHash } from 'node:crypto';
import type { Alert, AlertEvent, ImageFrame, OperatorNote, ScoreRow, WindowTuple } from '../schemas/index.js';
import type { Queryable } from './db.js';

export interface LateRecord { key: string; modality: string; plant: string; asset: string | null; reason: string; value: unknown }
export interface DeadLetterRow { key: string; source: string; code: string; reason: string; value: Uint8Array | null }
export interface OutboxRow { eventId: string; endpointUrl: string; event: AlertEvent }
export interface ModelParamsRow { modelVersion: string; asset: string; kind: string; params: unknown; referenceTo: number }

export interface BatchWrite {
  tuples: WindowTuple[];
  scores: ScoreRow[];
  images: ImageFrame[];
  notes: OperatorNote[];
  late: LateRecord[];
  deadLetters: DeadLetterRow[];
  alerts: Alert[];
  outbox: OutboxRow[];
  modelParams: ModelParamsRow[];
  checkpoint: { partitionKey: string; state: unknown } | null;
}

export const emptyBatch = (): BatchWrite => ({
  tuples: [], scores: [], images: [], notes: [], late: [], deadLetters: [], alerts: [], outbox: [], modelParams: [], checkpoint: null,
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

async function insertRecordset(tx: Queryable, rows: unknown[], sql: string): Promise<void> {
  if (rows.length > 0) await tx.query(sql, [JSON.stringify(rows)]);
}

export async function writeBatch(tx: Queryable, b: BatchWrite): Promise<void> {
  const readings = b.tuples.flatMap((t) => Object.entries(t.channels).map(([channel, s]) => ({
    plant: t.plant, asset: t.asset, device: s.device, channel, window_start: iso(t.windowStart),
    n: s.v.length, t_offset_ms: s.t.map((x) => x - t.windowStart), v: s.v,
  })));
  await insertRecordset(tx, readings, `
    INSERT INTO readings (plant, asset, device, channel, window_start, n, t_offset_ms, v)
    SELECT plant, asset, device, channel, window_start, n, t_offset_ms, v
      FROM jsonb_to_recordset($1::jsonb) AS x(plant text, asset text, device text, channel text,
           window_start timestamptz, n int, t_offset_ms int[], v float8[])
    ON CONFLICT DO NOTHING`);

  await insertRecordset(tx, b.scores.map((s) => ({
    plant: s.plant, asset: s.asset, window_start: iso(s.windowStart), window_end: iso(s.windowEnd),
    model_version: s.modelVersion, status: s.status, score: s.score, contributions: s.contributions,
    quality: s.quality, image_ts: iso(s.imageTs), note_count: s.noteCount,
  })), `
    INSERT INTO scores (plant, asset, window_start, window_end, model_version, status, score, contributions, quality, image_ts, note_count)
    SELECT plant, asset, window_start, window_end, model_version, status, score, contributions, quality, image_ts, note_count
      FROM jsonb_to_recordset($1::jsonb) AS x(plant text, asset text, window_start timestamptz, window_end timestamptz,
           model_version text, status text, score float8, contributions jsonb, quality jsonb, image_ts timestamptz, note_count int)
    ON CONFLICT (asset, window_start, model_version) DO NOTHING`);

  await insertRecordset(tx, b.images.map((f) => ({
    plant: f.plant, asset: f.asset, camera: f.camera, ts: iso(f.ts), kind: f.kind,
    width: 'data' in f ? f.width : null, height: 'data' in f ? f.height : null, unit: 'data' in f ? f.unit : null,
    data: 'data' in f ? f.data : null, encoding: 'encoding' in f ? f.encoding : null,
    base64: 'base64' in f ? f.base64 : null, uri: 'uri' in f ? f.uri : null,
  })), `
    INSERT INTO images (plant, asset, camera, ts, kind, width, height, unit, data, encoding, base64, uri)
    SELECT plant, asset, camera, ts, kind, width, height, unit, data, encoding, base64, uri
      FROM jsonb_to_recordset($1::jsonb) AS x(plant text, asset text, camera text, ts timestamptz, kind text,
           width int, height int, unit text, data real[], encoding text, base64 text, uri text)
    ON CONFLICT DO NOTHING`);

  await insertRecordset(tx, b.notes.map((n) => ({
    id: noteId(n), plant: n.plant, asset: n.asset ?? null, author: n.author, ts: iso(n.ts), text: n.text,
  })), `
    INSERT INTO notes (id, plant, asset, author, ts, text)
    SELECT id, plant, asset, author, ts, text
      FROM jsonb_to_recordset($1::jsonb) AS x(id text, plant text, asset text, author text, ts timestamptz, text text)
    ON CONFLICT DO NOTHING`);

  await insertRecordset(tx, b.late.map((l) => ({
    record_key: l.key, modality: l.modality, plant: l.plant, asset: l.asset, reason: l.reason, value: l.value,
  })), `
    INSERT INTO late_records (record_key, modality, plant, asset, reason, value)
    SELECT record_key, modality, plant, asset, reason, value
      FROM jsonb_to_recordset($1::jsonb) AS x(record_key text, modality text, plant text, asset text, reason text, value jsonb)
    ON CONFLICT DO NOTHING`);

  await insertRecordset(tx, b.deadLetters.map((d) => ({
    record_key: d.key, source: d.source, code: d.code, reason: d.reason,
    value_b64: d.value ? Buffer.from(d.value).toString('base64') : null,
  })), `
    INSERT INTO dead_letters (record_key, source, code, reason, value)
    SELECT record_key, source, code, reason, decode(value_b64, 'base64')
      FROM jsonb_to_recordset($1::jsonb) AS x(record_key text, source text, code text, reason text, value_b64 text)
    ON CONFLICT DO NOTHING`);

  await insertRecordset(tx, b.alerts.map((a) => ({
    id: a.id, plant: a.plant, asset: a.asset, rule: a.rule, state: a.state, opened_window: iso(a.openedWindow),
    last_window: iso(a.lastWindow), resolved_window: iso(a.resolvedWindow), peak_score: a.peakScore,
    model_version: a.modelVersion, contributions: a.contributions,
  })), `
    INSERT INTO alerts (id, plant, asset, rule, state, opened_window, last_window, resolved_window, peak_score, model_version, contributions)
    SELECT id, plant, asset, rule, state, opened_window, last_window, resolved_window, peak_score, model_version, contributions
      FROM jsonb_to_recordset($1::jsonb) AS x(id text, plant text, asset text, rule text, state text, opened_window timestamptz,
           last_window timestamptz, resolved_window timestamptz, peak_score float8, model_version text, contributions jsonb)
    ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, last_window = EXCLUDED.last_window,
      resolved_window = EXCLUDED.resolved_window, peak_score = EXCLUDED.peak_score,
      contributions = EXCLUDED.contributions, updated_at = now()`);

  await insertRecordset(tx, b.outbox.map((o) => ({
    event_id: o.eventId, endpoint_url: o.endpointUrl, event_type: o.event.type, payload: o.event,
  })), `
    INSERT INTO webhook_outbox (event_id, endpoint_url, event_type, payload)
    SELECT event_id, endpoint_url, event_type, payload
      FROM jsonb_to_recordset($1::jsonb) AS x(event_id text, endpoint_url text, event_type text, payload jsonb)
    ON CONFLICT DO NOTHING`);

  await insertRecordset(tx, b.modelParams.map((m) => ({
    model_version: m.modelVersion, asset: m.asset, kind: m.kind, params: m.params, reference_to: iso(m.referenceTo),
  })), `
    INSERT INTO model_params (model_version, asset, kind, params, reference_to)
    SELECT model_version, asset, kind, params, reference_to
      FROM jsonb_to_recordset($1::jsonb) AS x(model_version text, asset text, kind text, params jsonb, reference_to timestamptz)
    ON CONFLICT DO NOTHING`);

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
