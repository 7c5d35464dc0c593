/**
 * Plant family B: the generator's self-test (deterministic, every record valid on the wire, labels
 * consistent with the records) and the unseen-plant protocol in-process and through Kafka and the database.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { pino } from 'pino';
import { runUnseen, runUnseenEndToEnd, SERVICE_DETECTOR, unseenMetrics } from '../../eval/index.js';
import { initBackend } from '../../fusion/index.js';
import { decodeRecord } from '../../ingest/decode.js';
import { Config } from '../../schemas/index.js';
import {
  firstEvidence,
  PLANT_B_FAULTS,
  PlantBSim,
  plantBRun,
  streamB,
  userConfigOf,
  type BRecords,
} from '../../sim/plant-b.js';
import { useKafka } from '../helpers/kafka.js';

const HOUR = 3_600_000;
/** The text names `name`, allowing the generator's typo (two neighbouring letters swapped). */
const mentions = (text: string, name: string) => {
  const t = text.toLowerCase(),
    n = name.toLowerCase();
  const variants = [
    n,
    ...[...n].slice(0, -1).map((_, i) => n.slice(0, i) + n[i + 1] + n[i] + n.slice(i + 2)),
  ];
  return variants.some((v) => t.includes(v));
};
const digest = (x: unknown) => createHash('sha256').update(JSON.stringify(x)).digest('hex');

test('plant B: the same preset and seed give the same records; another seed other ones', () => {
  const take = (seed: number) => {
    const run = plantBRun({ preset: 'short', seed });
    const sim = new PlantBSim(run);
    sim.advance(run.historyFromMs + HOUR);
    return digest(sim.advance(run.historyFromMs + 2 * HOUR));
  };
  assert.equal(take(3), take(3));
  assert.notEqual(take(3), take(4));
  // The plan as well: faults, benign events, clocks.
  assert.equal(
    digest(plantBRun({ preset: 'week', seed: 5 })),
    digest(plantBRun({ preset: 'week', seed: 5 })),
  );
});

test('plant B: every record is valid on the wire and every camera format decodes', () => {
  const run = plantBRun({ preset: 'short', seed: 2 });
  const sim = new PlantBSim(run);
  const limits = Config.parse({}).limits;
  const recs: BRecords = sim.advance(run.historyFromMs + 14 * HOUR); // Monday 04:00–18:00: stops, start-up, production
  const formats = new Map<string, number>();
  for (const [topic, xs] of [
    ['sensors', recs.sensors],
    ['images', recs.images],
    ['notes', recs.notes],
  ] as const) {
    for (const r of xs) {
      const d = decodeRecord(topic, Buffer.from(JSON.stringify(r)), limits);
      assert.ok(d.ok, `${topic}: ${JSON.stringify(d)}`);
      if (d.ok && d.record.modality === 'images') {
        const f = d.record.value as { camera: string; kind: string; pixels?: { data: Float32Array } };
        formats.set(f.camera, (formats.get(f.camera) ?? 0) + 1);
        if (f.kind === 'thermal') {
          const px =
            f.pixels?.data ?? Float32Array.from((f as unknown as { data: number[] }).data, (k) => k - 273.15);
          const mean = px.reduce((a, b) => a + b, 0) / px.length;
          assert.ok(mean > -5 && mean < 60, `${f.camera}: mean ${mean} °C`);
        }
      }
    }
  }
  assert.deepEqual(
    [...formats.keys()].sort(),
    run.assets
      .filter((a) => a.camera)
      .map((a) => a.camera!.id)
      .sort(),
  );
  // Samples and blocks, 0.05 Hz to 10 Hz; notes in several languages, most without an asset.
  const periods = new Set(recs.sensors.flatMap((s) => ('periodMs' in s ? [s.periodMs] : [])));
  assert.deepEqual(
    [...periods].sort((a, b) => a - b),
    [100, 500, 1000],
  );
  assert.ok(recs.sensors.some((s) => 'ts' in s && 'gear_oil_c' in s.values));
  assert.ok(recs.notes.length >= 5, `${recs.notes.length} notes`);
  assert.ok(recs.notes.filter((n) => !n.asset).length > recs.notes.length / 3);
  assert.ok(
    recs.notes.some((n) => /Rundgang|Schichtübergabe|Ronda|Relevo/.test(n.text)),
    recs.notes.map((n) => n.text).join('\n'),
  );
});

test('plant B: labels are consistent with the records', () => {
  const checked = new Set<string>();
  for (const seed of [1, 2, 3, 4]) {
    const run = plantBRun({ preset: 'short', seed, historyMs: HOUR }); // faults begin after the history
    const names = userConfigOf(run).aliases[run.plant];
    const sim = new PlantBSim(run);
    const recs = sim.advance(run.endMs);
    for (const f of run.faults) {
      checked.add(f.type);
      for (const [m, t] of Object.entries(f.evidence))
        if (t !== null) assert.ok(t >= f.onsetMs && t <= f.failureMs + 40 * 60_000, `${f.type} ${m}`);
      if (f.type === 'idler_seizure') assert.equal(f.evidence.sensors, null, 'images only');
      if (f.type === 'motor_insulation')
        assert.deepEqual([f.evidence.sensors, f.evidence.images], [null, null], 'no single modality');
      // A notes evidence time is the stated time of a note that names the asset.
      if (f.evidence.notes !== null) {
        const at = recs.notes.filter((n) => n.ts === f.evidence.notes);
        assert.ok(at.length > 0, `${f.type}: no note at ${f.evidence.notes}`);
        assert.ok(
          at.some(
            (n) =>
              n.asset === f.asset ||
              Object.entries(names).some(([k, v]) => v === f.asset && mentions(n.text, k)),
          ),
          at.map((n) => n.text).join('\n'),
        );
      }
      // Tripped from failure to repair: the machine's speed or power is zero.
      if (f.failureMs + 60_000 < f.endMs) {
        const during = recs.sensors.filter(
          (s) =>
            s.asset === f.asset &&
            ('ts' in s ? s.ts : s.t0) > f.failureMs + 120_000 &&
            ('ts' in s ? s.ts : s.t0) < f.endMs,
        );
        for (const s of during) {
          const v =
            'ts' in s
              ? s.values
              : Object.fromEntries(Object.entries(s.channels).map(([k, xs]) => [k, xs[xs.length - 1]]));
          for (const k of ['belt_speed_mps', 'motor_kw', 'fan_hz'])
            if (k in v) assert.ok(Math.abs(v[k]) < 0.2, `${f.asset} ${k}=${v[k]} while tripped`);
        }
      }
      assert.ok(firstEvidence(f) === null || firstEvidence(f)! >= f.onsetMs);
    }
    // No frame from a camera during its outage (true times).
    for (const o of run.cameraOutages)
      assert.ok(
        !recs.images.some((i) => i.camera === o.camera && i.ts >= o.fromMs && i.ts < o.toMs),
        o.camera,
      );
  }
  assert.ok(checked.size >= 5, [...checked].join());
  assert.ok(PLANT_B_FAULTS.length >= 5);
});

test('plant B: communication loss drops records, store-and-forward delivers them late in a burst', () => {
  const run = plantBRun({ preset: 'short', seed: 6, historyMs: 6 * HOUR, durationMs: 2 * HOUR });
  run.comms = [
    {
      device: 'AC-1-gw',
      fromMs: run.historyFromMs + HOUR,
      toMs: run.historyFromMs + HOUR + 20 * 60_000,
      storeAndForward: false,
    },
    {
      device: 'AC-2-gw',
      fromMs: run.historyFromMs + HOUR,
      toMs: run.historyFromMs + HOUR + 20 * 60_000,
      storeAndForward: true,
    },
  ];
  let lost = 0,
    burst = 0,
    inGap = 0;
  for (const batch of streamB(run)) {
    for (const d of batch) {
      if (d.topic !== 'sensors' || !('ts' in d.record)) continue;
      const rec = d.record as { device: string; ts: number };
      const c = run.clocks[rec.device];
      const approx = rec.ts - c.offsetMs; // within drift and steps of the true time
      if (approx > run.comms[0].fromMs + 60_000 && approx < run.comms[0].toMs - 60_000) {
        if (rec.device === 'AC-1-gw') lost++;
        if (rec.device === 'AC-2-gw') {
          inGap++;
          if (d.arrivalMs >= run.comms[1].toMs) burst++;
        }
      }
    }
  }
  assert.equal(lost, 0);
  assert.ok(inGap > 1000 && burst === inGap, `${burst}/${inGap}`);
});

test('the unseen-plant protocol in-process: every detector scored, labels after scoring, test seeds refused', async () => {
  await initBackend();
  assert.throws(() => runUnseen(plantBRun({ preset: 'short', seed: 101 })), /test seed/);
  const run = plantBRun({ preset: 'short', seed: 12, historyMs: 8 * HOUR, durationMs: 6 * HOUR });
  const r = runUnseen(run, { epochs: 2 });
  assert.equal(r.rejected, 0);
  assert.deepEqual(
    r.detectors.map((d) => d.name),
    [
      'baseline (shipped)',
      'sensors only',
      'images only',
      'notes only',
      'late fusion',
      'context k-NN',
      'fusion (trained on history)',
    ],
  );
  // Every asset's windows of the measured period (a few may stay unscored at a comms loss' edge).
  assert.ok(
    r.windows.length >= 0.98 * run.assets.length * 6 * 60 && r.windows.length <= run.assets.length * 6 * 60,
    `${r.windows.length}`,
  );
  // The healthy twin: the same plant, period and weather without the faults; per-fault figures pair with it.
  r.twin = runUnseen(
    plantBRun({ preset: 'short', seed: 12, faults: false, historyMs: 8 * HOUR, durationMs: 6 * HOUR }),
    { epochs: 2 },
  );
  assert.equal(r.twin.run.faults.length, 0);
  assert.deepEqual(
    r.twin.run.benign.filter((b) => b.type !== 'person_in_view'),
    run.benign.filter((b) => b.type !== 'person_in_view'),
    'the twin has the same benign events',
  );
  const ms = r.detectors.map((_, i) => unseenMetrics([r], i));
  for (const f of new Set(
    run.faults.filter((x) => firstEvidence(x) !== null && firstEvidence(x)! < run.endMs).map((x) => x.type),
  )) {
    assert.ok(Number.isFinite(ms[0].byFault[f]?.twinAucRoc), `${f}: ${JSON.stringify(ms[0].byFault[f])}`);
  }
  for (const m of ms) {
    assert.ok(m.coverage > 0.9, `${m.detector} coverage ${m.coverage}`);
    assert.equal(m.faults.length, run.faults.length);
    assert.ok(Number.isFinite(m.falseAlertsPerAssetWeek));
    for (const a of m.falseAlerts) assert.ok(a.nearest !== null);
  }
  const positives = r.windows.filter((w) => w.label === 1).length;
  assert.ok(positives > 0 && positives < r.windows.length / 2, `${positives}`);
  assert.ok(ms[0].benign.shutdown && ms[0].benign.startup, Object.keys(ms[0].benign).join());
});

test(
  'the unseen-plant protocol through Kafka and the database: the service scores as in-process and its own alerts are measured',
  { timeout: 900_000 },
  async () => {
    const kafka = await useKafka();
    const brokers = kafka.brokers;
    await initBackend();
    const run = plantBRun({
      preset: 'short',
      seed: 13,
      historyMs: 3 * HOUR,
      durationMs: 3 * HOUR,
      endBefore: Date.now(),
    });
    const inProc = runUnseen(run, { trainOnHistory: false });
    const res = await runUnseenEndToEnd(inProc, { brokers }, pino({ level: 'warn' }));
    assert.ok(res.published > 50_000, `${res.published}`);
    const mine = inProc.detectors.findIndex((d) => d.name === SERVICE_DETECTOR);
    assert.ok(
      res.compared > 0.9 * inProc.windows.filter((w) => w.scores[mine] !== null).length,
      `${res.compared}`,
    );
    // Most windows score exactly as in-process. Where a window's inputs differ (which frame it holds depends
    // on the order the topics are read in), the context scorer's memory differs from then on and so, a
    // little, do the asset's later scores (on seed 13 with a 30 min lag: 5 of 7 assets identical
    // throughout, 784 of 1 260 windows, 1 244 on the same side of the alert threshold). With the 6 h lag
    // a 6 h run remembers only its first hour, so a difference there lasts the whole run (1 197 of
    // 1 260 on the same side in CI).
    assert.ok(res.identical / res.compared > 0.4, `${res.identical}/${res.compared} identical`);
    assert.ok(
      res.sameSide / res.compared > 0.9,
      `${res.sameSide}/${res.compared} on the same side of the threshold`,
    );
    assert.equal(res.metrics.faults.length, run.faults.length);
    assert.ok(res.metrics.coverage > 0.9, `${res.metrics.coverage}`);
    await kafka.stop();
  },
);
