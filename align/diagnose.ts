/**
 * `tributary clocks`: the align stage run over a capture of the input topics, through exactly the code
 * the pipeline runs (decode → key and plant checks → window operator → fire, with the configured window length),
 * reporting what it makes of each device's clock.
 *
 * Input: one JSON line per record, in delivery order: `topic`, `key`, `deliverAt` (the record time: epoch
 * ms or RFC 3339) and `value` (the record, as an object or as its JSON text). The topic's last dot-part
 * names the modality (`….sensors`, `….images`, `….notes`). Records are handed to the operator in batches
 * of `batchRecords` per topic run, as a consumer would, and windows are fired after each batch; the
 * operator's processing-time clock follows the record times.
 *
 * Output: per device its clock (offset, drift, uncertainty, steps with when and how large, whether its
 * corrections are applied) and what it quarantined, sent to the late log or recognised as a duplicate,
 * with the reasons; and, when asked, every sensor sample's corrected time and window in the format of
 * ../shared/skew's checker (one line per sample record, or per block sample).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { decodeRecord, screenRecord } from '../ingest/decode.js';
import type { Config, Modality } from '../schemas/index.js';
import { WindowOperator, windowStartOf, type SampleOutcome } from './window-operator.js';

export interface DeviceReport {
  asset: string;
  device: string;
  samples: number;
  windowed: number;
  late: number;
  quarantined: number;
  duplicates: number;
  reasons: Record<string, number>;
  offsetMs: number | null;
  driftPpm: number | null;
  uncertaintyMs: number | null;
  stampJitterMs: number | null;
  corrected: boolean;
  steps: Array<{ atMs: number; sizeMs: number }>;
}

export interface ClocksReport {
  records: number;
  rejected: Record<string, number>;
  windows: number;
  devices: DeviceReport[];
}

export interface ClocksOptions {
  /** Called with one checker line per sensor sample (or block sample). */
  onSample?: (line: string) => void;
  batchRecords?: number;
}

const MODALITIES: Record<string, Modality> = { sensors: 'sensors', images: 'images', notes: 'notes' };

const parseTime = (x: unknown): number =>
  typeof x === 'number' ? x : typeof x === 'string' ? Date.parse(x) : NaN;

/** Runs the align stage over `lines` (delivery-format JSON lines). */
export async function runClocks(
  lines: AsyncIterable<string> | Iterable<string>,
  cfg: Config,
  opts: ClocksOptions = {},
): Promise<ClocksReport> {
  let wall = 0;
  const op = new WindowOperator(cfg.align, () => wall);
  const devices = new Map<string, DeviceReport>();
  const rejected: Record<string, number> = {};
  const batch = opts.batchRecords ?? 500;
  const W = cfg.align.windowMs;
  const plants = cfg.plants ? new Set(cfg.plants) : null;
  let records = 0,
    windows = 0,
    inBatch = 0,
    lastTopic = '';
  let current: DeviceReport | null = null,
    block = false;

  const reportOf = (asset: string, device: string): DeviceReport => {
    let r = devices.get(device);
    if (!r) {
      r = {
        asset,
        device,
        samples: 0,
        windowed: 0,
        late: 0,
        quarantined: 0,
        duplicates: 0,
        reasons: {},
        offsetMs: null,
        driftPpm: null,
        uncertaintyMs: null,
        stampJitterMs: null,
        corrected: false,
        steps: [],
      };
      devices.set(device, r);
    }
    return r;
  };
  op.trace = (device, seq, i, ts, outcome: SampleOutcome, reason) => {
    const r = current!;
    r.samples++;
    if (outcome === 'windowed') r.windowed++;
    else if (outcome === 'late') {
      r.late++;
      r.reasons['window already closed'] = (r.reasons['window already closed'] ?? 0) + 1;
    } else if (outcome === 'quarantined') {
      r.quarantined++;
      const k = reason ?? 'quarantined';
      r.reasons[k] = (r.reasons[k] ?? 0) + 1;
    } else if (outcome === 'duplicate') r.duplicates++;
    // A repeat of a record already reported is not reported again; a sample not windowed is in no window.
    if (!opts.onSample || (outcome === 'duplicate' && seq !== undefined)) return;
    const line: Record<string, unknown> = {
      device,
      seq,
      correctedTs: ts,
      windowStart: outcome === 'windowed' ? windowStartOf(ts, W) : -1,
    };
    if (block) line.i = i;
    opts.onSample(JSON.stringify(line));
  };

  const fire = () => {
    windows += op.fire().length;
    inBatch = 0;
  };
  for await (const text of lines) {
    if (!text.trim()) continue;
    let line: { topic?: unknown; key?: unknown; deliverAt?: unknown; value?: unknown };
    try {
      line = JSON.parse(text);
    } catch {
      rejected.invalid_line = (rejected.invalid_line ?? 0) + 1;
      continue;
    }
    const modality =
      MODALITIES[
        String(line.topic ?? '')
          .split('.')
          .pop() ?? ''
      ];
    const at = parseTime(line.deliverAt);
    if (!modality || !Number.isFinite(at)) {
      rejected.invalid_line = (rejected.invalid_line ?? 0) + 1;
      continue;
    }
    if (line.topic !== lastTopic || inBatch >= batch) {
      fire();
      lastTopic = String(line.topic);
    }
    wall = Math.max(wall, at);
    records++;
    inBatch++;
    const bytes = Buffer.from(typeof line.value === 'string' ? line.value : JSON.stringify(line.value));
    const d = decodeRecord(modality, bytes, cfg.limits);
    if (!d.ok) {
      rejected[d.code] = (rejected[d.code] ?? 0) + 1;
      continue;
    }
    const refused = screenRecord(d.record, typeof line.key === 'string' ? line.key : null, plants);
    if (refused) {
      rejected[refused.code] = (rejected[refused.code] ?? 0) + 1;
      continue;
    }
    if (d.record.modality === 'sensors') {
      const v = d.record.value;
      current = reportOf(v.asset, v.device);
      block = !('values' in v);
    } else if (d.record.modality === 'images') reportOf(d.record.value.asset, d.record.value.camera);
    op.add(d.record, records, { recordTime: at });
  }
  fire();
  windows += op.flush().length;

  const steps = op.clockSteps();
  for (const c of op.clockStates()) {
    const r = reportOf(c.asset, c.device);
    Object.assign(r, {
      offsetMs: c.offsetMs,
      driftPpm: c.driftPpm,
      uncertaintyMs: c.uncertaintyMs,
      stampJitterMs: c.stampJitterMs,
      corrected: c.corrected,
      steps: steps.get(c.device) ?? [],
    });
  }
  return {
    records,
    rejected,
    windows,
    devices: [...devices.values()].sort(
      (x, y) => x.asset.localeCompare(y.asset) || x.device.localeCompare(y.device),
    ),
  };
}

/** The lines of a file, for `runClocks`. */
export function fileLines(path: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
}
