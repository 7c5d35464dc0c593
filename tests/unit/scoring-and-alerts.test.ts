import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { sign } from '../../alerts/index.js';
import { fitRobust, median, scoreBaseline, scoreFeatures, type AssetModelState } from '../../fusion/index.js';
import type { WindowTuple } from '../../schemas/index.js';

const tuple = (i: number, x: number[]): WindowTuple => ({
  plant: 'p1',
  asset: 'a1',
  windowStart: i * 10_000,
  windowEnd: (i + 1) * 10_000,
  revision: 0,
  slideMs: 10_000,
  grid: { stepMs: 1000, channels: {} },
  channels: { x: { device: 'd', t: x.map((_, k) => i * 10_000 + k), v: x } },
  image: null,
  notes: [],
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
  assert.deepEqual(
    rows.map((r) => r.row.status),
    ['reference', 'reference', 'reference', 'reference', 'reference'],
  );
  assert.ok(rows[4].fitted, 'the fifth window completes the fit');
  const normal = scoreBaseline(tuple(5, [1.02, 1.1, 0.9]), st, opts).row;
  const shifted = scoreBaseline(tuple(6, [3, 3.1, 2.9]), st, opts).row;
  assert.equal(normal.status, 'scored');
  assert.ok(normal.score! < 3, `normal ${normal.score}`);
  assert.ok(shifted.score! > 10, `shifted ${shifted.score}`);
  assert.equal(shifted.contributions.x, 1);
});

test("contributions are each channel's share of the summed z", () => {
  const r = scoreFeatures(
    { 'a:mean': 3, 'b:mean': 1 },
    { 'a:mean': { median: 0, scale: 1 }, 'b:mean': { median: 0, scale: 1 } },
  );
  assert.equal(r.score, 3);
  assert.deepEqual(r.contributions, { a: 0.75, b: 0.25 });
});

test('webhook signature verifies with the Standard Webhooks reference library', () => {
  const secret = `whsec_${Buffer.from('a-very-secret-key-of-32-bytes!!!').toString('base64')}`;
  const body = JSON.stringify({ type: 'alert.opened', data: { id: 'x' } });
  const ts = Math.floor(Date.now() / 1000);
  const headers = {
    'webhook-id': 'evt_1',
    'webhook-timestamp': String(ts),
    'webhook-signature': sign(secret, 'evt_1', ts, body),
  };
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  assert.throws(() => new Webhook(secret).verify(`${body} `, headers));
});
