/**
 * The model registry in the pipeline: the active model and a shadow one both score every window and are
 * stored under their versions; only the active one's scores reach the alert rules; activating the shadow
 * (no restart) moves alerting to it, and a roll-back moves it back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { asMessages, testAlign, W } from '../helpers/pipeline.js';
import { createPipeline, type RunningModel } from '../../pipeline/index.js';
import { Config, type Modality } from '../../schemas/index.js';
import { generate, simplePlan } from '../../sim/index.js';
import { activateModel, listModels, openStore, registerModel, rollbackModel } from '../../store/index.js';

const T0 = Date.UTC(2026, 10, 1);
const cfg = Config.parse({
  database: { dataDir: ':memory:' },
  align: testAlign,
  scorer: { kind: 'baseline', referenceWindows: 3 },
  alerts: { threshold: 3, openAfter: 2, resolveAfter: 2 },
});
const topics: Record<Modality, string> = { sensors: 's', images: 'i', notes: 'n' };
const data = generate(
  simplePlan({
    seed: 5,
    assets: 2,
    sampleMs: 1000,
    imageMs: W,
    fault: { asset: 1, onsetMs: T0 + 100_000, fullMs: T0 + 160_000 },
  }),
  T0,
  T0 + 600_000,
);
const msgs = asMessages;

test('shadow models are scored and stored but never alert; activation and roll-back move alerting without a restart', async () => {
  const store = await openStore(cfg.database);
  try {
    // A: the configured baseline (3 reference windows). B: a version still learning for the whole run
    // (1000 reference windows): were its rows to reach the rules, nothing would alert or update.
    await registerModel(store.db, {
      version: 'baseline-robustz-1',
      kind: 'baseline-robustz',
      params: { referenceWindows: 3 },
    });
    await registerModel(store.db, {
      version: 'slow-learner',
      kind: 'baseline-robustz',
      params: { referenceWindows: 1000 },
    });
    let running: RunningModel[] = [];
    const refresh = async () => {
      running = (await listModels(store.db))
        .filter((m) => m.state !== 'retired')
        .map((m) => ({
          version: m.version,
          active: m.state === 'active',
          referenceWindows: Number(m.params.referenceWindows),
        }));
    };
    await refresh();
    const p = createPipeline({
      cfg,
      db: store.db,
      logger: pino({ level: 'silent' }),
      deadLetter: null,
      topics,
      models: () => running,
    });
    const S = msgs(data.sensors);
    const I = msgs(data.images);
    // Sensors and frames in time order, a minute at a time, up to `to`.
    let s = 0,
      i = 0;
    const feed = async (to: number) => {
      for (let t = T0; t < to; t += 60_000) {
        const s1 = data.sensors.findIndex((x, k) => k >= s && x.ts >= Math.min(to, t + 60_000));
        const i1 = data.images.findIndex((x, k) => k >= i && x.ts >= Math.min(to, t + 60_000));
        const se = s1 < 0 ? S.length : s1,
          ie = i1 < 0 ? I.length : i1;
        if (se > s)
          await p.handle({
            partitionKey: 'p0',
            partition: 0,
            modality: 'sensors',
            topic: 's',
            messages: S.slice(s, se),
          });
        if (ie > i)
          await p.handle({
            partitionKey: 'p0',
            partition: 0,
            modality: 'images',
            topic: 'i',
            messages: I.slice(i, ie),
          });
        s = se;
        i = ie;
      }
    };
    const alertRow = async () =>
      (
        await store.db.query<{ model_version: string; last_window: Date }>(
          "SELECT string_agg(DISTINCT model_version, ',') AS model_version, max(last_window) AS last_window FROM alerts HAVING count(*) > 0",
        )
      ).rows;
    const perModel = async () =>
      (
        await store.db.query<{ model_version: string; n: number; scored: number }>(
          `SELECT model_version, count(*)::int AS n, count(*) FILTER (WHERE status = 'scored')::int AS scored FROM scores GROUP BY 1 ORDER BY 1`,
        )
      ).rows;

    await feed(T0 + 240_000);
    let counts = await perModel();
    assert.equal(counts.length, 2, 'both versions stored');
    assert.equal(counts[0].n, counts[1].n, 'every window scored by both');
    assert.ok(counts[0].scored > 0 && counts[1].scored === 0, 'the slow learner is still learning');
    const opened = await alertRow();
    assert.equal(opened.length, 1, 'the fault opened alerts on the active model');
    assert.equal(opened[0].model_version, 'baseline-robustz-1');
    const lastBefore = new Date(opened[0].last_window).getTime();

    // Activate the slow learner: its unscored rows drive the rules, so the open alert stops advancing.
    await activateModel(store.db, 'slow-learner', 'test');
    await refresh();
    await feed(T0 + 420_000);
    const held = await alertRow();
    assert.ok(
      new Date(held[0].last_window).getTime() <= lastBefore + 30_000,
      'no updates from the shadowed model',
    );
    assert.deepEqual(
      (await store.db.query('SELECT DISTINCT last_model FROM assets')).rows,
      [{ last_model: 'slow-learner' }],
      'the catalogue follows the active model',
    );
    counts = await perModel();
    assert.equal(counts[0].n, counts[1].n, 'the shadowed baseline keeps scoring');

    // Roll back: the baseline drives the rules again and the alert advances.
    await rollbackModel(store.db, 'test');
    await refresh();
    await feed(T0 + 600_000);
    const resumed = await alertRow();
    assert.equal(resumed.length, 1);
    assert.ok(
      new Date(resumed[0].last_window).getTime() >= T0 + 500_000,
      `the alert advances again (${new Date(resumed[0].last_window).toISOString()})`,
    );
  } finally {
    await store.close();
  }
});
