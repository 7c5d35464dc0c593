/**
 * Detection metrics. Scores are "higher = more anomalous"; labels are 1 (anomalous) or 0. Windows whose
 * label is unknown are left out by the caller.
 */

/** Area under the ROC curve: the probability that a random positive outranks a random negative (ties ½). */
export function aucRoc(scores: number[], labels: number[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0,
    neg = 0,
    rankSum = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j < idx.length && scores[idx[j]] === scores[idx[i]]) j++;
    const avgRank = (i + 1 + j) / 2; // ranks i+1 … j
    for (let k = i; k < j; k++) if (labels[idx[k]] === 1) rankSum += avgRank;
    i = j;
  }
  for (const l of labels) {
    if (l === 1) pos++;
    else neg++;
  }
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Precision and recall at every distinct threshold, highest first (a score ≥ threshold is flagged). */
export function prCurve(
  scores: number[],
  labels: number[],
): Array<{ threshold: number; precision: number; recall: number; tp: number; fp: number }> {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const pos = labels.filter((l) => l === 1).length;
  const out: Array<{ threshold: number; precision: number; recall: number; tp: number; fp: number }> = [];
  let tp = 0,
    fp = 0;
  for (let i = 0; i < idx.length;) {
    const s = scores[idx[i]];
    while (i < idx.length && scores[idx[i]] === s) {
      if (labels[idx[i]] === 1) tp++;
      else fp++;
      i++;
    }
    out.push({ threshold: s, precision: tp / (tp + fp), recall: pos ? tp / pos : NaN, tp, fp });
  }
  return out;
}

/** Area under the precision–recall curve as average precision: Σ (R_k − R_{k−1}) · P_k over thresholds. */
export function aucPr(scores: number[], labels: number[]): number {
  const pos = labels.filter((l) => l === 1).length;
  if (pos === 0) return NaN;
  let ap = 0,
    prevR = 0;
  for (const p of prCurve(scores, labels)) {
    ap += (p.recall - prevR) * p.precision;
    prevR = p.recall;
  }
  return ap;
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}
export function confusion(pred: ArrayLike<number | boolean>, labels: ArrayLike<number>): Confusion {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const p = pred[i] === true || pred[i] === 1,
      l = labels[i] === 1;
    if (p && l) c.tp++;
    else if (p) c.fp++;
    else if (l) c.fn++;
    else c.tn++;
  }
  return c;
}
export const addConfusion = (a: Confusion, b: Confusion): Confusion => ({
  tp: a.tp + b.tp,
  fp: a.fp + b.fp,
  tn: a.tn + b.tn,
  fn: a.fn + b.fn,
});

/** F1 = TP / (TP + (FP + FN)/2); FAR = FP / (FP + TN); MAR = FN / (FN + TP) (NaN when undefined). */
export function rates(c: Confusion): {
  f1: number;
  far: number;
  mar: number;
  precision: number;
  recall: number;
} {
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
export function alertOpenings(
  scores: Array<number | null>,
  threshold: number,
  k: number,
  m: number,
): number[] {
  return alertIntervals(scores, threshold, k, m).map(([open]) => open);
}

/** The same rule as intervals: [window index it opened at, index it resolved at or null while open]. */
export function alertIntervals(
  scores: Array<number | null>,
  threshold: number,
  k: number,
  m: number,
): Array<[number, number | null]> {
  const out: Array<[number, number | null]> = [];
  let above = 0,
    below = 0;
  scores.forEach((s, i) => {
    if (s === null) return;
    if (s >= threshold) {
      above++;
      below = 0;
    } else {
      below++;
      above = 0;
    }
    const cur = out[out.length - 1];
    const open = cur !== undefined && cur[1] === null;
    if (!open && above >= k) out.push([i, null]);
    else if (open && below >= m) cur[1] = i;
  });
  return out;
}

// ─── SKAB's changepoint score (NAB-style, as SKAB's own evaluation code computes it) ─────────────────────

export interface NabProfile {
  name: string;
  tp: number;
  fp: number;
  fn: number;
}
export const NAB_PROFILES: NabProfile[] = [
  { name: 'Standard', tp: 1, fp: -0.11, fn: -1 },
  { name: 'LowFP', tp: 1, fp: -0.22, fn: -1 },
  { name: 'LowFN', tp: 1, fp: -0.11, fn: -2 },
];

/** Raw, null and perfect scores of one series for one profile; sum them over series, then `nabNormalise`. */
export interface NabParts {
  score: number;
  null: number;
  perfect: number;
  tp: number;
  fp: number;
  fn: number;
}

/** Detection windows of the true changepoints: [t, t + width] each, an overlapping window starting where the previous ends. */
export function nabWindows(ts: number[], trueCp: number[], windowMs: number): Array<[number, number]> {
  const wins: Array<[number, number]> = [];
  ts.forEach((t, i) => {
    if (trueCp[i] === 1) wins.push([t, t + windowMs]);
  });
  // "cut right window": where window i reaches into window i + 1, the later one starts at i's end.
  for (let i = 0; i + 1 < wins.length; i++) if (wins[i][1] >= wins[i + 1][0]) wins[i + 1][0] = wins[i][1];
  return wins;
}

/**
 * The reward of a detection at `t` in the window [start, end]: SKAB's "improved" scale, a tanh falling
 * from `tp` at the window's start to `fp` at its end, sampled at 1 000 points.
 */
export function nabReward(start: number, t: number, end: number, prof: NabProfile): number {
  const detail = 1000;
  let event = end > start ? Math.trunc(((t - start) / (end - start)) * detail) : 0;
  if (event >= detail) event = detail - 1;
  const x = -Math.PI / 2 + (event * Math.PI) / (detail - 1);
  const half = (prof.tp - prof.fp) / 2;
  return (half * -Math.tanh(x)) / Math.tanh(Math.PI / 2) + half + prof.fp;
}

/**
 * One series, scored the way SKAB's evaluation code does it (the `tsad` library's `chp_score` with
 * metric 'nab', windows to the right of each changepoint, "cut right window", the improved scale).
 * `ts` are the row times (ascending); `trueCp` and `predCp` 0/1 per row.
 * - every true changepoint opens a window [t, t + windowMs], both ends included;
 * - in each window the first predicted changepoint is a true positive rewarded by `nabReward`; later
 *   ones in the same window count nothing; a window with none is a miss (`fn`);
 * - every predicted changepoint outside all windows is a false positive (`fp` each), wherever it is:
 *   before the first window, between windows or after the last.
 */
export function nabSeries(
  ts: number[],
  trueCp: number[],
  predCp: number[],
  windowMs: number,
  prof: NabProfile,
): NabParts {
  const wins = nabWindows(ts, trueCp, windowMs);
  const preds = ts.filter((_, i) => predCp[i] === 1);
  let score = 0,
    tp = 0,
    fp = 0,
    fn = 0;
  if (wins.length === 0) fp = preds.length;
  else {
    fp += preds.filter((t) => t < wins[0][0]).length;
    wins.forEach(([start, end], i) => {
      const first = preds.find((t) => t >= start && t <= end);
      if (first === undefined) fn++;
      else {
        tp++;
        score += nabReward(start, first, end, prof);
      }
      const next = wins[i + 1];
      fp += preds.filter((t) => t > end && (next === undefined || t < next[0])).length;
    });
  }
  score += fp * prof.fp + fn * prof.fn;
  return { score, null: wins.length * prof.fn, perfect: wins.length * prof.tp, tp, fp, fn };
}

/** 100 · (score − null) / (perfect − null) over the summed parts of many series. */
export function nabNormalise(parts: NabParts[]): number {
  const s = parts.reduce(
    (a, p) => ({ score: a.score + p.score, null: a.null + p.null, perfect: a.perfect + p.perfect }),
    { score: 0, null: 0, perfect: 0 },
  );
  return (100 * (s.score - s.null)) / (s.perfect - s.null);
}

/**
 * Predicted changepoints as SKAB's notebooks take them: |Δ| of the predicted anomaly series, the first
 * row being the prediction itself (a series that starts flagged starts with a changepoint).
 */
export function changesOf(pred: number[]): number[] {
  return pred.map((p, i) => (i === 0 ? (p ? 1 : 0) : p !== pred[i - 1] ? 1 : 0));
}
