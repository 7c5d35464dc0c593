import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveNoteAsset } from '../../align/index.js';
import { decodeRecord } from '../../ingest/index.js';
import { Config, type SensorSample } from '../../schemas/index.js';
import {
  aliasTable,
  deliver,
  generate,
  generateNotes,
  labelsOf,
  levelOf,
  loadScenario,
  loadSuite,
  parseScenario,
  planOf,
  ScenarioError,
  simplePlan,
  stream,
  type SimPlan,
} from '../../sim/index.js';

const HOUR = 3_600_000;
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
/** The same plan without its faults: the control that isolates a fault's effect from load and ambient cycles. */
const control = (p: SimPlan): SimPlan => ({ ...p, faults: [] });
const series = (p: SimPlan, asset: string, from: number, to: number) =>
  generate(p, from, to).sensors.filter((s) => s.asset === asset);

test('the same seed gives the same records, any split of a range gives the same records, another seed differs', () => {
  const p = planOf(loadScenario('bearing-wear'), 101);
  const t0 = p.startMs + 9 * HOUR;
  const whole = generate(p, t0, t0 + 900_000);
  const a = generate(p, t0, t0 + 333_333);
  const b = generate(p, t0 + 333_333, t0 + 900_000);
  const order = <T extends { asset?: string; ts: number }>(xs: T[]) =>
    [...xs].sort((x, y) => (x.asset ?? '').localeCompare(y.asset ?? '') || x.ts - y.ts);
  for (const m of ['sensors', 'images', 'notes'] as const)
    assert.deepEqual(
      order<{ asset?: string; ts: number }>([...a[m], ...b[m]]),
      order<{ asset?: string; ts: number }>(whole[m]),
      m,
    );
  assert.deepEqual(generate(planOf(loadScenario('bearing-wear'), 101), t0, t0 + 900_000), whole);
  const other = generate(planOf(loadScenario('bearing-wear'), 102), t0, t0 + 900_000);
  assert.notDeepEqual(
    other.sensors.map((s) => s.values),
    whole.sensors.map((s) => s.values),
  );
});

test('every simulated record passes the wire-format validation', () => {
  const limits = Config.parse({}).limits;
  for (const name of ['disturbed-bearing-wear', 'sensor-faults']) {
    const p = planOf(loadScenario(name), 3);
    const recs = {
      ...generate(p, p.startMs + 14 * HOUR, p.startMs + 15 * HOUR),
      notes: generateNotes(p, p.startMs, p.endMs),
    };
    for (const m of ['sensors', 'images', 'notes'] as const) {
      assert.ok(recs[m].length > 0, `${name} ${m}`);
      for (const r of recs[m]) {
        const d = decodeRecord(m, Buffer.from(JSON.stringify(r)), limits);
        assert.ok(d.ok, `${name} ${m}: ${JSON.stringify(d)}`);
      }
    }
  }
});

test('bearing wear raises the bearing band (vib_hf) hours before the bearing temperature, on the faulty pump only', () => {
  const p = planOf(loadScenario('bearing-wear'));
  const f = p.faults[0];
  const c = control(p);
  let hfAt: number | null = null,
    tempAt: number | null = null;
  for (let t = p.startMs; t < p.endMs; t += 1_800_000) {
    const x = series(p, 'pump-02', t, t + 600_000),
      y = series(c, 'pump-02', t, t + 600_000);
    const rel = mean(x.map((s) => s.values.vib_hf)) / mean(y.map((s) => s.values.vib_hf));
    const dT = mean(x.map((s) => s.values.bearing_temp_c)) - mean(y.map((s) => s.values.bearing_temp_c));
    if (hfAt === null && rel > 1.5) hfAt = t;
    if (tempAt === null && dT > 3) tempAt = t;
  }
  assert.ok(hfAt !== null && tempAt !== null, `both rise (vib_hf at ${hfAt}, temperature at ${tempAt})`);
  assert.ok(hfAt >= f.onsetMs, 'nothing before the onset');
  assert.ok(tempAt - hfAt >= 2 * HOUR, `band energy first: ${(tempAt - hfAt) / HOUR} h ahead`);
  // The other pumps are untouched by the fault.
  const t = f.failureMs - HOUR;
  assert.deepEqual(series(p, 'pump-01', t, t + 60_000), series(c, 'pump-01', t, t + 60_000));
  assert.equal(levelOf(f, f.onsetMs - 1), 0);
  assert.equal(levelOf(f, f.failureMs), 1);
});

test('an overheating connection shows in the thermal frame and barely in current', () => {
  const p = planOf(loadScenario('electrical-connection'));
  const t = p.faults[0].failureMs - 1_800_000;
  const hot = generate(p, t, t + 600_000),
    cold = generate(control(p), t, t + 600_000);
  const maxOf = (r: typeof hot) =>
    mean(
      r.images.filter((i) => i.asset === 'pump-03').map((i) => Math.max(...(i as { data: number[] }).data)),
    );
  const cur = (r: typeof hot) =>
    mean(r.sensors.filter((s) => s.asset === 'pump-03').map((s) => s.values.current_a));
  assert.ok(maxOf(hot) - maxOf(cold) > 15, `hot spot +${maxOf(hot) - maxOf(cold)} °C`);
  assert.ok(Math.abs(cur(hot) / cur(cold) - 1) < 0.02, 'current within 2 %');
});

test('a seal leak drifts pressure by a few per cent and operators write about drips after the onset only', () => {
  const p = planOf(loadScenario('seal-leak'));
  const f = p.faults[0];
  const t = f.failureMs - HOUR;
  const pr = (q: SimPlan) => mean(series(q, 'pump-01', t, t + 600_000).map((s) => s.values.pressure_bar));
  const drift = 1 - pr(p) / pr(control(p));
  assert.ok(drift > 0.01 && drift < 0.05, `pressure −${(100 * drift).toFixed(1)} %`);
  const notes = generateNotes(p, p.startMs, p.endMs);
  const aboutLeak = notes.filter(
    (n) => /drip|puddle|wet|weep|baseplate/.test(n.text) && !/no |none|could not|turned out/.test(n.text),
  );
  assert.ok(aboutLeak.length >= 1, 'symptom notes written');
  assert.ok(
    aboutLeak.every((n) => n.ts > f.onsetMs),
    'none before the onset',
  );
});

test('sensor faults: a stuck channel repeats one value, a flat-lined one reads 0, spikes are rare and large', () => {
  const p = planOf(loadScenario('sensor-faults'));
  const [stuck, flat, spikes] = p.faults;
  const during = (f: typeof stuck) =>
    series(p, f.asset, f.onsetMs, Math.min(f.failureMs, f.onsetMs + HOUR)).map((s) => s.values[f.channel!]);
  assert.equal(new Set(during(stuck)).size, 1);
  assert.ok(during(flat).every((v) => v === 0));
  const sp = during(spikes),
    normal = series(control(p), spikes.asset, spikes.onsetMs, spikes.onsetMs + HOUR).map(
      (s) => s.values.vib_rms,
    );
  const big = sp.filter((v, i) => v > 3 * normal[i]).length;
  assert.ok(big > 20 && big < 0.1 * sp.length, `${big} spikes in an hour`);
  assert.deepEqual(
    labelsOf(p).map((l) => l.kind),
    ['data_quality', 'data_quality', 'data_quality'],
  );
});

test('a camera outage produces no frames; the other cameras go on', () => {
  const p = planOf(loadScenario('disturbed-bearing-wear'));
  const o = p.outages[0];
  const imgs = generate(p, o.fromMs - HOUR, o.fromMs + HOUR).images;
  const mine = imgs.filter((i) => i.asset === o.asset);
  assert.ok(mine.length > 0 && mine.every((i) => i.ts < o.fromMs), 'frames before the outage only');
  assert.ok(imgs.filter((i) => i.asset === 'pump-02' && i.ts >= o.fromMs).length > 300);
});

test('deliveries carry each device clock (offset, drift, step), arrive after their true time, with duplicates and losses', () => {
  const p = planOf(loadScenario('disturbed-bearing-wear'));
  const from = p.startMs + 9.5 * HOUR,
    to = p.startMs + 10.5 * HOUR;
  const recs = generate(p, from, to);
  const ds = deliver(p, recs);
  for (let i = 1; i < ds.length; i++) assert.ok(ds[i].arrivalMs >= ds[i - 1].arrivalMs, 'arrival order');
  const truth = new Map(recs.sensors.map((s) => [`${s.device}/${s.seq}`, s.ts]));
  const sensors = ds.filter((d) => d.topic === 'sensors').map((d) => d.record as SensorSample);
  const at = p.clocks.steps[0].atMs;
  const skew = (dev: string, before: boolean) =>
    mean(
      sensors
        .filter(
          (s) => s.device === dev && Math.abs(s.seq! * 1000 - at) < 60_000 && s.seq! * 1000 < at === before,
        )
        .map((s) => s.ts - truth.get(`${s.device}/${s.seq}`)!),
    );
  assert.ok(Math.abs(skew('pump-02-dev', false) - skew('pump-02-dev', true) + 3000) < 20, 'the −3 s step');
  assert.ok(
    Math.abs(skew('pump-01-dev', true)) > 10 && Math.abs(skew('pump-01-dev', true)) < 5_500,
    'an offset within ±5 s plus drift',
  );
  const ids = sensors.map((s) => `${s.device}/${s.seq}`);
  const dups = ids.length - new Set(ids).size;
  const lost = recs.sensors.length - new Set(ids).size;
  assert.ok(dups > 0.005 * recs.sensors.length && dups < 0.02 * recs.sensors.length, `${dups} duplicates`);
  assert.ok(lost > 0 && lost < 0.01 * recs.sensors.length, `${lost} lost`);
  const late = ds.filter(
    (d, i) =>
      i > 0 &&
      d.topic === 'sensors' &&
      (d.record as SensorSample).seq! < (ds[i - 1].record as SensorSample).seq! &&
      (ds[i - 1].record as SensorSample).device === (d.record as SensorSample).device,
  );
  assert.ok(late.length > 0, 'jitter reorders records of one device');
  // stream() hands out the same deliveries, chunk by chunk, in arrival order.
  const streamed = [...stream(p, 600_000, from, to)].flat();
  assert.equal(streamed.length, ds.length);
  assert.deepEqual(
    streamed.map((d) => d.arrivalMs),
    ds.map((d) => d.arrivalMs),
  );
});

test('notes: routine, symptom, irrelevant and misleading notes, typos, and notes naming their asset only in the text', () => {
  const p = planOf(loadScenario('fault-free-week'), 5);
  const notes = generateNotes(p, p.startMs, p.endMs);
  assert.ok(notes.length > 50, `${notes.length} notes in a week`);
  const textOnly = notes.filter((n) => !n.asset);
  assert.ok(textOnly.length > 0.1 * notes.length, 'some name the asset only in the text');
  const resolved = textOnly.filter((n) => resolveNoteAsset(n.plant, n.text, aliasTable(p)) !== null);
  assert.ok(
    resolved.length > 0.7 * textOnly.length,
    `the alias table resolves most (${resolved.length}/${textOnly.length})`,
  );
  assert.ok(
    notes.some((n) => /coffee|forklift|briefing|corridor|guard rail|badge|binder/.test(n.text)),
    'irrelevant',
  );
  assert.ok(
    notes.some((n) => /turned out|anymore|none found|could not confirm/.test(n.text)),
    'misleading',
  );
  const vocab = new Set([
    'routine',
    'round',
    'all',
    'normal',
    'gauges',
    'steady',
    'issues',
    'oil',
    'level',
    'cleaned',
    'the',
    'strainer',
    'area',
    'clean',
    'nothing',
    'to',
    'report',
    'greased',
    'per',
    'schedule',
    'running',
    'smooth',
    'checked',
    'guards',
    'and',
    'bolts',
    'good',
    'readings',
    'logged',
    'no',
    'ok',
  ]);
  assert.ok(
    notes.some((n) =>
      n.text
        .split(/[ ,:]+/)
        .some(
          (w) =>
            w.length >= 4 &&
            /^[a-z]+$/.test(w) &&
            !vocab.has(w) &&
            [...vocab].some(
              (v) => v.length === w.length && [...v].sort().join('') === [...w].sort().join(''),
            ),
        ),
    ),
    'typos (letters swapped)',
  );
});

test('scenario files are validated with every problem listed; suites split seeds', () => {
  const base = {
    name: 'x',
    start: '2026-01-01T00:00:00Z',
    durationH: 1,
    plants: [{ id: 'p', assets: [{ id: 'a' }] }],
  };
  assert.throws(
    () =>
      parseScenario({
        ...base,
        durationH: -1,
        faults: [{ asset: 'a', type: 'bearing_wear', onsetH: 2, failureH: 1 }],
      }),
    (e: Error) =>
      e instanceof ScenarioError &&
      /durationH/.test(e.message) &&
      /failureH must be after onsetH/.test(e.message),
  );
  assert.throws(
    () => parseScenario({ ...base, faults: [{ asset: 'b', type: 'seal_leak', onsetH: 0, failureH: 1 }] }),
    /unknown asset b/,
  );
  assert.throws(
    () => parseScenario({ ...base, faults: [{ asset: 'a', type: 'sensor_stuck', onsetH: 0, failureH: 1 }] }),
    /names its channel/,
  );
  const test_ = loadSuite('sim-test'),
    train = loadSuite('sim-train');
  assert.ok(test_.length >= 8);
  const seeds = (xs: typeof train) => new Set(xs.map((r) => r.seed));
  assert.equal(
    [...seeds(test_)].filter((s) => seeds(train).has(s)).length,
    0,
    'test seeds are not training seeds',
  );
  assert.ok(
    test_.some((r) => r.scenario.durationH >= 168 && r.scenario.faults.length === 0),
    'a fault-free week',
  );
});

test('the simple plant (service and tests) keeps its contract: pumps pump-01…, one bearing-wear fault, every asset has frames', () => {
  const T0 = Date.UTC(2026, 0, 1);
  const p = simplePlan({
    seed: 3,
    assets: 3,
    sampleMs: 1000,
    fault: { asset: 2, onsetMs: T0 + 600_000, fullMs: T0 + 1_200_000 },
  });
  const r = generate(p, T0, T0 + 1_200_000);
  assert.deepEqual([...new Set(r.sensors.map((s) => s.asset))], ['pump-01', 'pump-02', 'pump-03']);
  assert.equal(r.images.length, 3 * 120);
  const hf = (asset: string, a: number, b: number) =>
    mean(r.sensors.filter((s) => s.asset === asset && s.ts >= a && s.ts < b).map((s) => s.values.vib_hf));
  assert.ok(hf('pump-03', T0 + 1_100_000, T0 + 1_200_000) > 3 * hf('pump-03', T0, T0 + 600_000));
  assert.ok(
    Math.abs(hf('pump-01', T0 + 1_100_000, T0 + 1_200_000) / hf('pump-01', T0, T0 + 600_000) - 1) < 0.05,
  );
});
