/** COPY's binary format as the store writes it (the server reads it back in tests/integration/store.test.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binaryCopy, binaryWritable } from '../../store/copy-binary.js';

test('binary COPY: signature, a NULL, an integer array, a time, a jsonb field and the trailer, byte for byte', () => {
  const out = Buffer.concat(
    binaryCopy([{ a: null, b: [1, -2], c: Date.UTC(2000, 0, 1, 0, 0, 1), d: { x: 1 } }], {
      a: 'text',
      b: 'int[]',
      c: 'timestamptz',
      d: 'jsonb',
    }),
  );
  const expected = Buffer.concat([
    Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
    Buffer.alloc(8),
    Buffer.from([0, 4]), // four fields
    Buffer.from([0xff, 0xff, 0xff, 0xff]), // NULL
    Buffer.from([
      0, 0, 0, 36, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0,
      0, 4, 0xff, 0xff, 0xff, 0xfe,
    ]),
    Buffer.from([0, 0, 0, 8, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40]), // one second after 2000-01-01, in microseconds
    Buffer.from([0, 0, 0, 8, 1]),
    Buffer.from('{"x":1}'),
    Buffer.from([0xff, 0xff]),
  ]);
  assert.deepEqual(out, expected);
});

test('binary COPY refuses what the column cannot hold, naming it, rather than writing other bytes', () => {
  assert.throws(() => binaryCopy([{ n: 1.5 }], { n: 'int' }), /n: not a 32-bit integer: 1\.5/);
  assert.throws(() => binaryCopy([{ t: [0.5] }], { t: 'int[]' }), /not a 32-bit integer: 0\.5/);
  assert.throws(() => binaryCopy([{ w: 'soon' }], { w: 'timestamptz' }), /w: not a time: soon/);
  assert.equal(binaryWritable({ a: 'text', b: 'bytea' }), false);
  // Rows spanning more than one 1 MiB chunk come out whole.
  const rows = Array.from({ length: 3000 }, (_, i) => ({
    v: Array.from({ length: 50 }, (_, k) => i + k / 64),
  }));
  const all = Buffer.concat(binaryCopy(rows, { v: 'float8[]' }));
  assert.equal(all.length, 19 + rows.length * (2 + 4 + 20 + 50 * 12) + 2);
  assert.equal(all.readDoubleBE(19 + 2999 * 626 + 2 + 4 + 20 + 49 * 12 + 4), 2999 + 49 / 64);
});

test('binary COPY: times before 2000 and far after it are exact 64-bit microseconds', () => {
  for (const ms of [
    Date.UTC(1970, 0, 1),
    Date.UTC(1999, 11, 31, 23, 59, 59, 999),
    Date.UTC(2026, 10, 26, 12, 0, 0, 1),
    Date.UTC(2262, 0, 1),
    Date.UTC(1900, 5, 1),
  ]) {
    const out = Buffer.concat(binaryCopy([{ t: ms }], { t: 'timestamptz' }));
    assert.equal(
      out.readBigInt64BE(19 + 2 + 4),
      BigInt(ms - Date.UTC(2000, 0, 1)) * 1000n,
      new Date(ms).toISOString(),
    );
  }
});
