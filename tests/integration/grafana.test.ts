/**
 * infra/grafana/tributary.json: every SQL query of the dashboard (panels, annotations, the plant
 * variable), with Grafana's macros expanded as its PostgreSQL data source does, runs against the migrated
 * schema, on the PostgreSQL server (plain layout) and on PGlite-TimescaleDB, and returns rows from seeded data.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Config, type Alert, type ScoreRow } from '../../schemas/index.js';
import {
  emptyBatch,
  openStore,
  registerModel,
  writeAlertChanges,
  writeBatch,
  type Store,
} from '../../store/index.js';
import { createTestDatabase } from '../helpers/pg.js';

const DASHBOARD = JSON.parse(
  readFileSync(new URL('../../infra/grafana/tributary.json', import.meta.url), 'utf8'),
) as {
  panels: Array<{ title: string; targets: Array<{ refId: string; rawSql: string; format: string }> }>;
  annotations: { list: Array<{ name: string; target: { rawSql: string } }> };
  templating: { list: Array<{ name: string; query: string }> };
};

const NOW = Date.parse('2026-05-04T12:00:00Z');
const FROM = NOW - 6 * 3_600_000;

/** Grafana's PostgreSQL macros (grafana-postgresql-datasource), for the range [FROM, NOW] and plant p1. */
function expand(sql: string): string {
  const ts = (ms: number) => `'${new Date(ms).toISOString()}'::timestamptz`;
  const seconds = (iv: string) => {
    const m = /^'?(\d+)([smhd])'?$/.exec(iv.trim())!;
    return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's'];
  };
  return sql
    .replace(
      /\$__timeGroupAlias\(([^,]+),\s*([^)]+)\)/g,
      (_, col, iv) =>
        `floor(extract(epoch from ${col})/${seconds(iv === '$__interval' ? '60s' : iv)})*${seconds(iv === '$__interval' ? '60s' : iv)} AS "time"`,
    )
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, col) => `${col} BETWEEN ${ts(FROM)} AND ${ts(NOW)}`)
    .replace(/\$__timeFrom\(\)/g, ts(FROM))
    .replace(/\$__timeTo\(\)/g, ts(NOW))
    .replace(/\$\{?plant(:\w+)?\}?/g, `'p1'`);
}

function queries(): Array<{ where: string; sql: string }> {
  return [
    ...DASHBOARD.panels.flatMap((p) =>
      p.targets.map((t) => ({ where: `panel "${p.title}" ${t.refId}`, sql: t.rawSql })),
    ),
    ...DASHBOARD.annotations.list.map((a) => ({ where: `annotation "${a.name}"`, sql: a.target.rawSql })),
    ...DASHBOARD.templating.list.map((v) => ({ where: `variable ${v.name}`, sql: v.query })),
  ];
}

async function seed(store: Store): Promise<void> {
  await registerModel(store.db, {
    version: 'baseline-robustz-1',
    kind: 'baseline-robustz',
    params: { referenceWindows: 20 },
  });
  const scores: ScoreRow[] = [];
  for (let i = 0; i < 360; i++) {
    for (const asset of ['pump-01', 'pump-02']) {
      const ws = FROM + i * 60_000;
      scores.push({
        plant: 'p1',
        asset,
        windowStart: ws,
        windowEnd: ws + 60_000,
        revision: 0,
        modelVersion: 'baseline-robustz-1',
        status: 'scored',
        score: asset === 'pump-02' && i > 300 ? 9 : 1,
        contributions: { vib_hf: 1 },
        quality: {} as ScoreRow['quality'],
        imageTs: null,
        noteCount: 0,
      });
    }
  }
  await store.db.transaction((tx) =>
    writeBatch(tx, {
      ...emptyBatch(),
      scores,
      threshold: 6,
      late: [
        {
          key: 'k1',
          modality: 'sensors',
          plant: 'p1',
          asset: 'pump-01',
          reason: 'window already closed',
          value: {},
        },
      ],
      deadLetters: [
        {
          key: 'k2',
          source: 'tributary.sensors',
          code: 'invalid_json',
          reason: 'not JSON',
          value: new Uint8Array([1]),
        },
      ],
    }),
  );
  await store.db.query(`UPDATE late_records SET received_at = $1`, [new Date(NOW - 3_600_000).toISOString()]);
  await store.db.query(`UPDATE dead_letters SET received_at = $1`, [new Date(NOW - 3_600_000).toISOString()]);
  const alert: Alert = {
    id: 'al1',
    plant: 'p1',
    asset: 'pump-02',
    rule: 'default',
    kind: 'anomaly',
    state: 'open',
    severity: 'major',
    openedWindow: FROM + 301 * 60_000,
    lastWindow: FROM + 359 * 60_000,
    resolvedWindow: null,
    peakScore: 9,
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
  };
  await store.db.transaction((tx) =>
    writeAlertChanges(tx, [{ alert, type: 'alert.opened', eventId: 'e1', by: 'rule:default' }]),
  );
}

for (const backend of ['postgres', 'pglite'] as const) {
  describe(`Grafana dashboard SQL on ${backend}`, () => {
    let store: Store;
    let drop: (() => Promise<void>) | null = null;
    before(async () => {
      const cfg = Config.parse({ database: { dataDir: ':memory:' } });
      if (backend === 'postgres') {
        const db = await createTestDatabase('graf');
        drop = db.drop;
        store = await openStore({ ...cfg.database, url: db.url });
      } else store = await openStore(cfg.database);
      await seed(store);
    });
    after(async () => {
      await store?.close();
      await drop?.();
    });

    test('every query runs and returns rows; time series have time, metric and value', async () => {
      const all = queries();
      assert.ok(all.length >= 8, `${all.length} queries`);
      for (const q of all) {
        const sql = expand(q.sql);
        assert.doesNotMatch(sql, /\$/, `${q.where}: every macro and variable expanded`);
        const r = await store.db.query<Record<string, unknown>>(sql);
        if (!q.where.includes('Model activations')) assert.ok(r.rows.length > 0, `${q.where}: rows`);
        if (/AS "time"/.test(sql)) {
          assert.ok(
            ['time', 'metric', 'value'].every((c) => c in r.rows[0]),
            `${q.where}: time, metric, value`,
          );
        }
      }
      const heat = await store.db.query<{ metric: string; value: number }>(
        expand(DASHBOARD.panels[0].targets[0].rawSql),
      );
      assert.ok(
        heat.rows.some((x) => x.metric === 'pump-02' && x.value === 9),
        'the heat map shows the faulty pump',
      );
      const anno = await store.db.query<{ text: string }>(
        expand(DASHBOARD.annotations.list[0].target.rawSql),
      );
      assert.match(anno.rows[0].text, /^pump-02: major alert \(default\), peak 9/);
    });
  });
}
