import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRecord } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';

const limits = Config.parse({}).limits;
const enc = (x: unknown) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x));
const sample = {
  v: 1,
  plant: 'p1',
  asset: 'pump-07',
  device: 'vib-12',
  seq: 1834,
  ts: 1764115200000,
  values: { vib_rms: 0.12, temp_c: 41.3 },
};

test('a valid sensor sample decodes, RFC 3339 time becomes epoch ms', () => {
  const d = decodeRecord('sensors', enc({ ...sample, ts: '2025-11-26T00:00:00Z' }), limits);
  assert.ok(d.ok);
  assert.equal(d.record.modality, 'sensors');
  assert.equal((d.record.value as { ts: number }).ts, Date.UTC(2025, 10, 26));
});

test('a sensor block, a thermal frame, an encoded frame, a URI frame and a note decode', () => {
  assert.ok(
    decodeRecord(
      'sensors',
      enc({
        v: 1,
        plant: 'p1',
        asset: 'a',
        device: 'd',
        t0: 1764115200000,
        periodMs: 10,
        channels: { vib: [1, 2, 3] },
      }),
      limits,
    ).ok,
  );
  assert.ok(
    decodeRecord(
      'images',
      enc({
        v: 1,
        plant: 'p1',
        asset: 'a',
        camera: 'c',
        ts: 1764115200000,
        kind: 'thermal',
        width: 2,
        height: 2,
        unit: 'C',
        data: [1, 2, 3, 4],
      }),
      limits,
    ).ok,
  );
  assert.ok(
    decodeRecord(
      'images',
      enc({
        v: 1,
        plant: 'p1',
        asset: 'a',
        camera: 'c',
        ts: 1764115200000,
        kind: 'visible',
        encoding: 'png',
        base64:
          'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAEUlEQVR4AWM8AQQMQMDEAAUAMKYDJOk+9mYAAAAASUVORK5CYII=',
      }),
      limits,
    ).ok,
  );
  assert.ok(
    decodeRecord(
      'images',
      enc({
        v: 1,
        plant: 'p1',
        asset: 'a',
        camera: 'c',
        ts: 1764115200000,
        kind: 'visible',
        uri: 'https://cams.example/f/1.jpg',
      }),
      limits,
    ).ok,
  );
  assert.ok(
    decodeRecord(
      'notes',
      enc({ v: 1, plant: 'p1', author: 'j.doe', ts: 1764115200000, text: 'pump-07 noisy' }),
      limits,
    ).ok,
  );
});

const rejects: Array<[string, Parameters<typeof decodeRecord>[0], Buffer | null, string, RegExp]> = [
  ['empty value', 'sensors', null, 'empty', /empty/],
  ['malformed JSON', 'sensors', enc('{"v":1,'), 'invalid_json', /invalid JSON/],
  ['not UTF-8', 'sensors', Buffer.from([0xff, 0xfe, 0x00]), 'not_utf8', /UTF-8/],
  ['unknown version', 'sensors', enc({ ...sample, v: 2 }), 'unsupported_version', /v=2/],
  [
    'wrong type',
    'sensors',
    enc({ ...sample, values: { vib_rms: 'high' } }),
    'invalid_record',
    /values\.vib_rms/,
  ],
  ['missing field', 'sensors', enc({ ...sample, device: undefined }), 'invalid_record', /device/],
  [
    'time far in the future',
    'sensors',
    enc({ ...sample, ts: Date.UTC(2200, 0, 1) }),
    'invalid_record',
    /ts: time outside/,
  ],
  [
    'unknown field',
    'notes',
    enc({ v: 1, plant: 'p1', author: 'x', ts: 1764115200000, text: 't', extra: 1 }),
    'invalid_record',
    /extra/,
  ],
  [
    'thermal size mismatch',
    'images',
    enc({
      v: 1,
      plant: 'p1',
      asset: 'a',
      camera: 'c',
      ts: 1764115200000,
      kind: 'thermal',
      width: 2,
      height: 2,
      data: [1],
    }),
    'invalid_record',
    /width\*height/,
  ],
  ['oversized record', 'notes', Buffer.alloc(limits.maxRecordBytes + 1, 0x20), 'too_large', /limit 1048576/],
  ['sensor sample with no channel', 'sensors', enc({ ...sample, values: {} }), 'over_limit', /no channels/],
  [
    'sensor sample over the channel limit',
    'sensors',
    enc({
      ...sample,
      values: Object.fromEntries(Array.from({ length: limits.maxChannels + 1 }, (_, i) => [`c${i}`, i])),
    }),
    'over_limit',
    /65 channels, limit 64/,
  ],
  [
    'sensor block over the sample limit',
    'sensors',
    enc({
      v: 1,
      plant: 'p1',
      asset: 'a',
      device: 'd',
      t0: 1764115200000,
      periodMs: 1,
      channels: { a: new Array(60_000).fill(1), b: new Array(40_001).fill(2) },
    }),
    'over_limit',
    /100001 samples, limit 100000/,
  ],
  [
    'note over its limit',
    'notes',
    enc({ v: 1, plant: 'p1', author: 'x', ts: 1764115200000, text: 'x'.repeat(limits.maxNoteChars + 1) }),
    'over_limit',
    /characters/,
  ],
];

for (const [name, modality, bytes, code, reason] of rejects) {
  test(`rejects ${name} with code ${code} and a reason`, () => {
    const d = decodeRecord(modality, bytes, limits);
    assert.equal(d.ok, false);
    if (d.ok) return;
    assert.equal(d.code, code);
    assert.match(d.reason, reason);
  });
}

test('the hand-written sensor check agrees with the schema: whatever it accepts, the schema accepts with the same output', async () => {
  const { fastSensor } = await import('../../ingest/decode.js');
  const { SensorRecord } = await import('../../schemas/index.js');
  let s = 12345;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const values = [0, -1.5, 1e300, NaN, Infinity, '1', null, true, [], {}, 1.5e12, -3];
  const ids = ['p1', 'pump-01', 'a/b:c.d_e', '', 'x'.repeat(129), 'bad id', 7, null];
  const times = [Date.UTC(2026, 0, 1) + 0.6, 0, -1, Date.UTC(2100, 0, 1), '2026-01-01T00:00:00Z', NaN, '1'];
  let accepted = 0,
    fast = 0;
  for (let k = 0; k < 5000; k++) {
    const block = rnd() < 0.4;
    const rec: Record<string, unknown> = {
      v: rnd() < 0.9 ? 1 : pick([2, '1', null]),
      plant: rnd() < 0.9 ? 'p1' : pick(ids),
      asset: rnd() < 0.9 ? 'pump-01' : pick(ids),
      device: rnd() < 0.9 ? 'd1' : pick(ids),
    };
    if (rnd() < 0.5) rec.seq = rnd() < 0.8 ? Math.floor(rnd() * 100) : pick([-1, 1.5, '3']);
    const chans: Record<string, unknown> = {};
    for (let c = 0; c < Math.floor(rnd() * 4); c++)
      chans[rnd() < 0.9 ? `ch${c}` : pick(['', 'bad ch', 'x'.repeat(65)])] = block
        ? rnd() < 0.9
          ? [1, 2, 3]
          : pick([[], [1, NaN], 'x'])
        : rnd() < 0.9
          ? rnd()
          : pick(values);
    if (block) {
      rec.t0 = rnd() < 0.8 ? Date.UTC(2026, 0, 1) + 0.4 : pick(times);
      rec.periodMs = rnd() < 0.9 ? 100 : pick([0, -1, 3_600_001, '5']);
      rec.channels = chans;
    } else {
      rec.ts = rnd() < 0.8 ? Date.UTC(2026, 0, 1) + 0.6 : pick(times);
      rec.values = chans;
    }
    if (rnd() < 0.05) rec.extra = 1;
    const z = SensorRecord.safeParse(rec);
    const f = fastSensor(JSON.parse(JSON.stringify(rec)));
    if (z.success) accepted++;
    if (f) {
      fast++;
      assert.ok(z.success, `fast path accepted what the schema rejects: ${JSON.stringify(rec)}`);
      assert.deepEqual(f, z.data);
    }
  }
  assert.ok(accepted > 1500 && fast > 0.8 * accepted, `accepted ${accepted}, fast ${fast}`);
});

test('base64 is checked without a regular expression and agrees with the standard pattern on random strings', async () => {
  const { isBase64 } = await import('../../schemas/index.js');
  const pattern = /^[A-Za-z0-9+/]+={0,2}$/;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const odd = '=-_ !\n.é\u0000';
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let accepted = 0;
  for (let i = 0; i < 50_000; i++) {
    let s = '';
    for (let j = 0, n = 4 * (1 + Math.floor(rnd() * 4)) - (rnd() < 0.05 ? 1 : 0); j < n; j++) {
      s += rnd() < 0.97 ? alphabet[Math.floor(rnd() * 64)] : odd[Math.floor(rnd() * odd.length)];
    }
    if (rnd() < 0.3) s = s.slice(0, -1) + '=';
    if (rnd() < 0.2) s = s.slice(0, -2) + '==';
    const want = pattern.test(s) && s.length % 4 === 0 && s.length >= 4;
    assert.equal(isBase64(s), want, JSON.stringify(s));
    if (want) accepted++;
  }
  assert.ok(accepted > 10_000 && accepted < 45_000, `both answers exercised (${accepted} accepted)`);
  // Through the decoder: URL-safe letters and a padding character inside are refused, naming the field.
  for (const bad of ['iVBO_w0K', 'iVB=Rw0K', 'iVBORw0']) {
    const d = decodeRecord(
      'images',
      enc({
        v: 1,
        plant: 'p1',
        asset: 'a',
        camera: 'c',
        ts: 1764115200000,
        kind: 'visible',
        encoding: 'png',
        base64: bad,
      }),
      limits,
    );
    assert.ok(
      !d.ok && d.code === 'invalid_record' && /base64: not base64/.test(d.reason),
      `${bad}: ${!d.ok && d.reason}`,
    );
  }
});
