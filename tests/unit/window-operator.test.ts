import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WindowOperator } from '../../align/index.js';
import { Config, type InputRecord } from '../../schemas/index.js';

const cfg = {
  ...Config.parse({}).align,
  windowMs: 10_000,
  outOfOrdernessMs: 1_000,
  allowedLatenessMs: 2_000,
  idleTimeoutMs: 30_000,
};
const T0 = 1_764_115_200_000; // a window boundary
const s = (ts: number, v = 1, asset = 'a1', device = 'd1'): InputRecord => ({
  modality: 'sensors',
  value: { v: 1, plant: 'p1', asset, device, ts, values: { x: v } },
});
const img = (ts: number, asset = 'a1'): InputRecord => ({
  modality: 'images',
  value: {
    v: 1,
    plant: 'p1',
    asset,
    camera: 'c1',
    ts,
    kind: 'thermal',
    width: 1,
    height: 2,
    unit: 'C',
    data: [20, 30],
  },
});
/** An operator whose clock has run past the idle timeout of the (absent) camera after the first record. */
function sensorsOnly(c = cfg) {
  const clock = { t: 0 };
  const op = new WindowOperator(c, () => clock.t);
  const add = (r: InputRecord, offset: number, replay = false) => {
    const x = op.add(r, offset, { replay });
    clock.t = 31_000;
    return x;
  };
  return { op, add };
}
const note = (ts: number, text: string): InputRecord => ({
  modality: 'notes',
  value: { v: 1, plant: 'p1', asset: 'a1', author: 'j', ts, text },
});

test('on time: a window fires (revision 0) once the watermark passes its end, with its samples sorted', () => {
  const { op, add } = sensorsOnly();
  add(s(T0 + 5_000, 2), 0);
  add(s(T0 + 1_000, 1), 1);
  assert.deepEqual(op.fire(), []);
  add(s(T0 + 10_999), 2); // watermark = 9_999 < end
  assert.deepEqual(op.fire(), []);
  add(s(T0 + 11_000), 3); // watermark = 10_000: fires [T0, T0+10s)
  const [t, ...rest] = op.fire();
  assert.equal(rest.length, 0);
  assert.equal(t.windowStart, T0);
  assert.equal(t.windowEnd, T0 + 10_000);
  assert.equal(t.revision, 0);
  assert.deepEqual(t.channels.x.t, [T0 + 1_000, T0 + 5_000]);
  assert.deepEqual(t.channels.x.v, [1, 2]);
  assert.equal(t.quality.samples, 2);
  assert.deepEqual(op.fire(), [], 'fires once');
});

test('late within the allowed lateness: the window is amended and fires again as revision 1', () => {
  const { op, add } = sensorsOnly();
  add(s(T0 + 1_000, 1), 0);
  add(s(T0 + 11_000), 1);
  const [first] = op.fire();
  assert.equal(first.revision, 0);
  assert.deepEqual(add(s(T0 + 9_500, 7), 2), { result: 'accepted', late: 0 });
  const [amended, ...rest] = op.fire();
  assert.equal(rest.length, 0);
  assert.equal(amended.revision, 1);
  assert.deepEqual(amended.channels.x.v, [1, 7]);
  assert.deepEqual(first.channels.x.v, [1], 'the emitted revision 0 is not changed afterwards');
});

test('too late (past end + allowed lateness): the window is gone and the sample goes to the late log', () => {
  const { op, add } = sensorsOnly();
  add(s(T0 + 1_000), 0);
  add(s(T0 + 13_000), 1); // watermark 12_000 = end + lateness: fired and evicted
  assert.equal(op.fire().length, 1);
  assert.equal(op.openWindows(), 1, 'only the window of T0+13s is left');
  assert.deepEqual(add(s(T0 + 9_000), 2), { result: 'late', late: 1 });
});

test('a restore keeps the revision of a window within its lateness: replay does not re-fire it, a new late sample does', () => {
  const { op, add } = sensorsOnly();
  add(s(T0 + 1_000, 1), 0);
  add(s(T0 + 11_000), 1);
  op.fire();
  add(s(T0 + 9_500, 7), 2);
  assert.equal(op.fire()[0].revision, 1);
  const snap = JSON.parse(JSON.stringify(op.snapshot()));
  const clock = { t: 0 };
  const back = WindowOperator.restore(cfg, snap, () => clock.t);
  back.add(s(T0 + 1_000, 1), 0, { replay: true });
  back.add(s(T0 + 11_000), 1, { replay: true });
  back.add(s(T0 + 9_500, 7), 2, { replay: true });
  clock.t = 31_000; // the absent camera goes idle; a new sample in the next window keeps the sensors active
  back.add(s(T0 + 11_500), 4);
  assert.deepEqual(back.fire(), [], 'a replay refills, it does not amend');
  back.add(s(T0 + 8_000, 5), 5);
  const [t] = back.fire();
  assert.equal(t.revision, 2);
  assert.deepEqual(t.channels.x.v, [1, 5, 7]);
});

test('a sample for a fired window is late, counted on the next tuple, and never re-opens the window', () => {
  const { op, add } = sensorsOnly();
  add(s(T0 + 1_000), 0);
  add(s(T0 + 13_000), 1);
  assert.equal(op.fire().length, 1);
  assert.deepEqual(add(s(T0 + 9_000), 2), { result: 'late', late: 1 });
  add(s(T0 + 23_000), 3);
  const [t] = op.fire();
  assert.equal(t.windowStart, T0 + 10_000);
  assert.equal(t.quality.late, 1);
});

test('duplicates (same device, channel and time) are dropped and counted', () => {
  const op = new WindowOperator(cfg, () => 0);
  op.add(s(T0 + 1_000, 5), 0);
  assert.equal(op.add(s(T0 + 1_000, 5), 1).result, 'duplicate');
  const [t] = op.flush();
  assert.deepEqual(t.channels.x.v, [5]);
  assert.equal(t.quality.duplicates, 1);
});

test('the watermark is the minimum over sensors and camera; an idle camera stops holding it back', () => {
  let now = 0;
  const op = new WindowOperator(cfg, () => now);
  op.add(img(T0), 0);
  op.add(s(T0 + 1_000), 0);
  op.add(s(T0 + 30_000), 1);
  assert.equal(op.fire().length, 0, 'camera at T0 holds the window');
  now = 31_000; // the camera has been silent longer than idleTimeoutMs
  op.add(s(T0 + 30_500), 2);
  const fired = op.fire();
  assert.equal(fired.length, 1);
  assert.equal(fired[0].image?.ts, T0, 'the frame within max age is attached');
  assert.equal(fired[0].image?.maxC, 30);
});

test('a block record spreads over the windows its samples fall in', () => {
  const op = new WindowOperator(cfg, () => 0);
  op.add(
    {
      modality: 'sensors',
      value: {
        v: 1,
        plant: 'p1',
        asset: 'a1',
        device: 'd',
        t0: T0 + 8_000,
        periodMs: 1_000,
        channels: { x: [1, 2, 3, 4] },
      },
    },
    0,
  );
  const ts = op.flush();
  assert.deepEqual(
    ts.map((t) => [t.windowStart, t.channels.x.v]),
    [
      [T0, [1, 2]],
      [T0 + 10_000, [3, 4]],
    ],
  );
});

test('notes attach to every window their time interval (ts ± slack) overlaps', () => {
  const op = new WindowOperator({ ...cfg, noteSlackMs: 3_000 }, () => 0);
  op.add(note(T0 + 11_000, 'rough noise'), 0);
  op.add(s(T0 + 1_000), 0);
  op.add(s(T0 + 11_000), 1);
  op.add(s(T0 + 25_000), 2);
  const ts = op.flush();
  assert.deepEqual(
    ts.map((t) => t.notes.map((n) => n.text)),
    [['rough noise'], ['rough noise'], []],
  );
});

test('assets are windowed independently', () => {
  const op = new WindowOperator(cfg, () => 0);
  op.add(img(T0 + 1_000, 'a1'), 0);
  op.add(s(T0 + 1_000, 1, 'a1'), 0);
  op.add(img(T0 + 50_000, 'a2'), 1);
  op.add(s(T0 + 50_000, 1, 'a2'), 1);
  assert.equal(op.fire().length, 0, "a2's watermark does not close a1's window");
});

test('restore from a snapshot plus replay of held records reproduces the undisturbed windows', () => {
  const records = Array.from({ length: 60 }, (_, i) => s(T0 + i * 700, Math.sin(i)));
  const undisturbed = sensorsOnly();
  const expected = records
    .flatMap((r, i) => {
      undisturbed.add(r, i);
      return undisturbed.op.fire();
    })
    .concat(undisturbed.op.flush());

  const { op: first, add } = sensorsOnly();
  const got = records.slice(0, 40).flatMap((r, i) => {
    add(r, i);
    return first.fire();
  });
  assert.ok(got.length >= 2, 'windows fired before the crash');
  const snap = JSON.parse(JSON.stringify(first.snapshot()));
  const held = first.heldSensorOffset();
  assert.ok(held !== null && held < 40);
  const clock = { t: 0 };
  const second = WindowOperator.restore(cfg, snap, () => clock.t);
  for (let i = held!; i < 40; i++) assert.equal(second.add(records[i], i, { replay: true }).late, 0);
  assert.equal(second.fire().length, 0, 'a replay fires nothing already fired');
  clock.t = 31_000; // the restored (absent) camera goes idle again
  const rest = records.slice(40).flatMap((r, j) => {
    second.add(r, 40 + j);
    return second.fire();
  });
  assert.ok(rest.length >= 1, 'windows fire after the restore');
  rest.push(...second.flush());
  assert.deepEqual([...got, ...rest], expected);
});

test('a camera read before any sensor record does not close the windows the sensors will open', () => {
  const op = new WindowOperator(cfg, () => 0);
  for (let i = 0; i < 10; i++) op.add(img(T0 + i * 10_000), i);
  assert.deepEqual(op.fire(), []);
  assert.equal(op.add(s(T0 + 1_000), 0).result, 'accepted');
  op.add(s(T0 + 95_000), 1);
  assert.deepEqual(
    op.fire().map((t) => t.windowStart),
    [T0],
  );
});

test('frames read far ahead of the sensors still attach to their own windows', () => {
  const op = new WindowOperator({ ...cfg, imageMaxAgeMs: 10_000 }, () => 0);
  for (let i = 0; i < 20; i++) op.add(img(T0 + i * 10_000 + 500), i);
  for (let i = 0; i < 20; i++) op.add(s(T0 + i * 10_000 + 9_000), i);
  const ts = op.flush();
  assert.equal(ts.length, 20);
  assert.deepEqual(
    ts.map((t) => t.image?.ts),
    ts.map((t) => t.windowStart + 500),
  );
  assert.deepEqual(
    ts.map((t) => t.image?.ageMs),
    ts.map(() => 9_500),
  );
});

test('a snapshot survives JSON (the checkpoint is stored as jsonb) before anything fired', () => {
  const op = new WindowOperator(cfg, () => 0);
  op.add(s(T0 + 1_000), 0);
  const snap = JSON.parse(JSON.stringify(op.snapshot()));
  assert.equal(snap.assets.a1.firedWm, null);
  const restored = WindowOperator.restore(cfg, snap, () => 0);
  assert.equal(
    restored.add(s(T0 + 2_000), 1).result,
    'accepted',
    'an unfired window is still open after the restore',
  );
});

test("a backlog published asset by asset: frames read minutes ahead of an asset's samples close none of its windows", () => {
  // Two assets, 10 minutes each, sensors every second, a frame a minute; record time = device time + 40 ms.
  // The topics hold a1's whole history, then a2's: when a2's samples are read, both topics are already
  // 10 minutes on (a1's), and a2's frames come in one batch ahead of its samples.
  const op = new WindowOperator({ ...cfg, idleTimeoutMs: 5_000 }, () => 0);
  let offset = 0;
  const tuples: ReturnType<WindowOperator['fire']> = [];
  for (const asset of ['a1', 'a2']) {
    for (let m = 0; m < 10; m++)
      op.add(img(T0 + m * 60_000 + 30_000, asset), offset++, { recordTime: T0 + m * 60_000 + 30_040 });
    for (let t = 0; t < 600; t++) {
      const r = op.add(s(T0 + t * 1_000, t, asset), offset++, { recordTime: T0 + t * 1_000 + 40 });
      assert.equal(r.result, 'accepted', `${asset} sample ${t}: ${r.result}`);
      if (t % 50 === 0) tuples.push(...op.fire());
    }
  }
  tuples.push(...op.fire(), ...op.flush());
  for (const asset of ['a1', 'a2']) {
    const mine = tuples.filter((x) => x.asset === asset && x.revision === 0);
    assert.equal(mine.length, 60, `${asset}: every window fired once`);
    assert.equal(
      mine.reduce((n, x) => n + x.channels.x.v.length, 0),
      600,
      `${asset}: every sample in a window`,
    );
  }
});

test('a block whose first samples fall in a fired window is accepted for the rest and reports the late ones', () => {
  const { op, add } = sensorsOnly();
  add(s(T0 + 1_000), 0);
  add(s(T0 + 13_000), 1);
  assert.equal(op.fire().length, 1);
  const r = add(
    {
      modality: 'sensors',
      value: {
        v: 1,
        plant: 'p1',
        asset: 'a1',
        device: 'd1',
        t0: T0 + 8_000,
        periodMs: 1_000,
        channels: { x: [1, 2, 3, 4] },
      },
    },
    2,
  );
  assert.deepEqual(r, { result: 'accepted', late: 2 });
});

test('a frame or a note that arrives after its window fired (within lateness) amends the window', () => {
  const { op, add } = sensorsOnly({ ...cfg, noteSlackMs: 1_000 });
  add(s(T0 + 1_000), 0);
  add(s(T0 + 11_000), 1);
  const [first] = op.fire();
  assert.equal(first.image, null);
  add(img(T0 + 9_000), 2);
  const [withFrame] = op.fire();
  assert.equal(withFrame.revision, 1);
  assert.equal(withFrame.image?.ts, T0 + 9_000);
  add(note(T0 + 5_000, 'smell of burning'), 3);
  const [withNote] = op.fire();
  assert.equal(withNote.revision, 2);
  assert.deepEqual(
    withNote.notes.map((n) => n.text),
    ['smell of burning'],
  );
  add(img(T0 + 8_000), 4); // older than the frame it already has: no amendment
  assert.deepEqual(op.fire(), []);
});

test('every tuple carries its channels on the fixed grid with a presence mask, per-channel interpolation', () => {
  const op = new WindowOperator({ ...cfg, gridMs: 2_500, interpolation: { state: 'last' } }, () => 0);
  op.add(
    {
      modality: 'sensors',
      value: { v: 1, plant: 'p1', asset: 'a1', device: 'd', ts: T0 + 1_000, values: { x: 0, state: 1 } },
    },
    0,
  );
  op.add(
    {
      modality: 'sensors',
      value: { v: 1, plant: 'p1', asset: 'a1', device: 'd', ts: T0 + 6_000, values: { x: 10, state: 2 } },
    },
    1,
  );
  const [t] = op.flush();
  assert.equal(t.grid.stepMs, 2_500);
  assert.deepEqual(t.grid.channels.x, { v: [0.5, 5.5, 10, 10], mask: [true, false, true, false] }); // centres 1.25, 3.75, 6.25, 8.75 s
  assert.deepEqual(t.grid.channels.state.v, [1, 1, 2, 2]);
  assert.deepEqual(t.quality.coverage, { sensors: 0.5, images: 0, notes: 0 });
});

test('timestamp assigner: skewed device clocks are corrected against the record time before windowing', () => {
  const op = new WindowOperator(cfg, () => 0);
  const skew: Record<string, number> = { fast: 20_000, slow: -15_000 };
  const tuples = [];
  for (let k = 0; k < 1200; k++) {
    // two minutes at 10 Hz per device
    const t = T0 + k * 100;
    for (const [device, off] of Object.entries(skew)) {
      op.add(
        {
          modality: 'sensors',
          value: { v: 1, plant: 'p1', asset: 'a1', device, seq: k, ts: t + off, values: { [device]: t } },
        },
        k,
        { recordTime: t + 20 + (k % 5) * 7 },
      );
    }
    op.add(img(t), k, { recordTime: t + 20 }); // the camera's clock is right
    tuples.push(...op.fire());
  }
  const late = tuples.filter((x) => x.windowStart >= T0 + 60_000); // after a minute of warm-up
  assert.ok(late.length >= 5);
  for (const t of late) {
    for (const ch of ['fast', 'slow']) {
      // Each sample's value is its true time: it must lie in the window it was put in.
      assert.ok(
        t.channels[ch].v.every((truth) => truth >= t.windowStart && truth < t.windowEnd),
        `${ch} in ${t.windowStart - T0}`,
      );
    }
    assert.equal(t.quality.clocks?.fast.corrected, true);
    assert.ok(
      Math.abs(t.quality.clocks!.fast.offsetMs! + 20_000 - 20) < 30,
      `fast offset ${t.quality.clocks!.fast.offsetMs}`,
    );
    assert.ok(
      Math.abs(t.quality.clocks!.slow.offsetMs! - 15_000 - 20) < 30,
      `slow offset ${t.quality.clocks!.slow.offsetMs}`,
    );
  }
});

test('a replay of history (every record time "now") leaves device times as given', () => {
  const op = new WindowOperator(cfg, () => 0);
  for (let k = 0; k < 600; k++)
    op.add(s(T0 + k * 100, k), k, { recordTime: T0 + 30 * 86_400_000 + Math.floor(k / 100) }); // a month later
  const ts = op.flush();
  assert.deepEqual(
    ts.map((t) => t.windowStart),
    [0, 1, 2, 3, 4, 5].map((i) => T0 + i * 10_000),
  );
  assert.equal(ts[5].quality.clocks?.d1.corrected, false);
  assert.equal(ts[5].quality.clockOffsetMs, 0);
});

test('with clock correction off, device times are taken as given', () => {
  const run = (reference: 'none' | 'record') => {
    const op = new WindowOperator({ ...cfg, clock: { ...cfg.clock, reference } }, () => 0);
    for (let k = 0; k < 300; k++) op.add(s(T0 + 30_000 + k * 100), k, { recordTime: T0 + k * 100 });
    return op.flush().map((t) => t.windowStart - T0);
  };
  assert.deepEqual(run('none'), [30_000, 40_000, 50_000]);
  assert.ok(run('record').includes(20_000), 'corrected, the 30 s fast clock lands 30 s earlier');
});

test('a future-dated stamp of a live device is windowed at its record time and does not move event time forward', () => {
  const op = new WindowOperator(cfg, () => 0);
  for (let k = 0; k < 100; k++) op.add(s(T0 + k * 100), k, { recordTime: T0 + k * 100 + 20 });
  assert.deepEqual(op.add(s(T0 + 86_400_000, 42), 100, { recordTime: T0 + 10_020 }), {
    result: 'accepted',
    late: 0,
  });
  for (let k = 101; k < 200; k++)
    assert.equal(op.add(s(T0 + k * 100), k, { recordTime: T0 + k * 100 + 20 }).result, 'accepted');
  const ts = op.flush();
  assert.deepEqual(
    ts.map((t) => t.windowStart),
    [T0, T0 + 10_000],
  );
  const at = ts[1].channels.x.t[ts[1].channels.x.v.indexOf(42)];
  assert.ok(at <= T0 + 10_020 && at >= T0 + 9_900, `placed at its record time (${at - T0})`);
});

test('a device whose stamps are taken as given (history) has a far-future stamp quarantined', () => {
  const op = new WindowOperator(cfg, () => 0);
  const now = T0 + 30 * 86_400_000;
  for (let k = 0; k < 100; k++) op.add(s(T0 + k * 100), k, { recordTime: now + k });
  assert.deepEqual(op.add(s(now + 86_400_000), 100, { recordTime: now + 100 }), {
    result: 'quarantined',
    late: 1,
    reason:
      "stamped 86400 s ahead of its record time, and the device's clock is not seen to run in real time",
  });
  assert.deepEqual(
    op.flush().map((t) => t.windowStart),
    [T0],
  );
});

test('sliding (hop) windows: a sample lands in windowMs / slideMs windows, each fires on its own', () => {
  const op = new WindowOperator({ ...cfg, slideMs: 5_000 }, () => 0);
  for (const [k, t] of [1_000, 7_000, 12_000].entries()) op.add(s(T0 + t, t), k);
  const ts = op.flush();
  assert.deepEqual(
    ts.map((t) => [t.windowStart - T0, t.windowEnd - T0, t.channels.x.v]),
    [
      [-5_000, 5_000, [1_000]],
      [0, 10_000, [1_000, 7_000]],
      [5_000, 15_000, [7_000, 12_000]],
      [10_000, 20_000, [12_000]],
    ],
  );
  assert.ok(ts.every((t) => t.slideMs === 5_000));
  assert.throws(() => new WindowOperator({ ...cfg, slideMs: 3_000 }), /multiple of align.slideMs/);
});

test('a live device that reboots to 1970: its stamps are re-estimated, nothing is windowed in 1970, nothing is lost', () => {
  const op = new WindowOperator(cfg, () => 0);
  const results: string[] = [];
  const tuples = [];
  for (let k = 0; k < 1200; k++) {
    const t = T0 + k * 100;
    const d = k < 600 ? t + 3_000 : 5_000 + (k - 600) * 100; // at 60 s the device restarts at 1970-01-01T00:00:05
    results.push(op.add(s(d, t), k, { recordTime: t + 20 }).result);
    op.add(img(t), k, { recordTime: t + 20 });
    tuples.push(...op.fire());
  }
  tuples.push(...op.flush());
  assert.ok(
    tuples.every((x) => x.windowStart >= T0 - 10_000),
    'no window in 1970',
  );
  const quarantined = results.filter((r) => r === 'quarantined').length;
  assert.ok(
    quarantined > 0 && quarantined <= 15,
    `only the samples before the step is confirmed are quarantined (${quarantined})`,
  );
  const after = tuples.filter((x) => x.windowStart >= T0 + 70_000);
  assert.ok(
    after.length >= 4 &&
      after.every((x) => x.channels.x.v.every((truth) => truth >= x.windowStart && truth < x.windowEnd)),
    'after the step, samples sit in their true windows',
  );
});

test('a device that boots at 1970 is quarantined until its clock is estimated, then corrected', () => {
  const op = new WindowOperator(cfg, () => 0);
  const results: string[] = [];
  for (let k = 0; k < 600; k++) {
    const t = T0 + k * 100;
    results.push(op.add(s(5_000 + k * 100, t), k, { recordTime: t + 20 }).result);
  }
  const firstAccepted = results.indexOf('accepted');
  assert.ok(firstAccepted > 0 && results.slice(0, firstAccepted).every((r) => r === 'quarantined'));
  assert.ok(firstAccepted <= 220, `accepted after about minEvidenceMs (${firstAccepted})`);
  const ts = op.flush();
  assert.ok(ts.length > 0 && ts.every((x) => x.windowStart > T0 - 10_000 && x.quality.clocks?.d1.corrected));
});

test('allowed lateness per modality: a note may amend a window for longer than a sample may', () => {
  const { op, add } = sensorsOnly({
    ...cfg,
    allowedLatenessMs: 2_000,
    noteLatenessMs: 30_000,
    noteSlackMs: 1_000,
  });
  add(s(T0 + 1_000), 0);
  add(s(T0 + 11_000), 1);
  assert.equal(op.fire().length, 1); // wm 10 s: [T0, T0+10 s) fires
  add(s(T0 + 21_000), 2); // wm 20 s: past the samples' lateness (12 s), within the notes' (40 s)
  op.fire();
  assert.equal(add(s(T0 + 9_000), 3).result, 'late');
  add(note(T0 + 8_000, 'oil on the floor'), 4);
  const amended = op.fire().find((t) => t.windowStart === T0);
  assert.equal(amended?.revision, 1);
  assert.deepEqual(
    amended?.notes.map((n) => n.text),
    ['oil on the floor'],
  );
});

test('a block is corrected by its last sample, the one sent with it (no bias by the block length)', () => {
  const op = new WindowOperator(cfg, () => 0);
  let t = [];
  for (let k = 0; k < 300; k++) {
    // one-second blocks of 100 samples, device clock 7 s fast, sent 15 ms after the last sample
    const t0 = T0 + k * 1000;
    op.add(
      {
        modality: 'sensors',
        value: {
          v: 1,
          plant: 'p1',
          asset: 'a1',
          device: 'd',
          seq: k,
          t0: t0 + 7_000,
          periodMs: 10,
          channels: { x: Array.from({ length: 100 }, (_, i) => t0 + i * 10) },
        },
      },
      k,
      { recordTime: t0 + 990 + 15 },
    );
    op.add(img(t0), k, { recordTime: t0 + 15 });
    t.push(...op.fire());
  }
  t = t.filter((x) => x.windowStart >= T0 + 60_000);
  assert.ok(t.length >= 10);
  for (const w of t) {
    const errs = w.channels.x.t.map((ts, i) => ts - w.channels.x.v[i]);
    assert.ok(
      errs.every((e) => e >= 0 && e <= 30),
      `corrected − true within [0, 30] ms, got ${Math.min(...errs)}..${Math.max(...errs)}`,
    );
  }
});

test('firing only the assets touched or whose watermark moved, and the held offset kept as windows come and go, change nothing', () => {
  // Two operators fed the same random stream (many assets, out-of-order and late samples, frames, notes,
  // an idle camera timing out): one fires as it does, the other looks at every asset on every fire, as it
  // did before. Their tuples must be equal, and the held sensor offset must equal its recomputation.
  let seed = 11;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const clock = { t: 0 };
  const fast = new WindowOperator(cfg, () => clock.t);
  const full = new WindowOperator(cfg, () => clock.t);
  type Inner = { assets: Map<string, { touched: boolean }>; held: number | null | undefined };
  const assets = ['a1', 'a2', 'a3', 'a4', 'a5'];
  const head = new Map(assets.map((a) => [a, T0]));
  let fired = 0;
  for (let offset = 0; offset < 6_000; offset++) {
    const asset = assets[Math.floor(rnd() * (offset < 3_000 ? assets.length : 2))];
    const h = head.get(asset)! + Math.floor(rnd() * 400);
    head.set(asset, h);
    const r = rnd();
    const rec =
      r < 0.9
        ? s(r < 0.8 ? h : h - Math.floor(rnd() * 15_000), Math.floor(rnd() * 100), asset)
        : r < 0.97
          ? img(h, asset)
          : ({
              ...note(h - 3_000, `n${offset}`),
              value: { ...note(h - 3_000, `n${offset}`).value, asset },
            } as InputRecord);
    fast.add(rec, offset);
    full.add(rec, offset);
    clock.t += 10;
    if (offset % 7 === 0) {
      for (const a of (full as unknown as Inner).assets.values()) a.touched = true;
      const x = fast.fire(),
        y = full.fire();
      assert.deepEqual(x, y);
      fired += x.length;
      const cached = fast.heldSensorOffset();
      (fast as unknown as Inner).held = undefined;
      assert.equal(cached, fast.heldSensorOffset());
    }
  }
  assert.ok(fired > 100, `windows fired: ${fired}`);
});

test('cadence: a camera sending a frame every 15 min informs the windows its period covers; an outage leaves windows without one', () => {
  const c = { ...cfg, windowMs: 60_000, imageMaxAgeMs: 120_000 };
  const op = new WindowOperator(c, () => 0);
  const H = 3_600_000,
    P = 900_000;
  // Six hours; the camera is out from 3 h to 4 h (its frames at 3:00, 3:15, 3:30, 3:45 never come).
  let off = 0;
  for (let t = 0; t < 6 * H; t += P) if (t < 3 * H || t >= 4 * H) op.add(img(T0 + t + 30_000), off++);
  for (let t = 0; t < 6 * H; t += 5_000) op.add(s(T0 + t + 1_000), off++);
  const tuples = op.flush().filter((t) => t.revision === 0);
  assert.equal(tuples.length, 360);
  const inOutage = (t: { windowStart: number }) =>
    t.windowStart - T0 >= 3 * H + 0.5 * P && t.windowStart - T0 < 4 * H;
  const outside = tuples.filter((t) => !inOutage(t) && t.windowStart - T0 >= 60_000);
  assert.ok(
    outside.every((t) => t.image !== null),
    'every window outside the outage has a frame (the old fixed 120 s age: 2 of 15)',
  );
  assert.ok(
    outside.every((t) => t.image!.ageMs <= 1.5 * P && t.image!.ageMs === t.windowEnd - t.image!.ts),
    'with its age',
  );
  assert.ok(
    tuples.filter(inOutage).every((t) => t.image === null),
    'no stale frame through the outage',
  );
  const [cam] = op.cameraStates();
  assert.deepEqual([cam.camera, cam.periodMs, cam.windows], ['c1', P, 360]);
  assert.ok(
    Math.abs(cam.withFrame / cam.windows - outside.length / 360) < 0.01,
    `share ${cam.withFrame}/${cam.windows}`,
  );
  // A configured period wins over the learnt one.
  const fixed = new WindowOperator({ ...c, cameraPeriodMs: { c1: 180_000 } }, () => 0);
  for (let t = 0; t < H; t += P) fixed.add(img(T0 + t + 30_000), t);
  for (let t = 0; t < H; t += 5_000) fixed.add(s(T0 + t + 1_000), H + t);
  const f = fixed.flush();
  assert.ok(f.every((t) => !t.image || t.image.ageMs <= 270_000));
  assert.equal(fixed.cameraStates()[0].periodMs, 180_000);
});
