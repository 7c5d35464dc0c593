/**
 * The fusion model's input encoders that need no training: a window tuple becomes three fixed-length vectors
 * (sensors, images, notes) and a presence mask. Plain arrays, no TensorFlow, so the same code feeds training,
 * scoring and the drift monitor.
 *
 * - Sensors, per channel of the model's channel list: mean, standard deviation, slope, and the log energies
 *   of three bands of the resampled grid (1–3, 4–10 and 11–30 cycles per window) with empty cells filled.
 * - Images: hottest pixel, mean, and the 8 × 6 patch means of the thermal frame (°C, any frame size).
 * - Sensors and images are standardised per asset against its reference period (median and MAD, like the
 *   baseline), then squashed with sign(z)·log(1+|z|); beside each vector sits its exponential moving average
 *   over the asset's recent windows (half-life `emaHalfLifeMs`), so slow faults build up.
 * - Notes: normalised (lower case, the plant's asset names replaced by one token), tokenised into words;
 *   word unigrams, bigrams and character trigrams are hashed into `noteBuckets` buckets (a multi-hot vector,
 *   which the model multiplies by a dense layer: an embedding bag built from matMul). Beside it, a memory of
 *   recent notes decaying with half-life `noteHalfLifeMs`, since notes are rare and symptoms last.
 *
 * The per-asset state is plain data, checkpointed with the window state.
 */
import type { WindowTuple } from '../schemas/index.js';

export interface FeatureSpec {
  /** Sensor channels in the model's order. */
  channels: string[];
  noteBuckets: number;
  emaHalfLifeMs: number;
  noteHalfLifeMs: number;
  /** Windows per asset whose features fix its standardisation. */
  referenceWindows: number;
  /**
   * The frame's age at the window's end as one more image input (`frameAgeInput`), after the current and
   * recent image vectors: a frame from a camera that sends every 15 minutes is older than one sent each
   * minute, and the model can learn how far to trust it. Models saved before it keep their input shape.
   */
  imageAge?: boolean;
}

export const SENSOR_STATS = ['mean', 'std', 'slope', 'band1', 'band2', 'band3'] as const;
export const IMAGE_FEATURES = ['max', 'mean', ...Array.from({ length: 48 }, (_, i) => `patch${i}`)];
export const BANDS: Array<[number, number]> = [
  [1, 3],
  [4, 10],
  [11, 30],
];

export const sensorDim = (s: FeatureSpec) => s.channels.length * SENSOR_STATS.length;
export const imageDim = () => IMAGE_FEATURES.length;
/** The image input's width: current ‖ recent image features, and the frame's age when the spec asks for it. */
export const imageInputDim = (s: FeatureSpec) => 2 * IMAGE_FEATURES.length + (s.imageAge ? 1 : 0);
/** The frame-age input: log2(1 + age in minutes), 0 for a frame at the window's end, about 4 at 15 minutes. */
export const frameAgeInput = (ageMs: number) => Math.log2(1 + Math.max(0, ageMs) / 60_000);

export interface Standardiser {
  median: number[];
  scale: number[];
}

export interface AssetFeatureState {
  /** Raw sensor and image vectors of the reference period (emptied once fitted). */
  refS: number[][];
  refI: number[][];
  std: { s: Standardiser; i: Standardiser | null } | null;
  emaS: number[] | null;
  emaI: number[] | null;
  memN: number[] | null;
  /** Terms of the latest notes (they explain the note memory). */
  terms?: Array<[string, number]>;
  lastEnd: number | null;
}

export const newFeatureState = (): AssetFeatureState => ({
  refS: [],
  refI: [],
  std: null,
  emaS: null,
  emaI: null,
  memN: null,
  lastEnd: null,
});

/** One window's model input: each modality's vector (current ‖ recent) and whether it is present. */
export interface ModelInput {
  s: Float32Array;
  i: Float32Array;
  n: Float32Array;
  present: [number, number, number];
  /** The current window's standardised sensor z (per channel × stat), for channel explanations. */
  zS: Float32Array;
  /** Note terms of this window and recent ones, for term explanations: term → bucket. */
  terms: Array<[string, number]>;
  /** Why some input was ignored (NaN readings, a frame without pixels…). */
  issues: string[];
}

const slog = (z: number) => (z >= 0 ? Math.log1p(z) : -Math.log1p(-z));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function fitStandardiser(rows: number[][]): Standardiser {
  const d = rows[0].length;
  const med: number[] = [],
    scale: number[] = [];
  for (let j = 0; j < d; j++) {
    const xs = rows.map((r) => r[j]).filter(Number.isFinite);
    const m = xs.length ? median(xs) : 0;
    const mad = xs.length ? median(xs.map((x) => Math.abs(x - m))) : 0;
    med.push(m);
    scale.push(Math.max(1.4826 * mad, 0.01 * Math.abs(m), 1e-3));
  }
  return { median: med, scale };
}

const twiddleCache = new Map<number, { cos: Float64Array; sin: Float64Array }>();
/** cos and sin of 2πfk/L for f = 1…30 and k < L (the band energies' DFT terms), cached per grid length. */
function twiddles(L: number): { cos: Float64Array; sin: Float64Array } {
  let t = twiddleCache.get(L);
  if (!t) {
    const F = BANDS[BANDS.length - 1][1];
    t = { cos: new Float64Array(F * L), sin: new Float64Array(F * L) };
    for (let f = 1; f <= F; f++)
      for (let k = 0; k < L; k++) {
        const a = (2 * Math.PI * f * k) / L;
        t.cos[(f - 1) * L + k] = Math.cos(a);
        t.sin[(f - 1) * L + k] = Math.sin(a);
      }
    if (twiddleCache.size > 64) twiddleCache.clear();
    twiddleCache.set(L, t);
  }
  return t;
}

/** Raw sensor statistics of one window (NaN where a channel is absent). */
export function sensorRaw(t: WindowTuple, spec: FeatureSpec, issues: string[]): number[] {
  const out: number[] = [];
  for (const ch of spec.channels) {
    const s = t.channels[ch];
    const vals = s ? s.v.filter(Number.isFinite) : [];
    if (s && vals.length < s.v.length)
      issues.push(`${ch}: ${s.v.length - vals.length} non-finite readings ignored`);
    if (!vals.length) {
      for (let k = 0; k < SENSOR_STATS.length; k++) out.push(NaN);
      continue;
    }
    const n = vals.length;
    let sum = 0;
    for (const x of vals) sum += x;
    const mean = sum / n;
    let ss = 0;
    for (const x of vals) ss += (x - mean) * (x - mean);
    const std = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
    // Slope over the window (units per window) and band energies from the grid, gaps filled with the mean.
    const g = t.grid.channels[ch];
    const cells = g ? g.v.map((x, k) => (g.mask[k] && x !== null && Number.isFinite(x) ? x : mean)) : [mean];
    const L = cells.length;
    let sxy = 0,
      sxx = 0;
    for (let k = 0; k < L; k++) {
      const dx = k - (L - 1) / 2;
      sxy += dx * (cells[k] - mean);
      sxx += dx * dx;
    }
    const slope = sxx > 0 ? (sxy / sxx) * L : 0;
    out.push(mean, std, slope);
    const tw = twiddles(L);
    const top = Math.min(BANDS[BANDS.length - 1][1], L >> 1);
    for (const [lo, hi] of BANDS) {
      let e = 0;
      for (let f = lo; f <= Math.min(hi, top); f++) {
        let re = 0,
          im = 0;
        const row = (f - 1) * L;
        for (let k = 0; k < L; k++) {
          const d = cells[k] - mean;
          re += d * tw.cos[row + k];
          im -= d * tw.sin[row + k];
        }
        e += (re * re + im * im) / (L * L);
      }
      out.push(Math.log(e + 1e-9));
    }
  }
  return out;
}

/** Raw image features, or null without a usable frame. */
export function imageRaw(t: WindowTuple, issues: string[]): number[] | null {
  const im = t.image;
  if (!im) return null;
  if (im.maxC === null || im.meanC === null || !im.patches || im.patches.length !== 48) {
    issues.push(
      `image ${im.camera}: ${im.missing ?? `no thermal pixels (kind ${im.kind})`}, image modality treated as missing`,
    );
    return null;
  }
  const v = [im.maxC, im.meanC, ...im.patches];
  if (!v.every(Number.isFinite)) {
    issues.push(`image ${im.camera}: non-finite pixels, image modality treated as missing`);
    return null;
  }
  return v;
}

/** FNV-1a, 32 bits. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const MAX_NOTE_CHARS = 4_000;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const nameRegexCache = new Map<string, RegExp | null>();

/** Normalised words of a note: lower case, ASCII letters and digits, the plant's asset names as `<asset>`. */
export function noteTokens(text: string, assetNames: readonly string[] = []): string[] {
  let s = text
    .slice(0, MAX_NOTE_CHARS)
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '');
  const key = assetNames.join('\u0000');
  let re = nameRegexCache.get(key);
  if (re === undefined) {
    const names = [...assetNames].map((n) => n.toLowerCase()).sort((a, b) => b.length - a.length);
    re = names.length
      ? new RegExp(`(^|[^a-z0-9])(${names.map(escape).join('|')})(?=$|[^a-z0-9])`, 'g')
      : null;
    if (nameRegexCache.size > 1000) nameRegexCache.clear();
    nameRegexCache.set(key, re);
  }
  if (re) s = s.replace(re, '$1 qqasset ');
  return (s.match(/[a-z0-9]+/g) ?? [])
    .filter((w) => w.length >= 2)
    .map((w) => (w === 'qqasset' ? '<asset>' : w));
}

/** Hashed word unigrams, bigrams and character trigrams → bucket, with the term each came from. */
export function noteTerms(
  text: string,
  buckets: number,
  assetNames: readonly string[] = [],
): Array<[string, number]> {
  const ws = noteTokens(text, assetNames);
  const out: Array<[string, number]> = [];
  for (let k = 0; k < ws.length; k++) {
    out.push([ws[k], hash(`w:${ws[k]}`) % buckets]);
    if (k + 1 < ws.length) out.push([`${ws[k]} ${ws[k + 1]}`, hash(`b:${ws[k]} ${ws[k + 1]}`) % buckets]);
    if (ws[k] !== '<asset>') {
      const w = `^${ws[k]}$`;
      for (let c = 0; c + 3 <= w.length; c++) out.push([ws[k], hash(`c:${w.slice(c, c + 3)}`) % buckets]);
    }
  }
  return out;
}

function uniqueTerms(terms: Array<[string, number]>): Array<[string, number]> {
  const seen = new Set<string>();
  const out: Array<[string, number]> = [];
  for (const t of terms) {
    const k = `${t[0]}\u0000${t[1]}`;
    if (!seen.has(k) && out.length < 60) {
      seen.add(k);
      out.push(t);
    }
  }
  return out;
}

/**
 * The model input of one tuple; advances the asset's state (reference collection, moving averages, note
 * memory). Returns null while the asset is in its reference period. Only a window's first emission
 * advances the moving averages, so an amended revision is scored against the same history.
 */
export function encode(
  t: WindowTuple,
  st: AssetFeatureState,
  spec: FeatureSpec,
  assetNames: readonly string[] = [],
): ModelInput | null {
  const issues: string[] = [];
  const rs = sensorRaw(t, spec, issues);
  const ri = imageRaw(t, issues);
  const sPresent = rs.some(Number.isFinite);
  if (!st.std) {
    if (t.revision > 0) return null;
    if (sPresent) st.refS.push(rs);
    if (ri) st.refI.push(ri);
    if (st.refS.length >= spec.referenceWindows) {
      st.std = { s: fitStandardiser(st.refS), i: st.refI.length >= 3 ? fitStandardiser(st.refI) : null };
      st.refS = [];
      st.refI = [];
    }
    return null;
  }
  const windowMs = t.windowEnd - t.windowStart;
  const advance = t.revision === 0 && (st.lastEnd === null || t.windowEnd > st.lastEnd);
  const gap = st.lastEnd === null ? windowMs : Math.max(windowMs, t.windowEnd - st.lastEnd);
  const a = 1 - Math.pow(0.5, gap / spec.emaHalfLifeMs);
  const zS = new Float32Array(rs.length);
  for (let j = 0; j < rs.length; j++)
    zS[j] = Number.isFinite(rs[j]) ? slog((rs[j] - st.std.s.median[j]) / st.std.s.scale[j]) : 0;
  let zI: Float32Array | null = null;
  if (ri && st.std.i) {
    zI = new Float32Array(ri.length);
    for (let j = 0; j < ri.length; j++) zI[j] = slog((ri[j] - st.std.i.median[j]) / st.std.i.scale[j]);
  } else if (ri)
    issues.push('image: no reference frames for this asset yet, image modality treated as missing');
  const mix = (ema: number[] | null, z: Float32Array | null): number[] | null => {
    if (!z) return ema;
    if (!ema) return Array.from(z);
    return ema.map((e, j) => e + a * (z[j] - e));
  };
  const emaS = sPresent ? mix(st.emaS, zS) : st.emaS;
  const emaI = mix(st.emaI, zI);
  // Notes: this window's multi-hot vector and the decayed memory of earlier ones.
  const cur = new Float32Array(spec.noteBuckets);
  const terms: Array<[string, number]> = [];
  for (const n of t.notes)
    for (const tb of noteTerms(n.text, spec.noteBuckets, assetNames)) {
      cur[tb[1]] = 1;
      terms.push(tb);
    }
  const decay = Math.pow(0.5, gap / spec.noteHalfLifeMs);
  const memN = st.memN ? st.memN.map((m, j) => Math.max(m * decay, cur[j])) : Array.from(cur);
  if (advance) {
    // Kept rounded (the checkpoint holds them): the in-memory state is what a restore rebuilds.
    const r4 = (v: number[] | null) => v && v.map((x) => Math.round(x * 1e4) / 1e4);
    st.emaS = r4(emaS);
    st.emaI = r4(emaI);
    st.memN = memN.map((x) => (x < 0.01 ? 0 : Math.round(x * 1e4) / 1e4));
    st.lastEnd = t.windowEnd;
    if (terms.length) st.terms = uniqueTerms(terms);
  }
  const dS = rs.length,
    dI = IMAGE_FEATURES.length;
  const s = new Float32Array(2 * dS),
    i = new Float32Array(imageInputDim(spec)),
    n = new Float32Array(2 * spec.noteBuckets);
  if (sPresent) {
    s.set(zS, 0);
    s.set(emaS ?? zS, dS);
  }
  if (zI) {
    i.set(zI, 0);
    i.set(emaI ?? zI, dI);
    if (spec.imageAge) i[2 * dI] = frameAgeInput(t.image?.ageMs ?? 0);
  }
  n.set(cur, 0);
  n.set(memN, spec.noteBuckets);
  const notesPresent = memN.some((x) => x > 0.05);
  return {
    s,
    i,
    n,
    present: [sPresent ? 1 : 0, zI ? 1 : 0, notesPresent ? 1 : 0],
    zS,
    terms: terms.length ? uniqueTerms(terms) : notesPresent ? (st.terms ?? []) : [],
    issues,
  };
}
