/**
 * Idleness decided by record time, not by how fast the consumer reads (issue 19): a 6-hour plant is
 * consumed twice through the real broker into the service on PostgreSQL, once as a backlog read as fast
 * as the broker serves it, once as a live feed (published in time order, a few minutes of plant time at
 * a time, while the service consumes). Its assets: one with no camera, one whose camera is offline for
 * an hour, one whose frames all fail validation, one with a working camera. Both runs must store the same
 * windows, revisions, statuses and scores, the same readings and the same late log, and every asset's
 * last window is scored.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { createRecordProducer, createTopics } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { generate, simplePlan } from '../../sim/index.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
const HOUR = 3_600_000;
const W = 60_000;
const T0 = Math.floor(Date.UTC(2026, 10, 20, 6) / HOUR) * HOUR;
const T1 = T0 + 6 * HOUR;

let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

/** The plant's records, each with its record time (the producer's CreateTime = when it was sent live). */
function plant() {
  // No operator notes: the notes topic is not part of the watermark, so whether a note counts for a window
  // at its first firing or as a later revision still depends on the order the topics are read in.
  const recs = generate(
    simplePlan({ seed: 19, assets: 4, sampleMs: 5_000, imageMs: W, noteMs: 1e12 }),
    T0,
    T1,
  );
  const images = recs.images.flatMap((f) => {
    if (f.asset === 'pump-01') return []; // no camera
    if (f.asset === 'pump-02' && f.ts >= T0 + 2 * HOUR && f.ts < T0 + 3 * HOUR) return []; // offline for an hour
    if (f.asset === 'pump-03') return [{ ...f, data: [] }]; // every frame fails validation
    return [f];
  });
  type Out = { topic: 'sensors' | 'images' | 'notes'; at: number; key: string | null; value: string };
  const out: Out[] = [
    ...recs.sensors.map((r) => ({
      topic: 'sensors' as const,
      at: ('t0' in r ? r.t0 : r.ts) as number,
      key: r.asset,
      value: JSON.stringify(r),
    })),
    ...images.map((r) => ({ topic: 'images' as const, at: r.ts, key: r.asset, value: JSON.stringify(r) })),
    ...recs.notes.map((r) => ({
      topic: 'notes' as const,
      at: r.ts,
      key: r.asset ?? null,
      value: JSON.stringify(r),
    })),
  ];
  // Sent shortly after they were taken: the record time is the event time plus a network delay.
  return out.map((r, i) => ({ ...r, at: r.at + 200 + (i % 7) * 50 })).sort((a, b) => a.at - b.at);
}

async function run(mode: 'backlog' | 'live', records: ReturnType<typeof plant>) {
  const prefix = uniqueName(mode);
  const topics = {
    sensors: `${prefix}.sensors`,
    images: `${prefix}.images`,
    notes: `${prefix}.notes`,
    deadLetter: `${prefix}.dlq`,
  };
  const kafkaCfg = { brokers: kafka.brokers, topics, groupId: uniqueName('g'), partitions: 2 };
  await createTopics(Config.parse({ kafka: kafkaCfg }).kafka, { partitions: 2, retentionMs: -1 }, logger);
  const producer = await createRecordProducer(kafka.brokers, logger);
  const publish = async (xs: typeof records) => {
    for (const topic of ['images', 'notes', 'sensors'] as const) {
      const msgs = xs
        .filter((r) => r.topic === topic)
        .map((r) => ({ key: r.key, value: r.value, timestamp: r.at }));
      for (let i = 0; i < msgs.length; i += 500) await producer.send(topics[topic], msgs.slice(i, i + 500));
    }
  };
  const db = await createTestDatabase(mode);
  if (mode === 'backlog') await publish(records);
  const svc = await startServiceProcess({
    kafka: kafkaCfg,
    database: { url: db.url, poolSize: 2 },
    align: { windowMs: W, idleTimeoutMs: 30_000 },
    scorer: { kind: 'baseline', referenceWindows: 10 },
    api: { port: 0 },
    sim: { enabled: false },
  });
  const c = new pg.Client({ connectionString: db.url });
  try {
    if (mode === 'live') {
      // Five minutes of plant time at a time, in time order, while the service reads.
      for (let from = T0; from < T1 + HOUR; from += 5 * 60_000) {
        await publish(records.filter((r) => r.at >= from && r.at < from + 5 * 60_000));
        await new Promise((r) => setTimeout(r, 150));
      }
    }
    await producer.close();
    await c.connect();
    const lastWindows = async () =>
      Number(
        (await c.query(`SELECT count(*) AS n FROM scores WHERE window_start = $1`, [new Date(T1 - W)]))
          .rows[0].n,
      );
    await waitFor("every asset's last window scored", async () => (await lastWindows()) === 4, 120_000, 500);
    // Then a quiet spell: nothing more may change.
    await new Promise((r) => setTimeout(r, 3_000));
    const q = async (sql: string) =>
      (await c.query(sql)).rows.map((x) =>
        Object.values(x)
          .map((v) =>
            v instanceof Date ? v.toISOString() : typeof v === 'number' ? Number(v.toFixed(9)) : v,
          )
          .join(' '),
      );
    return {
      scores: await q(
        `SELECT asset, window_start, revision, model_version, status, score, note_count, image_ts FROM scores ORDER BY asset, window_start, model_version, revision`,
      ),
      readings: await q(
        `SELECT asset, channel, count(*)::int AS windows, sum(cardinality(v))::int AS samples FROM readings GROUP BY asset, channel ORDER BY asset, channel`,
      ),
      late: await q(`SELECT modality, asset, reason FROM late_records ORDER BY record_key`),
      images: await q(`SELECT asset, count(*)::int FROM images GROUP BY asset ORDER BY asset`),
    };
  } finally {
    await c.end().catch(() => undefined);
    await svc.kill('SIGTERM');
    await db.drop();
  }
}

test(
  'a 6-hour plant read as a backlog and as a live feed stores the same windows, revisions and scores (no camera, a camera offline for an hour, frames that all fail validation)',
  { timeout: 400_000 },
  async (t) => {
    const records = plant();
    const backlog = await run('backlog', records);
    const live = await run('live', records);
    const per = (rows: string[], asset: string) => rows.filter((r) => r.startsWith(`${asset} `)).length;
    t.diagnostic(
      `${records.length} records; score rows backlog ${backlog.scores.length}, live ${live.scores.length}; per asset ${['pump-01', 'pump-02', 'pump-03', 'pump-04'].map((a) => `${a} ${per(backlog.scores, a)}`).join(', ')}; late ${backlog.late.length}/${live.late.length}; frames stored ${backlog.images.join(', ')}`,
    );
    // 6 hours of 1-minute windows, each asset, each scored once at least.
    for (const a of ['pump-01', 'pump-02', 'pump-03', 'pump-04']) {
      const windows = new Set(
        backlog.scores.filter((r) => r.startsWith(`${a} `)).map((r) => r.split(' ')[1]),
      );
      assert.equal(windows.size, 360, `${a}: every window scored`);
    }
    assert.deepEqual(live.readings, backlog.readings, 'the same readings');
    assert.deepEqual(live.images, backlog.images, 'the same frames stored');
    assert.deepEqual(live.late, backlog.late, 'the same late log');
    const onlyIn = (a: string[], b: string[]) => {
      const bs = new Set(b);
      return a.filter((x) => !bs.has(x));
    };
    const differ = [
      ...onlyIn(backlog.scores, live.scores).map((x) => `backlog: ${x}`),
      ...onlyIn(live.scores, backlog.scores).map((x) => `live: ${x}`),
    ];
    assert.deepEqual(differ, [], 'the same windows, revisions, statuses and scores');
    assert.deepEqual(
      backlog.images.map((r) => r.split(' ')[0]),
      ['pump-02', 'pump-04'],
      "pump-01 has no camera; pump-03's frames were refused",
    );
  },
);
