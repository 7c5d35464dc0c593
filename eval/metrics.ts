/**
 * Detection metrics. Scores are "higher = more anomalous"; labels are 1 (anomalous) or 0. Windows whose
 * label is unknown are left out by the caller.
 */

/** Area under the ROC curve: the probability that a random positive outranks a random negative (ties ½). */
export function aucRoc(scores: number[], labels: number[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0, neg = 0, rankSum = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j < idx.length && scores[idx[j]] === scores[idx[i]]) j++;
    const avgRank = (i + 1 + j) / 2; // ranks i+1 … j
    for (let k = i; k < j; k++) if (labels[idx[k]] === 1) rankSum += avgRank;
    i = j;
  }
  for (const l of labels) { if (l === 1) pos++; else neg++; }
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Precision and recall at every distinct threshold, highest first (a score ≥ threshold is flagged). */
export function prCurve(scores: number[], labels: number[]): Array<{ threshold: number; precision: number; recall: number; tp: number; fp: number }> {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const pos = labels.filter((l) => l === 1).length;
  const out: Array<{ threshold: number; precision: number; recall: number; tp: number; fp: number }> = [];
  let tp = 0, fp = 0;
  for (let i = 0; i < idx.length;) {
    const s = scores[idx[i]];
    while (i < idx.length && scores[idx[i]] === s) { if (labels[idx[i]] === 1) tp++; else fp++; i++; }
    out.push({ threshold: s, precision: tp / (tp + fp), recall: pos ? tp / pos : NaN, tp, fp });
  }
  return out;
}

/** Area under the precision–recall curve as average precision: Σ (R_k − R_{k−1}) · P_k over thresholds. */
export function aucPr(scores: number[], labels: number[]): number {
  const pos = labels.filter((l) => l === 1).length;
  if (pos === 0) return NaN;
  let ap = 0, prevR = 0;
  for (const p of prCurve(scores, labels)) { ap += (p.recall - prevR) * p.precision; prevR = p.recall; }
  return ap;
}

export interface Confusion { tp: number; fp: number; tn: number; fn: number }
export function confusion(pred: ArrayLike<number | boolean>, labels: ArrayLike<number>): Confusion {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const p = pred[i] === true || pred[i] === 1, l = labels[i] === 1;
    if (p && l) c.tp++; else if (p) c.fp++; else if (l) c.fn++; else c.tn++;
  }
  return c;
}
export const addConfusion = (a: Confusion, b: Confusion): Confusion => ({ tp: a.tp + b.tp, fp: a.fp + b.fp, tn: a.tn + b.tn, fn: a.fn + b.fn });

/** F1 = TP / (TP + (FP + FN)/2); FAR = FP / (FP + TN); MAR = FN / (FN + TP) (NaN when undefined). */
export function rates(c: Confusion): { f1: number; far: number; mar: number; precision: number; recall: number } {
  return {
    f1: c.tp / (c.tp + (c.fp + c.fn) / 2),
    far: c.fp / (c.fp + c.tn),
    mar: c.fn / (c.fn + c.tp),
    precision: c.tp / (c.tp + c.fp),
    recall: c.tp / (c.tp + c.fn),
  };
}

/** The best F1 over all thresholds, and the threshold that gives it. */
export function bestF1(scores: number[], labels: number[]): { f1: number; threshold: number } {
  const pos = labels.filter((l) => l === 1).length;
  let best = { f1: 0, threshold: Infinity };
  for (const p of prCurve(scores, labels)) {
    const f1 = p.tp / (p.tp + (p.fp + (pos - p.tp)) / 2);
    if (f1 > best.f1) best = { f1, threshold: p.threshold };
  }
  return best;
}

/**
 * The alert rule on a score series in window order (the foundation's rule): an alert opens at the k-th
 * consecutive window ≥ threshold and resolves after m consecutive windows below it. Returns the index of
 * the window at which each alert opened. Null scores (unscorable) break neither run.
 */
export function alertOpenings(scores: Array<number | null>, threshold: number, k: number, m: number): number[] {
  return alertIntervals(scores, threshold, k, m).map(([open]) => open);
}

/** The same rule as intervals: [window index it opened at, index it resolved at or null while open]. */
export function alertIntervals(scores: Array<number | null>, threshold: number, k: number, m: number): Array<[number, number | null]> {
  const out: Array<[number, number | null]> = [];
  let above = 0, below = 0;
  scores.forEach((s, i) => {
    if (s === null) return;
    if (s >= threshold) { above++; below = 0; } else { below++; above = 0; }
    const cur = out[out.length - 1];
    const open = cur !== undefined && cur[1] === null;
    if (!open && above >= k) out.push([i, null]);
    else if (open && below >= m) cur[1] = i;
  });
  return out;
}

// ─── SKAB's changepoint score (NAB-style, as the SKAB leaderboard computes it) ─────────────────────────

export interface NabProfile { name: string; tp: number; fp: number; fn: number }
export const NAB_PROFILES: NabProfile[] = [
  { name: 'Standard', tp: 1, fp: -0.11, fn: -1 },
  { name: 'LowFP', tp: 1, fp: -0.22, fn: -1 },
  { name: 'LowFN', tp: 1, fp: -0.11, fn: -2 },
];

/** Raw, null and perfect scores of one series for one profile; sum them over series, then `nabNormalise`. */
export interface NabParts { score: number; null: number; perfect: number }

/**
 * One series. `ts` are the row times (ascending), `trueCp` and `predCp` 0/1 per row; each true changepoint
 * opens a detection window [t, t + windowMs] (both ends included, as label slicing of a time index does).
 * The scoring follows the leaderboard's evaluation code as the SKAB README describes it:
 * - predictions before the first window's start (inclusive) cost `fp` each;
 * - for window i, its "space" is the rows from its start up to the next window's start (inclusive) or the
 *   end; the detection part is the window's rows plus a quarter of its length after it (or the window
 *   alone when that would not fit in the space); the first prediction in it scores
 *   (tp − fp) / (1 + exp(5·y / w)) + fp, where y is its row position counted from −(window rows) and w a
 *   quarter of the window's row count; no prediction there costs `fn`;
 * - the predictions in the last (detection-part length) rows of the space cost `fp` each.
 */
export function nabSeries(ts: number[], trueCp: number[], predCp: number[], windowMs: number, prof: NabProfile): NabParts {
  const n = ts.length;
  const firstAtOrAfter = (t: number) => { let lo = 0, hi = n; while (lo < hi) { const mid = (lo + hi) >> 1; if (ts[mid] < t) lo = mid + 1; else hi = mid; } return lo; };
  const lastAtOrBefore = (t: number) => firstAtOrAfter(t + 1e-9) - 1;
  const wins = ts.map((t, i) => (trueCp[i] === 1 ? t : null)).filter((t): t is number => t !== null).map((t) => [t, t + windowMs] as const);
  const sum = (a: number, b: number) => { let s = 0; for (let i = Math.max(0, a); i <= Math.min(n - 1, b); i++) s += predCp[i]; return s; };
  let score = 0;
  if (wins.length === 0) score += sum(0, n - 1) * prof.fp;
  else score += sum(0, lastAtOrBefore(wins[0][0])) * prof.fp;
  wins.forEach(([start, end], i) => {
    const s0 = firstAtOrAfter(start);
    const spaceEnd = i + 1 < wins.length ? lastAtOrBefore(wins[i + 1][0]) : n - 1;
    const spaceLen = spaceEnd - s0 + 1;
    const faultLen = lastAtOrBefore(end) - s0 + 1;
    const slow = Math.floor(faultLen / 4);
    const detLen = faultLen + slow >= spaceLen ? faultLen : faultLen + slow;
    let first = -1;
    for (let k = 0; k < detLen; k++) if (predCp[s0 + k] === 1) { first = k; break; }
    if (first < 0) score += prof.fn;
    else {
      const y = first - faultLen;
      score += (prof.tp - prof.fp) / (1 + Math.exp((5 * y) / slow)) + prof.fp;
      score += sum(spaceEnd - detLen + 1, spaceEnd) * prof.fp;
    }
  });
  return { score, null: wins.length * prof.fn, perfect: wins.length * prof.tp };
}

export function nabNormalise(parts: NabParts[]): number {
  const s = parts.reduce((a, p) => ({ score: a.score + p.score, null: a.null + p.null, perfect: a.perfect + p.perfect }), { score: 0, null: 0, perfect: 0 });
  return (100 * (s.score - s.null)) / (s.perfect - s.null);
}

/** Predicted changepoints as the leaderboard takes them: every 0/1 change of the predicted anomaly series. */
export function changesOf(pred: number[]): number[] {
  return pred.map((p, i) => (i > 0 && p !== pred[i - 1] ? 1 : 0));
}
