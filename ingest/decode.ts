/**
 * Bytes → validated record, or a reject with a stable code and a reason for the dead-letter topic.
 * Never throws: every input gets exactly one of the two answers.
 */
import { schemaFor, type InputRecord, type Modality, type Config } from '../schemas/index.js';

export type RejectCode = 'too_large' | 'empty' | 'not_utf8' | 'invalid_json' | 'unsupported_version' | 'invalid_record' | 'over_limit';

export type Decoded =
  | { ok: true; record: InputRecord }
  | { ok: false; code: RejectCode; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeRecord(modality: Modality, bytes: Uint8Array | null, limits: Config['limits']): Decoded {
  if (!bytes || bytes.length === 0) return { ok: false, code: 'empty', reason: 'empty record value' };
  if (bytes.length > limits.maxRecordBytes) {
    return { ok: false, code: 'too_large', reason: `record is ${bytes.length} bytes, limit ${limits.maxRecordBytes}` };
  }
  let text: string;
  try { text = utf8.decode(bytes); } catch { return { ok: false, code: 'not_utf8', reason: 'value is not valid UTF-8' }; }
  let json: unknown;
  try { json = JSON.parse(text); } catch (e) {
    return { ok: false, code: 'invalid_json', reason: `invalid JSON: ${(e as Error).message}` };
  }
  if (json && typeof json === 'object' && 'v' in json && (json as { v: unknown }).v !== 1) {
    return { ok: false, code: 'unsupported_version', reason: `unsupported version v=${JSON.stringify((json as { v: unknown }).v)} (this build reads v=1)` };
  }
  const parsed = schemaFor(modality, json).safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return { ok: false, code: 'invalid_record', reason: `invalid ${modality} record: ${issues.join('; ')}` };
  }
  const record = { modality, value: parsed.data } as InputRecord;
  const over = checkLimits(record, limits);
  return over ? { ok: false, code: 'over_limit', reason: over } : { ok: true, record };
}

function checkLimits(r: InputRecord, limits: Config['limits']): string | null {
  if (r.modality === 'sensors') {
    const v = r.value;
    const channels = 'values' in v ? Object.keys(v.values) : Object.keys(v.channels);
    if (channels.length === 0) return 'sensor record has no channels';
    if (channels.length > limits.maxChannels) return `${channels.length} channels, limit ${limits.maxChannels}`;
    if ('channels' in v) {
      const n = Object.values(v.channels).reduce((s, a) => s + a.length, 0);
      if (n > limits.maxSamplesPerRecord) return `${n} samples, limit ${limits.maxSamplesPerRecord}`;
    }
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
