/** The lag tracker (issue 19): lag against the committed offset, and when a partition is stuck. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LagTracker } from '../../ingest/index.js';

const row = (end: number, committed: number | null, processed: number | null = null, start = 0) => ({
  topic: 's',
  partition: 0,
  end,
  committed,
  start,
  processed,
});

test('lag is log-end − committed (the log start when nothing is committed); stuck: records pending and no offset moving for stuckAfterMs', () => {
  const lt = new LagTracker(1_000);
  assert.deepEqual(lt.update([row(50, null, null, 10)], 0)[0], {
    topic: 's',
    partition: 0,
    lag: 40,
    committed: 10,
    pending: 40,
    stillMs: 0,
    stuck: false,
  });
  assert.equal(lt.update([row(60, null, null, 10)], 999)[0].stuck, false);
  const s = lt.update([row(70, null, null, 10)], 1_000)[0];
  assert.deepEqual([s.lag, s.stillMs, s.stuck], [60, 1_000, true]);
  // The commit moves: the clock starts again.
  assert.equal(lt.update([row(70, 20)], 1_500)[0].stuck, false);
  assert.equal(lt.update([row(70, 20)], 2_400)[0].stuck, false);
  assert.equal(lt.update([row(70, 20)], 2_500)[0].stuck, true);
  // Nothing pending: not stuck; records arriving after a long quiet spell are not stuck at once.
  assert.deepEqual(lt.update([row(70, 70)], 10_000)[0], {
    topic: 's',
    partition: 0,
    lag: 0,
    committed: 70,
    pending: 0,
    stillMs: 0,
    stuck: false,
  });
  assert.equal(lt.update([row(71, 70)], 60_000)[0].stuck, false);
  assert.equal(lt.update([row(72, 70)], 61_000)[0].stuck, true);
  // A partition no longer held is forgotten: held again, its clock starts afresh.
  assert.deepEqual(lt.update([], 62_000), []);
  assert.equal(lt.update([row(72, 70)], 70_000)[0].stillMs, 0);
});

test('a commit held back by open windows is not stuck while everything is processed; processing that stops is', () => {
  const lt = new LagTracker(1_000);
  // Quiet after the end of an input: everything processed, the commit held at 90 (windows open for amendments).
  for (const at of [0, 5_000, 60_000]) {
    const r = lt.update([row(100, 90, 100)], at)[0];
    assert.deepEqual([r.lag, r.pending, r.stuck], [10, 0, false]);
  }
  // Records arrive and are processed while the commit stays held: moving, not stuck.
  assert.equal(lt.update([row(110, 90, 105)], 61_000)[0].stuck, false);
  assert.equal(lt.update([row(120, 90, 118)], 62_500)[0].stuck, false);
  // Processing stops with records waiting.
  assert.equal(lt.update([row(130, 90, 118)], 63_000)[0].stuck, false);
  const r = lt.update([row(140, 90, 118)], 64_000)[0];
  assert.deepEqual([r.lag, r.pending, r.stuck], [50, 22, true]);
});
