/**
 * Dataset replay: any delimited file with a timestamp column becomes sensor samples of one asset, with its
 * label columns kept aside for evaluation. SKAB (Skoltech Anomaly Benchmark) is read in place, file by
 * file: each file is its own stream (several overlap in wall-clock time), so each becomes its own asset.
 */
import { TributaryError } from '../schemas/errors.js';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { SensorSample } from '../schemas/index.js';

export interface ReplaySeries {
  name: string;
  plant: string;
  asset: string;
  device: string;
  /** Epoch ms per row. */
  ts: number[];
  /** Channel names (sanitised to the wire format's alphabet) in column order. */
  channels: string[];
  /** rows[i][c]: the value of channel c in row i (NaN when empty or not a number). */
  rows: number[][];
  /** Label columns by name, one value per row. */
  labels: Record<string, number[]>;
}

export interface CsvOptions {
  plant?: string;
  asset?: string;
  device?: string;
  /** The timestamp column; default: the first column named datetime, timestamp, time or ts, else the first. */
  timeColumn?: string;
  /** Columns that are labels, not channels (default: anomaly, changepoint, label). */
  labelColumns?: string[];
  /** Separator; default: `;` when the header has one, else `,`. */
  separator?: string;
}

export class ReplayError extends TributaryError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}

/** A time value: epoch ms or seconds as a number, or a date string (without a zone: UTC). */
function parseTime(s: string): number {
  const t = s.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) {
    const x = Number(t);
    return x < 1e11 ? Math.round(x * 1000) : Math.round(x);
  }
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : `${t.replace(' ', 'T')}Z`;
  return Date.parse(iso);
}

const sanitise = (c: string) =>
  c
    .trim()
    .replace(/[^A-Za-z0-9_.-]+/g, '_')
    .replace(/^_+|_+$/g, '') || 'value';

export function parseCsv(text: string, name: string, o: CsvOptions = {}): ReplaySeries {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new ReplayError(`${name}: no data rows`);
  const sep = o.separator ?? (lines[0].includes(';') ? ';' : ',');
  const header = lines[0].split(sep).map((h) => h.trim().replace(/^"|"$/g, ''));
  const timeCol =
    o.timeColumn ??
    header.find((h) => ['datetime', 'timestamp', 'time', 'ts'].includes(h.toLowerCase())) ??
    header[0];
  const ti = header.indexOf(timeCol);
  if (ti < 0) throw new ReplayError(`${name}: no column ${timeCol} (columns: ${header.join(', ')})`);
  const labelNames = new Set(o.labelColumns ?? ['anomaly', 'changepoint', 'label']);
  const labelIdx = header.map((h, i) => (labelNames.has(h) ? i : -1)).filter((i) => i >= 0);
  const chanIdx = header.map((_, i) => i).filter((i) => i !== ti && !labelIdx.includes(i));
  const ts: number[] = [];
  const rows: number[][] = [];
  const labels: Record<string, number[]> = Object.fromEntries(labelIdx.map((i) => [header[i], []]));
  for (let r = 1; r < lines.length; r++) {
    const cells = lines[r].split(sep);
    const t = parseTime(cells[ti] ?? '');
    if (!Number.isFinite(t))
      throw new ReplayError(`${name}: row ${r + 1}: bad time ${JSON.stringify(cells[ti])}`);
    ts.push(t);
    rows.push(
      chanIdx.map((i) => (cells[i] === undefined || cells[i].trim() === '' ? NaN : Number(cells[i]))),
    );
    for (const i of labelIdx) labels[header[i]].push(Number(cells[i]));
  }
  const asset = o.asset ?? sanitise(basename(name).replace(/\.[^.]+$/, ''));
  return {
    name,
    plant: o.plant ?? 'replay',
    asset,
    device: o.device ?? `${asset}-dev`,
    ts,
    channels: chanIdx.map((i) => sanitise(header[i])),
    rows,
    labels,
  };
}

export function readCsv(file: string, o: CsvOptions = {}): ReplaySeries {
  return parseCsv(readFileSync(file, 'utf8'), file, o);
}

/** The series as wire-format samples (one per row; empty cells left out, an all-empty row skipped). */
export function toSamples(s: ReplaySeries, shiftMs = 0): SensorSample[] {
  const out: SensorSample[] = [];
  for (let i = 0; i < s.ts.length; i++) {
    const values: Record<string, number> = {};
    s.channels.forEach((c, k) => {
      if (Number.isFinite(s.rows[i][k])) values[c] = s.rows[i][k];
    });
    if (Object.keys(values).length)
      out.push({
        v: 1,
        plant: s.plant,
        asset: s.asset,
        device: s.device,
        seq: i,
        ts: s.ts[i] + shiftMs,
        values,
      });
  }
  return out;
}

/** The 34 labelled SKAB files in the leaderboard's order (valve1 0–15, valve2 0–3, other 1–14). */
export function skabFiles(dir: string): Array<{ name: string; path: string }> {
  const out: Array<{ name: string; path: string }> = [];
  for (const folder of ['valve1', 'valve2', 'other']) {
    const files = readdirSync(join(dir, folder))
      .filter((f) => f.endsWith('.csv'))
      .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
    for (const f of files) out.push({ name: `${folder}/${f}`, path: join(dir, folder, f) });
  }
  return out;
}

/** Every labelled SKAB file as a series: plant `skab`, asset `skab-<folder>-<n>`. */
export function loadSkab(dir: string): ReplaySeries[] {
  return skabFiles(dir).map(({ name, path }) => {
    const s = readCsv(path, { plant: 'skab', asset: `skab-${name.replace('/', '-').replace('.csv', '')}` });
    if (!s.labels.anomaly || !s.labels.changepoint)
      throw new ReplayError(`${path}: no anomaly/changepoint columns`);
    return { ...s, name };
  });
}
