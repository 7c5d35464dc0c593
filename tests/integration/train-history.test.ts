/**
 * Training on a plant's stored history: the pipeline stores a plant with a bearing fault on the PostgreSQL
 * server; an operator confirms the alert; `historyWindows` rebuilds the windows (readings, frames, notes,
 * labels from the feedback) and `tributary train --from-store --register` trains, calibrates and registers
 * a fusion model from them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createTestDatabase } from '../helpers/pg.js';
import { asMessages } from '../helpers/pipeline.js';
import { createPipeline } from '../../pipeline/index.js';
import { Config, type Modality } from '../../schemas/index.js';
import { generate, readCsv, simplePlan } from '../../sim/index.js';
import { skabDir } from '../helpers/skab.js';
import {
  addFeedback,
  historyWindows,
  listModels,
  openStore,
  registerModel,
  type Store,
} from '../../store/index.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const T0 = Date.UTC(2026, 10, 1);
const W = 10_000;
const topics: Record<Modality, string> = { sensors: 's', images: 'i', notes: 'n' };
let db: { url: string; drop(): Promise<void> };
let store: Store;
const cfgOf = (url: string) =>
  Config.parse({
    database: { url },
    align: { windowMs: W, outOfOrdernessMs: 2000, allowedLatenessMs: 3000 },
    scorer: { kind: 'baseline', referenceWindows: 10 },
    alerts: { threshold: 4, openAfter: 2, resolveAfter: 3 },
  });

before(async () => {
  db = await createTestDatabase('hist');
  const cfg = cfgOf(db.url);
  store = await openStore(cfg.database);
  await registerModel(store.db, {
    version: 'baseline-robustz-1',
    kind: 'baseline-robustz',
    params: { referenceWindows: 10 },
  });
  const data = generate(
    simplePlan({
      seed: 7,
      assets: 2,
      sampleMs: 1000,
      imageMs: W,
      noteMs: 120_000,
      fault: { asset: 1, onsetMs: T0 + 600_000, fullMs: T0 + 800_000 },
    }),
    T0,
    T0 + 1_000_000,
  );
  const p = createPipeline({
    cfg,
    db: store.db,
    logger: pino({ level: 'silent' }),
    deadLetter: null,
    topics,
  });
  for (const m of ['sensors', 'images', 'notes'] as const) {
    const xs = data[m] as Array<{ ts: number }>;
    for (let i = 0; i < xs.length; i += 200)
      await p.handle({
        partitionKey: 'p0',
        partition: 0,
        modality: m,
        topic: topics[m],
        messages: asMessages(xs.slice(i, i + 200) as Array<{ asset?: string }>, i),
      });
  }
});
after(async () => {
  await store?.close();
  await db?.drop();
});

test("stored history becomes window tuples with frames, notes and the operators' labels, and trains a registered model", async () => {
  const cfg = cfgOf(db.url);
  const alerts = (
    await store.db.query<{ id: string; asset: string }>(`SELECT id, asset FROM alerts WHERE kind = 'anomaly'`)
  ).rows;
  assert.ok(
    alerts.some((a) => a.asset === 'pump-02'),
    'the fault opened an alert',
  );
  for (const a of alerts)
    await addFeedback(store.db, a.id, {
      label: a.asset === 'pump-02' ? 'true_positive' : 'false_positive',
      by: 'test',
    });
  const h = await historyWindows(store.db, cfg.align, { from: T0, to: T0 + 2_000_000 });
  const stored = (
    await store.db.query<{ n: number }>(
      'SELECT count(DISTINCT (asset, window_start))::int AS n FROM readings',
    )
  ).rows[0].n;
  assert.equal(h.length, stored, 'one tuple per stored window');
  const w = h.find((x) => x.tuple.asset === 'pump-01' && x.tuple.windowStart === T0 + 300_000)!;
  assert.ok(
    Object.keys(w.tuple.channels).length >= 5 && w.tuple.channels.vib_hf.v.length === W / 1000,
    "the window's samples",
  );
  assert.equal(w.tuple.image?.patches?.length, 48, 'the thermal frame, as patches');
  assert.ok(
    h.some((x) => x.tuple.notes.length > 0),
    'notes in their windows',
  );
  assert.ok(
    h.some((x) => x.label === 1 && x.tuple.asset === 'pump-02'),
    'confirmed alert windows are faults',
  );
  assert.ok(
    h.filter((x) => x.tuple.asset === 'pump-01').every((x) => x.label === 0),
    "a rejected alert's windows are normal",
  );

  const dir = mkdtempSync(join(tmpdir(), 'hist-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ database: { url: db.url }, align: { windowMs: W } }));
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      join(ROOT, 'cli.ts'),
      'train',
      '--from-store',
      '--config',
      file,
      '--register',
      '--version',
      'fusion-plant-1',
      '--epochs',
      '3',
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, TRIBUTARY_CONFIG: '' },
      timeout: 300_000,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /trained fusion-plant-1 \(supervised\)/);
  const m = (await listModels(store.db)).find((x) => x.version === 'fusion-plant-1')!;
  assert.equal(m.kind, 'fusion');
  assert.equal(m.state, 'shadow', 'a trained model waits in shadow');
  assert.ok(
    (m.params as { calibration: { normals: number[] } }).calibration.normals.length > 10,
    'calibrated',
  );
  assert.match(m.card, /held-out windows/);
});

test('`tributary train --csv` trains on a CSV dataset made by others (SKAB) and registers the model in shadow', async () => {
  const csv = join(skabDir(), 'anomaly-free', 'anomaly-free.csv');
  const dir = mkdtempSync(join(tmpdir(), 'csv-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ database: { url: db.url } }));
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      join(ROOT, 'cli.ts'),
      'train',
      '--csv',
      csv,
      '--time-column',
      'datetime',
      '--asset',
      'skab-pump',
      '--config',
      file,
      '--register',
      '--version',
      'fusion-csv-1',
      '--epochs',
      '2',
      '--out',
      join(dir, 'model.json'),
    ],
    { encoding: 'utf8', env: { ...process.env, TRIBUTARY_CONFIG: '' }, timeout: 300_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /9405 rows of 8 channels .* in \d+ windows of 10 s, asset skab-pump/);
  assert.match(r.stdout, /trained fusion-csv-1 \(self-supervised\) on \d+ windows of skab-pump/);
  const m = (await listModels(store.db)).find((x) => x.version === 'fusion-csv-1')!;
  assert.equal(m.kind, 'fusion');
  assert.equal(m.state, 'shadow');
  const params = m.params as { spec: { channels: string[] }; calibration: { normals: number[] } };
  assert.deepEqual(params.spec.channels, [...readCsv(csv, { timeColumn: 'datetime' }).channels].sort());
  assert.ok(params.calibration.normals.length > 10, 'calibrated on the held-out windows');
  // The file written with --out is the registered model.
  assert.equal(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')).version, 'fusion-csv-1');
  // A CSV without usable rows is refused with the reason, nothing registered.
  writeFileSync(join(dir, 'empty.csv'), 'time,x\n2026-01-01T00:00:00Z,1\n');
  const e = spawnSync(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      join(ROOT, 'cli.ts'),
      'train',
      '--csv',
      join(dir, 'empty.csv'),
      '--config',
      file,
      '--register',
      '--version',
      'fusion-csv-2',
    ],
    { encoding: 'utf8', env: { ...process.env, TRIBUTARY_CONFIG: '' }, timeout: 120_000 },
  );
  assert.notEqual(e.status, 0);
  assert.match(e.stderr, /not enough history to train/);
  assert.equal((await listModels(store.db)).filter((x) => x.version === 'fusion-csv-2').length, 0);
});
