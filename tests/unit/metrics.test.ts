import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertOpenings, aucPr, aucRoc, bestF1, changesOf, confusion, nabNormalise, nabSeries, NAB_PROFILES, rates } from '../../eval/index.js';

const close = (a: number, b: number, eps = 1e-9, msg = '') => assert.ok(Math.abs(a - b) <= eps, `${msg} ${a} ≠ ${b}`);

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

test('predicted changepoints are the 0/1 changes of the predicted anomaly series', () => {
  assert.deepEqual(changesOf([0, 0, 1, 1, 0, 1]), [0, 0, 1, 0, 1, 1]);
});

test('the SKAB changepoint score (NAB-style) on hand-computed cases', () => {
  // 200 rows at 1 s, one changepoint at row 50: its window spans rows 50–110 (61 rows), a quarter of it (15
  // rows) more may still detect it late (rows 111–125), and the last 76 rows of the series count false positives.
  const ts = Array.from({ length: 200 }, (_, i) => i * 1000);
  const cp = ts.map((_, i) => (i === 50 ? 1 : 0));
  const pred = (...rows: number[]) => ts.map((_, i) => (rows.includes(i) ? 1 : 0));
  const [std, lowFp, lowFn] = NAB_PROFILES;
  const score = (p: number[], prof = std) => nabNormalise([nabSeries(ts, cp, p, 60_000, prof)]);
  // Detected 2 rows in: the reward is 1.11/(1 + e^(5·(2−61)/15)) − 0.11 ≈ 1.
  close(score(pred(52)), 100, 1e-6);
  // Detected 9 rows after the window: 1.11/(1 + e^3) − 0.11 = −0.05736; normalised (−0.05736 + 1)/2.
  close(score(pred(120)), (100 * (1.11 / (1 + Math.exp(3)) - 0.11 + 1)) / 2, 1e-9);
  // Nothing: the null detector scores 0 (every profile).
  close(score(pred()), 0);
  close(score(pred(), lowFn), 0);
  // A false positive before the window and a miss: (−0.11 − 1 + 1)/2.
  close(score(pred(10)), -5.5, 1e-9);
  close(score(pred(10), lowFp), -11, 1e-9);
  // Detected, plus a false positive in the tail of the series: ≈ (1 − 0.11 + 1)/2.
  close(score(pred(52, 150)), 94.5, 1e-6);
  // Parts add up over series before normalising.
  const two = nabNormalise([nabSeries(ts, cp, pred(52), 60_000, std), nabSeries(ts, cp, pred(), 60_000, std)]);
  close(two, 50, 1e-6);
});
