import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { skabDir } from '../helpers/skab.js';
import {
  NAB_PROFILES,
  nabNormalise,
  nabSeries,
  SKAB_NAB_WINDOW_MS,
  SKAB_TRAIN_ROWS,
  type NabParts,
} from '../../eval/index.js';
import { loadSkab } from '../../sim/index.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'cli.ts'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TRIBUTARY_CONFIG: '', ...env },
    timeout: 60_000,
  });

test('invalid configuration stops start-up with every problem listed and exit status 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  const file = join(dir, 'c.json');
  writeFileSync(
    file,
    JSON.stringify({ kafka: { brokers: ['nohost'] }, align: { windowMs: 1 }, webhooks: [{ url: 'nope' }] }),
  );
  const r = cli(['start', '--config', file], { TRIBUTARY_PORT: 'x' });
  assert.equal(r.status, 2, r.stderr);
  for (const want of ['TRIBUTARY_PORT', 'kafka.brokers.0', 'align.windowMs', 'webhooks.0.url'])
    assert.match(r.stderr, new RegExp(want.replaceAll('.', '\\.')));
  assert.equal(r.stdout, '', 'nothing started');
});

test('`tributary schemas` writes the JSON Schemas', () => {
  const out = mkdtempSync(join(tmpdir(), 'schemas-'));
  const r = cli(['schemas', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote 4 schemas/);
});

test('an unknown command prints the usage and exits 2', () => {
  const r = cli(['frobnicate']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /usage: tributary/);
});

test('`tributary sim --out` writes the deliveries as JSONL with the ground truth beside', () => {
  const out = mkdtempSync(join(tmpdir(), 'sim-'));
  const r = cli([
    'sim',
    '--scenario',
    'disturbed-bearing-wear',
    '--seed',
    '4',
    '--hours',
    '0.25',
    '--out',
    out,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(join(out, 'records.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { topic: string; ts: number; key: string | null; value: { ts: number } });
  assert.match(r.stdout, new RegExp(`disturbed-bearing-wear seed 4: ${lines.length} records`));
  assert.ok(lines.length > 3000);
  assert.deepEqual(
    new Set(lines.map((l) => l.topic)),
    new Set(['sensors', 'images']),
    'no notes in the first quarter hour',
  );
  for (let i = 1; i < lines.length; i++) assert.ok(lines[i].ts >= lines[i - 1].ts, 'arrival order');
  const labels = JSON.parse(readFileSync(join(out, 'labels.json'), 'utf8')) as Array<{
    asset: string;
    fault: string;
    seed: number;
  }>;
  assert.deepEqual(
    labels.map((l) => [l.asset, l.fault, l.seed]),
    [['pump-01', 'bearing_wear', 4]],
  );
  assert.equal(JSON.parse(readFileSync(join(out, 'scenario.json'), 'utf8')).seed, 4);
});

test('a bad scenario or suite is a clear error with exit status 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scn-'));
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ name: 'bad', start: 'yesterday', durationH: 0, plants: [] }));
  const r = cli(['sim', '--scenario', file, '--out', dir]);
  assert.equal(r.status, 2);
  for (const want of ['start', 'durationH', 'plants']) assert.match(r.stderr, new RegExp(`  ${want}:`));
  const e = cli(['eval', '--suite', 'nope']);
  assert.equal(e.status, 2);
  assert.match(e.stderr, /unknown suite nope/);
  const c = cli(['start'], { TRIBUTARY_SIM_SCENARIO: 'no-such-scenario' });
  assert.equal(c.status, 2);
  assert.match(c.stderr, /sim\.scenario: .*no-such-scenario/);
});

test('`tributary eval --suite skab` prints the default scorer beside the leaderboard and writes JSON', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'eval-')), 'skab.json');
  const preds = join(mkdtempSync(join(tmpdir(), 'eval-')), 'predictions');
  const r = cli(['eval', '--suite', 'skab', '--skab-dir', skabDir(), '--json', out, '--predictions', preds]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /predictions in SKAB's layout: 34 files/);
  assert.match(r.stdout, /34 files, 23801 test rows \(12771 anomalous\), 127 changepoints/);
  assert.match(r.stdout, /Conv-AE +0\.78 +13\.55 +28\.02/);
  const j = JSON.parse(readFileSync(out, 'utf8')) as {
    f1: number;
    far: number;
    mar: number;
    nab: Record<string, number>;
  };
  assert.match(
    r.stdout,
    new RegExp(`▶ Tributary context k-NN .* ${j.f1.toFixed(2)} +${j.far.toFixed(2)} +${j.mar.toFixed(2)}`),
  );
  assert.ok(j.f1 > 0.3 && j.f1 < 1 && j.far > 0 && j.mar > 0, JSON.stringify(j));
  assert.deepEqual(Object.keys(j.nab), ['Standard', 'LowFP', 'LowFN']);
  // The JSON says the threshold actually used and holds every test row's score.
  const jj = j as unknown as {
    threshold: number;
    files: Array<{ name: string; rows: { score: unknown[] } }>;
  };
  assert.equal(jj.threshold, 6);
  assert.equal(
    jj.files.reduce((a, f) => a + f.rows.score.length, 0),
    23_801,
  );
  // The prediction files, re-scored from the CSVs alone against SKAB's labels, give the printed figures.
  const series = loadSkab(skabDir());
  const parts: Record<string, NabParts[]> = { Standard: [], LowFP: [], LowFN: [] };
  let tp = 0,
    fp = 0,
    fn = 0;
  for (const s of series) {
    const lines = readFileSync(join(preds, s.name), 'utf8').trim().split('\n');
    assert.equal(lines[0], 'datetime;anomaly;changepoint');
    const rows = lines.slice(1).map((l) => l.split(';'));
    assert.equal(rows.length, s.ts.length - SKAB_TRAIN_ROWS, s.name);
    const ts = rows.map((x) => Date.parse(`${x[0].replace(' ', 'T')}Z`)),
      a = rows.map((x) => Number(x[1])),
      c = rows.map((x) => Number(x[2]));
    assert.equal(ts[0], s.ts[SKAB_TRAIN_ROWS]);
    const truth = s.labels.anomaly.slice(SKAB_TRAIN_ROWS),
      cp = s.labels.changepoint.slice(SKAB_TRAIN_ROWS);
    a.forEach((p, i) => {
      if (p && truth[i]) tp++;
      else if (p) fp++;
      else if (truth[i]) fn++;
    });
    for (const prof of NAB_PROFILES) parts[prof.name].push(nabSeries(ts, cp, c, SKAB_NAB_WINDOW_MS, prof));
  }
  assert.equal(Math.round(100 * (tp / (tp + (fp + fn) / 2))) / 100, Math.round(100 * j.f1) / 100);
  for (const prof of NAB_PROFILES)
    assert.ok(Math.abs(nabNormalise(parts[prof.name]) - j.nab[prof.name]) < 1e-9, prof.name);
});

test('`tributary eval --suite plant-b` refuses plant B test seeds outside --split test', () => {
  const r = cli(['eval', '--suite', 'plant-b', '--seeds', '11,101']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--seeds: 101 are plant B test seeds; they are measured only with --split test/);
  const p = cli(['eval', '--suite', 'plant-b', '--preset', 'month']);
  assert.equal(p.status, 2);
  assert.match(p.stderr, /--preset: short or week/);
});
