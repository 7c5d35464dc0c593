/**
 * History queries at scale, on the PostgreSQL server: 30 days of scores for 100 assets at one window per
 * 10 s (25.9 M rows, one plant) are generated on the server (INSERT … SELECT FROM generate_series: the load is not
 * what is measured), the roll-ups built by the store's own rebuild, then the bucketed history query
 * (store/queries.ts, as /v1/anomalies runs it) is timed:
 *   one asset, 30 days, 1-hour buckets; one asset, 1 day, 1-minute buckets; the whole plant, 30 days, 1-hour buckets,
 * from the roll-ups and, as the baseline, from the score rows (the same query with no roll-up).
 * The database (tributary_bench_query) is kept for the next run; BENCH_QUERY_RELOAD=1 rebuilds it.
 */
import pg from 'pg';
import { Config } from '../schemas/index.js';
import { openStore, queryAnomalyBuckets, rebuildRollups } from '../store/index.js';
import { ADMIN_URL } from '../tests/helpers/pg.js';

const ASSETS = 100;
const DAYS = 30;
const WINDOW_MS = 10_000;
const END = Date.parse('2026-10-01T00:00:00Z');
const START = END - DAYS * 86_400_000;
const THRESHOLD = 6;
const DB = 'tributary_bench_query';

export interface QueryBenchResult {
  rows: number;
  loadS: number | null;
  rollupS: number | null;
  cases: Array<{
    name: string;
    buckets: number;
    rollup: { p50: number; p95: number; runs: number };
    raw: { p50: number; p95: number; runs: number };
  }>;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
};

export async function runQueryBench(log: (s: string) => void = () => {}): Promise<QueryBenchResult> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB])).rows.length > 0;
  if (exists && process.env.BENCH_QUERY_RELOAD === '1') await admin.query(`DROP DATABASE ${DB} WITH (FORCE)`);
  if (!exists || process.env.BENCH_QUERY_RELOAD === '1') await admin.query(`CREATE DATABASE ${DB}`);
  await admin.end();
  const u = new URL(ADMIN_URL);
  u.pathname = `/${DB}`;
  const store = await openStore(
    Config.parse({ database: { url: u.toString(), poolSize: 2, retentionDays: 0 } }).database,
  );
  const db = store.db;
  const expected = ASSETS * DAYS * (86_400_000 / WINDOW_MS);
  let rows = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM scores')).rows[0].n;
  let loadS: number | null = null,
    rollupS: number | null = null;
  if (rows !== expected) {
    log(
      `loading ${expected.toLocaleString('en-US')} score rows (${ASSETS} assets × ${DAYS} days, a window per ${WINDOW_MS / 1000} s) …`,
    );
    await db.query('TRUNCATE scores, score_rollup_1m, score_rollup_1h, assets');
    const t0 = performance.now();
    // One day at a time, so each statement stays a manageable size. Scores: a noisy baseline, with a
    // fault (rising score) on every tenth asset in its last three days.
    for (let d = 0; d < DAYS; d++) {
      const from = new Date(START + d * 86_400_000).toISOString();
      await db.query(
        `
        INSERT INTO scores (plant, asset, window_start, window_end, revision, model_version, status, score, contributions, quality, image_ts, note_count)
        SELECT 'plant-1', 'asset-' || lpad(a::text, 3, '0'), t, t + interval '10 seconds', 0, 'baseline-robustz-1', 'scored',
               abs(sin(a * 7.1 + extract(epoch from t) / 977.0)) * 3 + random()
                 + CASE WHEN a % 10 = 0 AND t > $2::timestamptz - interval '3 days' THEN extract(epoch from t - ($2::timestamptz - interval '3 days')) / 20000.0 ELSE 0 END,
               '{"vib_hf":0.6,"vib_rms":0.4}'::jsonb, '{}'::jsonb, NULL, 0
          FROM generate_series(0, ${ASSETS - 1}) a,
               generate_series($1::timestamptz, $1::timestamptz + interval '1 day' - interval '10 seconds', interval '10 seconds') t`,
        [from, new Date(END).toISOString()],
      );
      if (d % 5 === 4) log(`  ${d + 1}/${DAYS} days`);
    }
    loadS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    await db.transaction((tx) => rebuildRollups(tx, THRESHOLD));
    await db.query('ANALYZE');
    rollupS = (performance.now() - t1) / 1000;
    rows = expected;
  }

  const time = async (fn: () => Promise<unknown>, runs: number) => {
    const xs: number[] = [];
    let n = 0;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      n = ((await fn()) as unknown[]).length;
      xs.push(performance.now() - t);
    }
    return { xs, n };
  };
  const iso = (ms: number) => new Date(ms).toISOString();
  const model = 'baseline-robustz-1';
  const cases: QueryBenchResult['cases'] = [];
  const specs = [
    {
      name: 'one asset, 30 days, 1-hour buckets',
      q: (i: number) => ({
        asset: `asset-${String(i % ASSETS).padStart(3, '0')}`,
        from: iso(START),
        to: iso(END),
        bucket: '1h',
      }),
      rawRuns: 10,
    },
    {
      name: 'one asset, 1 day, 1-minute buckets',
      q: (i: number) => ({
        asset: `asset-${String((i * 7) % ASSETS).padStart(3, '0')}`,
        from: iso(END - 86_400_000 - (i % 5) * 3_600_000),
        to: iso(END - (i % 5) * 3_600_000),
        bucket: '1m',
      }),
      rawRuns: 10,
    },
    // The plant: all 100 assets (no asset filter).
    {
      name: 'whole plant (100 assets), 30 days, 1-hour buckets',
      q: (_i: number) => ({ from: iso(START), to: iso(END), bucket: '1h' }),
      rawRuns: 3,
    },
  ];
  for (const s of specs) {
    // Warm up (plans, caches), then measure.
    for (let i = 0; i < 3; i++)
      await queryAnomalyBuckets(db, { ...s.q(i), limit: 100_000, model }, THRESHOLD, THRESHOLD);
    const r = await time(
      async () =>
        queryAnomalyBuckets(
          db,
          { ...s.q(Math.floor(Math.random() * 1000)), limit: 100_000, model },
          THRESHOLD,
          THRESHOLD,
        ),
      50,
    );
    const raw = await time(
      async () =>
        queryAnomalyBuckets(
          db,
          { ...s.q(Math.floor(Math.random() * 1000)), limit: 100_000, model },
          THRESHOLD,
          undefined,
        ),
      s.rawRuns,
    );
    cases.push({
      name: s.name,
      buckets: r.n,
      rollup: { p50: pct(r.xs, 0.5), p95: pct(r.xs, 0.95), runs: r.xs.length },
      raw: { p50: pct(raw.xs, 0.5), p95: pct(raw.xs, 0.95), runs: raw.xs.length },
    });
    log(`  ${s.name}: done`);
  }
  await store.close();
  return { rows, loadS, rollupS, cases };
}
