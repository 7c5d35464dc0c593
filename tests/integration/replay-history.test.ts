/**
 * A public-style CSV history replayed as a user would (issue 18, defect 6): years old, 5-minute samples,
 * one repeated hour (a daylight-saving fall-back in local time), sent with `tributary replay --csv`
 * through the real broker into the service on the PostgreSQL server, 1-hour windows. Every row is
 * windowed on its own time and every window is scored, the last one included, at any replay speed;
 * nothing goes to the late log.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { createKafkaIngest } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor } from '../helpers/service.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const HOUR = 3_600_000;
const START = Date.UTC(2013, 9, 26); // 2013-10-26 00:00, three days
let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

/** The CSV: local times without a zone (read as UTC), 02:00–02:55 of the second day twice, new values. */
function csv(): { file: string; rows: number; hours: number } {
  const fmt = (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 19);
  const lines = ['timestamp,level_m'];
  for (let t = START; t < START + 3 * 24 * HOUR; t += 300_000) {
    lines.push(`${fmt(t)},${(2 + Math.sin(t / 7e6)).toFixed(3)}`);
    if (t >= START + 26 * HOUR && t < START + 27 * HOUR && (t - START) % HOUR === 55 * 60_000) {
      // After 02:55 the clock goes back: 02:00–02:55 again.
      for (let u = START + 26 * HOUR; u <= t; u += 300_000)
        lines.push(`${fmt(u)},${(3 + Math.cos(u / 7e6)).toFixed(3)}`);
    }
  }
  const file = join(mkdtempSync(join(tmpdir(), 'history-')), 'levels.csv');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, rows: lines.length - 1, hours: 72 };
}

async function replayed(speed: number, data: { file: string; rows: number; hours: number }) {
  const prefix = uniqueName('hist');
  const topics = {
    sensors: `${prefix}.sensors`,
    images: `${prefix}.images`,
    notes: `${prefix}.notes`,
    deadLetter: `${prefix}.dlq`,
  };
  await createKafkaIngest(
    Config.parse({ kafka: { brokers: kafka.brokers, topics } }).kafka,
    pino({ level: 'silent' }),
  ).ensureTopics();
  const db = await createTestDatabase('hist');
  const svc = await startServiceProcess({
    kafka: { brokers: kafka.brokers, topics, groupId: uniqueName('g') },
    database: { url: db.url, poolSize: 2 },
    align: { windowMs: HOUR, idleTimeoutMs: 5_000 },
    scorer: { kind: 'baseline', referenceWindows: 6 },
    api: { port: 0 },
    sim: { enabled: false },
  });
  const c = new pg.Client({ connectionString: db.url });
  try {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        join(ROOT, 'cli.ts'),
        'replay',
        '--csv',
        data.file,
        '--asset',
        'well-7',
        '--brokers',
        kafka.brokers.join(','),
        '--prefix',
        prefix,
        '--speed',
        String(speed),
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    await c.connect();
    const windows = async () =>
      Number(
        (await c.query(`SELECT count(DISTINCT window_start) AS n FROM scores WHERE asset = 'well-7'`)).rows[0]
          .n,
      );
    await waitFor(
      'every hour scored, the last one too',
      async () => (await windows()) >= data.hours,
      90_000,
      500,
    );
    const late = Number((await c.query('SELECT count(*) AS n FROM late_records')).rows[0].n);
    const samples = Number(
      (await c.query(`SELECT coalesce(sum(cardinality(v)), 0) AS n FROM readings WHERE asset = 'well-7'`))
        .rows[0].n,
    );
    const span = (
      await c.query(
        `SELECT min(window_start) AS lo, max(window_start) AS hi FROM scores WHERE asset = 'well-7'`,
      )
    ).rows[0];
    const rows = (
      await c.query(
        `SELECT DISTINCT ON (window_start) window_start, status, score FROM scores WHERE asset = 'well-7' ORDER BY window_start, revision DESC`,
      )
    ).rows.map(
      (x) =>
        `${new Date(x.window_start).toISOString()} ${x.status} ${x.score === null ? '' : Number(x.score).toFixed(6)}`,
    );
    return {
      late,
      samples,
      lo: new Date(span.lo).getTime(),
      hi: new Date(span.hi).getTime(),
      windows: await windows(),
      rows,
    };
  } finally {
    await c.end().catch(() => undefined);
    await svc.kill('SIGTERM');
    await db.drop();
  }
}

test(
  'a CSV history (2013, 5-minute samples, a repeated hour) replayed with tributary replay: every row windowed on its own time, every hour scored, at any speed',
  { timeout: 300_000 },
  async (t) => {
    const data = csv();
    const fast = await replayed(0, data);
    t.diagnostic(
      `as fast as possible: ${fast.samples} of ${data.rows} samples windowed, ${fast.windows} hourly windows scored, ${fast.late} late`,
    );
    assert.equal(fast.late, 0, 'nothing in the late log');
    assert.equal(fast.samples, data.rows, 'every row windowed, the repeated hour too');
    assert.equal(fast.windows, data.hours);
    assert.equal(fast.lo, START, "on the history's own times");
    assert.equal(fast.hi, START + (data.hours - 1) * HOUR);
    const paced = await replayed(20_000, data); // 20 000× real time: three days in about 13 s
    t.diagnostic(`at 20 000×: ${paced.samples} samples, ${paced.windows} windows, ${paced.late} late`);
    assert.deepEqual(paced.rows, fast.rows, 'the same windows, statuses and scores');
  },
);
