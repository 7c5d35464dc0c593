/**
 * Context scorer: "how unlike anything this asset has done normally is this window?", conditional on
 * operating state without naming the states. Each asset keeps a memory of its own normal windows'
 * features (mean and spread of every channel, the frame's hottest and mean pixel); a window scores by its
 * distance to its k-th nearest remembered window. A stopped pump is near other stopped windows, a pump
 * at full load near full-load windows, so neither is anomalous; a window unlike every state is.
 *
 * - Features are standardised by the memory's own spread per feature (the wider of the 10–90 % range and
 *   the MAD, with a floor relative to the level), and each feature's |z| is capped, so a channel that
 *   never varied cannot make a score explode.
 * - The score is on the scale the alert rules use (threshold 6): `SCORE_AT_Q99` = 4.65 at the 99th
 *   percentile of the memory's own leave-one-out k-NN distances (log scale), rising linearly past it, so
 *   a score means the same on every asset. The constants (k 3, accepted after 12 h, 2 000 windows, 4.65
 *   at the 99th percentile) were chosen on plant B's validation seeds 11–14 (short preset); the 6 h lag
 *   and thinning by redundancy on those and on the week preset's seeds 1 (train) and 11 (validation).
 * - The memory adapts: a window joins it `lagMs` after its end when it scored below the alert threshold
 *   (a fault that is alerting is not learnt, nor the slow drift before it alerts), or `acceptAfterMs`
 *   after its end whatever it scored (a new operating state that lasted that long is normal now).
 * - Memory covers time, not windows: one window per `rememberEveryMs` (60 s) is a candidate. Past
 *   `capacity`, a quarter of the memory goes from its older half, the windows with the most close
 *   neighbours first (`thinning: 'redundant'`): hours of steady running thin out while a state seen a few
 *   minutes a day (a start-up, a stop, a product change) keeps its windows, so Monday's start-up is a
 *   state it has seen. `uniform` drops every other window of the older half instead.
 * - Cold start: an asset is scored from `coldStartMs` (15 min) after its first window. During its first
 *   `warmUpMs` (60 min), and until `minMemory` windows are remembered, every window joins the memory at
 *   once, whatever it scored (the asset's first hour is taken as normal, as a reference period is, but
 *   scored meanwhile); those scores say `basis: 'cold-start'`.
 *
 * State is plain data, per asset; `contextCheckpoint` / `restoreContext` write it as a small head and
 * the memory in fixed chunks, of which only those that changed are rewritten.
 */
import { featuresOf, type Features } from './baseline.js';
import { SENSOR_STATS, sensorRaw } from './features.js';
import type { WindowTuple } from '../schemas/index.js';

export interface ContextOptions {
  /** Alert threshold on the score (windows at or above it are not learnt until acceptAfterMs). */
  threshold: number;
  k?: number;
  lagMs?: number;
  acceptAfterMs?: number;
  capacity?: number;
  minMemory?: number;
  /** One window per this interval is a memory candidate (default 60 s). */
  rememberEveryMs?: number;
  /** Scored from this long after the asset's first window (default 15 min). */
  coldStartMs?: number;
  /** Every window joins the memory at once during this long after the first window (default 60 min). */
  warmUpMs?: number;
  /**
   * A window at or above the threshold that, cut where it changes most, is two remembered states is a
   * transition between known states (a start, a stop, a load step), not an anomaly: it scores as its
   * less familiar part when both are below the threshold (default false).
   */
  transitions?: boolean;
  /**
   * How the memory thins past `capacity`: `uniform`, every other window of the older half; `redundant`,
   * the older half's windows most like another remembered window first (rare states are kept).
   */
  thinning?: 'uniform' | 'redundant';
  /** `basic`: each channel's mean and spread and the frame's max and mean (the baseline's); `rich` adds each channel's slope and band energies and the frame's hot-spot contrast. */
  features?: 'basic' | 'rich';
}

/** The rich feature set: every channel's statistics as the fusion encoder computes them, and the frame's. */
export function richFeatures(t: WindowTuple): Features {
  const channels = Object.keys(t.channels).sort();
  const raw = sensorRaw(
    t,
    { channels, noteBuckets: 0, emaHalfLifeMs: 1, noteHalfLifeMs: 1, referenceWindows: 1 },
    [],
  );
  const f: Features = {};
  channels.forEach((ch, i) =>
    SENSOR_STATS.forEach((stat, j) => {
      const v = raw[i * SENSOR_STATS.length + j];
      if (Number.isFinite(v)) f[`${ch}:${stat}`] = v;
    }),
  );
  const im = t.image;
  if (im?.maxC != null && im.meanC != null) {
    f['image:max'] = im.maxC;
    f['image:mean'] = im.meanC;
    if (im.patches?.length) {
      const p = [...im.patches].sort((a, b) => a - b);
      f['image:contrast'] = p[p.length - 1] - p[p.length >> 1];
    }
  }
  return f;
}

/** A remembered window: its end and its feature vector (by the asset's feature index; NaN: absent). */
interface Remembered {
  end: number;
  x: number[];
}
export interface ContextState {
  /** Feature names in vector order (grows as features appear). */
  names: string[];
  memory: Remembered[];
  pending: Array<Remembered & { score: number | null; start: number }>;
  /** Per feature (vector order): 1 / spread, refitted as the memory changes (0: not enough values). */
  inverseSpread: number[] | null;
  /** log k-NN distance over the memory (leave-one-out): median, 99th percentile, and the cold start's (see refit). */
  calib: { median: number; q99: number; wide: number } | null;
  addedSinceFit: number;
  /** Start of the asset's first window, and end of the last memory candidate (null: none yet). */
  firstStart: number | null;
  /** The longest window seen (ms): remembered windows closer than this in time overlap (absent: 0). */
  spanMs?: number;
  lastCandidateEnd: number | null;
  /** Lowest memory index changed since the last checkpoint (null: none), and the chunks written then. */
  changedFrom: number | null;
  chunksWritten: number;
}

export const newContextState = (): ContextState => ({
  names: [],
  memory: [],
  pending: [],
  inverseSpread: null,
  calib: null,
  addedSinceFit: 0,
  firstStart: null,
  lastCandidateEnd: null,
  changedFrom: null,
  chunksWritten: 0,
});

const Z_CAP = 8;
/** The score of a window as far from the memory as its own 99th-percentile window (see the header). */
export const SCORE_AT_Q99 = 4.65;
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * (sorted.length - 1))))];

/** Six significant digits: what a checkpoint holds, so a restored memory equals the one in memory. */
const round6 = (x: number) => (x === 0 ? 0 : Number(x.toPrecision(6)));
/** A window's features in the memory's order (NaN where absent); new names join the memory's first. */
function vectorOf(f: Features, st: ContextState): number[] {
  for (const name in f) if (!st.names.includes(name)) st.names.push(name);
  return vectorIn(f, st.names);
}
/** Features in the order of `names`, without adding any (NaN where absent). */
function vectorIn(f: Features, names: string[]): number[] {
  return names.map((n) => (f[n] !== undefined && Number.isFinite(f[n]) ? round6(f[n]) : NaN));
}

function fitSpread(st: ContextState): number[] {
  return st.names.map((_, j) => {
    const xs = st.memory
      .map((m) => m.x[j])
      .filter((x) => x !== undefined && Number.isFinite(x))
      .sort((a, b) => a - b);
    if (xs.length < 3) return 0;
    const centre = quantile(xs, 0.5);
    const dev = xs.map((x) => Math.abs(x - centre)).sort((a, b) => a - b);
    return (
      1 /
      Math.max(
        (quantile(xs, 0.9) - quantile(xs, 0.1)) / 2.563,
        1.4826 * quantile(dev, 0.5),
        0.01 * Math.abs(centre),
        1e-3,
      )
    );
  });
}

/**
 * Root mean capped squared z-difference over the features both windows have. Past `limit` it stops early
 * and answers Infinity: the partial sum already exceeds limit² times every feature, so the mean over the
 * features present does too (exact, not an approximation).
 */
function distance(a: number[], b: number[], inv: number[], limit = Infinity): number {
  let sum = 0,
    n = 0;
  const m = Math.min(a.length, b.length, inv.length);
  const bound = limit * limit * m;
  for (let j = 0; j < m; j++) {
    const w = inv[j],
      d = a[j] - b[j];
    if (w === 0 || d !== d) continue; // no spread, or absent in either (NaN)
    const z = Math.min(Z_CAP, Math.abs(d) * w);
    sum += z * z;
    n++;
    if (sum > bound) return Infinity;
  }
  return n ? Math.sqrt(sum / n) : Z_CAP;
}

/** Keeps `best` the k smallest distances seen, in order; returns the k-th (Infinity until there are k). */
function keepBest(best: number[], k: number, d: number, worst: number): number {
  if (best.length < k) {
    best.push(d);
    best.sort((p, q) => p - q);
    return best.length === k ? best[k - 1] : Infinity;
  }
  if (d >= worst) return worst;
  best[k - 1] = d;
  best.sort((p, q) => p - q);
  return best[k - 1];
}

/**
 * The k-th smallest distance from x to the memory, and the index of the nearest, leaving out the indices
 * `skip` (one index, or an inclusive range [from, to]).
 */
export function nearestK(
  x: number[],
  memory: Remembered[],
  inv: number[],
  k: number,
  skip: number | [number, number] = -1,
): { kth: number; nearest: number } {
  const [skipFrom, skipTo] = typeof skip === 'number' ? [skip, skip] : skip;
  const best: number[] = [];
  let worst = Infinity,
    nearest = -1,
    nearestD = Infinity;
  for (let i = 0; i < memory.length; i++) {
    if (i >= skipFrom && i <= skipTo) continue;
    // Beyond the k-th best so far a window can be neither among the k nearest nor the nearest.
    const d = distance(x, memory[i].x, inv, worst);
    if (d < nearestD) {
      nearestD = d;
      nearest = i;
    }
    worst = keepBest(best, k, d, worst);
  }
  return { kth: best.length ? best[best.length - 1] : Z_CAP, nearest };
}

const EPS = 0.05;
function refit(st: ContextState, k: number): void {
  const inv = fitSpread(st);
  st.inverseSpread = inv;
  // Leave-one-out distances of up to 150 remembered windows, spread evenly over the memory. Left out with
  // each window are those that overlap it in time (sliding windows share samples: a window's overlapping
  // neighbours are near copies of it, and would make the memory's spread look far tighter than it is).
  const step = Math.max(1, Math.floor(st.memory.length / 150));
  const span = st.spanMs ?? 0;
  const m = st.memory;
  const ds: number[] = [];
  for (let i = 0; i < m.length; i += step) {
    let from = i,
      to = i;
    while (from > 0 && m[i].end - m[from - 1].end < span) from--;
    while (to < m.length - 1 && m[to + 1].end - m[i].end < span) to++;
    // A memory that is one run of overlapping windows (a short cold start) leaves out only the window itself.
    if (to - from + 1 > m.length - k) from = to = i;
    ds.push(Math.log(nearestK(m[i].x, m, inv, k, [from, to]).kth + EPS));
  }
  ds.sort((a, b) => a - b);
  const median = quantile(ds, 0.5);
  const mad = quantile(
    ds.map((d) => Math.abs(d - median)).sort((a, b) => a - b),
    0.5,
  );
  // While the memory is small its empirical 99th percentile is its largest value or near it: the cold
  // start's scale is the widest of that, the largest, and the normal 99th percentile (2.326 σ, σ from the MAD).
  st.calib = {
    median,
    q99: quantile(ds, 0.99),
    wide: Math.max(ds[ds.length - 1], median + 2.326 * 1.4826 * mad),
  };
  st.addedSinceFit = 0;
}

function remember(
  st: ContextState,
  r: Remembered,
  capacity: number,
  thinning: 'uniform' | 'redundant',
): void {
  st.memory.push(r);
  st.addedSinceFit++;
  st.changedFrom = Math.min(st.changedFrom ?? Infinity, st.memory.length - 1);
  if (st.memory.length <= capacity) return;
  const half = st.memory.length >> 1;
  st.memory =
    thinning === 'redundant' && st.inverseSpread
      ? thinRedundant(st.memory, half, st.inverseSpread)
      : [...st.memory.slice(0, half).filter((_, i) => i % 2 === 1), ...st.memory.slice(half)];
  st.changedFrom = 0;
}

/**
 * Half of the older half goes, the most redundant first: the windows with the most close neighbours
 * (the smallest distance to their 8th-nearest remembered window). A state seen a few minutes a day (a
 * start-up) has few neighbours and keeps its windows while hours of steady running thin out.
 */
const THIN_K = 8;
function thinRedundant(memory: Remembered[], half: number, inv: number[]): Remembered[] {
  const crowded = memory
    .slice(0, half)
    .map((m, i) => ({ i, d: kthOutward(m.x, memory, inv, THIN_K, i) }))
    .sort((a, b) => a.d - b.d || a.i - b.i);
  const removed = new Set(crowded.slice(0, half >> 1).map((c) => c.i));
  return memory.filter((_, i) => !removed.has(i));
}

/**
 * nearestK's k-th distance from memory[at] to the rest of the memory, the windows scanned outward from it
 * in time: neighbours in time are mostly neighbours in features, so the k-th best so far is small early
 * and most distances stop early (the same value as any scan order: the k-th smallest of one set; about
 * three times faster on a full memory, which matters when every asset thins in the same minute).
 */
export function kthOutward(x: number[], memory: Remembered[], inv: number[], k: number, at: number): number {
  const best: number[] = [];
  let worst = Infinity;
  const consider = (i: number) => {
    worst = keepBest(best, k, distance(x, memory[i].x, inv, worst), worst);
  };
  for (let step = 1; at - step >= 0 || at + step < memory.length; step++) {
    if (at + step < memory.length) consider(at + step);
    if (at - step >= 0) consider(at - step);
  }
  return best.length ? best[best.length - 1] : Z_CAP;
}

/** The options' defaults (see the header for how they were chosen). */
export const CONTEXT_DEFAULTS = {
  k: 3,
  lagMs: 6 * 3_600_000,
  acceptAfterMs: 12 * 3_600_000,
  capacity: 2_000,
  minMemory: 30,
  rememberEveryMs: 60_000,
  coldStartMs: 15 * 60_000,
  warmUpMs: 60 * 60_000,
  transitions: false,
  thinning: 'redundant',
} as const satisfies Omit<Required<ContextOptions>, 'threshold' | 'features'>;

/**
 * The window cut in two where it changes most: the cut (between samples) that leaves the least squared
 * deviation within the two parts, summed over channels in the memory's units (each channel's mean
 * feature's spread); each part as a tuple of its own (the same frame and notes), or null when no cut
 * leaves samples on both sides.
 */
function splitAtChange(t: WindowTuple, st: ContextState, inv: number[]): [WindowTuple, WindowTuple] | null {
  const series = Object.entries(t.channels).filter(([, s]) => s.v.length >= 2);
  const candidates = [...new Set(series.flatMap(([, s]) => s.t.slice(1)))].sort((a, b) => a - b);
  if (!candidates.length) return null;
  // Per channel: weight (1 / spread of its mean, squared) and prefix sums of v and v².
  const prepared = series.map(([ch, s]) => {
    const j = st.names.indexOf(`${ch}:mean`);
    const w = j >= 0 && inv[j] ? inv[j] * inv[j] : 0;
    const s1 = [0],
      s2 = [0];
    for (const v of s.v) {
      s1.push(s1[s1.length - 1] + v);
      s2.push(s2[s2.length - 1] + v * v);
    }
    return { s, w, s1, s2, at: 0 };
  });
  const sse = (p: (typeof prepared)[number], from: number, to: number) => {
    const n = to - from;
    if (n <= 0) return 0;
    const sum = p.s1[to] - p.s1[from];
    return Math.max(0, p.s2[to] - p.s2[from] - (sum * sum) / n);
  };
  let best = Infinity,
    cutAt = NaN;
  for (const c of candidates) {
    let cost = 0;
    for (const p of prepared) {
      while (p.at < p.s.t.length && p.s.t[p.at] < c) p.at++;
      if (p.w) cost += p.w * (sse(p, 0, p.at) + sse(p, p.at, p.s.v.length));
    }
    if (cost < best) {
      best = cost;
      cutAt = c;
    }
  }
  if (!Number.isFinite(cutAt)) return null;
  const first: WindowTuple['channels'] = {},
    second: WindowTuple['channels'] = {};
  for (const [ch, s] of Object.entries(t.channels)) {
    let cut = 0;
    while (cut < s.t.length && s.t[cut] < cutAt) cut++;
    if (cut > 0) first[ch] = { device: s.device, t: s.t.slice(0, cut), v: s.v.slice(0, cut) };
    if (cut < s.t.length) second[ch] = { device: s.device, t: s.t.slice(cut), v: s.v.slice(cut) };
  }
  if (!Object.keys(first).length || !Object.keys(second).length) return null;
  return [
    { ...t, channels: first },
    { ...t, channels: second },
  ];
}

/** A part's features: a channel's spread only where the part holds two samples or more. */
function partFeatures(part: WindowTuple, rich: boolean): Features {
  const f = rich ? richFeatures(part) : featuresOf(part);
  for (const [ch, s] of Object.entries(part.channels)) if (s.v.length < 2) delete f[`${ch}:std`];
  return f;
}

export interface ContextScore {
  score: number | null;
  /** The window scored as a transition between two remembered states (see `transitions`): its whole-window score. */
  transitionFrom?: number;
  contributions: Record<string, number>;
  /** `cold-start`: scored while the asset's memory is still being filled (see the header). */
  basis: 'memory' | 'cold-start';
  /** Windows remembered when scored. */
  memory: number;
}

/** Scores a window (null until coldStartMs after the asset's first window) and advances the asset's memory. */
export function scoreContext(t: WindowTuple, st: ContextState, o: ContextOptions): ContextScore {
  const {
    k,
    lagMs: lag,
    acceptAfterMs: accept,
    capacity,
    minMemory,
    rememberEveryMs: every,
    coldStartMs: coldStart,
    warmUpMs: warmUp,
    thinning,
  } = { ...CONTEXT_DEFAULTS, ...o };
  st.firstStart ??= t.windowStart;
  st.spanMs = Math.max(st.spanMs ?? 0, t.windowEnd - t.windowStart);
  const warm = st.memory.length < minMemory || t.windowEnd - st.firstStart <= warmUp;
  // Windows old enough join the memory (in window-end order).
  const now = t.windowEnd;
  const keep: ContextState['pending'] = [];
  for (const p of st.pending) {
    const normal = p.score === null || p.score < o.threshold;
    if (warm || (normal && p.end <= now - lag) || p.end <= now - accept)
      remember(st, { end: p.end, x: p.x }, capacity, thinning);
    else keep.push(p);
  }
  st.pending = keep;
  const minFit = Math.min(minMemory, 3);
  // Refitted as the memory grows by a tenth while warming up, by a fifth (at least 30 windows) after.
  const refitAfter = warm ? Math.max(1, st.memory.length / 10) : Math.max(30, st.memory.length / 5);
  if (st.memory.length >= minFit && (!st.inverseSpread || st.addedSinceFit >= refitAfter)) refit(st, k);

  const features = o.features === 'rich' ? richFeatures(t) : featuresOf(t);
  const x = vectorOf(features, st);
  let score: number | null = null;
  let transitionFrom: number | undefined;
  const contributions: Record<string, number> = {};
  const inv = st.inverseSpread;
  if (inv && st.calib && st.memory.length >= minFit && t.windowEnd - st.firstStart >= coldStart) {
    const found = nearestK(x, st.memory, inv, k);
    const q99 = warm ? Math.max(st.calib.q99, st.calib.wide) : st.calib.q99;
    const calib = st.calib;
    const scoreOf = (kth: number) => {
      const d = Math.log(kth + EPS);
      const z = Math.max(0, (SCORE_AT_Q99 * (d - calib.median)) / Math.max(q99 - calib.median, 0.05));
      return Math.round(z * 1e6) / 1e6;
    };
    score = scoreOf(found.kth);
    const parts =
      score >= o.threshold && (o.transitions ?? CONTEXT_DEFAULTS.transitions)
        ? splitAtChange(t, st, inv)
        : null;
    if (parts) {
      // Each part against the memory, on the same features (a part's own, absent ones left out).
      const partScores = parts.map((part) => {
        const f = partFeatures(part, o.features === 'rich');
        return scoreOf(nearestK(vectorIn(f, st.names), st.memory, inv, k).kth);
      });
      const asTransition = Math.max(...partScores);
      if (asTransition < o.threshold) {
        transitionFrom = score;
        score = asTransition;
      }
    }
    // Contributions: each channel's share of the squared z against the nearest remembered window.
    const nearest = st.memory[Math.max(0, found.nearest)];
    let total = 0;
    const byChannel: Record<string, number> = {};
    for (let j = 0; j < Math.min(x.length, nearest.x.length, inv.length); j++) {
      const dj = x[j] - nearest.x[j];
      if (!inv[j] || dj !== dj) continue;
      const z = Math.min(Z_CAP, Math.abs(dj) * inv[j]);
      const name = st.names[j],
        ch = name.slice(0, name.lastIndexOf(':'));
      byChannel[ch] = (byChannel[ch] ?? 0) + z * z;
      total += z * z;
    }
    for (const [ch, v] of Object.entries(byChannel))
      contributions[ch] = total > 0 ? Math.round((v / total) * 1e6) / 1e6 : 0;
  }
  const memory = st.memory.length;
  // A revision replaces the window's pending entry; otherwise one window per `every` is a candidate
  // (every window while warming up), and none older than what the memory holds.
  const entry = { start: t.windowStart, end: t.windowEnd, x, score };
  const at = st.pending.findIndex((p) => p.start === t.windowStart);
  if (at >= 0) st.pending[at] = entry;
  else if (
    (!st.memory.length || t.windowEnd > st.memory[st.memory.length - 1].end) &&
    (warm || st.lastCandidateEnd === null || t.windowEnd - st.lastCandidateEnd >= every)
  ) {
    st.pending.push(entry);
    st.lastCandidateEnd = Math.max(st.lastCandidateEnd ?? -Infinity, t.windowEnd);
  }
  return {
    score,
    contributions,
    basis: warm ? 'cold-start' : 'memory',
    memory,
    ...(transitionFrom === undefined ? {} : { transitionFrom }),
  };
}

/** Windows per stored memory chunk. */
export const MEMORY_CHUNK = 200;
/** What a checkpoint stores of an asset's context state: `head` and the memory chunks that changed (by index; `[]`: no longer used). */
export interface ContextCheckpoint {
  head: Omit<ContextState, 'memory' | 'changedFrom'> & { memoryLength: number };
  chunks: Record<number, Remembered[]>;
}

/** The head and the chunks changed since the last call (which marks them written). */
export function contextCheckpoint(st: ContextState, all = false): ContextCheckpoint {
  const { memory, changedFrom, ...rest } = st;
  const chunks: Record<number, Remembered[]> = {};
  const count = Math.ceil(memory.length / MEMORY_CHUNK);
  const from = all ? 0 : changedFrom === null ? count : Math.floor(changedFrom / MEMORY_CHUNK);
  for (let c = from; c < count; c++) chunks[c] = memory.slice(c * MEMORY_CHUNK, (c + 1) * MEMORY_CHUNK);
  for (let c = count; c < st.chunksWritten; c++) chunks[c] = [];
  st.changedFrom = null;
  st.chunksWritten = count;
  return { head: { ...rest, chunksWritten: count, memoryLength: memory.length }, chunks };
}

/** JSON turns NaN into null: back to NaN. */
const nan = (xs: Array<number | null>): number[] => xs.map((x) => (x === null ? NaN : x));

/** The state `contextCheckpoint` wrote (chunks by index, as read back). */
export function restoreContext(
  head: ContextCheckpoint['head'],
  chunks: Record<number, Remembered[]>,
): ContextState {
  const { memoryLength, ...rest } = head;
  const memory: Remembered[] = [];
  for (let c = 0; c < head.chunksWritten; c++)
    for (const r of chunks[c] ?? []) memory.push({ end: r.end, x: nan(r.x) });
  if (memory.length !== memoryLength)
    throw new Error(`context memory: ${memory.length} windows restored, ${memoryLength} written`);
  return {
    ...rest,
    memory,
    changedFrom: null,
    pending: rest.pending.map((p) => ({ ...p, x: nan(p.x) })),
    inverseSpread: rest.inverseSpread,
    calib: rest.calib,
  };
}
