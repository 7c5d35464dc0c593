/**
 * The align stage alone (window operator: clock correction against record times, assign, dedupe,
 * watermark, fire, build tuples), in samples (channel values) per second, for block records and for
 * one-sample records, beside the same loop without record times (no correction); and the heap it holds
 * with 10 000 assets. Baseline in the same process: copying the same values into per-window arrays with no
 * windowing logic. Each device's clock is off by a few seconds with drift and stamp jitter, and records
 * arrive after a varying delay, so the estimator does its full work.
 */
import { WindowOperator } from '../align/index.js';
import { Config, type InputRecord } from '../schemas/index.js';

const cfg = { ...Config.parse({}).align, idleTimeoutMs: 0 };
const T0 = Date.UTC(2026, 0, 1);
const CH = ['vib_rms', 'temp_c', 'current_a', 'pressure_bar'];

function blocks(assets: number, seconds: number, rateHz: number): InputRecord[] {
  const out: InputRecord[] = [];
  for (let s = 0; s < seconds; s++) {
    for (let a = 0; a < assets; a++) {
      const channels: Record<string, number[]> = {};
      for (const c of CH) channels[c] = Array.from({ length: rateHz }, (_, i) => Math.sin(i + a));
      out.push({
        modality: 'sensors',
        value: {
          v: 1,
          plant: 'p',
          asset: `a${a}`,
          device: `d${a}`,
          seq: s,
          t0: T0 + s * 1000,
          periodMs: 1000 / rateHz,
          channels,
        },
      });
    }
  }
  return out;
}

function singles(assets: number, seconds: number, rateHz: number): InputRecord[] {
  const out: InputRecord[] = [];
  for (let k = 0; k < seconds * rateHz; k++) {
    for (let a = 0; a < assets; a++) {
      const values: Record<string, number> = {};
      for (const c of CH) values[c] = Math.sin(k + a);
      out.push({
        modality: 'sensors',
        value: {
          v: 1,
          plant: 'p',
          asset: `a${a}`,
          device: `d${a}`,
          seq: k,
          ts: T0 + Math.round((k * 1000) / rateHz),
          values,
        },
      });
    }
  }
  return out;
}

/**
 * Record times for `recs`: each device's clock is off by (asset × 37 ms mod 20 s) with 50 ppm drift, the
 * stamp of the record's last sample jittered by up to ±20 ms, delivered 15 + (0–90) ms later.
 */
function recordTimes(recs: InputRecord[]): number[] {
  let seed = 7;
  const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  return recs.map((r) => {
    const v = r.value as {
      asset: string;
      ts?: number;
      t0?: number;
      periodMs?: number;
      channels?: Record<string, number[]>;
    };
    const last = v.ts ?? v.t0! + (Object.values(v.channels!)[0].length - 1) * v.periodMs!;
    const a = Number(v.asset.slice(1));
    const offset = ((a * 37) % 20_000) - 10_000;
    const truth = last - offset - 50e-6 * (last - T0);
    return Math.round(truth + (rand() * 2 - 1) * 20 + 15 + rand() * 90);
  });
}

const countSamples = (recs: InputRecord[]) =>
  recs.reduce(
    (n, r) =>
      n +
      ('values' in r.value
        ? Object.keys(r.value.values).length
        : 'channels' in r.value
          ? Object.values(r.value.channels).reduce((m, xs) => m + xs.length, 0)
          : 0),
    0,
  );

function timeOperator(recs: InputRecord[], refTs?: number[]): number {
  const op = new WindowOperator(cfg, () => 0);
  const t = performance.now();
  let fired = 0;
  for (let i = 0; i < recs.length; i++) {
    op.add(recs[i], i, { recordTime: refTs?.[i] });
    if (i % 500 === 0) fired += op.fire().length;
  }
  fired += op.flush().length;
  if (fired === 0) throw new Error('nothing fired');
  return (performance.now() - t) / 1000;
}

/** The baseline: the same values appended to per-(asset, window, channel) arrays, nothing else. */
function timeCopy(recs: InputRecord[]): number {
  const t = performance.now();
  const m = new Map<string, number[]>();
  for (const r of recs) {
    const v = r.value as {
      asset: string;
      ts?: number;
      t0?: number;
      values?: Record<string, number>;
      channels?: Record<string, number[]>;
    };
    const w = Math.floor((v.ts ?? v.t0!) / cfg.windowMs);
    for (const [c, x] of Object.entries(v.values ?? v.channels!)) {
      const k = `${v.asset}|${w}|${c}`;
      let a = m.get(k);
      if (!a) m.set(k, (a = []));
      if (Array.isArray(x)) for (const y of x) a.push(y);
      else a.push(x);
    }
  }
  return (performance.now() - t) / 1000;
}

export function runAlignBench() {
  const out: Array<{
    name: string;
    samples: number;
    perS: number;
    uncorrectedPerS: number;
    baselinePerS: number;
    target: number;
  }> = [];
  for (const [name, recs, target] of [
    ['blocks of 100 samples', blocks(50, 120, 100), 1_000_000],
    ['one sample per record', singles(50, 120, 10), 200_000],
  ] as const) {
    const n = countSamples(recs);
    const refTs = recordTimes(recs);
    timeOperator(recs.slice(0, 2000), refTs); // warm-up
    timeOperator(recs.slice(0, 2000));
    const s = Math.min(timeOperator(recs, refTs), timeOperator(recs, refTs));
    const u = Math.min(timeOperator(recs), timeOperator(recs));
    const b = Math.min(timeCopy(recs), timeCopy(recs));
    out.push({ name, samples: n, perS: n / s, uncorrectedPerS: n / u, baselinePerS: n / b, target });
  }
  // Memory: 10 000 assets at 1 Hz for two minutes of event time (windows fire from 30 s on); heap after a GC.
  const gc = (globalThis as { gc?: () => void }).gc;
  let nowMs = 0; // processing time advances with event time, so the (absent) camera goes idle after 30 s
  const op = new WindowOperator({ ...cfg, idleTimeoutMs: 30_000 }, () => nowMs);
  gc?.();
  const before = process.memoryUsage().heapUsed;
  let offset = 0;
  const heap: number[] = [];
  for (let s = 0; s < 120; s++) {
    nowMs = s * 1000;
    for (let a = 0; a < 10_000; a++) {
      op.add(
        {
          modality: 'sensors',
          value: {
            v: 1,
            plant: 'p',
            asset: `a${a}`,
            device: `d${a}`,
            ts: T0 + s * 1000,
            values: { x: a, y: s },
          },
        },
        offset++,
      );
    }
    op.fire();
    if (s % 30 === 29) {
      gc?.();
      heap.push(process.memoryUsage().heapUsed - before);
    }
  }
  return { throughput: out, heapMiB: heap.map((h) => h / 2 ** 20), gcExposed: Boolean(gc) };
}
