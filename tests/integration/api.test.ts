/**
 * The HTTP API beyond alerts: keys (no key, wrong scope, other plant, revoked, rate limit), plants and
 * assets, frames, anomaly history from the roll-ups (equal to a scan of the score rows, revisions
 * included, on ragged ranges), models (activate, roll back, retire, metrics), the live stream over real
 * HTTP, and the OpenAPI document (validated). On the embedded PGlite-TimescaleDB and on the PostgreSQL server.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/index.js';
import { Config, type Alert, type ImageFrame, type ScoreRow } from '../../schemas/index.js';
import {
  createApiKey,
  emptyBatch,
  openStore,
  queryAnomalyBuckets,
  registerModel,
  revokeApiKey,
  writeAlertChanges,
  writeBatch,
  type Store,
} from '../../store/index.js';
import { createTestDatabase } from '../helpers/pg.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const T0 = Date.parse('2026-03-02T10:00:00Z');
const W = 10_000;
const json = <T>(r: { body: string }) => JSON.parse(r.body) as T;

/** 3 assets in 2 plants, 2 h of 10-s windows (some amended by a second revision), frames, an alert per plant. */
async function seed(store: Store): Promise<void> {
  const assets = [
    ['p1', 'pump-01'],
    ['p1', 'pump-02'],
    ['p2', 'fan-01'],
  ] as const;
  const scores: ScoreRow[] = [];
  let x = 1;
  const rnd = () => {
    x = (x * 48271) % 2147483647;
    return x / 2147483647;
  };
  for (const [plant, asset] of assets) {
    for (let i = 0; i < 720; i++) {
      const ws = T0 + i * W;
      const base = {
        plant,
        asset,
        windowStart: ws,
        windowEnd: ws + W,
        modelVersion: 'baseline-robustz-1',
        quality: {
          samples: 10,
          duplicates: 0,
          late: 0,
          images: 0,
          notes: 0,
          coverage: {},
        } as unknown as ScoreRow['quality'],
        imageTs: null,
        noteCount: 0,
      };
      if (i < 20) {
        scores.push({ ...base, revision: 0, status: 'reference', score: null, contributions: {} });
        continue;
      }
      const s = asset === 'pump-02' && i > 600 ? 8 + rnd() * 4 : rnd() * 5;
      scores.push({
        ...base,
        revision: 0,
        status: 'scored',
        score: s,
        contributions: { vib_hf: 0.7, image: 0.3 },
      });
      // Every 37th window is amended: its second revision is what history must count.
      if (i % 37 === 0)
        scores.push({ ...base, revision: 1, status: 'scored', score: s + 3, contributions: { vib_hf: 1 } });
    }
  }
  const frames: ImageFrame[] = [0, 1].map(
    (k) =>
      ({
        v: 1,
        plant: 'p1',
        asset: 'pump-02',
        camera: 'cam-1',
        ts: T0 + k * 60_000,
        kind: 'thermal',
        width: 4,
        height: 3,
        unit: 'C',
        data: Array.from({ length: 12 }, (_, i) => 20 + i * (k + 1)),
      }) as ImageFrame,
  );
  // Two batches, so the second (revisions) recomputes cells the first wrote.
  const first = scores.filter((s) => s.revision === 0);
  await store.db.transaction((tx) =>
    writeBatch(tx, { ...emptyBatch(), scores: first, images: frames, threshold: 6 }),
  );
  await store.db.transaction((tx) =>
    writeBatch(tx, { ...emptyBatch(), scores: scores.filter((s) => s.revision === 1), threshold: 6 }),
  );
  const alert = (id: string, plant: string, asset: string): Alert => ({
    id,
    plant,
    asset,
    rule: 'default',
    kind: 'anomaly',
    state: 'open',
    severity: 'major',
    openedWindow: T0 + 6_000_000,
    lastWindow: T0 + 6_030_000,
    resolvedWindow: null,
    peakScore: 11,
    modelVersion: 'baseline-robustz-1',
    contributions: { vib_hf: 1 },
    topModality: 'sensors',
    topChannel: 'vib_hf',
    notes: [],
    acknowledgedBy: null,
    acknowledgedAt: null,
    snoozedUntil: null,
    resolvedBy: null,
    reason: null,
    links: { timeline: '' },
  });
  await store.db.transaction((tx) =>
    writeAlertChanges(tx, [
      { alert: alert('alA', 'p1', 'pump-02'), type: 'alert.opened', eventId: 'evt_A', by: 'rule:default' },
      { alert: alert('alB', 'p2', 'fan-01'), type: 'alert.opened', eventId: 'evt_B', by: 'rule:default' },
    ]),
  );
}

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`API on ${backend}`, () => {
    let store: Store;
    let app: FastifyInstance;
    let dropDb: (() => Promise<void>) | null = null;
    let dbUrl = '';
    const keys: Record<string, string> = {};
    const keyIds: Record<string, string> = {};
    const cfg = Config.parse({ database: { dataDir: ':memory:' } });
    const req = (k: string | null, url: string, method: 'GET' | 'POST' = 'GET', payload?: object) =>
      app.inject({ method, url, payload, headers: k ? { authorization: `Bearer ${keys[k] ?? k}` } : {} });

    before(async () => {
      if (backend === 'postgres') {
        const db = await createTestDatabase('api');
        dropDb = db.drop;
        dbUrl = db.url;
        store = await openStore({ ...cfg.database, url: db.url });
      } else store = await openStore(cfg.database);
      await seed(store);
      await registerModel(store.db, {
        version: 'baseline-robustz-1',
        kind: 'baseline-robustz',
        params: { referenceWindows: 20 },
      });
      await registerModel(store.db, {
        version: 'baseline-robustz-2',
        kind: 'baseline-robustz',
        params: { referenceWindows: 60 },
        metrics: { aucPr: 0.5 },
      });
      for (const [name, scopes, plants] of [
        ['admin', ['admin'], []],
        ['reader', ['read'], []],
        ['writer', ['write'], []],
        ['p2reader', ['write'], ['p2']],
      ] as const) {
        const made = await createApiKey(store.db, { name, scopes: [...scopes], plants: [...plants] });
        keys[name] = made.key;
        keyIds[name] = made.id;
      }
      app = await buildApi({
        db: store.db,
        readiness: {},
        threshold: 6,
        rollupThreshold: 6,
        streamPollMs: 50,
        activeModel: () => 'baseline-robustz-1',
        alerts: { cfg, wake: () => {}, rulesChanged: () => {} },
      });
    });
    after(async () => {
      await app?.close();
      await store?.close();
      await dropDb?.();
    });

    test('every route but health, docs and the page refuses a request without a key (401); the OpenAPI document validates', async () => {
      const doc = json<{ paths: Record<string, Record<string, unknown>> }>(await app.inject('/docs/json'));
      await SwaggerParser.validate(structuredClone(doc) as never);
      const publicPaths = new Set(['/healthz', '/readyz', '/dashboard']);
      let checked = 0;
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const method of Object.keys(ops)) {
          const url = path.replace(/\{[^}]+\}/g, 'x');
          const r = await app.inject({
            method: method.toUpperCase() as 'GET',
            url,
            payload: method === 'get' ? undefined : {},
          });
          if (publicPaths.has(path)) assert.notEqual(r.statusCode, 401, `${method} ${path} is public`);
          else {
            assert.equal(r.statusCode, 401, `${method} ${path}`);
            checked++;
          }
        }
      }
      assert.ok(checked >= 30, `${checked} routes checked`);
      for (const p of [
        '/v1/plants',
        '/v1/assets',
        '/v1/assets/{asset}',
        '/v1/assets/{asset}/frame.png',
        '/v1/stream',
        '/v1/models',
        '/v1/models/rollback',
        '/v1/models/{version}/activate',
        '/v1/models/{version}/metrics',
      ]) {
        assert.ok(doc.paths[p], `${p} is documented`);
      }
      assert.equal((await req(null, '/healthz')).statusCode, 200);
      assert.equal((await req(null, '/dashboard')).statusCode, 200);
      assert.match((await req(null, '/dashboard')).body, /<title>Tributary<\/title>/);
      assert.equal((await req('trb_unknown', '/v1/plants')).statusCode, 401);
      const revoked = await createApiKey(store.db, { name: 'gone', scopes: ['admin'] });
      await revokeApiKey(store.db, revoked.id);
      assert.equal((await req(revoked.key, '/v1/plants')).statusCode, 401, 'a revoked key');
      assert.equal(
        (await app.inject({ url: '/v1/plants', headers: { 'x-api-key': keys.reader } })).statusCode,
        200,
        'X-API-Key works too',
      );
    });

    test('scopes: read reads, write acts on alerts, admin manages webhooks, rules and models', async () => {
      assert.equal((await req('reader', '/v1/alerts')).statusCode, 200);
      assert.equal(
        (await req('reader', '/v1/alerts/alA/acknowledge', 'POST', { comment: 'x' })).statusCode,
        403,
      );
      assert.equal((await req('reader', '/v1/webhooks')).statusCode, 403);
      assert.equal((await req('writer', '/v1/webhooks')).statusCode, 403);
      assert.equal(
        (await req('writer', '/v1/models/baseline-robustz-2/activate', 'POST', {})).statusCode,
        403,
      );
      assert.equal((await req('reader', '/v1/models')).statusCode, 200);
      assert.equal((await req('admin', '/v1/webhooks')).statusCode, 200);
      assert.equal(
        (await req('reader', '/metrics')).statusCode,
        404,
        'read may scrape (no metrics wired here: 404, not 401/403)',
      );
    });

    test("a key restricted to a plant sees only that plant (another plant's asset or alert answers as one that does not exist, lists filtered)", async () => {
      const assets = json<{ assets: Array<{ asset: string }> }>(await req('p2reader', '/v1/assets'));
      assert.deepEqual(
        assets.assets.map((a) => a.asset),
        ['fan-01'],
      );
      assert.deepEqual(
        json<{ plants: Array<{ plant: string }> }>(await req('p2reader', '/v1/plants')).plants.map(
          (p) => p.plant,
        ),
        ['p2'],
      );
      assert.deepEqual(
        json<{ alerts: Array<{ id: string }> }>(await req('p2reader', '/v1/alerts')).alerts.map((a) => a.id),
        ['alB'],
      );
      for (const url of [
        '/v1/anomalies?plant=p1',
        '/v1/alerts?plant=p1',
        '/v1/stream?plant=p1',
        '/metrics',
        '/v1/models',
      ]) {
        assert.equal((await req('p2reader', url)).statusCode, 403, url);
      }
      // Another plant's asset or alert: the very answer a made-up one gets.
      for (const [other, none] of [
        ['/v1/assets/pump-01', '/v1/assets/no-such'],
        ['/v1/alerts/alA', '/v1/alerts/no-such'],
        ['/v1/assets/pump-02/timeline', '/v1/assets/no-such/timeline'],
        ['/v1/assets/pump-02/frame.png', '/v1/assets/no-such/frame.png'],
        ['/v1/anomalies?asset=pump-02', '/v1/anomalies?asset=no-such'],
        ['/v1/alerts?asset=pump-02', '/v1/alerts?asset=no-such'],
      ]) {
        const [a, b] = [await req('p2reader', other), await req('p2reader', none)];
        assert.equal(a.statusCode, b.statusCode, other);
        assert.equal(a.body.replaceAll(/pump-0\d|alA/g, 'X'), b.body.replaceAll('no-such', 'X'), other);
      }
      assert.equal((await req('p2reader', '/v1/alerts/alA/acknowledge', 'POST', {})).statusCode, 404);
      const rows = json<{ rows: Array<{ plant: string }> }>(await req('p2reader', '/v1/anomalies?limit=50'));
      assert.ok(rows.rows.length === 50 && rows.rows.every((r) => r.plant === 'p2'));
      const buckets = json<{ buckets: Array<{ plant: string }> }>(
        await req('p2reader', '/v1/anomalies?bucket=1h'),
      );
      assert.ok(buckets.buckets.length > 0 && buckets.buckets.every((b) => b.plant === 'p2'));
      const ack = await req('p2reader', '/v1/alerts/alB/acknowledge', 'POST', { comment: 'on it' });
      assert.equal(ack.statusCode, 200);
      assert.equal(
        json<Alert>(ack).acknowledgedBy,
        'p2reader',
        "who: the key's name when the body has no `by`",
      );
      // A body may name someone else; the key that acted is kept beside it, and shown.
      const claimed = await req('p2reader', '/v1/alerts/alB/feedback', 'POST', {
        label: 'true_positive',
        by: 'bootstrap admin',
      });
      assert.equal(claimed.statusCode, 201);
      const shown = json<{
        events: Array<{ type: string; by: string; keyId: string | null }>;
        feedback: Array<{ by: string; keyId: string }>;
      }>(await req('admin', '/v1/alerts/alB'));
      assert.deepEqual(
        shown.events.filter((e) => e.type === 'alert.acknowledged').map((e) => [e.by, e.keyId]),
        [['p2reader', keyIds.p2reader]],
      );
      assert.deepEqual(
        shown.feedback.map((f) => [f.by, f.keyId]),
        [['bootstrap admin', keyIds.p2reader]],
      );
    });

    test('plants and assets: latest scores, open alerts, cursor pages, 404 and 400s naming the parameter', async () => {
      const plants = json<{
        plants: Array<{ plant: string; assets: number; openAlerts: number; anomalous: number }>;
      }>(await req('reader', '/v1/plants')).plants;
      assert.deepEqual(
        plants.map((p) => [p.plant, p.assets, p.openAlerts]),
        [
          ['p1', 2, 1],
          ['p2', 1, 1],
        ],
      );
      assert.equal(plants[0].anomalous, 1, 'pump-02 ends above the threshold');
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { assets: Array<{ asset: string; lastWindow: string }>; nextCursor: string | null } =
          json(await req('reader', `/v1/assets?limit=1${cursor ? `&cursor=${cursor}` : ''}`));
        seen.push(...page.assets.map((a) => a.asset));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, ['fan-01', 'pump-01', 'pump-02']);
      const one = json<{
        asset: string;
        lastWindow: string;
        score: number;
        openAlerts: number;
        worstSeverity: string;
      }>(await req('reader', '/v1/assets/pump-02'));
      assert.equal(one.lastWindow, new Date(T0 + 719 * W).toISOString());
      assert.ok(one.score >= 8);
      assert.equal(one.worstSeverity, 'major');
      assert.equal((await req('reader', '/v1/assets/nope')).statusCode, 404);
      assert.equal((await req('reader', '/v1/assets/nope/timeline')).statusCode, 404);
      for (const [url, field] of [
        ['/v1/assets?limit=0', 'limit'],
        ['/v1/assets?bogus=1', 'bogus'],
        ['/v1/assets/pump-02/frame.png?scale=99', 'scale'],
        ['/v1/assets/pump-02/frame.png?lo=5&hi=1', 'hi'],
        ['/v1/stream?bogus=1', 'bogus'],
        ['/v1/anomalies?model=', 'model'],
        ['/v1/assets?cursor=%25', 'cursor'],
      ] as const) {
        const r = await req('reader', url);
        assert.equal(r.statusCode, 400, url);
        assert.equal(json<{ field: string }>(r).field, field, url);
      }
    });

    test('frames: the latest thermal frame (or one by time) as a PNG of the requested scale', async () => {
      const r = await req('reader', '/v1/assets/pump-02/frame.png?scale=5');
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-type'], 'image/png');
      assert.equal(r.headers['x-frame-ts'], new Date(T0 + 60_000).toISOString());
      assert.deepEqual([...r.rawPayload.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.deepEqual(
        [r.rawPayload.readUInt32BE(16), r.rawPayload.readUInt32BE(20)],
        [20, 15],
        '4×3 pixels at scale 5',
      );
      // On one colour range, the older (cooler) frame renders differently from the newer one.
      const older = await req(
        'reader',
        `/v1/assets/pump-02/frame.png?ts=${new Date(T0).toISOString()}&lo=20&hi=45`,
      );
      assert.equal(older.headers['x-frame-ts'], new Date(T0).toISOString());
      const newer = await req(
        'reader',
        `/v1/assets/pump-02/frame.png?ts=${new Date(T0 + 60_000).toISOString()}&lo=20&hi=45`,
      );
      assert.ok(!older.rawPayload.equals(newer.rawPayload));
      assert.equal(
        (await req('reader', '/v1/assets/pump-01/frame.png')).statusCode,
        404,
        'no frames for pump-01',
      );
      // The timeline links each frame's thumbnail.
      const tl = json<{ frames: Array<{ ts: string; thumbnail: string }> }>(
        await req(
          'reader',
          `/v1/assets/pump-02/timeline?from=${new Date(T0).toISOString()}&to=${new Date(T0 + 3_600_000).toISOString()}`,
        ),
      );
      assert.equal(tl.frames.length, 2);
      const thumb = await req('reader', tl.frames[0].thumbnail);
      assert.equal(thumb.statusCode, 200);
      assert.equal(thumb.headers['x-frame-ts'], tl.frames[0].ts);
    });

    test('bucketed history from the roll-ups equals a scan of the latest revisions, on ragged ranges', async () => {
      const ranges: Array<[number | null, number | null, string]> = [
        [null, null, '1h'],
        [T0, T0 + 7_200_000, '1h'],
        [T0 + 1_234_567, T0 + 5_432_100, '1h'],
        [T0 + 61_000, T0 + 3_599_000, '1m'],
        [T0 + 1_000, T0 + 7_100_000, '15m'],
        [T0 + 300_000, T0 + 350_000, '1h'],
        [T0 + 59_999, T0 + 7_000_001, '2h'],
        [null, T0 + 3_333_333, '1m'],
        // Whole days through the packed day roll-up, with partial days at the ends.
        [T0 - 2 * 86_400_000, T0 + 2 * 86_400_000, '1h'],
        [T0 - 86_400_000 + 1_800_000, T0 + 86_400_000, '1h'],
        [null, T0 + 86_400_000, '1h'],
        [T0 - 36_000_000, null, '1h'],
        [T0 - 36_000_000 + 1, T0 + 3_600_000 * 14 - 1, '1h'],
      ];
      for (const [from, to, bucket] of ranges) {
        for (const scope of [{}, { asset: 'pump-02' }, { plant: 'p1' }]) {
          const q = {
            ...scope,
            bucket,
            limit: 100_000,
            model: 'baseline-robustz-1',
            ...(from ? { from: new Date(from).toISOString() } : {}),
            ...(to ? { to: new Date(to).toISOString() } : {}),
          };
          const viaRollups = await queryAnomalyBuckets(store.db, q, 6, 6);
          const viaRows = await queryAnomalyBuckets(store.db, q, 6, undefined);
          assert.ok(viaRows.length > 0, `${bucket} ${from} ${to} ${JSON.stringify(scope)}: rows`);
          assert.deepEqual(viaRollups, viaRows, `${bucket} ${from} ${to} ${JSON.stringify(scope)}`);
        }
      }
      // A limit cuts the packed answer where the row answer is cut.
      const lim = {
        bucket: '1h',
        limit: 3,
        model: 'baseline-robustz-1',
        from: new Date(T0 - 86_400_000).toISOString(),
        to: new Date(T0 + 86_400_000).toISOString(),
      };
      assert.deepEqual(
        await queryAnomalyBuckets(store.db, lim, 6, 6),
        await queryAnomalyBuckets(store.db, lim, 6, undefined),
      );
      // The amended windows count with their second revision: the 37th-window bumps raise the hour's max.
      const hours = json<{ buckets: Array<{ asset: string; windows: number; aboveThreshold: number }> }>(
        await req(
          'reader',
          `/v1/anomalies?bucket=1h&asset=pump-01&from=${new Date(T0).toISOString()}&to=${new Date(T0 + 7_200_000).toISOString()}`,
        ),
      ).buckets;
      assert.deepEqual(
        hours.map((h) => h.windows),
        [360, 340],
        'each window once, reference windows not counted',
      );
    });

    test('models: list, metrics, activate, roll back, retire, with 404 and 409', async () => {
      const list = json<{ models: Array<{ version: string; state: string }> }>(
        await req('reader', '/v1/models'),
      ).models;
      assert.deepEqual(
        list.map((m) => [m.version, m.state]),
        [
          ['baseline-robustz-1', 'active'],
          ['baseline-robustz-2', 'shadow'],
        ],
      );
      const metrics = json<{
        training: { aucPr: number };
        service: { windowsScored: number; alertsOpened: number };
      }>(await req('reader', '/v1/models/baseline-robustz-1/metrics'));
      assert.equal(metrics.service.windowsScored, 3 * 700);
      assert.equal(metrics.service.alertsOpened, 2);
      assert.equal(
        json<{ training: { aucPr: number } }>(await req('reader', '/v1/models/baseline-robustz-2/metrics'))
          .training.aucPr,
        0.5,
      );
      assert.equal((await req('admin', '/v1/models/nope/activate', 'POST', {})).statusCode, 404);
      assert.equal(
        (await req('admin', '/v1/models/baseline-robustz-1/activate', 'POST', {})).statusCode,
        409,
        'already active',
      );
      const act = await req('admin', '/v1/models/baseline-robustz-2/activate', 'POST', { by: 'ana' });
      assert.equal(act.statusCode, 200);
      assert.equal(json<{ state: string }>(act).state, 'active');
      assert.equal(
        json<{ models: Array<{ version: string; state: string }> }>(
          await req('reader', '/v1/models'),
        ).models.find((m) => m.version === 'baseline-robustz-1')!.state,
        'shadow',
      );
      assert.equal(
        (await req('admin', '/v1/models/baseline-robustz-2/retire', 'POST', {})).statusCode,
        409,
        'the active model cannot be retired',
      );
      const back = await req('admin', '/v1/models/rollback', 'POST', {});
      assert.equal(json<{ version: string; state: string }>(back).version, 'baseline-robustz-1');
      const log = json<{ activations: Array<{ version: string; action: string; by: string }> }>(
        await req('reader', '/v1/models'),
      ).activations;
      assert.deepEqual(
        log.slice(0, 2).map((a) => [a.action, a.version, a.by]),
        [
          ['rollback', 'baseline-robustz-1', 'admin'],
          ['activate', 'baseline-robustz-2', 'ana'],
        ],
      );
      assert.equal((await req('admin', '/v1/models/baseline-robustz-2/retire', 'POST', {})).statusCode, 200);
      assert.equal(
        (await req('admin', '/v1/models/rollback', 'POST', {})).statusCode,
        409,
        'the model before is retired',
      );
    });

    test('bucketed history counts each model version above its own operating threshold', async () => {
      // A calibrated fusion model scores probabilities: its card's threshold, not the alert threshold (6), applies.
      await registerModel(store.db, {
        version: 'fusion-calibrated',
        kind: 'fusion',
        state: 'retired',
        params: { calibration: { normals: [0, 1], n: 2 }, card: { threshold: 0.7 } },
      });
      assert.equal(
        json<{ threshold: number | null }>(await req('reader', '/v1/models/fusion-calibrated')).threshold,
        0.7,
      );
      assert.equal(
        json<{ threshold: number | null }>(await req('reader', '/v1/models/baseline-robustz-1')).threshold,
        null,
      );
      const thresholdOf = async (query: string) =>
        json<{ threshold: number }>(await req('reader', `/v1/anomalies?bucket=1h${query}`)).threshold;
      assert.equal(await thresholdOf('&model=fusion-calibrated'), 0.7);
      assert.equal(
        await thresholdOf('&model=fusion-calibrated&threshold=0.9'),
        0.9,
        'an explicit threshold wins',
      );
      assert.equal(await thresholdOf(''), 6, 'the active baseline: the alert threshold');
      assert.equal(await thresholdOf('&model=baseline-robustz-2'), 6);
    });

    test('rate limit per key: over the burst, 429 with Retry-After', async () => {
      const limited = await buildApi({
        db: store.db,
        readiness: {},
        threshold: 6,
        rateLimit: { perMinute: 60, burst: 3 },
      });
      try {
        const codes: number[] = [];
        for (let i = 0; i < 4; i++)
          codes.push(
            (await limited.inject({ url: '/v1/plants', headers: { authorization: `Bearer ${keys.reader}` } }))
              .statusCode,
          );
        assert.deepEqual(codes, [200, 200, 200, 429]);
        const r = await limited.inject({
          url: '/v1/plants',
          headers: { authorization: `Bearer ${keys.reader}` },
        });
        assert.equal(r.headers['retry-after'], '1');
        assert.equal(
          (await limited.inject({ url: '/v1/plants', headers: { authorization: `Bearer ${keys.admin}` } }))
            .statusCode,
          200,
          'another key has its own bucket',
        );
      } finally {
        await limited.close();
      }
    });

    test('live stream over HTTP: a new score and an alert event arrive, filtered by plant', async () => {
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const open = async (query: string, key: string) => {
        const ctl = new AbortController();
        const res = await fetch(`${url}/v1/stream${query}`, {
          headers: { authorization: `Bearer ${keys[key]}` },
          signal: ctl.signal,
        });
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
        const events: Array<{ event: string; data: { asset: string; type?: string; windowStart?: string } }> =
          [];
        void (async () => {
          let buf = '';
          try {
            for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
              buf += chunk;
              let i;
              while ((i = buf.indexOf('\n\n')) >= 0) {
                const block = buf.slice(0, i);
                buf = buf.slice(i + 2);
                const ev = /^event: (.*)$/m.exec(block)?.[1],
                  data = /^data: (.*)$/m.exec(block)?.[1];
                if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
              }
            }
          } catch {
            /* aborted */
          }
        })();
        return { events, close: () => ctl.abort() };
      };
      const all = await open('', 'admin');
      const p2 = await open('?plant=p2', 'admin');
      await new Promise((r) => setTimeout(r, 300)); // the first poll sets the cursor
      const ws = T0 + 720 * W;
      await store.db.transaction((tx) =>
        writeBatch(tx, {
          ...emptyBatch(),
          threshold: 6,
          scores: [
            {
              plant: 'p1',
              asset: 'pump-01',
              windowStart: ws,
              windowEnd: ws + W,
              revision: 0,
              modelVersion: 'baseline-robustz-1',
              status: 'scored',
              score: 1.5,
              contributions: { vib_hf: 1 },
              quality: {} as ScoreRow['quality'],
              imageTs: null,
              noteCount: 0,
            },
          ],
        }),
      );
      assert.equal(
        (await req('writer', '/v1/alerts/alA/acknowledge', 'POST', { comment: 'looking' })).statusCode,
        200,
      );
      const deadline = Date.now() + 10_000;
      while (
        Date.now() < deadline &&
        !(all.events.some((e) => e.event === 'score') && all.events.some((e) => e.event === 'alert'))
      )
        await new Promise((r) => setTimeout(r, 50));
      const score = all.events.find((e) => e.event === 'score');
      assert.equal(score?.data.asset, 'pump-01');
      assert.equal(score?.data.windowStart, new Date(ws).toISOString());
      const alert = all.events.find((e) => e.event === 'alert');
      assert.equal(alert?.data.type, 'alert.acknowledged');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(
        all.events.filter((e) => e.event === 'score').length,
        1,
        'each change once, though polls overlap',
      );
      assert.deepEqual(p2.events, [], 'nothing from p1 on a p2 stream');
      all.close();
      p2.close();
    });

    if (backend === 'postgres') {
      test('tributary keys create / list / revoke against the configured store', () => {
        const dir = mkdtempSync(join(tmpdir(), 'trib-keys-'));
        const conf = join(dir, 'c.json');
        writeFileSync(conf, JSON.stringify({ database: { url: dbUrl } }));
        const run = (...args: string[]) =>
          spawnSync(
            process.execPath,
            ['--import', 'tsx', join(ROOT, 'cli.ts'), 'keys', ...args, '--config', conf],
            { cwd: ROOT, encoding: 'utf8' },
          );
        const made = run('create', '--name', 'grafana', '--scopes', 'read', '--plants', 'p2');
        assert.equal(made.status, 0, made.stderr);
        const key = made.stdout.trim();
        assert.match(key, /^trb_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
        assert.match(made.stderr, /scopes read; plants p2/);
        const bad = run('create', '--name', 'x', '--scopes', 'root');
        assert.equal(bad.status, 2);
        assert.match(bad.stderr, /--scopes must be read, write and\/or admin/);
        const listed = run('list');
        assert.match(listed.stdout, /grafana/);
        assert.doesNotMatch(listed.stdout, new RegExp(key.slice(20)), 'never the secret');
        return (async () => {
          assert.equal((await req(key, '/v1/assets')).statusCode, 200);
          assert.equal(
            (await req(key, '/v1/assets/pump-01')).statusCode,
            404,
            "another plant's asset: as if it did not exist",
          );
          const id = key.split('_')[1];
          const revoked = run('revoke', '--id', id);
          assert.equal(revoked.status, 0, revoked.stderr);
          const fresh = await buildApi({ db: store.db, readiness: {}, threshold: 6 });
          try {
            assert.equal(
              (await fresh.inject({ url: '/v1/assets', headers: { authorization: `Bearer ${key}` } }))
                .statusCode,
              401,
              'revoked',
            );
          } finally {
            await fresh.close();
          }
        })();
      });
    }
  });
}
