/**
 * Regression tests for the align stage's defects found on data we did not generate (issue 18), each
 * through the public API (the window operator and the device clock), each failing on the code before it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveClock, WindowOperator } from '../../align/index.js';
import { Config, type InputRecord, type WindowTuple } from '../../schemas/index.js';

const cfg = Config.parse({}).align;
const T0 = 1_764_115_200_000; // a window boundary
const rec = (device: string, seq: number | undefined, ts: number, v: number, asset = 'a1'): InputRecord => ({
  modality: 'sensors',
  value: { v: 1, plant: 'p1', asset, device, ...(seq === undefined ? {} : { seq }), ts, values: { x: v } },
});

/** Deterministic pseudo-random numbers. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sample {
  seq: number;
  t: number;
  d: number;
  r: number;
}
/**
 * A 10 Hz device: true instants every 100 ms, stamps = t + offset (+ step after stepAt) + gaussian jitter,
 * delivered after 10 ms + an exponential delay (mean 40 ms), FIFO, and a stall of `stallMs` at `stallAt`
 * (records taken during it arrive together at its end), sorted by arrival.
 */
function device(o: {
  seed: number;
  offsetMs: number;
  durationMs: number;
  jitterMs?: number;
  stepAt?: number;
  stepMs?: number;
  stallAt?: number;
  stallMs?: number;
}): Sample[] {
  const rand = rng(o.seed);
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const out: Sample[] = [];
  let lastR = -Infinity;
  for (let k = 0; k * 100 < o.durationMs; k++) {
    const t = T0 + k * 100;
    const step = o.stepAt !== undefined && t >= T0 + o.stepAt ? (o.stepMs ?? 0) : 0;
    const d = Math.round(t + o.offsetMs + step + (o.jitterMs ?? 20) * gauss());
    let r = t + 10 - 40 * Math.log(Math.max(rand(), 1e-9));
    if (o.stallAt !== undefined && t >= T0 + o.stallAt && t < T0 + o.stallAt + o.stallMs!)
      r = Math.max(r, T0 + o.stallAt + o.stallMs!);
    r = Math.round(Math.max(r, lastR));
    lastR = r;
    out.push({ seq: 1000 + k, t, d, r });
  }
  return out;
}

test('defect 1: a delivery stall (2.5 s) is no clock step; the stalled samples keep their own times and none is dropped', () => {
  for (const seq of [true, false]) {
    const samples = device({
      seed: 1,
      offsetMs: 12_000,
      durationMs: 120_000,
      stallAt: 80_000,
      stallMs: 2_500,
    });
    const clock = new AdaptiveClock();
    const err: number[] = [];
    for (const s of samples) {
      const c = clock.process(s.d, s.r, seq ? s.seq : undefined);
      if (s.t >= T0 + 80_000 && s.t < T0 + 82_500) err.push(Math.abs(c.ts - s.t));
    }
    assert.equal(clock.state().steps, 0, `no step (seq ${seq})`);
    assert.ok(
      Math.max(...err) < 200,
      `stalled samples at their own times, not their delivery (max error ${Math.max(...err)} ms, seq ${seq})`,
    );
  }
  const op = new WindowOperator(cfg, () => 0);
  const samples = device({ seed: 2, offsetMs: -7_000, durationMs: 60_000, stallAt: 30_000, stallMs: 2_500 });
  const results = samples.map((s, i) => op.add(rec('d1', s.seq, s.d, i), i, { recordTime: s.r }).result);
  assert.equal(
    results.filter((r) => r === 'duplicate').length,
    0,
    'no distinct sample dropped as a duplicate',
  );
  const n = op.flush().reduce((m, t) => m + t.quality.samples, 0);
  assert.equal(n, samples.length);
});

test('defect 2: a sub-second step (+600 ms) is found, and a device is never switched back to its raw stamps', () => {
  const samples = device({ seed: 3, offsetMs: 25_000, durationMs: 240_000, stepAt: 120_000, stepMs: 600 });
  const op = new WindowOperator(cfg, () => 0);
  const tuples: WindowTuple[] = [];
  let worst = 0;
  for (const [i, s] of samples.entries()) {
    op.add(rec('d1', s.seq, s.d, s.t), i, { recordTime: s.r });
    tuples.push(...op.fire());
  }
  tuples.push(...op.flush());
  for (const t of tuples) {
    if (t.windowStart < T0 + 60_000) continue;
    for (const [j, truth] of t.channels.x.v.entries())
      worst = Math.max(worst, Math.abs(t.channels.x.t[j] - truth));
    assert.equal(t.quality.clocks?.d1.corrected, true, 'corrected throughout');
  }
  assert.ok(
    worst < 150,
    `every sample within 150 ms of its true time after warm-up (worst ${worst} ms; the step is 600 ms, the offset 25 s)`,
  );
  assert.ok(op.clockStates()[0].steps >= 1, 'the step is found');
});

test('defect 3: before a forward step (+40 s) is confirmed, no sample lands in the future or moves the watermark; other devices lose nothing', () => {
  const op = new WindowOperator(cfg, () => 0);
  const a = device({ seed: 4, offsetMs: 3_000, durationMs: 120_000, stepAt: 60_000, stepMs: 40_000 });
  const b = device({ seed: 5, offsetMs: -9_000, durationMs: 120_000 });
  const all = [
    ...a.map((s) => ({ ...s, dev: 'd1', ch: 'x' })),
    ...b.map((s) => ({ ...s, dev: 'd2', ch: 'y' })),
  ].sort((x, y) => x.r - y.r);
  let late = 0,
    quarantined = 0;
  const tuples: WindowTuple[] = [];
  for (const [i, s] of all.entries()) {
    const r: InputRecord = {
      modality: 'sensors',
      value: { v: 1, plant: 'p1', asset: 'a1', device: s.dev, seq: s.seq, ts: s.d, values: { [s.ch]: s.t } },
    };
    const res = op.add(r, i, { recordTime: s.r });
    late += res.result === 'late' ? 1 : 0;
    quarantined += res.result === 'quarantined' ? 1 : 0;
    tuples.push(...op.fire());
  }
  tuples.push(...op.flush());
  assert.equal(late, 0, 'nothing in the late log');
  assert.equal(quarantined, 0, 'nothing quarantined');
  for (const t of tuples) {
    for (const ch of ['x', 'y']) {
      const s = t.channels[ch];
      if (!s || t.windowStart < T0 + 30_000) continue;
      for (const [j, truth] of s.v.entries())
        assert.ok(Math.abs(s.t[j] - truth) < 1_000, `${ch} sample at ${s.t[j] - T0} for true ${truth - T0}`);
    }
  }
});

test('defect 4: duplicates are recognised by (device, seq), whatever their correction; distinct samples on one millisecond are both kept', () => {
  const op = new WindowOperator(cfg, () => 0);
  // A copy of seq 5 delivered 4 s later, after the estimate moved by 1 s: still one sample.
  for (let k = 0; k < 100; k++) op.add(rec('d1', k, T0 + k * 100, k), k, { recordTime: T0 + k * 100 + 50 });
  const copy = op.add(rec('d1', 50, T0 + 5_000, 50), 100, { recordTime: T0 + 9_000 });
  assert.equal(copy.result, 'duplicate');
  // Two distinct samples (seq 100 and 101) stamped the same millisecond.
  op.add(rec('d1', 100, T0 + 10_000, 100), 101, { recordTime: T0 + 10_050 });
  assert.equal(op.add(rec('d1', 101, T0 + 10_000, 101), 102, { recordTime: T0 + 10_060 }).result, 'accepted');
  const ts = op.flush();
  const values = ts.flatMap((t) => t.channels.x.v);
  assert.equal(values.filter((v) => v === 50).length, 1, 'the duplicate is windowed once');
  assert.ok(values.includes(100) && values.includes(101), 'both same-millisecond samples are windowed');
});

test('defect 5: a device that restarts at 1970 stays corrected (no quarantine after the step, none before it either with seq)', () => {
  const op = new WindowOperator(cfg, () => 0);
  const results: string[] = [];
  for (let k = 0; k < 1200; k++) {
    const t = T0 + k * 100;
    const d = k < 600 ? t + 2_000 : 5_000 + (k - 600) * 100; // restarts at 1970-01-01T00:00:05 at 60 s
    results.push(op.add(rec('d1', k, d, t), k, { recordTime: t + 30 }).result);
  }
  assert.equal(
    results.filter((r) => r === 'quarantined').length,
    0,
    'the sequence numbers carry the clock across the restart',
  );
  const ts = op.flush();
  assert.ok(
    ts.every((x) => x.windowStart >= T0 - 10_000 && x.quality.clocks?.d1.corrected),
    'nothing windowed in 1970, corrected throughout',
  );
  const after = ts.filter((x) => x.windowStart >= T0 + 70_000);
  assert.ok(
    after.length >= 4 &&
      after.every((x) => x.channels.x.v.every((truth) => truth >= x.windowStart && truth < x.windowEnd)),
  );
});

test('defect 6: a history replay (years old, 5-minute samples, record times "now") is windowed on its own times, in full', () => {
  for (const pace of ['fast', 'real-time'] as const) {
    const op = new WindowOperator({ ...cfg, windowMs: 3_600_000 }, () => 0);
    const start = Date.UTC(2013, 5, 1),
      now = T0;
    let late = 0,
      quarantined = 0;
    const n = 12 * 24 * 3; // three days
    for (let k = 0; k < n; k++) {
      // fast: as fast as possible (a record time a millisecond apart); real-time: 5 minutes apart.
      const r = pace === 'fast' ? now + k : now + k * 300_000;
      const res = op.add(rec('csv', undefined, start + k * 300_000, k), k, { recordTime: r });
      late += res.result === 'late' ? 1 : 0;
      quarantined += res.result === 'quarantined' ? 1 : 0;
    }
    const ts = op.flush();
    assert.equal(late + quarantined, 0, `${pace}: nothing in the late log`);
    assert.equal(
      ts.reduce((m, t) => m + t.quality.samples, 0),
      n,
      `${pace}: every sample windowed`,
    );
    if (pace === 'fast')
      assert.ok(
        ts.every((t) => t.windowStart >= start && t.windowStart < start + 3 * 86_400_000),
        'on its own times',
      );
  }
});

test('defect 7: a repeated hour with new values (daylight saving) is windowed; an exact repeat is a duplicate, counted', () => {
  const op = new WindowOperator({ ...cfg, windowMs: 3_600_000 }, () => 0);
  const start = Date.UTC(2014, 9, 26); // stamps in local time without a zone: 02:00–03:00 comes twice
  let k = 0;
  const add = (ts: number, v: number) => op.add(rec('csv', undefined, ts, v), k++, { recordTime: T0 + k });
  for (let m = 0; m < 180; m += 5) add(start + m * 60_000, m);
  for (let m = 120; m < 180; m += 5)
    assert.equal(add(start + m * 60_000, 1000 + m).result, 'accepted', 'the second 02:xx is kept');
  const dup = add(start + 175 * 60_000, 1175);
  assert.equal(dup.result, 'duplicate', 'the very same sample again is a duplicate');
  const ts = op.flush();
  assert.equal(
    ts.reduce((m, t) => m + t.quality.samples, 0),
    36 + 12,
  );
  assert.equal(
    ts.reduce((m, t) => m + t.quality.duplicates, 0),
    1,
  );
});

test('defect 8: a 1-hour window with the default 1-s grid has a bounded grid', () => {
  const op = new WindowOperator({ ...cfg, windowMs: 3_600_000 }, () => 0);
  for (let k = 0; k < 720; k++)
    op.add(rec('d1', k, T0 + k * 5_000, k), k, { recordTime: T0 + k * 5_000 + 20 });
  const [t] = op.flush();
  assert.ok(t.grid.channels.x.v.length <= cfg.maxGridCells, `${t.grid.channels.x.v.length} cells`);
  assert.equal(t.grid.stepMs * t.grid.channels.x.v.length >= 3_600_000, true, 'the cells cover the window');
});

test('record-time idleness: a backlog read at any speed fires the same windows (an asset without a camera beside one with)', () => {
  const run = (wallPerRecord: number) => {
    let wall = 0;
    const op = new WindowOperator(cfg, () => wall);
    const fired: string[] = [];
    const samples = device({ seed: 9, offsetMs: 4_000, durationMs: 300_000 });
    const other = device({ seed: 10, offsetMs: -2_000, durationMs: 300_000 }).filter((_, i) => i % 10 === 0);
    const records: Array<{ r: number; rec: InputRecord }> = [
      ...samples.map((s, i) => ({ r: s.r, rec: rec('d1', s.seq, s.d, i, 'no-camera') })),
      ...other.map((s, i) => ({ r: s.r, rec: rec('d2', s.seq, s.d, i, 'with-camera') })),
      // The other asset's camera: a frame every 10 s.
      ...Array.from({ length: 30 }, (_, k) => ({
        r: T0 + k * 10_000 + 80,
        rec: {
          modality: 'images',
          value: {
            v: 1,
            plant: 'p1',
            asset: 'with-camera',
            camera: 'c2',
            seq: k,
            ts: T0 + k * 10_000,
            kind: 'thermal',
            width: 1,
            height: 1,
            unit: 'C',
            data: [30],
          },
        } as InputRecord,
      })),
    ].sort((x, y) => x.r - y.r);
    for (const [i, x] of records.entries()) {
      op.add(x.rec, i, { recordTime: x.r });
      wall += wallPerRecord;
      for (const t of op.fire())
        if (t.asset === 'no-camera') fired.push(`${t.windowStart}/${t.revision}/${t.quality.samples}`);
    }
    return fired;
  };
  const backlog = run(0.01),
    live = run(100);
  assert.ok(backlog.length >= 25, `windows fire while reading a backlog (${backlog.length})`);
  assert.deepEqual(backlog, live);
});

test('a history replay sent in two bursts with a pause between them is not taken for a live device', () => {
  const op = new WindowOperator(cfg, () => 0);
  const start = T0 - 10 * 86_400_000; // ten days back, 1-s samples
  const burst = (from: number, to: number, r: number) => {
    for (let k = from; k < to; k++)
      op.add(rec('d1', k, start + k * 1000, k), k, { recordTime: r + Math.floor(k / 100) });
  };
  burst(0, 300, T0);
  burst(300, 600, T0 + 15_000); // resumed 15 s later: over the first 20 s of device time, a "real-time" pace
  const ts = op.flush();
  assert.ok(
    ts.every((t) => t.windowStart >= start && t.windowStart < start + 600_000),
    "every window on the history's own times",
  );
  assert.equal(
    ts.reduce((m, t) => m + t.quality.samples, 0),
    600,
  );
});

test('a device silent for three minutes: no step, and its windows before the silence fire while it is silent', () => {
  let wall = 0; // a live service: processing time runs with the record times
  const op = new WindowOperator(cfg, () => wall);
  const quiet = device({ seed: 11, offsetMs: 8_000, durationMs: 400_000 }).filter(
    (s) => s.t < T0 + 100_000 || s.t >= T0 + 280_000,
  );
  const busy = device({ seed: 12, offsetMs: -3_000, durationMs: 400_000 });
  const all = [
    ...quiet.map((s) => ({ ...s, asset: 'quiet' })),
    ...busy.map((s) => ({ ...s, asset: 'busy' })),
  ].sort((x, y) => x.r - y.r);
  let firedDuringSilence = 0;
  for (const [i, s] of all.entries()) {
    wall = s.r - T0;
    op.add(rec(`${s.asset}-d`, s.seq, s.d, s.t, s.asset), i, { recordTime: s.r });
    for (const t of op.fire())
      if (t.asset === 'quiet' && s.r > T0 + 100_000 && s.r < T0 + 280_000) firedDuringSilence++;
  }
  const st = op.clockStates().find((c) => c.asset === 'quiet')!;
  assert.equal(st.steps, 0, 'no clock step');
  assert.ok(firedDuringSilence >= 1, 'its last windows before the silence fired during it');
  const ts = op.flush().filter((t) => t.asset === 'quiet' && t.windowStart >= T0 + 290_000);
  assert.ok(
    ts.every((t) => t.channels.x.v.every((truth) => truth >= t.windowStart && truth < t.windowEnd)),
    'after it, samples in their true windows',
  );
});
