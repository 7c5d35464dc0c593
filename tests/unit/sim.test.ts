import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRecord } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { faultLevel, generate, type PlantOptions } from '../../sim/index.js';

const T0 = 1_764_115_200_000;
const o: PlantOptions = { seed: 3, assets: 3, sampleMs: 1000, imageMs: 10_000, noteMs: 120_000, fault: { asset: 2, onsetMs: T0 + 600_000, fullMs: T0 + 1_200_000 } };

test('the simulator is deterministic and any split of a time range gives the same records', () => {
  const whole = generate(o, T0, T0 + 900_000);
  const a = generate(o, T0, T0 + 333_333);
  const b = generate(o, T0 + 333_333, T0 + 900_000);
  for (const m of ['sensors', 'images', 'notes'] as const) {
    const key = (r: { asset?: string; ts: number }) => `${r.asset}@${r.ts}`;
    assert.deepEqual([...a[m], ...b[m]].map(key).sort(), whole[m].map(key).sort(), m);
  }
  assert.deepEqual(generate(o, T0, T0 + 60_000), generate(o, T0, T0 + 60_000));
});

test('every simulated record passes the wire-format validation', () => {
  const limits = Config.parse({}).limits;
  const recs = generate(o, T0, T0 + 300_000);
  for (const m of ['sensors', 'images', 'notes'] as const) {
    for (const r of recs[m]) assert.ok(decodeRecord(m, Buffer.from(JSON.stringify(r)), limits).ok, m);
  }
});

test('the fault raises vibration on the faulty asset only, after its onset', () => {
  const before = generate(o, T0 + 300_000, T0 + 600_000 - 1);
  const late = generate(o, T0 + 1_100_000, T0 + 1_200_000);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const vib = (r: typeof before, asset: string) => mean(r.sensors.filter((s) => s.asset === asset).map((s) => s.values.vib_rms));
  assert.ok(vib(late, 'pump-03') > 2 * vib(before, 'pump-03'));
  assert.ok(Math.abs(vib(late, 'pump-01') - vib(before, 'pump-01')) < 0.05);
  assert.equal(faultLevel(o, 2, T0 + 500_000), 0);
  assert.equal(faultLevel(o, 2, T0 + 1_200_000), 1);
  assert.equal(faultLevel(o, 1, T0 + 1_200_000), 0);
});
