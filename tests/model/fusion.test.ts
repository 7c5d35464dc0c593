/**
 * The fusion model alone (no Kafka, no database): encoders, shapes and masks, missing modalities, training
 * on a small synthetic plant, calibration on held-out normal windows, the JSON round trip, bad input.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { thermalPatches } from '../../align/index.js';
import {
  DriftMonitor,
  encode,
  FusionModel,
  initBackend,
  newFeatureState,
  noteTerms,
  noteTokens,
  rulesForModel,
  scoreFusionBatch,
  type AssetFeatureState,
  type FeatureSpec,
  type ModelInput,
} from '../../fusion/index.js';
import { forward } from '../../fusion/net.js';
import { AlertRule, type WindowTuple } from '../../schemas/index.js';

const spec: FeatureSpec = {
  channels: ['current_a', 'vib_hf'],
  noteBuckets: 32,
  emaHalfLifeMs: 300_000,
  noteHalfLifeMs: 3_600_000,
  referenceWindows: 5,
};
const W = 60_000;

/** A deterministic generator for the synthetic plant. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** One window of a synthetic asset: current follows load; a fault raises vib_hf and heats a patch. */
function tuple(
  k: number,
  o: {
    fault?: number;
    r: () => number;
    camera?: boolean;
    sensors?: boolean;
    notes?: string[];
    nan?: boolean;
  },
): WindowTuple {
  const load = 0.5 + 0.4 * Math.sin(k / 17);
  const n = 30;
  const t = Array.from({ length: n }, (_, i) => k * W + i * 2000);
  const cur = t.map(() => 10 + 20 * load + o.r() * 0.3);
  const vib = t.map(() => 1 + 0.5 * load + (o.fault ?? 0) * 1.5 + o.r() * 0.1);
  if (o.nan) cur[3] = NaN;
  const data = Array.from(
    { length: 32 * 24 },
    (_, i) => 25 + 10 * load + (i % 32 > 24 && Math.floor(i / 32) < 6 ? (o.fault ?? 0) * 30 : 0) + o.r(),
  );
  const patches = thermalPatches(data, 32, 24);
  const channels: WindowTuple['channels'] =
    o.sensors === false ? {} : { current_a: { device: 'd', t, v: cur }, vib_hf: { device: 'd', t, v: vib } };
  const grid: WindowTuple['grid']['channels'] =
    o.sensors === false
      ? {}
      : {
          current_a: {
            v: cur.map((x) => (Number.isFinite(x) ? x : null)),
            mask: cur.map((x) => Number.isFinite(x)),
          },
          vib_hf: { v: vib, mask: vib.map(() => true) },
        };
  return {
    plant: 'p1',
    asset: 'pump-01',
    windowStart: k * W,
    windowEnd: (k + 1) * W,
    slideMs: W,
    revision: 0,
    channels,
    grid: { stepMs: 2000, channels: grid },
    image:
      o.camera === false
        ? null
        : {
            camera: 'c',
            ts: k * W + 1000,
            ageMs: 59_000,
            kind: 'thermal',
            meanC: data.reduce((a, b) => a + b, 0) / data.length,
            maxC: Math.max(...data),
            patches,
          },
    notes: (o.notes ?? []).map((text) => ({ author: 'a', ts: k * W, slackMs: 0, text })),
    quality: { samples: n * 2, duplicates: 0, late: 0, images: 1, notes: 0, clockOffsetMs: 0 },
  };
}

/** Encoded windows of a synthetic asset with a fault in some stretches. */
function dataset(
  seed: number,
  windows: number,
  faulty: (k: number) => number,
): Array<{ x: ModelInput; label: 0 | 1 }> {
  const r = rng(seed);
  const st = newFeatureState();
  const out: Array<{ x: ModelInput; label: 0 | 1 }> = [];
  for (let k = 0; k < windows; k++) {
    const f = faulty(k);
    const x = encode(
      tuple(k, {
        fault: f,
        r,
        notes:
          f > 0.5 && k % 7 === 0
            ? ['P1 grinding noise from bearing']
            : k % 50 === 0
              ? ['routine round, all fine']
              : [],
      }),
      st,
      spec,
      ['pump-01', 'p1'],
    );
    if (x) out.push({ x, label: f > 0 ? 1 : 0 });
  }
  return out;
}

const fault = (k: number) => (k % 200 >= 150 ? Math.min(1, ((k % 200) - 150) / 20) : 0);

before(async () => {
  await initBackend();
});

test('thermal frames of any size become 8 × 6 patch means; notes are normalised with the asset vocabulary', () => {
  const small = thermalPatches([1, 2, 3, 4], 2, 2);
  assert.equal(small.length, 48);
  assert.ok(small.every(Number.isFinite), 'cells a small frame does not cover take its mean');
  const big = thermalPatches(
    Array.from({ length: 64 * 48 }, (_, i) => (i % 64 < 8 ? 100 : 0)),
    64,
    48,
  );
  assert.equal(big[0], 100);
  assert.equal(big[1], 0);
  assert.deepEqual(noteTokens('Pump-01: Grinding NOISE at the feed pump!', ['pump-01', 'feed pump']), [
    '<asset>',
    'grinding',
    'noise',
    'at',
    'the',
    '<asset>',
  ]);
  const terms = noteTerms('grinding noise', 32);
  assert.ok(
    terms.some(([t]) => t === 'grinding noise'),
    'bigram',
  );
  assert.ok(terms.every(([, b]) => b >= 0 && b < 32));
  assert.equal(noteTokens('x'.repeat(100_000)).join('').length, 4000, 'an enormous note is cut, not a crash');
});

test('encoding: reference period, vector widths, presence mask, and NaN readings ignored with a reason', () => {
  const r = rng(1);
  const st: AssetFeatureState = newFeatureState();
  for (let k = 0; k < spec.referenceWindows; k++)
    assert.equal(encode(tuple(k, { r }), st, spec), null, 'reference period');
  assert.ok(st.std, 'standardisation fixed after the reference period');
  const x = encode(tuple(10, { r, nan: true, notes: ['odd smell'] }), st, spec)!;
  assert.equal(x.s.length, 2 * spec.channels.length * 6);
  assert.equal(x.i.length, 2 * 50);
  assert.equal(x.n.length, 2 * spec.noteBuckets);
  assert.deepEqual(x.present, [1, 1, 1]);
  assert.ok([...x.s, ...x.i, ...x.n].every(Number.isFinite));
  assert.match(x.issues.join(';'), /current_a: 1 non-finite/);
  const noCam = encode(tuple(11, { r, camera: false }), st, spec)!;
  assert.equal(noCam.present[1], 0);
  assert.ok(
    noCam.i.every((v) => v === 0),
    'an absent modality has a zero input',
  );
});

test("the frame's age is one more image input when the spec asks for it; a model saved without it keeps its shape", () => {
  const aged = { ...spec, imageAge: true };
  const r = rng(4);
  const st = newFeatureState(),
    old = newFeatureState();
  for (let k = 0; k < spec.referenceWindows; k++) {
    encode(tuple(k, { r }), st, aged);
    encode(tuple(k, { r }), old, spec);
  }
  const fresh = tuple(10, { r }),
    stale = structuredClone(fresh);
  stale.image = { ...stale.image!, ageMs: 15 * 60_000 };
  fresh.image = { ...fresh.image!, ageMs: 0 };
  const a = encode(fresh, { ...st }, aged)!,
    b = encode(stale, { ...st }, aged)!;
  assert.equal(a.i.length, 2 * 50 + 1);
  assert.equal(a.i[100], 0, "a frame taken at the window's end");
  assert.equal(b.i[100], 4, '15 minutes: log2(16)');
  assert.deepEqual(
    Array.from(a.i.subarray(0, 100)),
    Array.from(b.i.subarray(0, 100)),
    'the age changes nothing else',
  );
  const noCam = encode(tuple(11, { r, camera: false }), { ...st }, aged)!;
  assert.ok(
    noCam.i.every((v) => v === 0),
    'no frame: no age either',
  );
  const m = FusionModel.create('aged', aged, { seed: 2 }),
    before = FusionModel.create('before', spec, { seed: 2 });
  assert.equal(m.shape.inI, 101);
  assert.equal(before.shape.inI, 100, 'the older spec keeps 100 image inputs');
  const scored = m.score([a, b]);
  assert.ok(scored.every((x) => Number.isFinite(x.raw)));
  assert.notEqual(scored[0].raw, scored[1].raw, 'the age reaches the score');
  const copy = FusionModel.fromJSON(JSON.parse(JSON.stringify(before.toJSON())));
  assert.ok(
    copy.score([encode(tuple(12, { r }), old, spec)!]).every((x) => Number.isFinite(x.raw)),
    'a saved model without the age still scores',
  );
  m.dispose();
  before.dispose();
  copy.dispose();
});

test('network shapes, and an absent modality has no influence on the score', () => {
  const m = FusionModel.create('shape', spec, { seed: 3 });
  const B = 5,
    sh = m.shape;
  const mk = (cols: number, seed: number) => {
    const r = rng(seed);
    return tf.tensor2d(
      Array.from({ length: B * cols }, () => r() * 2 - 1),
      [B, cols],
    );
  };
  const xs = mk(sh.inS, 1),
    xn = mk(sh.inN, 3);
  const p = tf.tensor2d(Array.from({ length: B }, () => [1, 0, 1]));
  const a = forward(m.w, sh, xs, mk(sh.inI, 2), xn, p, true);
  const b = forward(m.w, sh, xs, mk(sh.inI, 99), xn, p, true);
  assert.deepEqual(a.logit.shape, [B]);
  assert.deepEqual(a.errS.shape, [B, sh.outS]);
  assert.deepEqual(a.gates.shape, [B, 3]);
  assert.equal(a.without!.length, 3);
  assert.deepEqual(
    Array.from(a.logit.dataSync()),
    Array.from(b.logit.dataSync()),
    'images marked missing: their pixels do not matter',
  );
  assert.deepEqual(
    Array.from(a.eI.dataSync()),
    new Array(B).fill(0),
    'no reconstruction error for an absent modality',
  );
  const c = forward(m.w, sh, xs, mk(sh.inI, 2), xn, tf.tensor2d(Array.from({ length: B }, () => [1, 1, 1])));
  assert.notDeepEqual(
    Array.from(a.logit.dataSync()),
    Array.from(c.logit.dataSync()),
    'a present modality does matter',
  );
  m.dispose();
});

test('training on a synthetic plant: faults score above normal windows, also with the camera missing; calibration and save/load', () => {
  const train = dataset(11, 1200, fault);
  const heldOutNormal = dataset(12, 800, () => 0).map((d) => d.x);
  const test_ = dataset(13, 800, fault);
  const m = FusionModel.create('synthetic', spec, { seed: 5, hidden: 32, d: 16 });
  m.train(train, { epochs: 8, batch: 128, learningRate: 5e-3, seed: 9 });
  assert.equal(m.mode, 'supervised');
  m.calibrate(heldOutNormal);
  const scores = m.score(test_.map((d) => d.x));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const pos = scores.filter((_, k) => test_[k].label === 1).map((s) => s.probability!);
  const neg = scores.filter((_, k) => test_[k].label === 0).map((s) => s.probability!);
  assert.ok(mean(pos) > 0.9 && mean(neg) < 0.7, `faults ${mean(pos)} vs normal ${mean(neg)}`);
  // Explanations: the faulty channel leads the sensor share on the clearest fault windows.
  const clear = scores.filter((_, k) => test_[k].label === 1 && test_[k].x.zS[6] > 1.5);
  assert.ok(clear.length > 10);
  for (const s of clear) {
    const sum = Object.values(s.contributions).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-3, 'contributions sum to 1');
  }
  const vibLeads = clear.filter(
    (s) => (s.contributions.vib_hf ?? 0) >= (s.contributions.current_a ?? 0),
  ).length;
  assert.ok(vibLeads / clear.length >= 0.8, `vib_hf explains ${vibLeads}/${clear.length}`);
  // A missing camera degrades the score instead of breaking it.
  const noCam = m.score(
    test_.map((d) => ({ ...d.x, present: [d.x.present[0], 0, d.x.present[2]] as [number, number, number] })),
  );
  assert.ok(noCam.every((s) => Number.isFinite(s.raw)));
  const posNoCam = noCam.filter((_, k) => test_[k].label === 1).map((s) => s.probability!);
  assert.ok(mean(posNoCam) > mean(neg), 'faults still score above normal windows without the camera');
  // Calibration: on new normal windows, about 5 % reach 0.95.
  const fresh = m.score(dataset(14, 1000, () => 0).map((d) => d.x)).map((s) => s.probability!);
  const over = fresh.filter((p) => p >= 0.95).length / fresh.length;
  assert.ok(over > 0.005 && over < 0.15, `share of held-out normal windows at p ≥ 0.95: ${over}`);
  // Save and load: identical scores.
  const copy = FusionModel.fromJSON(JSON.parse(JSON.stringify(m.toJSON())));
  assert.deepEqual(
    copy.score(test_.slice(0, 50).map((d) => d.x)),
    m.score(test_.slice(0, 50).map((d) => d.x)),
  );
  assert.throws(
    () => FusionModel.fromJSON({ ...m.toJSON(), format: 'other' as never }),
    /not a Tributary fusion model/,
  );
  copy.dispose();
  m.dispose();
});

test('bad input never crashes the scorer nor reaches the store as NaN', () => {
  const m = FusionModel.create('bad-input', spec, { seed: 2 });
  const states: Record<string, AssetFeatureState> = {};
  const r = rng(4);
  const ts = Array.from({ length: spec.referenceWindows }, (_, k) => tuple(k, { r }));
  const bad = [
    tuple(10, { r, sensors: false, camera: false }),
    tuple(11, { r, nan: true }),
    {
      ...tuple(12, { r }),
      image: { camera: 'c', ts: 12 * W, ageMs: 1, kind: 'encoded', meanC: null, maxC: null },
    },
    { ...tuple(13, { r }), image: { ...tuple(13, { r }).image!, patches: [1, 2, 3] } },
    tuple(14, { r, notes: ['', 'x'.repeat(1_000_000)] }),
  ];
  const { rows } = scoreFusionBatch([...ts, ...bad], m, states, () => ['pump-01']);
  assert.deepEqual(
    rows.slice(0, spec.referenceWindows).map((x) => x.status),
    new Array(spec.referenceWindows).fill('reference'),
  );
  const [none, nan, encoded, corrupt, notes] = rows.slice(spec.referenceWindows);
  assert.equal(none.status, 'unscorable');
  assert.match(none.explanation!.reason!, /no sensor readings; no camera frame/);
  for (const row of [nan, encoded, corrupt, notes]) {
    assert.equal(row.status, 'scored');
    assert.ok(Number.isFinite(row.score), 'a finite score');
  }
  assert.match(nan.explanation!.reason!, /non-finite readings ignored/);
  assert.match(encoded.explanation!.reason!, /no thermal pixels/);
  assert.match(corrupt.explanation!.reason!, /image modality treated as missing/);
  m.dispose();
});

test("alert rules on the robust-z scale use a calibrated model's operating probability", () => {
  const m = FusionModel.create('rules', spec);
  const rule = AlertRule.parse({
    id: 'r',
    openAbove: 6,
    closeBelow: 4,
    severity: { critical: { above: 12 } },
  });
  assert.deepEqual(rulesForModel([rule], m), [rule], 'an uncalibrated model keeps the rules');
  m.calibration = { normals: [0, 1, 2], n: 3 };
  m.card = { threshold: 0.995 };
  const [mapped] = rulesForModel([rule, AlertRule.parse({ id: 'p', openAbove: 0.9, closeBelow: 0.8 })], m);
  assert.equal(mapped.openAbove, 0.995);
  assert.ok(Math.abs(mapped.closeBelow - 0.99) < 1e-9);
  assert.equal(mapped.severity.critical.above, undefined);
  assert.equal(
    rulesForModel([AlertRule.parse({ id: 'p', openAbove: 0.9, closeBelow: 0.8 })], m)[0].openAbove,
    0.9,
    'a probability rule stays',
  );
  m.dispose();
});

test('input drift: PSI stays low on inputs like the training ones and rises when a sensor shifts', () => {
  const m = FusionModel.create('drift', spec);
  const all = dataset(21, 1400, () => 0).map((d) => d.x);
  m.setReference(all.slice(0, 800));
  const monitor = new DriftMonitor(1000, 100);
  monitor.add(
    m,
    all.slice(800).map((x) => ({ plant: 'p1', x })),
  );
  const shifted = all.slice(800).map((x) => {
    const s = Float32Array.from(x.s);
    s[6] += 2;
    return { plant: 'p2', x: { ...x, s } };
  });
  monitor.add(m, shifted);
  const [p1, p2] = monitor.evaluate().sort((a, b) => a.plant.localeCompare(b.plant));
  assert.ok(p1.maxPsi < 0.25, `same distribution: ${p1.maxPsi}`);
  assert.ok(p2.psi['vib_hf:mean'] > 1, `vib_hf mean shifted: ${p2.psi['vib_hf:mean']}`);
  assert.ok(p2.maxPsi >= p2.psi['vib_hf:mean']);
  monitor.retain(new Set());
  assert.deepEqual(monitor.evaluate(), [], 'models no longer running are forgotten');
  m.dispose();
});

test('a model that fails while scoring leaves its windows unscorable with the reason instead of stopping ingest', () => {
  const m = FusionModel.create('broken', spec, { seed: 2 });
  const states: Record<string, AssetFeatureState> = {};
  const r = rng(8);
  scoreFusionBatch(
    Array.from({ length: spec.referenceWindows }, (_, k) => tuple(k, { r })),
    m,
    states,
    () => [],
  );
  m.dispose(); // its weights are gone: TensorFlow.js throws on use
  const { rows } = scoreFusionBatch([tuple(20, { r }), tuple(21, { r })], m, states, () => []);
  assert.deepEqual(
    rows.map((x) => x.status),
    ['unscorable', 'unscorable'],
  );
  assert.match(rows[0].explanation!.reason!, /the model failed/);
});
