import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heavyGate } from '../../api/heavy.js';

test('heavy reads: a few run, a few wait their turn, the rest are refused at once', async () => {
  const gate = heavyGate(2, 1);
  const a = await gate.acquire(),
    b = await gate.acquire();
  assert.ok(a && b);
  let cGot = false;
  const c = gate.acquire().then((r) => {
    cGot = true;
    return r;
  });
  assert.equal(await gate.acquire(), null, 'the queue is full: refused');
  assert.deepEqual([gate.active, gate.queued, cGot], [2, 1, false]);
  a!();
  const rc = await c;
  assert.ok(rc && cGot);
  assert.deepEqual([gate.active, gate.queued], [2, 0]);
  b!();
  rc!();
  assert.equal(gate.active, 0);
});
