import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { backoffMs, evaluate, initialRuleState, sign } from '../../alerts/index.js';
import { fitRobust, median, scoreBaseline, scoreFeatures, type AssetModelState } from '../../fusion/index.js';
import { Config, type ScoreRow, type WindowTuple } from '../../schemas/index.js';

const tuple = (i: number, x: number[]): WindowTuple => ({
  plant: 'p1', asset: 'a1', windowStart: i * 10_000, windowEnd: (i + 1) * 10_000, revision: 0, slideMs: 10_000, grid: { stepMs: 1000, channels: {} },
  channels: { x: { device: 'd', t: x.map((_, k) => i * 10_000 + k), v: x } }, image: null, notes: [],
  quality: { samples: x.length, duplicates: 0, late: 0, images: 0, notes: 0, clockOffsetMs: 0 },
});

test('median and robust fit: one wild reference window does not move the fit', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  const ref = [1, 1.1, 0.9, 1.05, 0.95, 100].map((m) => ({ 'x:mean': m }));
  const p = fitRobust(ref);
  assert.ok(Math.abs(p['x:mean'].median - 1.025) < 1e-9);
  assert.ok(p['x:mean'].scale < 0.2);
});

test('baseline: reference windows first, then scores; a shifted channel scores high and takes the contribution', () => {
  const st: AssetModelState = { reference: [], params: null };
  const opts = { referenceWindows: 5, modelVersion: 'm1' };
  const rows = [0, 1, 2, 3, 4].map((i) => scoreBaseline(tuple(i, [1 + i * 0.01, 1.1, 0.9]), st, opts));
  assert.deepEqual(rows.map((r) => r.row.status), ['reference', 'reference', 'reference', 'reference', 'reference']);
  assert.ok(rows[4].fitted, 'the fifth window completes the fit');
  const normal = scoreBaseline(tuple(5, [1.02, 1.1, 0.9]), st, opts).row;
  const shifted = scoreBaseline(tuple(6, [3, 3.1, 2.9]), st, opts).row;
  assert.equal(normal.status, 'scored');
  assert.ok(normal.score! < 3, `normal ${normal.score}`);
  assert.ok(shifted.score! > 10, `shifted ${shifted.score}`);
  assert.equal(shifted.contributions.x, 1);
});

test('contributions are each channel\'s share of the summed z', () => {
  const r = scoreFeatures({ 'a:mean': 3, 'b:mean': 1 }, { 'a:mean': { median: 0, scale: 1 }, 'b:mean': { median: 0, scale: 1 } });
  assert.equal(r.score, 3);
  assert.deepEqual(r.contributions, { a: 0.75, b: 0.25 });
});

const row = (i: number, score: number): ScoreRow => ({
  plant: 'p1', asset: 'a1', windowStart: i * 10, windowEnd: i * 10 + 10, revision: 0, modelVersion: 'm', status: 'scored', score,
  contributions: { x: 1 }, quality: { samples: 1, duplicates: 0, late: 0, images: 0, notes: 0, clockOffsetMs: 0 }, imageTs: null, noteCount: 0,
});

test('alert rule: opens after k consecutive windows over the threshold, once, and resolves after m below', () => {
  const cfg = { threshold: 5, openAfter: 3, resolveAfter: 2 };
  const s = initialRuleState();
  const scores = [1, 6, 7, 1, 6, 6, 9, 8, 1, 6, 1, 1, 1];
  const decisions = scores.map((x, i) => evaluate(row(i, x), s, cfg));
  const kinds = decisions.map((d) => d?.kind ?? '-');
  assert.deepEqual(kinds, ['-', '-', '-', '-', '-', '-', 'opened', 'updated', '-', 'updated', '-', 'resolved', '-']);
  const opened = decisions[6]!.alert;
  assert.equal(opened.openedWindow, 40, 'the alert starts at the first window of the run');
  assert.equal(decisions[11]!.alert.peakScore, 9);
  assert.equal(decisions[11]!.alert.id, opened.id);
  assert.equal(evaluate({ ...row(20, 99), status: 'reference', score: null }, s, cfg), null);
});

test('webhook signature verifies with the Standard Webhooks reference library', () => {
  const secret = `whsec_${Buffer.from('a-very-secret-key-of-32-bytes!!!').toString('base64')}`;
  const body = JSON.stringify({ type: 'alert.opened', data: { id: 'x' } });
  const ts = Math.floor(Date.now() / 1000);
  const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), 'webhook-signature': sign(secret, 'evt_1', ts, body) };
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  assert.throws(() => new Webhook(secret).verify(`${body} `, headers));
});

test('back-off grows exponentially with jitter and is capped', () => {
  const d = { ...Config.parse({}).delivery, initialBackoffMs: 1000, maxBackoffMs: 10_000 };
  assert.equal(backoffMs(1, d, () => 0.5), 1000);
  assert.equal(backoffMs(3, d, () => 0.5), 4000);
  assert.equal(backoffMs(20, d, () => 0.5), 10_000);
  assert.equal(backoffMs(3, d, () => 0), 3200);
  assert.equal(backoffMs(3, d, () => 1), 4800);
});
