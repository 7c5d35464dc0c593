import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alertOpen,
  alertOpenings,
  aucPr,
  aucRoc,
  bestF1,
  changesOf,
  confusion,
  nabNormalise,
  nabSeries,
  NAB_PROFILES,
  rates,
} from '../../eval/index.js';

const close = (a: number, b: number, eps = 1e-9, msg = '') =>
  assert.ok(Math.abs(a - b) <= eps, `${msg} ${a} ≠ ${b}`);

test('AUC-ROC: hand-computed cases, ties count one half', () => {
  // Positives 0.9, 0.4; negatives 0.8, 0.3, 0.1: 0.9 outranks all three, 0.4 two of them → 5 of 6 pairs.
  close(aucRoc([0.9, 0.8, 0.4, 0.3, 0.1], [1, 0, 1, 0, 0]), 5 / 6);
  close(aucRoc([1, 2, 3], [0, 0, 1]), 1);
  close(aucRoc([3, 2, 1], [0, 0, 1]), 0);
  close(aucRoc([0.5, 0.5], [1, 0]), 0.5);
  assert.ok(Number.isNaN(aucRoc([1, 2], [0, 0])));
});

test('AUC-PR as average precision: hand-computed', () => {
  // Sorted: 0.9(1) 0.8(0) 0.4(1) 0.3(0) 0.1(0): AP = ½·1 + ½·(2/3) = 5/6.
  close(aucPr([0.9, 0.8, 0.4, 0.3, 0.1], [1, 0, 1, 0, 0]), 5 / 6);
  close(aucPr([0.1, 0.2, 0.3], [1, 1, 1]), 1);
  // A tie between a positive and a negative at the top: precision ½ at recall 1.
  close(aucPr([0.5, 0.5], [1, 0]), 0.5);
});

test('confusion, F1 / FAR / MAR as SKAB defines them, best F1', () => {
  const c = confusion([1, 1, 0, 0, 1, 0], [1, 0, 1, 0, 1, 0]);
  assert.deepEqual(c, { tp: 2, fp: 1, tn: 2, fn: 1 });
  const r = rates(c);
  close(r.f1, 2 / (2 + (1 + 1) / 2));
  close(r.far, 1 / 3);
  close(r.mar, 1 / 3);
  // Flagging everything on a set that is 53.7 % anomalous: F1 ≈ 0.70, as the SKAB README warns.
  const all = rates({ tp: 12771, fp: 11030, tn: 0, fn: 0 });
  close(all.f1, 0.698, 0.001);
  const b = bestF1([0.9, 0.8, 0.4, 0.3, 0.1], [1, 0, 1, 0, 0]);
  close(b.f1, 0.8); // threshold 0.4: tp 2, fp 1, fn 0 → 2 / 2.5
  assert.equal(b.threshold, 0.4);
});

test('the alert rule opens at the k-th consecutive window and resolves after m below; nulls break nothing', () => {
  const s = [1, 7, 7, null, 7, 7, 1, 1, 7, 7, 7, 1, 1, 1];
  assert.deepEqual(alertOpenings(s, 6, 3, 2), [4, 10]);
  assert.deepEqual(alertOpenings(s, 6, 3, 5), [4]);
  assert.deepEqual(alertOpenings([7, 7, 1, 7, 7], 6, 3, 1), []);
});

test('predicted changepoints are |Δ| of the predicted anomaly series, the first row its own prediction', () => {
  assert.deepEqual(changesOf([0, 0, 1, 1, 0, 1]), [0, 0, 1, 0, 1, 1]);
  assert.deepEqual(changesOf([1, 1, 0]), [1, 0, 1]);
});

test("the SKAB changepoint score on hand-computed cases (SKAB's scoring: every detection outside a window is a false positive)", () => {
  // 300 rows at 1 s, one changepoint at row 50: its window is 50 s … 110 s, both ends included.
  // Rewards (numpy, tsad's improved scale at 1 000 points): Standard at point 33 = 0.989019919985301,
  // at point 500 = 0.44404850713138366; LowFP at point 500 = 0.3889542150453045.
  const ts = Array.from({ length: 300 }, (_, i) => i * 1000);
  const cp = ts.map((_, i) => (i === 50 ? 1 : 0));
  const pred = (...rows: number[]) => ts.map((_, i) => (rows.includes(i) ? 1 : 0));
  const [std, lowFp, lowFn] = NAB_PROFILES;
  const score = (p: number[], prof = std, c = cp) => nabNormalise([nabSeries(ts, c, p, 60_000, prof)]);
  // At the changepoint: the whole reward. At the window's last row: the false-positive weight.
  close(score(pred(50)), 100, 1e-9);
  close(score(pred(110)), (100 * (-0.11 + 1)) / 2, 1e-9);
  // 2 s in: point trunc(2/60 · 1000) = 33. 30 s in: point 500.
  close(score(pred(52)), (100 * (0.989019919985301 + 1)) / 2, 1e-9);
  close(score(pred(80)), (100 * (0.44404850713138366 + 1)) / 2, 1e-9);
  close(score(pred(80), lowFp), (100 * (0.3889542150453045 + 1)) / 2, 1e-9);
  // A second detection in the same window counts nothing.
  close(score(pred(52, 70, 90)), score(pred(52)), 1e-12);
  // Nothing: the null detector scores 0 (every profile).
  close(score(pred()), 0);
  close(score(pred(), lowFn), 0);
  // One row after the window: a false positive and a miss.
  close(score(pred(111)), (100 * (-0.11 - 1 + 1)) / 2, 1e-9);
  // False positives before, just after and long after the window all cost the profile's weight:
  // 3 · −0.11 beside the detection at the changepoint; LowFP doubles it; LowFN only changes misses.
  close(score(pred(10, 50, 125, 290)), (100 * (1 - 0.33 + 1)) / 2, 1e-9);
  close(score(pred(10, 50, 125, 290), lowFp), (100 * (1 - 0.66 + 1)) / 2, 1e-9);
  close(score(pred(10, 50, 125, 290), lowFn), (100 * (1 - 0.33 + 2)) / 3, 1e-9);
  const parts = nabSeries(ts, cp, pred(10, 50, 125, 290), 60_000, std);
  assert.deepEqual([parts.tp, parts.fp, parts.fn], [1, 3, 0]);
  // No changepoint at all: every detection is a false positive (and nothing normalises: null = perfect = 0).
  const none = nabSeries(
    ts,
    ts.map(() => 0),
    pred(5, 6),
    60_000,
    std,
  );
  assert.deepEqual([none.fp, none.score], [2, -0.22]);
  // Overlapping windows (changepoints at 50 and 80): the second starts where the first ends, at 110 s; a
  // detection at 110 s is in both, the last point of the first and the first point of the second.
  const cp2 = ts.map((_, i) => (i === 50 || i === 80 ? 1 : 0));
  close(score(pred(110), std, cp2), (100 * (-0.11 + 1 + 2)) / 4, 1e-9);
  // Parts add up over series before normalising.
  const two = nabNormalise([
    nabSeries(ts, cp, pred(50), 60_000, std),
    nabSeries(ts, cp, pred(), 60_000, std),
  ]);
  close(two, 50, 1e-9);
});

test('alertOpen: a SKAB row is flagged while the alert rule is open', () => {
  const s = [null, 7, 7, 7, 1, 7, 1, 1, 1, 7, 7];
  assert.deepEqual(alertOpen(s, 6, { openAfter: 3, resolveAfter: 3 }), [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0]);
  assert.deepEqual(alertOpen(s, 6, { openAfter: 2, resolveAfter: 1 }), [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1]);
});
