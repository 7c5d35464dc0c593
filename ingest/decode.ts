/**
 * Bytes → validated record, or a reject with a stable code and a reason for the dead-letter topic.
 * Never throws: every input gets exactly one of the two answers.
 */
import {
  base64Bytes,
  CHANNEL_PATTERN,
  ID_PATTERN,
  MAX_TS_MS,
  MIN_TS_MS,
  schemaFor,
  type InputRecord,
  type Modality,
  type Config,
  type SensorRecord,
} from '../schemas/index.js';

export type RejectCode =
  | 'too_large'
  | 'empty'
  | 'not_utf8'
  | 'invalid_json'
  | 'unsupported_version'
  | 'invalid_record'
  | 'over_limit'
  | FrameError['code'];

export type Decoded = { ok: true; record: InputRecord } | { ok: false; code: RejectCode; reason: string };

import { checkVisible, decodeThermal, type FrameError } from './frames.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeRecord(
  modality: Modality,
  bytes: Uint8Array | null,
  limits: Config['limits'],
): Decoded {
  if (!bytes || bytes.length === 0) return { ok: false, code: 'empty', reason: 'empty record value' };
  if (bytes.length > limits.maxRecordBytes) {
    return {
      ok: false,
      code: 'too_large',
      reason: `record is ${bytes.length} bytes, limit ${limits.maxRecordBytes}`,
    };
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, code: 'not_utf8', reason: 'value is not valid UTF-8' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, code: 'invalid_json', reason: `invalid JSON: ${(e as Error).message}` };
  }
  if (json && typeof json === 'object' && 'v' in json && (json as { v: unknown }).v !== 1) {
    return {
      ok: false,
      code: 'unsupported_version',
      reason: `unsupported version v=${JSON.stringify((json as { v: unknown }).v)} (this build reads v=1)`,
    };
  }
  // The common case, a well-formed sensor record, is checked by hand (the same rules as its schema, a
  // few times faster); anything else, and every reject, goes through the schema for its exact reason.
  const fast = modality === 'sensors' ? fastSensor(json) : null;
  if (fast) {
    const record = { modality, value: fast } as InputRecord;
    const over = checkLimits(record, limits);
    return over ? { ok: false, code: 'over_limit', reason: over } : { ok: true, record };
  }
  const parsed = schemaFor(modality, json).safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return { ok: false, code: 'invalid_record', reason: `invalid ${modality} record: ${issues.join('; ')}` };
  }
  const record = { modality, value: parsed.data } as InputRecord;
  const over = checkLimits(record, limits);
  if (over) return { ok: false, code: 'over_limit', reason: over };
  if (record.modality === 'images' && 'base64' in record.value) {
    // An encoded frame: its header checked (a decompression bomb is refused unread), a thermal one decoded.
    const f = record.value;
    const bytes = base64Bytes(f.base64);
    if (f.kind === 'visible') {
      const bad = checkVisible(bytes, f.encoding, limits.maxImagePixels);
      if (bad) return { ok: false, code: bad.code, reason: bad.reason };
    } else {
      const px = decodeThermal(bytes, f, limits.maxImagePixels);
      if ('code' in px) return { ok: false, code: px.code, reason: px.reason };
      record.value.pixels = px;
    }
  }
  return { ok: true, record };
}

/**
 * Why a valid record is refused all the same, or null: a Kafka key other than its asset (`key_mismatch`),
 * or a plant not among the configured `plants` (`unknown_plant`; null: any plant).
 */
export function screenRecord(
  rec: InputRecord,
  key: string | null,
  plants: ReadonlySet<string> | null,
): { code: string; reason: string } | null {
  const asset = rec.value.asset;
  if (asset && key !== null && key !== asset)
    return {
      code: 'key_mismatch',
      reason: `record key ${JSON.stringify(key)} is not its asset ${JSON.stringify(asset)}`,
    };
  if (plants && !plants.has(rec.value.plant)) {
    return {
      code: 'unknown_plant',
      reason: `plant ${JSON.stringify(rec.value.plant)} is not among the configured plants (${[...plants].join(', ')})`,
    };
  }
  return null;
}

function checkLimits(r: InputRecord, limits: Config['limits']): string | null {
  if (r.modality === 'sensors') {
    const v = r.value;
    // Counted in place (this runs for every record; key lists would be garbage).
    const byChannel: Record<string, unknown> = 'values' in v ? v.values : v.channels;
    let channels = 0,
      n = 0;
    for (const k in byChannel) {
      channels++;
      if ('channels' in v) n += v.channels[k].length;
    }
    if (channels === 0) return 'sensor record has no channels';
    if (channels > limits.maxChannels) return `${channels} channels, limit ${limits.maxChannels}`;
    if (n > limits.maxSamplesPerRecord) return `${n} samples, limit ${limits.maxSamplesPerRecord}`;
  } else if (r.modality === 'images') {
    const v = r.value;
    if ('data' in v && v.width * v.height > limits.maxImagePixels) {
      return `image of ${v.width * v.height} pixels, limit ${limits.maxImagePixels}`;
    }
  } else if (r.value.text.length > limits.maxNoteChars) {
    return `note of ${r.value.text.length} characters, limit ${limits.maxNoteChars}`;
  }
  return null;
}

const isId = (x: unknown) => typeof x === 'string' && x.length >= 1 && x.length <= 128 && ID_PATTERN.test(x);
const isTs = (x: unknown): x is number =>
  typeof x === 'number' && Number.isFinite(x) && x >= MIN_TS_MS && x < MAX_TS_MS;
const SAMPLE_KEYS = new Set(['v', 'plant', 'asset', 'device', 'seq', 'ts', 'values']);
const BLOCK_KEYS = new Set(['v', 'plant', 'asset', 'device', 'seq', 't0', 'periodMs', 'channels']);

function channelsOk(o: unknown, arrays: boolean): boolean {
  if (!o || typeof o !== 'object' || Array.isArray(o)) return false;
  for (const k in o) {
    const v = (o as Record<string, unknown>)[k];
    if (k.length < 1 || k.length > 64 || !CHANNEL_PATTERN.test(k)) return false;
    if (arrays) {
      if (!Array.isArray(v) || v.length < 1) return false;
      for (const x of v) if (typeof x !== 'number' || !Number.isFinite(x)) return false;
    } else if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  }
  return true;
}

/**
 * A sensor sample or block that satisfies its schema exactly, as the schema would output it (times as
 * epoch ms, rounded, in place: the parsed object becomes the record); null when it does not, or uses a
 * form the schema must handle (RFC 3339 times).
 */
export function fastSensor(j: unknown): SensorRecord | null {
  if (!j || typeof j !== 'object' || Array.isArray(j)) return null;
  const o = j as Record<string, unknown>;
  if (o.v !== 1 || !isId(o.plant) || !isId(o.asset) || !isId(o.device)) return null;
  if (o.seq !== undefined && !(typeof o.seq === 'number' && Number.isInteger(o.seq) && o.seq >= 0))
    return null;
  const keys = 'values' in o ? SAMPLE_KEYS : BLOCK_KEYS;
  for (const k in o) if (!keys.has(k)) return null;
  if (keys === SAMPLE_KEYS) {
    if (!isTs(o.ts) || !channelsOk(o.values, false)) return null;
    o.ts = Math.round(o.ts);
    return o as unknown as SensorRecord;
  }
  if (
    !isTs(o.t0) ||
    typeof o.periodMs !== 'number' ||
    !(o.periodMs > 0 && o.periodMs <= 3_600_000) ||
    !channelsOk(o.channels, true)
  )
    return null;
  o.t0 = Math.round(o.t0);
  return o as unknown as SensorRecord;
}
