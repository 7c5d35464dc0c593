/**
 * The store against both back-ends: the PostgreSQL server (plain layout, no TimescaleDB here) and the
 * embedded PGlite-TimescaleDB (hypertables, compression and retention policies).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Config, type ImageFrame, type ScoreRow, type WindowTuple } from '../../schemas/index.js';
import {
  countRows,
  emptyBatch,
  loadCheckpoint,
  openStore,
  queryAnomalies,
  queryAnomalyBuckets,
  claimDeliveries,
  settleDelivery,
  syncConfigEndpoints,
  type Store,
} from '../../store/index.js';
import { createTestDatabase } from '../helpers/pg.js';

const T0 = Date.UTC(2026, 10, 1);
const tuple = (asset: string, i: number): WindowTuple => ({
  plant: 'p1',
  asset,
  windowStart: T0 + i * 10_000,
  windowEnd: T0 + (i + 1) * 10_000,
  revision: 0,
  slideMs: 10_000,
  grid: { stepMs: 1000, channels: {} },
  channels: { vib: { device: 'd1', t: [T0 + i * 10_000 + 5, T0 + i * 10_000 + 1005], v: [0.1, 0.2] } },
  image: null,
  notes: [],
  quality: { samples: 2, duplicates: 0, late: 0, images: 0, notes: 0, clockOffsetMs: 0 },
});
const score = (asset: string, i: number, s: number): ScoreRow => ({
  plant: 'p1',
  asset,
  windowStart: T0 + i * 10_000,
  windowEnd: T0 + (i + 1) * 10_000,
  revision: 0,
  modelVersion: 'm1',
  status: 'scored',
  score: s,
  contributions: { vib: 1 },
  quality: tuple(asset, i).quality,
  imageTs: null,
  noteCount: 0,
});

function suite(
  name: string,
  open: () => Promise<{ store: Store; cleanup(): Promise<void> }>,
  timescale: boolean,
) {
  describe(name, () => {
    let ctx: { store: Store; cleanup(): Promise<void> };
    after(async () => {
      await ctx?.cleanup();
    });

    test('migrates, with the TimescaleDB layout exactly when the extension exists', async () => {
      ctx = await open();
      assert.equal(ctx.store.migration.timescale, timescale);
      assert.deepEqual(ctx.store.migration.applied, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      // Encoded frames are stored out of line and not compressed again (migration 15).
      const storage = await ctx.store.db.query<{ s: string }>(
        `SELECT attstorage::text AS s FROM pg_attribute WHERE attrelid = 'images'::regclass AND attname = 'base64'`,
      );
      assert.equal(storage.rows[0].s, 'e');
      if (timescale) {
        const h = await ctx.store.db.query<{ hypertable_name: string }>(
          'SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1',
        );
        assert.deepEqual(
          h.rows.map((r) => r.hypertable_name),
          ['images', 'notes', 'readings', 'score_rollup_1h', 'score_rollup_1m', 'scores'],
        );
        const jobs = await ctx.store.db.query<{ proc_name: string }>(
          `SELECT proc_name FROM timescaledb_information.jobs WHERE proc_name IN ('policy_compression', 'policy_retention') ORDER BY 1`,
        );
        assert.deepEqual(
          jobs.rows.map((r) => r.proc_name),
          ['policy_compression', 'policy_retention', 'policy_retention'],
        );
      }
    });

    test('a batch writes set-at-a-time and a replay of it writes no duplicates', async () => {
      const b = emptyBatch();
      b.tuples = [0, 1, 2].flatMap((i) => [tuple('a1', i), tuple('a2', i)]);
      b.scores = [0, 1, 2].flatMap((i) => [score('a1', i, i), score('a2', i, 10 + i)]);
      b.late = [
        {
          key: 't:0:5',
          modality: 'sensors',
          plant: 'p1',
          asset: 'a1',
          reason: 'window already closed',
          value: { x: 1 },
        },
      ];
      await syncConfigEndpoints(ctx.store.db, [{ url: 'http://127.0.0.1:9/h' }]);
      b.alerts = [
        {
          alert: {
            id: 'al1',
            plant: 'p1',
            asset: 'a2',
            rule: 'r',
            kind: 'anomaly',
            state: 'open',
            severity: 'warning',
            openedWindow: T0,
            lastWindow: T0 + 20_000,
            resolvedWindow: null,
            peakScore: 12,
            modelVersion: 'm1',
            contributions: { vib: 1 },
            topModality: 'sensors',
            topChannel: 'vib',
            notes: [],
            acknowledgedBy: null,
            acknowledgedAt: null,
            snoozedUntil: null,
            resolvedBy: null,
            reason: null,
            links: { timeline: 'x' },
          },
          type: 'alert.opened',
          eventId: 'evt1',
          by: 'rule:r',
          at: T0,
        },
      ];
      b.checkpoint = { partitionKey: 'p0', state: { processed: { sensors: 41 } } };
      for (let k = 0; k < 2; k++)
        await ctx.store.db.transaction(async (tx) =>
          (await import('../../store/index.js')).writeBatch(tx, b),
        );
      assert.equal(await countRows(ctx.store.db, 'scores'), 6);
      assert.equal(await countRows(ctx.store.db, 'readings'), 6);
      assert.equal(await countRows(ctx.store.db, 'late_records'), 1);
      assert.equal(await countRows(ctx.store.db, 'alerts'), 1);
      assert.equal(await countRows(ctx.store.db, 'webhook_outbox'), 1);
      assert.deepEqual(await loadCheckpoint(ctx.store.db, 'p0'), { processed: { sensors: 41 } });
      const r = await ctx.store.db.query<{ t_offset_ms: number[]; v: number[] }>(
        `SELECT t_offset_ms, v FROM readings WHERE asset = 'a1' AND window_start = $1`,
        [new Date(T0 + 10_000)],
      );
      assert.deepEqual(r.rows[0], { t_offset_ms: [5, 1005], v: [0.1, 0.2] });
    });

    test('a large batch (COPY on the server) stores exactly what a small one does, odd names and a replay included', async () => {
      const { writeBatch } = await import('../../store/index.js');
      const big = emptyBatch();
      // 300 reading rows: over the COPY threshold; device names with a tab, a backslash and a newline.
      big.tuples = Array.from({ length: 300 }, (_, i) => {
        const t = tuple(`big${i % 30}`, 100 + Math.floor(i / 30));
        return {
          ...t,
          channels: {
            vib: { ...t.channels.vib, device: i % 2 ? 'd\t1\\x' : 'dev\nA', v: [i / 7, -1e-9 * i] },
          },
        };
      });
      for (let k = 0; k < 2; k++) await ctx.store.db.transaction((tx) => writeBatch(tx, big));
      const r = await ctx.store.db.query<{ n: number; devices: string[]; sum: number }>(
        `SELECT count(*)::int AS n, array_agg(DISTINCT device ORDER BY device) AS devices, sum(v[1]) AS sum FROM readings WHERE asset LIKE 'big%'`,
      );
      assert.equal(r.rows[0].n, 300, 'no duplicates after a replay');
      assert.deepEqual(r.rows[0].devices, ['d\t1\\x', 'dev\nA']);
      assert.ok(
        Math.abs(r.rows[0].sum - Array.from({ length: 300 }, (_, i) => i / 7).reduce((a, b) => a + b, 0)) <
          1e-9,
        'values exact',
      );
      // An amended window replaces its samples.
      const amended = emptyBatch();
      amended.tuples = [
        {
          ...big.tuples[0],
          channels: { vib: { ...big.tuples[0].channels.vib, t: [T0 + 1_000_005], v: [42] } },
        },
        ...big.tuples.slice(1),
      ];
      await ctx.store.db.transaction((tx) => writeBatch(tx, amended));
      const one = await ctx.store.db.query<{ v: number[] }>(
        `SELECT v FROM readings WHERE asset = 'big0' AND window_start = $1 AND device = $2`,
        [new Date(T0 + 1_000_000), 'dev\nA'],
      );
      assert.deepEqual(one.rows[0].v, [42]);
    });

    test('a large batch of frames (COPY on the server) stores what it was given, all three kinds, a replay included', async () => {
      const { writeBatch } = await import('../../store/index.js');
      const b = emptyBatch();
      b.images = Array.from({ length: 60 }, (_, i): ImageFrame => {
        const head = {
          v: 1 as const,
          plant: 'p1',
          asset: `fr${i % 6}`,
          camera: i % 2 ? 'cam\t1' : 'cam\\2',
          ts: T0 + i * 1000,
          kind: 'thermal' as const,
        };
        return i % 3 === 0
          ? { ...head, width: 2, height: 2, unit: 'K' as const, data: [273.15 + i, -1.5e-7, 1e6, i / 3] }
          : i % 3 === 1
            ? { ...head, encoding: 'png' as const, base64: Buffer.from(`png ${i}`).toString('base64') }
            : { ...head, uri: `https://example.org/f/${i}?a=b\\c` };
      });
      for (let k = 0; k < 2; k++) await ctx.store.db.transaction((tx) => writeBatch(tx, b));
      const r = await ctx.store.db.query<{
        asset: string;
        camera: string;
        ts: Date;
        width: number | null;
        unit: string | null;
        data: number[] | null;
        encoding: string | null;
        base64: string | null;
        uri: string | null;
      }>(
        `SELECT asset, camera, ts, width, unit, data, encoding, base64, uri FROM images WHERE asset LIKE 'fr%' ORDER BY ts`,
      );
      assert.equal(r.rows.length, 60, 'no duplicates after a replay');
      for (const [i, f] of b.images.entries()) {
        const x = r.rows[i];
        assert.deepEqual([x.asset, x.camera, new Date(x.ts).getTime()], [f.asset, f.camera, f.ts]);
        if ('data' in f) {
          assert.equal(x.unit, 'K');
          assert.deepEqual(
            x.data!.map((v, k) => Math.abs(v - f.data[k]) <= Math.abs(f.data[k]) * 1e-6),
            [true, true, true, true],
            'real[] values',
          );
        } else if ('base64' in f)
          assert.deepEqual([x.encoding, x.base64, x.data], [f.encoding, f.base64, null]);
        else assert.deepEqual([x.uri, x.width], [f.uri, null]);
      }
      await ctx.store.db.query(`DELETE FROM images WHERE asset LIKE 'fr%'`);
    });

    test('a large batch of scores (COPY on the server) stores exactly what it was given, a replay and odd text included', async () => {
      const { writeBatch } = await import('../../store/index.js');
      const b = emptyBatch();
      b.scores = Array.from({ length: 120 }, (_, i): ScoreRow => ({
        ...score(`sc${i % 12}`, 200 + Math.floor(i / 12), i / 3),
        modelVersion: i % 2 ? 'm\\1' : 'm1',
        ...(i % 5 === 0
          ? {
              status: 'unscorable',
              score: null,
              contributions: {},
              explanation: { reason: 'tab\there, "quoted", back\\slash\nnewline' },
            }
          : {}),
        imageTs: i % 3 ? T0 + i : null,
      }));
      for (let k = 0; k < 2; k++) await ctx.store.db.transaction((tx) => writeBatch(tx, b));
      const r = await ctx.store.db.query<{
        asset: string;
        window_start: Date;
        model_version: string;
        status: string;
        score: number | null;
        contributions: unknown;
        quality: unknown;
        image_ts: Date | null;
        explanation: unknown;
      }>(
        `SELECT asset, window_start, model_version, status, score, contributions, quality, image_ts, explanation FROM scores WHERE asset LIKE 'sc%' ORDER BY window_start, asset, model_version`,
      );
      assert.equal(r.rows.length, 120, 'no duplicates after a replay');
      const byKey = new Map(
        r.rows.map((x) => [`${x.asset}@${new Date(x.window_start).getTime()}@${x.model_version}`, x]),
      );
      for (const s of b.scores) {
        const x = byKey.get(`${s.asset}@${s.windowStart}@${s.modelVersion}`)!;
        assert.deepEqual(
          [
            x.status,
            x.score,
            x.contributions,
            x.quality,
            x.image_ts ? new Date(x.image_ts).getTime() : null,
            x.explanation ?? undefined,
          ],
          [
            s.status,
            s.score,
            s.contributions,
            JSON.parse(JSON.stringify(s.quality)),
            s.imageTs,
            s.explanation,
          ],
        );
      }
      // The history tests below count every asset's rows.
      for (const t of ['scores', 'score_rollup_1m', 'score_rollup_1h', 'score_rollup_day', 'assets'])
        await ctx.store.db.query(`DELETE FROM ${t} WHERE asset LIKE 'sc%'`);
    });

    test('a failing batch leaves nothing behind', async () => {
      const b = emptyBatch();
      b.scores = [score('a9', 0, 1)];
      b.checkpoint = { partitionKey: 'p9', state: { x: 1 } };
      const bad = { ...score('a9', 1, 1), status: 'nonsense' } as unknown as ScoreRow;
      b.scores.push(bad);
      await assert.rejects(
        ctx.store.db.transaction(async (tx) => (await import('../../store/index.js')).writeBatch(tx, b)),
      );
      assert.equal(await loadCheckpoint(ctx.store.db, 'p9'), null);
      assert.equal((await queryAnomalies(ctx.store.db, { asset: 'a9', limit: 10 })).rows.length, 0);
    });

    test('anomaly history filters by asset, time range and score, newest first', async () => {
      const all = (await queryAnomalies(ctx.store.db, { asset: 'a2', limit: 100 })).rows;
      assert.deepEqual(
        all.map((r) => r.score),
        [12, 11, 10],
      );
      const ranged = (
        await queryAnomalies(ctx.store.db, {
          plant: 'p1',
          from: new Date(T0 + 10_000).toISOString(),
          to: new Date(T0 + 20_000).toISOString(),
          limit: 100,
        })
      ).rows;
      assert.deepEqual(
        ranged.map((r) => [r.asset, r.score]),
        [
          ['a1', 1],
          ['a2', 11],
        ],
      );
      const high = (await queryAnomalies(ctx.store.db, { minScore: 11, limit: 100 })).rows;
      assert.equal(high.length, 2);
      assert.equal(all[0].windowStart, new Date(T0 + 20_000).toISOString());
    });

    test('raw history pages with an opaque cursor; buckets give max, mean and windows over the threshold', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 5; page++) {
        const r = await queryAnomalies(ctx.store.db, {
          plant: 'p1',
          limit: 4,
          ...(cursor ? { cursor } : {}),
        });
        seen.push(...r.rows.map((x) => `${x.asset}@${x.windowStart}`));
        if (!r.nextCursor) break;
        cursor = r.nextCursor;
      }
      assert.equal(seen.length, 6, 'every window once');
      assert.equal(new Set(seen).size, 6);
      await assert.rejects(queryAnomalies(ctx.store.db, { limit: 4, cursor: 'bm90LWEtY3Vyc29y' }), /cursor/);
      const b = await queryAnomalyBuckets(ctx.store.db, { plant: 'p1', limit: 100, bucket: '1h' }, 11);
      assert.deepEqual(
        b.map((x) => [x.asset, x.windows, x.maxScore, x.meanScore, x.aboveThreshold]),
        [
          ['a1', 3, 2, 1, 0],
          ['a2', 3, 12, 11, 2],
        ],
      );
      assert.equal(b[0].bucketStart, new Date(Math.floor(T0 / 3_600_000) * 3_600_000).toISOString());
    });

    test('the outbox hands a due row to one claimer and honours the retry time', async () => {
      const now = Date.now() + 1000;
      const [d] = await claimDeliveries(ctx.store.db, 10, 60_000, now);
      assert.equal(d.eventId, 'evt1');
      assert.equal(d.event.type, 'alert.opened');
      assert.deepEqual(
        await claimDeliveries(ctx.store.db, 10, 60_000, now),
        [],
        'leased rows are not handed out twice',
      );
      await settleDelivery(
        ctx.store.db,
        d,
        { ok: false, status: 500, error: 'HTTP 500', retryInMs: 5000, durationMs: 3 },
        now,
        86_400_000,
      );
      assert.deepEqual(
        await claimDeliveries(ctx.store.db, 10, 60_000, now + 4000),
        [],
        'not before its retry time',
      );
      const [again] = await claimDeliveries(ctx.store.db, 10, 60_000, now + 5000);
      assert.equal(again.attempts, 1);
      await settleDelivery(
        ctx.store.db,
        again,
        { ok: true, status: 200, error: null, retryInMs: null, durationMs: 2 },
        now + 5000,
        86_400_000,
      );
      assert.deepEqual(await claimDeliveries(ctx.store.db, 10, 0, now + 99_000), []);
      assert.equal(await countRows(ctx.store.db, 'webhook_attempts'), 2, 'each attempt logged');
    });

    if (!timescale) {
      test('deferred statements go with the next read, in order, their parameters written in exactly; a failing one fails the commit', async () => {
        const db = ctx.store.db;
        await db.exec('CREATE TABLE defer_probe (k int PRIMARY KEY, s text NOT NULL, n float8, a text[])');
        const texts = [
          "it's",
          'back\\slash',
          '$q$ and $q0$ inside',
          '-- not a comment',
          '/* nor this */',
          'ünïcødé ✓',
          '$1 stays',
        ];
        const seen = await db.transaction(async (tx) => {
          assert.ok(tx.defer, 'PostgreSQL transactions defer');
          for (const [k, t] of texts.entries())
            await tx.defer!('INSERT INTO defer_probe (k, s, n) VALUES ($1, $2, $3)', [
              k,
              t,
              k === 0 ? -5 : k === 1 ? 1e-7 : null,
            ]);
          // A parameter that cannot be written in (an array) runs in its turn, after those before it.
          await tx.defer!('INSERT INTO defer_probe (k, s, a) VALUES ($1, $2, $3)', [
            100,
            'array',
            ['x', 'y,z'],
          ]);
          await tx.defer!(
            'UPDATE defer_probe SET n = n - $1 WHERE k = 0 -- a statement may end in a comment',
            [-1],
          );
          return (
            await tx.query<{ k: number; s: string; n: number | null; a: string[] | null }>(
              'SELECT k, s, n, a FROM defer_probe ORDER BY k',
            )
          ).rows;
        });
        assert.deepEqual(
          seen.map((r) => r.s),
          [...texts, 'array'],
        );
        assert.equal(
          seen[0].n,
          -4,
          'the update saw the insert before it, and a negative parameter stayed a number',
        );
        assert.equal(seen[1].n, 1e-7);
        assert.deepEqual(seen[texts.length].a, ['x', 'y,z']);
        await assert.rejects(
          db.transaction(async (tx) => {
            await tx.defer!('INSERT INTO defer_probe (k, s) VALUES ($1, $2)', [
              200,
              'rolled back with the next one',
            ]);
            await tx.defer!('INSERT INTO defer_probe (k, s) VALUES ($1, $2)', [201, null]);
          }),
          (e: { code?: string }) => e.code === '23502',
        );
        assert.equal(
          (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM defer_probe WHERE k >= 200')).rows[0]
            .n,
          0,
        );
        await db.exec('DROP TABLE defer_probe');
      });

      test('COPY sends chunks as they are made; a row refused midway aborts it, with its reason, and leaves nothing', async () => {
        const { binaryChunks } = await import('../../store/copy-binary.js');
        const db = ctx.store.db;
        await db.exec('CREATE TABLE copy_probe (k int, v float8[])');
        const cols = { k: 'int', v: 'float8[]' };
        // Over several chunks (64 KiB, then 256 KiB): 20 000 rows of 20 samples.
        const rows = Array.from({ length: 20_000 }, (_, k) => ({
          k,
          v: Array.from({ length: 20 }, (_, i) => k + i / 8),
        }));
        let made = 0;
        await db.transaction(async (tx) => {
          // Deferred statements travel with the COPY, and run before it.
          await tx.defer!('INSERT INTO copy_probe (k) VALUES ($1)', [-1]);
          await tx.defer!('DELETE FROM copy_probe WHERE k = $1', [-1]);
          await tx.defer!('INSERT INTO copy_probe (k) VALUES ($1)', [-2]);
          await tx.copyIn!(
            'COPY copy_probe (k, v) FROM STDIN WITH (FORMAT binary)',
            (function* () {
              for (const c of binaryChunks(rows, cols)) {
                made++;
                yield c;
              }
            })(),
          );
        });
        assert.ok(made > 3, `chunks: ${made}`);
        const r = await db.query<{ n: number; s: number; min: number }>(
          'SELECT count(*)::int AS n, sum(v[20]) AS s, min(k) AS min FROM copy_probe',
        );
        assert.deepEqual(r.rows[0], { n: 20_001, s: rows.reduce((a, x) => a + x.v[19], 0), min: -2 });
        await db.exec('DELETE FROM copy_probe WHERE k < 0');
        // A deferred statement that fails fails the COPY it travels with, with its SQLSTATE, and the transaction.
        await assert.rejects(
          db.transaction(async (tx) => {
            await tx.defer!('INSERT INTO copy_probe (k) VALUES ($1)', [-3]);
            await tx.defer!('INSERT INTO no_such_table (k) VALUES ($1)', [1]);
            await tx.copyIn!(
              'COPY copy_probe (k, v) FROM STDIN WITH (FORMAT binary)',
              binaryChunks(
                rows.map((x) => ({ ...x, k: x.k + 50_000 })),
                cols,
              ),
            );
          }),
          (e: { code?: string }) => e.code === '42P01',
        );
        // A row the writer refuses (not an int) after chunks already went out.
        const bad = [...rows.map((x) => ({ ...x, k: x.k + 100_000 })), { k: 0.5, v: [1] }];
        await assert.rejects(
          db.transaction(async (tx) => {
            await tx.copyIn!(
              'COPY copy_probe (k, v) FROM STDIN WITH (FORMAT binary)',
              binaryChunks(bad, cols),
            );
          }),
          /k: not a 32-bit integer: 0\.5/,
        );
        assert.equal(
          (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM copy_probe')).rows[0].n,
          20_000,
          'nothing of the aborted COPY',
        );
        assert.equal(
          (await db.query<{ one: number }>('SELECT 1 AS one')).rows[0].one,
          1,
          'the pool still answers',
        );
        await db.exec('DROP TABLE copy_probe');
        // A replay of a batch of many chunks: the unique violation comes back while chunks are still being
        // sent; the rows then take the upsert path, once each.
        const { writeBatch } = await import('../../store/index.js');
        const many = emptyBatch();
        many.tuples = Array.from({ length: 20_000 }, (_, i) =>
          tuple(`many${i % 100}`, 1000 + Math.floor(i / 100)),
        );
        for (let k = 0; k < 2; k++) await db.transaction((tx) => writeBatch(tx, many));
        assert.equal(
          (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM readings WHERE asset LIKE 'many%'`))
            .rows[0].n,
          20_000,
        );
      });
    }

    if (timescale) {
      test('compression and retention jobs run on demand (PGlite has no background workers)', async () => {
        assert.equal(await ctx.store.runPolicies(), 3);
      });
    }
  });
}

suite(
  'PostgreSQL server',
  async () => {
    const tdb = await createTestDatabase('store');
    const store = await openStore({ ...Config.parse({}).database, url: tdb.url });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await tdb.drop();
      },
    };
  },
  false,
);

suite(
  'embedded PGlite-TimescaleDB',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pglite-'));
    const store = await openStore({ ...Config.parse({}).database, dataDir: dir });
    return { store, cleanup: () => store.close() };
  },
  true,
);

test('PGlite data directory reopens with TimescaleDB loaded (inserts into hypertables work)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pglite-'));
  const cfg = { ...Config.parse({}).database, dataDir: dir };
  const a = await openStore(cfg);
  await a.close();
  const b = await openStore(cfg);
  assert.deepEqual(b.migration.applied, [], 'nothing to migrate the second time');
  const batch = emptyBatch();
  batch.scores = [score('z', 0, 1)];
  batch.tuples = [tuple('z', 0)];
  await b.db.transaction(async (tx) => (await import('../../store/index.js')).writeBatch(tx, batch));
  assert.equal(await countRows(b.db, 'readings'), 1);
  await b.close();
});

test('an amended window is stored as a new revision; history reads the latest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pglite-'));
  const store = await openStore({ ...Config.parse({}).database, dataDir: dir });
  const { writeBatch } = await import('../../store/index.js');
  const b = emptyBatch();
  b.scores = [score('r1', 0, 2), score('r1', 1, 3)];
  b.tuples = [tuple('r1', 0), tuple('r1', 1)];
  await store.db.transaction((tx) => writeBatch(tx, b));
  const amended = emptyBatch();
  amended.scores = [{ ...score('r1', 1, 9), revision: 1 }];
  amended.tuples = [
    {
      ...tuple('r1', 1),
      revision: 1,
      channels: { vib: { device: 'd1', t: [T0 + 10_005, T0 + 10_500, T0 + 11_005], v: [0.1, 0.15, 0.2] } },
    },
  ];
  await store.db.transaction((tx) => writeBatch(tx, amended));
  const rows = (await queryAnomalies(store.db, { asset: 'r1', limit: 10 })).rows;
  assert.deepEqual(
    rows.map((r) => [r.revision, r.score]),
    [
      [1, 9],
      [0, 2],
    ],
  );
  assert.deepEqual(
    (await queryAnomalies(store.db, { asset: 'r1', minScore: 3, limit: 10 })).rows.map((r) => r.score),
    [9],
    'the score filter sees the latest revision only',
  );
  assert.equal(await countRows(store.db, 'scores'), 3, 'every revision is kept');
  const r = await store.db.query<{ n: number }>(
    `SELECT n FROM readings WHERE asset = 'r1' AND window_start = $1`,
    [new Date(T0 + 10_000)],
  );
  assert.equal(r.rows[0].n, 3, 'the readings row holds the amended samples (2 before)');
  await store.close();
});

test('with sliding windows each sample is stored once, by the window whose first slide holds it', async () => {
  const store = await openStore({ ...Config.parse({}).database, dataDir: ':memory:' });
  const { writeBatch } = await import('../../store/index.js');
  const b = emptyBatch();
  const w = (start: number, t: number[]) => ({
    ...tuple('s1', 0),
    windowStart: T0 + start,
    windowEnd: T0 + start + 10_000,
    slideMs: 5_000,
    channels: { vib: { device: 'd1', t: t.map((x) => T0 + x), v: t } },
  });
  b.tuples = [w(0, [1_000, 7_000]), w(5_000, [7_000, 12_000])];
  await store.db.transaction((tx) => writeBatch(tx, b));
  const r = await store.db.query<{ v: number[] }>(
    `SELECT v FROM readings WHERE asset = 's1' ORDER BY window_start`,
  );
  assert.deepEqual(
    r.rows.map((x) => x.v),
    [[1_000], [7_000]],
  );
  await store.close();
});
