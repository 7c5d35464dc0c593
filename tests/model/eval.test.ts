import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  baselineAblation,
  runScenario,
  summarise,
  withoutModalities,
  type Detector,
} from '../../eval/index.js';
import { parseScenario } from '../../sim/index.js';

const HOUR = 3_600_000;
const scenario = parseScenario({
  name: 'small',
  start: '2026-05-04T00:00:00Z',
  durationH: 6,
  imageMs: 20_000,
  plants: [{ id: 'p', assets: [{ id: 'a-1', aliases: ['first pump'] }, { id: 'a-2' }, { id: 'a-3' }] }],
  faults: [
    { asset: 'a-2', type: 'bearing_wear', onsetH: 2, failureH: 5, severity: 1.5 },
    { asset: 'a-3', type: 'sensor_flatline', channel: 'pressure_bar', onsetH: 3, failureH: 3.5 },
  ],
  cameraOutages: [{ asset: 'a-1', fromH: 3, toH: 6 }],
  cycles: { setpointEveryH: 0, loadDaily: 0, ambientDailyC: 0 },
  clocks: { offsetMs: 2000, driftPpm: 30 },
  network: { delayMs: 80, jitterMs: 200, duplicateRate: 0.01, lossRate: 0.002 },
});
const detectors = () => baselineAblation(30, 6);

test('the harness windows every asset end to end, labels windows from the ground truth, and is deterministic', () => {
  const ds = detectors();
  const r = runScenario({ scenario, seed: 9, split: 'test' }, ds);
  const start = Date.parse(scenario.start);
  for (const asset of ['a-1', 'a-2', 'a-3']) {
    const ws = r.windows.filter((w) => w.asset === asset);
    assert.equal(ws.length, 360, `${asset}: one window a minute for 6 h`);
    assert.deepEqual(
      ws.map((w) => w.windowStart),
      ws.map((_, i) => start + i * 60_000),
    );
  }
  const a2 = r.windows.filter((w) => w.asset === 'a-2');
  // Another seed than the file's moves the fault by up to ±5 % of the scenario: labels follow the plan.
  const onset = r.plan.faults[0].onsetMs;
  assert.notEqual(onset, start + 2 * HOUR);
  assert.ok(Math.abs(onset - (start + 2 * HOUR)) <= 0.05 * 6 * HOUR);
  assert.ok(a2.every((w) => w.label === (w.windowEnd > onset ? 1 : 0)));
  assert.ok(r.windows.filter((w) => w.asset === 'a-1').every((w) => w.label === 0));
  assert.equal(
    r.windows.filter((w) => w.label === null).length,
    31,
    'the flat-line half hour (and the window it starts in) is a data-quality period',
  );
  // Reference windows carry no score (30 tuples; one may be an edge window of skewed stamps before the start).
  assert.ok(a2.slice(0, 29).every((w) => w.scores.every((s) => s === null)));
  assert.ok(a2.slice(30).every((w) => w.scores.every((s) => s !== null)));
  const again = runScenario({ scenario, seed: 9, split: 'test' }, detectors());
  assert.deepEqual(again.windows, r.windows);
});

test('metrics per detector: the fault is found by the sensors, not by the notes alone; a missing camera is visible', () => {
  const ds = detectors();
  const r = runScenario({ scenario, seed: 9, split: 'test' }, ds);
  const m = Object.fromEntries(summarise([r], ds).map((x) => [x.detector, x]));
  assert.ok(m['sensors only'].aucRoc > 0.9, `sensors AUC ${m['sensors only'].aucRoc}`);
  assert.ok(m.fused.aucPr > 0.8, `fused AUC-PR ${m.fused.aucPr}`);
  assert.equal(m.fused.faults, 1);
  assert.equal(m.fused.faultsDetected, 1);
  assert.ok(m.fused.leadTimeH! > 0.5, `lead ${m.fused.leadTimeH} h`);
  assert.ok(m['notes only'].aucRoc < m['sensors only'].aucRoc);
  assert.ok(
    m.fused.explanationChecked > 0 && m.fused.explanationHits / m.fused.explanationChecked > 0.8,
    'bearing wear is explained by vibration',
  );
  assert.ok(m.fused.dataQualityWindows === 31);
  assert.ok(m.fused.assetWeeks > 0 && Number.isFinite(m.fused.falseAlertsPerAssetWeek));
  // Removing the sensors at test time leaves the camera and the notes: the fault is much harder to see.
  assert.ok(m['fused − sensors'].aucRoc < m.fused.aucRoc);
});

test('a modality removed from a tuple looks exactly like a missing one', () => {
  const t = {
    plant: 'p',
    asset: 'a',
    windowStart: 0,
    windowEnd: 10,
    slideMs: 10,
    revision: 0,
    channels: { x: { device: 'd', t: [1], v: [1] } },
    grid: { stepMs: 1, channels: { x: { v: [1], mask: [true] } } },
    image: { camera: 'c', ts: 1, ageMs: 0, kind: 'thermal', meanC: 1, maxC: 2 },
    notes: [{ author: 'a', ts: 1, slackMs: 0, text: 'x' }],
    quality: { samples: 1, duplicates: 0, late: 0, images: 1, notes: 1, clockOffsetMs: 0 },
  };
  const none = withoutModalities(t, ['sensors', 'images', 'notes']);
  assert.deepEqual([none.channels, none.grid.channels, none.image, none.notes], [{}, {}, null, []]);
  assert.equal(withoutModalities(t, []), t);
  const d: Detector = baselineAblation(3, 6)[4];
  assert.equal(d.name, 'fused');
});
