import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coPartition } from '../../ingest/index.js';

test('co-partitioned assignment: a member owns partition p of every input topic; members share the numbers out', () => {
  const topics = { s: [0, 1, 2, 3, 4], i: [0, 1, 2, 3, 4], n: [0, 1, 2, 3, 4] };
  const two = coPartition(['m-b', 'm-a'], topics);
  assert.deepEqual(two['m-a'], { s: [0, 2, 4], i: [0, 2, 4], n: [0, 2, 4] });
  assert.deepEqual(two['m-b'], { s: [1, 3], i: [1, 3], n: [1, 3] });
  // The same plan whoever computes it (members arrive in any order).
  assert.deepEqual(coPartition(['m-a', 'm-b'], topics), two);
  const three = coPartition(['x', 'y', 'z'], topics);
  const owned = Object.values(three).map((a) => a.s ?? []);
  assert.deepEqual(owned.flat().sort(), [0, 1, 2, 3, 4], 'every partition once');
  for (const a of Object.values(three)) {
    assert.deepEqual(a.i, a.s);
    assert.deepEqual(a.n, a.s);
  }
  // More members than partitions: the extra ones idle.
  const many = coPartition(['a', 'b', 'c'], { s: [0], i: [0], n: [0] });
  assert.deepEqual(many, { a: { s: [0], i: [0], n: [0] }, b: {}, c: {} });
});

test('dead letters and re-published notes go out in requests under the broker limit', async () => {
  const { requestSized } = await import('../../ingest/kafka.js');
  const recs = Array.from({ length: 1000 }, (_, i) => ({ i, value: Buffer.alloc(4096) }));
  const parts = requestSized(recs, (r) => r.value);
  assert.ok(parts.length >= 8);
  assert.ok(parts.every((p) => p.reduce((s, r) => s + r.value.length + 512, 0) <= 512 * 1024));
  assert.deepEqual(
    parts.flat().map((r) => r.i),
    recs.map((r) => r.i),
    'all, in order',
  );
  assert.deepEqual(
    requestSized([], (r: { value: Buffer }) => r.value),
    [],
  );
  // One record bigger than the limit still goes (alone): the broker judges it.
  assert.equal(
    requestSized([{ value: Buffer.alloc(600_000) }, { value: Buffer.alloc(10) }], (r) => r.value).length,
    2,
  );
});
