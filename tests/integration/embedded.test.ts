/**
 * `npm start` with no configuration: the built-in simulator feeds the pipeline in-process and the embedded
 * PGlite-TimescaleDB stores it; /v1/anomalies answers with rows within a minute, with no Kafka and no
 * database server involved. A restart on the same data directory resumes without duplicating windows.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Config } from '../../schemas/index.js';
import { countRows, openStore } from '../../store/index.js';
import { startServiceProcess, waitFor, withKey } from '../helpers/service.js';

interface Rows {
  count: number;
  rows: Array<{
    asset: string;
    windowStart: string;
    status: string;
    score: number | null;
    modelVersion: string;
  }>;
}

test(
  'the embedded default serves anomaly rows from the simulator within a minute, and resumes after a restart',
  { timeout: 180_000 },
  async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'tributary-embedded-')), 'data');
    const config = {
      database: { dataDir },
      api: { port: 0 },
      sim: { assets: 3, backfillMs: 1_800_000, speed: 120 },
    };
    const started = Date.now();
    const svc = await startServiceProcess(config);
    try {
      const first = await waitFor(
        'scored rows',
        async () => {
          const r = (await (await fetch(`${svc.url}/v1/anomalies?limit=10000`, withKey())).json()) as Rows;
          return r.rows.some((x) => x.status === 'scored') ? r : null;
        },
        60_000,
        250,
      );
      assert.ok(Date.now() - started < 60_000);
      assert.deepEqual([...new Set(first.rows.map((r) => r.asset))].sort(), [
        'pump-01',
        'pump-02',
        'pump-03',
      ]);
      assert.ok(
        svc.logs.some((l) => l.msg === 'store ready' && l.backend === 'pglite' && l.timescale === true),
        'TimescaleDB layout in PGlite',
      );
      const ready = await fetch(`${svc.url}/readyz`);
      assert.equal(ready.status, 200);
    } finally {
      assert.equal(await svc.kill('SIGTERM'), 0);
    }

    const again = await startServiceProcess(config);
    try {
      const r = await waitFor(
        'more rows after the restart',
        async () => {
          const x = (await (await fetch(`${again.url}/v1/anomalies?limit=10000`, withKey())).json()) as Rows;
          return again.logs.some((l) => l.msg === 'simulator started') && x.count > 0 ? x : null;
        },
        60_000,
        250,
      );
      const keys = r.rows.map((x) => `${x.asset}@${x.windowStart}@${x.modelVersion}`);
      assert.equal(new Set(keys).size, keys.length, 'no window stored twice');
    } finally {
      assert.equal(await again.kill('SIGTERM'), 0);
    }

    // The data directory, reopened: every asset's windows are contiguous across the restart, none late.
    const store = await openStore({ ...Config.parse({}).database, dataDir });
    try {
      const r = await store.db.query<{ asset: string; n: number; span: number }>(`
      SELECT asset, count(*)::int AS n, (extract(epoch FROM max(window_start) - min(window_start)) / 10)::int + 1 AS span
        FROM scores GROUP BY asset ORDER BY asset`);
      assert.equal(r.rows.length, 3);
      for (const row of r.rows) assert.equal(row.n, row.span, `${row.asset}: no gap and no duplicate`);
      assert.equal(await countRows(store.db, 'late_records'), 0);
    } finally {
      await store.close();
    }
  },
);
