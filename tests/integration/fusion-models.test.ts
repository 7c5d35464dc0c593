/**
 * A fusion model in the registry, run by the real pipeline on both back-ends: loaded from its stored
 * parameters, scored in shadow beside the baseline (rows with explanations, under its own version), then
 * activated (the catalogue follows it) and rolled back, without a restart; a restarted pipeline resumes
 * its feature state from the checkpoint instead of learning the reference period again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createTestDatabase } from '../helpers/pg.js';
import { asMessages, testAlign, W } from '../helpers/pipeline.js';
import { DEFAULT_SPEC } from '../../eval/fusion.js';
import { FusionModel, initBackend } from '../../fusion/index.js';
import { createPipeline } from '../../pipeline/index.js';
import { Config, operatingThreshold, type Modality } from '../../schemas/index.js';
import { modelTracker } from '../../service.js';
import { generate, simplePlan } from '../../sim/index.js';
import {
  activateModel,
  getModel,
  modelMetrics,
  openStore,
  queryAnomalyBuckets,
  rebuildRollups,
  registerModel,
  rollbackModel,
  rollupsStale,
  type Store,
} from '../../store/index.js';
import { CALIBRATED_THRESHOLD_SQL } from '../../store/migrations.js';

const T0 = Date.UTC(2026, 10, 1);
const cfg = Config.parse({
  database: { dataDir: ':memory:' },
  align: testAlign,
  scorer: { kind: 'baseline', referenceWindows: 3 },
  alerts: { threshold: 3, openAfter: 2, resolveAfter: 2 },
});
const topics: Record<Modality, string> = { sensors: 's', images: 'i', notes: 'n' };
const data = generate(simplePlan({ seed: 5, assets: 1, sampleMs: 1000, imageMs: W }), T0, T0 + 400_000);
const S = asMessages(data.sensors),
  I = asMessages(data.images);

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`fusion model in the registry on ${backend}`, () => {
    let store: Store;
    let drop: (() => Promise<void>) | null = null;
    before(async () => {
      await initBackend();
      if (backend === 'postgres') {
        const db = await createTestDatabase('fusion');
        drop = db.drop;
        store = await openStore({ ...cfg.database, url: db.url });
      } else store = await openStore(cfg.database);
    });
    after(async () => {
      await store?.close();
      await drop?.();
    });

    test('shadow scoring with explanations, activation, roll-back, and the feature state across a restart', async () => {
      const logger = pino({ level: 'silent' });
      const model = FusionModel.create('fusion-test', { ...DEFAULT_SPEC, referenceWindows: 3 }, { seed: 4 });
      // A calibration and an operating threshold as `tributary train` gives them (scores become probabilities).
      model.calibration = { normals: [-3, -2, -1, 0, 1, 2, 3], n: 7 };
      model.card = { threshold: 0.3 };
      await registerModel(store.db, {
        version: 'baseline-robustz-1',
        kind: 'baseline-robustz',
        params: { referenceWindows: 3 },
      });
      await registerModel(store.db, {
        version: 'fusion-test',
        kind: 'fusion',
        params: model.toJSON() as unknown as Record<string, unknown>,
      });
      await registerModel(store.db, {
        version: 'fusion-broken',
        kind: 'fusion',
        params: { format: 'nonsense' },
      });
      model.dispose();
      const tracker = await modelTracker(store.db, logger);
      assert.deepEqual(
        tracker.running().map((m) => [m.version, m.active, !!m.fusion]),
        [
          ['baseline-robustz-1', true, false],
          ['fusion-test', false, true],
        ],
        'a model that cannot load is left out',
      );

      const deps = { cfg, db: store.db, logger, deadLetter: null, topics, models: () => tracker.running() };
      let p = createPipeline(deps);
      let s = 0,
        i = 0;
      const feed = async (to: number) => {
        const se = data.sensors.findIndex((x) => x.ts >= to),
          ie = data.images.findIndex((x) => x.ts >= to);
        const s1 = se < 0 ? S.length : se,
          i1 = ie < 0 ? I.length : ie;
        if (s1 > s)
          await p.handle({
            partitionKey: 'p0',
            partition: 0,
            modality: 'sensors',
            topic: 's',
            messages: S.slice(s, s1),
          });
        if (i1 > i)
          await p.handle({
            partitionKey: 'p0',
            partition: 0,
            modality: 'images',
            topic: 'i',
            messages: I.slice(i, i1),
          });
        s = s1;
        i = i1;
      };
      const fusionRows = async () =>
        (
          await store.db.query<{
            status: string;
            score: number | null;
            contributions: Record<string, number>;
            explanation: { gates?: number[]; raw?: number } | null;
          }>(
            `SELECT status, score, contributions, explanation FROM scores WHERE model_version = 'fusion-test' ORDER BY asset, window_start`,
          )
        ).rows;

      await feed(T0 + 150_000);
      let rows = await fusionRows();
      const baselineCount = (
        await store.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM scores WHERE model_version = 'baseline-robustz-1'`,
        )
      ).rows[0].n;
      assert.equal(rows.length, baselineCount, 'the shadow model scores every window the active one does');
      assert.equal(rows.filter((r) => r.status === 'reference').length, 3, 'three reference windows');
      const scored = rows.filter((r) => r.status === 'scored');
      assert.ok(scored.length >= 10);
      for (const r of scored) {
        assert.ok(Number.isFinite(r.score) && r.score! >= 0 && r.score! <= 1, 'a calibrated probability');
        assert.ok(
          Math.abs(Object.values(r.contributions).reduce((a, b) => a + b, 0) - 1) < 1e-3,
          'contributions sum to 1',
        );
        assert.equal(r.explanation?.gates?.length, 3);
        assert.ok(r.explanation!.gates!.every((g) => g >= 0 && g <= 1));
      }
      assert.equal(
        (await store.db.query(`SELECT * FROM alerts WHERE model_version = 'fusion-test'`)).rows.length,
        0,
        'a shadow never alerts',
      );

      // Each version's roll-ups and service metrics count windows above its own operating threshold: the
      // calibrated model's probability (0.3), the baseline's the alert threshold (3).
      assert.equal((await getModel(store.db, 'fusion-test'))!.threshold, 0.3);
      assert.equal((await getModel(store.db, 'baseline-robustz-1'))!.threshold, null);
      const countAbove = async (version: string, thr: number) =>
        (
          await store.db.query<{ n: number; above: number }>(
            `
        SELECT count(*)::int AS n, (count(*) FILTER (WHERE score >= $2))::int AS above
          FROM (SELECT DISTINCT ON (asset, window_start) status, score FROM scores WHERE model_version = $1 ORDER BY asset, window_start, revision DESC) l
         WHERE status = 'scored'`,
            [version, thr],
          )
        ).rows[0];
      const rollups = async (version: string) =>
        (
          await store.db.query<{ above: number; thresholds: number[] }>(
            'SELECT sum(above)::int AS above, array_agg(DISTINCT threshold) AS thresholds FROM score_rollup_1m WHERE model_version = $1',
            [version],
          )
        ).rows[0];
      const fusionAbove = await countAbove('fusion-test', 0.3);
      assert.ok(
        fusionAbove.above > 0 && fusionAbove.above < fusionAbove.n,
        `some windows above 0.3 and some below (${fusionAbove.above} of ${fusionAbove.n})`,
      );
      assert.deepEqual(await rollups('fusion-test'), { above: fusionAbove.above, thresholds: [0.3] });
      assert.deepEqual(await rollups('baseline-robustz-1'), {
        above: (await countAbove('baseline-robustz-1', 3)).above,
        thresholds: [3],
      });
      const service = await modelMetrics(store.db, 'fusion-test');
      assert.deepEqual(
        [service.windowsScored, service.windowsAbove, service.threshold],
        [fusionAbove.n, fusionAbove.above, 0.3],
      );
      // Bucketed history from the roll-ups equals a scan of the scores at the version's threshold.
      const hq = { model: 'fusion-test', limit: 1000, bucket: '1m' };
      assert.deepEqual(
        await queryAnomalyBuckets(store.db, hq, 0.3, 0.3),
        await queryAnomalyBuckets(store.db, hq, 0.3, undefined),
      );
      // Another alert threshold makes the baseline's cells stale; a rebuild keeps each version's own.
      assert.equal(await rollupsStale(store.db, 3), false);
      assert.equal(await rollupsStale(store.db, 4), true);
      await store.db.transaction((tx) => rebuildRollups(tx, 4));
      assert.equal(await rollupsStale(store.db, 4), false);
      assert.deepEqual(await rollups('fusion-test'), { above: fusionAbove.above, thresholds: [0.3] });
      assert.deepEqual(await rollups('baseline-robustz-1'), {
        above: (await countAbove('baseline-robustz-1', 4)).above,
        thresholds: [4],
      });
      await store.db.transaction((tx) => rebuildRollups(tx, 3));

      // Activate without a restart: the catalogue follows the fusion model.
      await activateModel(store.db, 'fusion-test', 'test');
      await tracker.refresh();
      assert.equal(tracker.running().find((m) => m.active)?.version, 'fusion-test');
      assert.equal(
        tracker.operatingThreshold(),
        0.3,
        "the API and the rules use the calibrated model's threshold",
      );
      await feed(T0 + 250_000);
      assert.deepEqual((await store.db.query('SELECT DISTINCT last_model FROM assets')).rows, [
        { last_model: 'fusion-test' },
      ]);

      // A restarted pipeline restores the fusion feature state: no new reference windows.
      p = createPipeline(deps);
      await feed(T0 + 330_000);
      rows = await fusionRows();
      assert.equal(
        rows.filter((r) => r.status === 'reference').length,
        3,
        'the reference period is not learnt again after a restart',
      );
      assert.ok(rows.filter((r) => r.status === 'scored').length > scored.length);

      await rollbackModel(store.db, 'test');
      await tracker.refresh();
      assert.equal(tracker.running().find((m) => m.active)?.version, 'baseline-robustz-1');
      assert.equal(tracker.operatingThreshold(), undefined);
      await feed(T0 + 400_000);
      assert.deepEqual((await store.db.query('SELECT DISTINCT last_model FROM assets')).rows, [
        { last_model: 'baseline-robustz-1' },
      ]);
    });

    test('the operating threshold rule in SQL (migration 10) agrees with schemas/threshold.ts', async () => {
      const cards: unknown[] = [
        { threshold: 0.9 },
        { threshold: '0.75' },
        { threshold: ' 1e-2 ' },
        { threshold: 'high' },
        { threshold: '' },
        { threshold: true },
        {},
        null,
        { threshold: null },
        { threshold: 2 },
      ];
      for (const card of cards) {
        const params = { calibration: { normals: [0], n: 1 }, card };
        const sql = (
          await store.db.query<{ t: number }>(
            `SELECT ${CALIBRATED_THRESHOLD_SQL} AS t FROM (SELECT $1::jsonb AS params) x`,
            [JSON.stringify(params)],
          )
        ).rows[0].t;
        assert.equal(sql, operatingThreshold(params), `card ${JSON.stringify(card)}`);
      }
      assert.equal(
        operatingThreshold({ calibration: null, card: { threshold: 0.9 } }),
        null,
        "an uncalibrated model scores on the alert threshold's scale",
      );
    });
  });
}
