/** The lag tracker (issue 19): lag against the committed offset, and when a standing commit is stuck. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LagTracker } from '../../ingest/index.js';

test('lag is log-end − committed (log start when nothing is committed); stuck only with lag and a commit standing still for stuckAfterMs', () => {
  const lt = new LagTracker(1_000);
  const row = (end: number, committed: number | null, start = 0) => ({ topic: 's', partition: 0, end, committed, start });
  assert.deepEqual(lt.update([row(50, null, 10)], 0)[0], { topic: 's', partition: 0, lag: 40, committed: 10, stillMs: 0, stuck: false });
  assert.equal(lt.update([row(60, null, 10)], 999)[0].stuck, false);
  const s = lt.update([row(70, null, 10)], 1_000)[0];
  assert.deepEqual([s.lag, s.stillMs, s.stuck], [60, 1_000, true]);
  // The commit moves: the clock starts again.
  assert.deepEqual(lt.update([row(70, 20)], 1_500)[0].stuck, false);
  assert.equal(lt.update([row(70, 20)], 2_400)[0].stuck, false);
  assert.equal(lt.update([row(70, 20)], 2_500)[0].stuck, true);
  // Caught up: no lag, not stuck; a record arriving after a long quiet spell is not stuck at once.
  assert.deepEqual(lt.update([row(70, 70)], 10_000)[0], { topic: 's', partition: 0, lag: 0, committed: 70, stillMs: 0, stuck: false });
  assert.equal(lt.update([row(71, 70)], 60_000)[0].stuck, false);
  assert.equal(lt.update([row(72, 70)], 61_000)[0].stuck, true);
  // A partition no longer held is forgotten: held again, its clock starts afresh.
  assert.deepEqual(lt.update([], 62_000), []);
  assert.equal(lt.update([row(72, 70)], 70_000)[0].stillMs, 0);
});
