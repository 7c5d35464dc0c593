/**
 * Baseline scorer "robust z": per asset, per feature, the median and MAD of a reference period (the first
 * `referenceWindows` windows of the asset), then every later window scores
 *   z_f = |x_f − median_f| / scale_f,   scale_f = max(1.4826·MAD_f, 0.01·|median_f|, 1e-6)
 * and the window's score is the largest z. Features: mean and standard deviation of every sensor channel,
 * and the hottest pixel of the thermal frame when one is attached (absent camera: the feature is skipped).
 * Contributions are each channel's share of the summed z.
 *
 * States of one asset's model: fitting (collects reference feature vectors; rows are `reference`) →
 * fitted (params fixed and stored with the model version; rows are `scored`). The state is plain data,
 * checkpointed with the window state, so a restarted instance scores the same windows identically.
 * It stays the baseline to compare the fusion model against.
 */
import type { ScoreRow, WindowTuple } from '../schemas/index.js';

export type Features = Record<string, number>;
export interface RobustParams {
  [feature: string]: { median: number; scale: number };
}
export interface AssetModelState {
  reference: Features[];
  params: RobustParams | null;
  /** Words of the reference period's notes (sorted), fixed with the params. */
  vocab?: string[];
}

export const NOTE_WORDS_PER_SIGMA = 3;

/** Lower-case words of three letters or more. */
export const words = (text: string): string[] => text.toLowerCase().match(/[a-z]{3,}/g) ?? [];

export function featuresOf(t: WindowTuple, vocab?: ReadonlySet<string>): Features {
  const f: Features = {};
  for (const [ch, s] of Object.entries(t.channels)) {
    const n = s.v.length;
    if (n === 0) continue;
    let sum = 0;
    for (const x of s.v) sum += x;
    const mean = sum / n;
    let ss = 0;
    for (const x of s.v) ss += (x - mean) * (x - mean);
    f[`${ch}:mean`] = mean;
    f[`${ch}:std`] = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  }
  if (t.image?.maxC != null) f['image:max'] = t.image.maxC;
  if (t.image?.meanC != null) f['image:mean'] = t.image.meanC;
  if (vocab && t.notes.length) {
    const novel = new Set(t.notes.flatMap((n) => words(n.text)).filter((w) => !vocab.has(w)));
    f['notes:novel'] = novel.size;
  }
  return f;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function fitRobust(reference: Features[]): RobustParams {
  const names = new Set(reference.flatMap((r) => Object.keys(r)));
  const params: RobustParams = {};
  for (const name of [...names].sort()) {
    const xs = reference.map((r) => r[name]).filter((x): x is number => x !== undefined);
    if (xs.length < 3) continue;
    const med = median(xs);
    const mad = median(xs.map((x) => Math.abs(x - med)));
    params[name] = { median: med, scale: Math.max(1.4826 * mad, 0.01 * Math.abs(med), 1e-6) };
  }
  return params;
}

export function scoreFeatures(
  f: Features,
  p: RobustParams,
): { score: number; contributions: Record<string, number> } {
  const byChannel: Record<string, number> = {};
  let score = 0;
  for (const [name, x] of Object.entries(f)) {
    const q = p[name];
    if (!q) continue;
    const z = Math.abs(x - q.median) / q.scale;
    const ch = name.slice(0, name.lastIndexOf(':'));
    byChannel[ch] = (byChannel[ch] ?? 0) + z;
    if (z > score) score = z;
  }
  const total = Object.values(byChannel).reduce((s, z) => s + z, 0);
  const contributions: Record<string, number> = {};
  for (const [ch, z] of Object.entries(byChannel)) contributions[ch] = total > 0 ? round6(z / total) : 0;
  return { score: round6(score), contributions };
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

export interface BaselineOptions {
  referenceWindows: number;
  modelVersion: string;
  /**
   * Score the notes' novel words too. Off in the service by default: notes do not hold the watermark, so
   * which window a note reaches can depend on when it is read, and a restarted instance could then score a
   * window differently; the evaluation harness turns it on to measure what notes add.
   */
  noteNovelty?: boolean;
}

export interface ScoreResult {
  row: ScoreRow;
  /** Set on the window that completed the reference period: the params to store with the model version. */
  fitted: RobustParams | null;
}

const vocabCache = new WeakMap<string[], Set<string>>();
function vocabSet(state: AssetModelState): Set<string> {
  const v = state.vocab ?? [];
  let set = vocabCache.get(v);
  if (!set) {
    set = new Set(v);
    vocabCache.set(v, set);
  }
  return set;
}

/** Scores one tuple and advances the asset's model state (mutated in place). */
export function scoreBaseline(t: WindowTuple, state: AssetModelState, opts: BaselineOptions): ScoreResult {
  const base = {
    plant: t.plant,
    asset: t.asset,
    windowStart: t.windowStart,
    windowEnd: t.windowEnd,
    revision: t.revision,
    modelVersion: opts.modelVersion,
    quality: t.quality,
    imageTs: t.image?.ts ?? null,
    noteCount: t.notes.length,
  };
  if (!state.params) {
    // Only a window's first emission feeds the fit: an amended revision would count it twice.
    if (t.revision > 0)
      return { row: { ...base, status: 'reference', score: null, contributions: {} }, fitted: null };
    state.reference.push(featuresOf(t));
    if (opts.noteNovelty && t.notes.length) {
      const vocab = new Set(state.vocab);
      for (const n of t.notes) for (const w of words(n.text)) vocab.add(w);
      state.vocab = [...vocab].sort();
    }
    let fitted: RobustParams | null = null;
    if (state.reference.length >= opts.referenceWindows) {
      fitted = fitRobust(state.reference);
      if (opts.noteNovelty) fitted['notes:novel'] = { median: 0, scale: NOTE_WORDS_PER_SIGMA };
      state.params = fitted;
      state.reference = [];
    }
    return { row: { ...base, status: 'reference', score: null, contributions: {} }, fitted };
  }
  const { score, contributions } = scoreFeatures(
    featuresOf(t, opts.noteNovelty ? vocabSet(state) : undefined),
    state.params,
  );
  return { row: { ...base, status: 'scored', score, contributions }, fitted: null };
}
