/**
 * The model lifecycle against PostgreSQL: a `fusion-auto-…` model in shadow is compared with the active model
 * on their stored scores and the operators' feedback, promoted when it beats it and kept with the reason
 * otherwise; a retraining is started when due with a configuration the CLI accepts; and the child-process
 * runner really runs this build's `tributary train`. And the active model's input drift, stored by every
 * instance, opens one plant-scoped data-quality alert.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createTestDatabase } from '../helpers/pg.js';
import { spawnTrain, startModelLifecycle, type TrainRunner } from '../../fusion/lifecycle.js';
import { Config } from '../../schemas/index.js';
import { startAlertJobs } from '../../alerts/index.js';
import {
  activateModel,
  getModel,
  listAlerts,
  modelActivations,
  openStore,
  recordDrift,
  registerModel,
  type Store,
} from '../../store/index.js';

let db: { url: string; drop(): Promise<void> };
let store: Store;
const M = 60_000;
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 20, 12);
const START = NOW - 3 * DAY;
const cfgOf = () =>
  Config.parse({
    database: { url: db.url },
    alerts: { threshold: 6, openAfter: 3, resolveAfter: 6 },
    scorer: { lifecycle: { shadowMs: 2 * DAY, minWindows: 1_000, retrainEveryMs: 7 * DAY } },
  });

before(async () => {
  db = await createTestDatabase('life');
  store = await openStore(cfgOf().database);
});
after(async () => {
  await store?.close();
  await db?.drop();
});

/** Scores of one model, one per minute for two assets, from START for 3 days; `high(asset, minute)` says where it is 9 (else 1). */
async function scores(version: string, high: (asset: string, i: number) => boolean): Promise<void> {
  for (const asset of ['a1', 'a2']) {
    const rows: unknown[] = [];
    for (let i = 0; i < 3 * 1440; i++)
      rows.push([asset, new Date(START + i * M), new Date(START + (i + 1) * M), high(asset, i) ? 9 : 1]);
    await store.db.query(
      `INSERT INTO scores (plant, asset, window_start, window_end, model_version, status, score, contributions, quality, note_count)
       SELECT 'p', x->>0, (x->>1)::timestamptz, (x->>2)::timestamptz, $1, 'scored', (x->>3)::float8, '{}', '{}', 0
         FROM jsonb_array_elements($2::jsonb) x`,
      [version, JSON.stringify(rows)],
    );
  }
}
async function alert(
  id: string,
  asset: string,
  fromMin: number,
  toMin: number,
  label: string,
): Promise<void> {
  await store.db.query(
    `INSERT INTO alerts (id, plant, asset, rule, state, opened_window, last_window, peak_score, model_version, contributions)
     VALUES ($1, 'p', $2, 'default', 'resolved', $3, $4, 9, 'context-knn-1', '{}')`,
    [id, asset, new Date(START + fromMin * M), new Date(START + toMin * M)],
  );
  await store.db.query(`INSERT INTO alert_feedback (alert_id, by, label) VALUES ($1, 'ana', $2)`, [
    id,
    label,
  ]);
}
/** The lifecycle on the test database with a stand-in training runner, ticked by hand. */
const lifecycle = (train: TrainRunner, extra: Partial<Parameters<typeof startModelLifecycle>[0]> = {}) =>
  startModelLifecycle({
    db: store.db,
    cfg: cfgOf(),
    logger: pino({ level: 'silent' }),
    autostart: false,
    train,
    ...extra,
  });
const burst = (i: number, at: number[]) => at.some((s) => i >= s && i < s + 10);

test('a candidate that beats the active model is promoted; one that misses a confirmed fault is kept with the reason', async () => {
  await registerModel(store.db, { version: 'context-knn-1', kind: 'context', params: {} });
  // The active model: a confirmed fault on a1 at minute 3000, a rejected alert on a2 at 3500, and four
  // more openings nobody labelled.
  await scores('context-knn-1', (a, i) =>
    a === 'a1' ? burst(i, [3000, 1000, 2000]) : burst(i, [3500, 1500, 2500]),
  );
  await alert('al-1', 'a1', 3002, 3009, 'true_positive');
  await alert('al-2', 'a2', 3502, 3509, 'false_positive');
  // Candidate 1 catches the fault, stays quiet on the rejected alert and opens 2 alerts elsewhere (the active 5).
  await registerModel(store.db, { version: 'fusion-auto-202611170000', kind: 'fusion', params: {} });
  await scores('fusion-auto-202611170000', (a, i) =>
    a === 'a1' ? burst(i, [2995, 1000]) : burst(i, [1500]),
  );
  // Candidate 2 opens nothing at all, so misses the confirmed fault.
  await registerModel(store.db, { version: 'fusion-auto-202611170001', kind: 'fusion', params: {} });
  await scores('fusion-auto-202611170001', () => false);
  // Candidate 3 is too young for a decision.
  await registerModel(store.db, { version: 'fusion-auto-202611190000', kind: 'fusion', params: {} });
  await store.db.query(`UPDATE models SET created_at = $1 WHERE version LIKE 'fusion-auto-2026111700%'`, [
    new Date(START),
  ]);
  await store.db.query(`UPDATE models SET created_at = $1 WHERE version = 'fusion-auto-202611190000'`, [
    new Date(NOW - DAY),
  ]);

  const trained: string[][] = [];
  const life = lifecycle(
    async (args) => {
      trained.push(args);
      return { code: 0, output: '' };
    },
    { historySpan: async () => ({ first: START, last: NOW }) },
  );
  await life.tick(NOW);

  const won = (await getModel(store.db, 'fusion-auto-202611170000'))!;
  // Candidate 2 is reviewed first or second; whichever, only candidate 1 may win.
  const lost = (await getModel(store.db, 'fusion-auto-202611170001'))!;
  const promotion = (m: typeof won) =>
    m.metrics.promotion as {
      decision: string;
      reason: string;
      against: string;
      candidate: { openings: number };
    };
  assert.equal(promotion(lost).decision, 'kept');
  assert.match(promotion(lost).reason, /caught 0 of 1 confirmed alerts, the active model 1/);
  assert.equal(lost.state, 'shadow');
  assert.equal(promotion(won).decision, 'promoted');
  assert.equal(promotion(won).candidate.openings, 2);
  assert.match(
    promotion(won).reason,
    /opened 2 alerts outside confirmed faults against the active model's 5/,
  );
  assert.equal(won.state, 'active');
  assert.equal(
    (await getModel(store.db, 'context-knn-1'))!.state,
    'shadow',
    'the replaced model waits in shadow',
  );
  assert.equal((await modelActivations(store.db))[0].by, 'lifecycle');
  const young = (await getModel(store.db, 'fusion-auto-202611190000'))!;
  assert.equal(young.metrics.promotion, undefined, 'a model in shadow for less than shadowMs is not judged');
  // No retraining: the newest auto model is a day old, the period is 7 days.
  assert.equal(trained.length, 0);

  // A week on, a retraining is due: the CLI gets the history's span and a configuration file it accepts.
  let config: unknown = null;
  const later = lifecycle(async (args) => {
    trained.push(args);
    const file = args[args.indexOf('--config') + 1];
    config = JSON.parse(readFileSync(file, 'utf8'));
    return { code: 1, output: 'only 3 windows past the reference period: not enough history to train' };
  });
  await later.tick(NOW + 8 * DAY);
  assert.equal(trained.length, 1);
  const args = trained[0];
  assert.equal(args[0], '--from-store');
  // The history up to the latest stored window (the store's own span: scores end at NOW).
  assert.equal(args[args.indexOf('--from') + 1], new Date(NOW - M - 14 * DAY).toISOString());
  assert.equal(args[args.indexOf('--to') + 1], new Date(NOW - M + 1).toISOString());
  assert.match(args[args.indexOf('--version') + 1], /^fusion-auto-\d{12}$/);
  assert.ok(args.includes('--register'));
  assert.equal(Config.parse(config).database.url, db.url);
  assert.ok(!existsSync(args[args.indexOf('--config') + 1]), 'the configuration file is removed after');
  // It failed: not tried again within a seventh of the period.
  await later.tick(NOW + 8 * DAY + 3_600_000);
  assert.equal(trained.length, 1);
  await later.tick(NOW + 9 * DAY + 3_600_000);
  assert.equal(trained.length, 2);
});

test("the default runner runs this build's `tributary train` in a child process", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'life-'));
  const csv = join(dir, 'short.csv');
  writeFileSync(csv, 'time,x\n2026-01-01T00:00:00Z,1\n2026-01-01T00:00:10Z,2\n');
  const r = await spawnTrain(['--csv', csv]);
  assert.equal(r.code, 2, r.output);
  assert.match(r.output, /short\.csv: only 0 windows past the reference period: not enough history to train/);
});

test('model drift: stored drift figures of every instance open one plant-scoped alert, resolved when the inputs settle', async () => {
  await registerModel(store.db, { version: 'fusion-drift-1', kind: 'fusion', params: {} });
  await activateModel(store.db, 'fusion-drift-1', 'test');
  const t = Date.UTC(2026, 10, 25, 8);
  // Two instances store figures for plant p (each over the windows it scored); plant q has none of note.
  const rows = (at: number, p: number[], q: number) =>
    recordDrift(store.db, at, [
      ...p.map((x, i) => ({
        modelVersion: 'fusion-drift-1',
        plant: 'p',
        windows: 500 + i,
        maxPsi: x,
        psi: { 'vib:mean': x },
      })),
      { modelVersion: 'fusion-drift-1', plant: 'q', windows: 500, maxPsi: q, psi: { 'vib:mean': q } },
    ]);
  await rows(t - 120_000, [0.5], 0.02);
  await rows(t - 60_000, [0.45], 0.03);
  await rows(t - 59_000, [0.05], 0.03); // the other instance's assets have not drifted: the median still has
  const jobs = startAlertJobs({
    db: store.db,
    cfg: cfgOf(),
    logger: pino({ level: 'silent' }),
    streams: () => [],
    clocks: () => [],
    onChange: () => undefined,
    autostart: false,
  });
  const drifts = async () => (await listAlerts(store.db, { limit: 50, rule: 'dq:model-drift' })).alerts;
  assert.equal(await jobs.check(t), 1);
  const [a] = await drifts();
  assert.deepEqual(
    [a.plant, a.asset, a.state, a.kind],
    ['p', 'model:fusion-drift-1', 'open', 'data_quality'],
  );
  assert.match(a.reason ?? '', /PSI 0\.45/);
  // A second instance judging the same figures opens nothing more.
  assert.equal(await jobs.check(t + 1_000), 0);
  // Ten minutes on, the figures are low: resolved.
  await rows(t + 600_000, [0.04], 0.02);
  await rows(t + 620_000, [0.05], 0.02);
  assert.equal(await jobs.check(t + 630_000), 1);
  assert.deepEqual(
    (await drifts()).map((x) => x.state),
    ['resolved'],
  );
});
