import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRecord } from '../../ingest/index.js';
import { evaluateSkab, SKAB_TRAIN_ROWS } from '../../eval/index.js';
import { Config } from '../../schemas/index.js';
import { loadSkab, parseCsv, ReplayError, skabFiles, toSamples } from '../../sim/index.js';
import { skabDir } from '../helpers/skab.js';

test('a CSV with a timestamp column becomes samples of one asset, labels kept aside', () => {
  const s = parseCsv(
    'ts,temp,flow rate (l/min),label\n2026-01-01T00:00:00Z,20.5,3,0\n2026-01-01T00:00:01Z,,4,1\n2026-01-01T00:00:02Z,21,,0\n',
    'line-7.csv',
  );
  assert.equal(s.asset, 'line-7');
  assert.deepEqual(s.channels, ['temp', 'flow_rate_l_min']);
  assert.deepEqual(s.labels, { label: [0, 1, 0] });
  const recs = toSamples(s);
  assert.deepEqual(
    recs.map((r) => r.values),
    [{ temp: 20.5, flow_rate_l_min: 3 }, { flow_rate_l_min: 4 }, { temp: 21 }],
  );
  assert.deepEqual(
    recs.map((r) => r.ts - recs[0].ts),
    [0, 1000, 2000],
  );
  const limits = Config.parse({}).limits;
  for (const r of recs) assert.ok(decodeRecord('sensors', Buffer.from(JSON.stringify(r)), limits).ok);
  // Epoch seconds, a shift, and a clear error on a bad time.
  assert.equal(toSamples(parseCsv('time;x\n1767225600;1\n', 'a.csv'), 5)[0].ts, 1767225600_005);
  assert.throws(
    () => parseCsv('ts,x\nyesterday,1\n', 'b.csv'),
    (e: Error) => e instanceof ReplayError && /b.csv: row 2: bad time/.test(e.message),
  );
});

test('SKAB is read in place: 34 labelled files, their rows, labels and the leaderboard split', () => {
  const dir = skabDir();
  const files = skabFiles(dir);
  assert.equal(files.length, 34);
  assert.deepEqual(
    [files[0].name, files[15].name, files[16].name, files[20].name, files[33].name],
    ['valve1/0.csv', 'valve1/15.csv', 'valve2/0.csv', 'other/1.csv', 'other/14.csv'],
  );
  const all = loadSkab(dir);
  const sum = (f: (s: (typeof all)[number]) => number) => all.reduce((a, s) => a + f(s), 0);
  assert.equal(
    sum((s) => s.ts.length),
    37_401,
  );
  assert.equal(
    sum((s) => s.labels.anomaly.filter((x) => x === 1).length),
    13_067,
  );
  assert.equal(
    sum((s) => s.labels.changepoint.filter((x) => x === 1).length),
    129,
  );
  assert.equal(
    sum((s) => s.ts.length - SKAB_TRAIN_ROWS),
    23_801,
  );
  assert.equal(
    sum((s) => s.labels.anomaly.slice(SKAB_TRAIN_ROWS).filter((x) => x === 1).length),
    12_771,
  );
  assert.deepEqual(all[0].channels, [
    'Accelerometer1RMS',
    'Accelerometer2RMS',
    'Current',
    'Pressure',
    'Temperature',
    'Thermocouple',
    'Voltage',
    'Volume_Flow_RateRMS',
  ]);
  assert.equal(new Set(all.map((s) => s.asset)).size, 34, 'each file its own asset');
  // other/2.csv: the anomaly begins at row 104, inside the training part.
  assert.equal(all.find((s) => s.name === 'other/2.csv')!.labels.anomaly.indexOf(1), 104);
  const first = toSamples(all[0])[0];
  assert.equal(first.ts, Date.parse('2020-03-09T10:14:33Z'));
});

test('the SKAB protocol around trivial detectors: flag nothing, flag everything, flag the truth', () => {
  const dir = skabDir();
  const none = evaluateSkab(dir, { threshold: 1 }, undefined, (s) => s.ts.map(() => 0));
  assert.equal(none.testRows, 23_801);
  assert.equal(none.changepoints, 127);
  assert.equal(none.f1, 0);
  assert.equal(none.mar, 100);
  for (const v of Object.values(none.nab)) assert.equal(v, 0);
  const every = evaluateSkab(dir, { threshold: 1 }, undefined, (s) => s.ts.map(() => 1));
  assert.equal(Math.round(every.f1 * 100) / 100, 0.7);
  assert.equal(every.far, 100);
  const truth = evaluateSkab(dir, { threshold: 1 }, undefined, (s) => s.labels.anomaly);
  assert.deepEqual([truth.f1, truth.far, truth.mar], [1, 0, 0]);
});
