import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resample } from '../../align/index.js';

test('linear interpolation at cell centres, held flat at the edges, with a presence mask', () => {
  const g = resample([1_250, 3_250], [10, 30], 0, 5_000, 1_000, 'linear');
  // centres 500, 1500, 2500, 3500, 4500
  assert.deepEqual(g.v, [10, 12.5, 22.5, 30, 30]);
  assert.deepEqual(g.mask, [false, true, false, true, false]);
});

test('last value: what the channel said at or before each centre, nothing before the first sample', () => {
  const g = resample([1_250, 3_250], [1, 0], 0, 5_000, 1_000, 'last');
  assert.deepEqual(g.v, [null, 1, 1, 0, 0]);
});

test('a channel with no samples is null everywhere and absent from the mask', () => {
  assert.deepEqual(resample([], [], 0, 3_000, 1_000, 'linear'), {
    v: [null, null, null],
    mask: [false, false, false],
  });
});

test('samples outside the window do not mark cells', () => {
  const g = resample([-5, 2_999], [1, 2], 0, 3_000, 1_000, 'linear');
  assert.deepEqual(g.mask, [false, false, true]);
});
