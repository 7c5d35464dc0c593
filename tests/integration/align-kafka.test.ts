/**
 * Alignment through the real broker and PostgreSQL: three pumps whose sensor clocks are skewed (+20 s;
 * −12 s drifting 80 ppm; right), a camera that goes silent for a stretch, and late samples that amend
 * windows already stored. Record times (CreateTime) play the broker's clock: true time + network delay.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { createKafkaIngest, createRecordProducer } from '../../ingest/index.js';
import { Config, type ImageFrame, type SensorSample } from '../../schemas/index.js';
import { useKafka, uniqueName, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor, withKey } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 21, 6) / W) * W;
const SECONDS = 600;
const SKEW: Record<string, (t: number) => number> = {
  'pump-01': () => 20_000,
  'pump-02': (t) => -12_000 + 80e-6 * (t - T0),
  'pump-03': () => 0,
};
const SILENT = { asset: 'pump-02', from: T0 + 200_000, to: T0 + 350_000 };
/** Late samples for pump-03: taken in window `k`, sent after the samples up to (k+1)·W + 9 s were stored. */
const LATE_WINDOWS = [30, 45];
const delay = (k: number, salt: number) => 15 + ((k * 7919 + salt * 104729) % 180);

let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

test(
  'skewed clocks corrected, a silent camera leaves windows without a frame, late samples amend stored windows',
  { timeout: 180_000 },
  async () => {
    const prefix = uniqueName('align');
    const topics = {
      sensors: `${prefix}.sensors`,
      images: `${prefix}.images`,
      notes: `${prefix}.notes`,
      deadLetter: `${prefix}.dlq`,
    };
    await createKafkaIngest(
      Config.parse({ kafka: { brokers: kafka.brokers, topics } }).kafka,
      logger,
    ).ensureTopics();
    const db = await createTestDatabase('align');
    const svc = await startServiceProcess({
      kafka: { brokers: kafka.brokers, topics, groupId: uniqueName('g'), sessionTimeoutMs: 6_000 },
      database: { url: db.url, poolSize: 2 },
      align: {
        windowMs: W,
        outOfOrdernessMs: 2_000,
        allowedLatenessMs: 20_000,
        imageMaxAgeMs: 15_000,
        noteSlackMs: 60_000,
        aliases: { p1: { 'pump two': 'pump-02' } },
      },
      scorer: { kind: 'baseline', referenceWindows: 5 },
      api: { port: 0 },
    });
    const producer = await createRecordProducer(kafka.brokers, logger);
    const c = new pg.Client({ connectionString: db.url });
    try {
      // Frames first (their topic is read ahead of the sensors, so the sensors drive the watermark).
      const frames: Array<{ key: string; value: string; timestamp: number }> = [];
      for (const asset of Object.keys(SKEW)) {
        for (let t = T0; t < T0 + SECONDS * 1000; t += W) {
          if (asset === SILENT.asset && t >= SILENT.from && t < SILENT.to) continue;
          const f: ImageFrame = {
            v: 1,
            plant: 'p1',
            asset,
            camera: `${asset}-ir`,
            seq: (t - T0) / W,
            ts: t + 500,
            kind: 'thermal',
            width: 2,
            height: 1,
            unit: 'C',
            data: [30, 40],
          };
          frames.push({ key: asset, value: JSON.stringify(f), timestamp: t + 500 + delay(t / 1000, 1) });
        }
      }
      await producer.send(topics.images, frames);
      // A note that names its pump only in the text, keyed by the plant (another partition than pump-02's).
      await producer.send(topics.notes, [
        {
          key: 'p1',
          value: JSON.stringify({
            v: 1,
            plant: 'p1',
            author: 'a.kumar',
            ts: T0 + 100_000,
            text: 'Pump Two: seal weeping again',
          }),
        },
      ]);
      await c.connect();
      await waitFor(
        'frames stored',
        async () => Number((await c.query('SELECT count(*) FROM images')).rows[0].count) === frames.length,
      );

      const sample = (asset: string, t: number, seq: number): SensorSample => ({
        v: 1,
        plant: 'p1',
        asset,
        device: `${asset}-vib`,
        seq,
        ts: Math.floor(t + SKEW[asset](t)),
        values: { truth_s: (t - T0) / 1000, vib_rms: 1 + 0.01 * Math.sin(t) },
      });
      const seconds = (from: number, to: number) => {
        const out: Array<{ key: string; value: string; timestamp: number }> = [];
        for (let s = from; s < to; s++) {
          for (const asset of Object.keys(SKEW)) {
            const t = T0 + s * 1000 + 250;
            out.push({
              key: asset,
              value: JSON.stringify(sample(asset, t, s)),
              timestamp: t + delay(s, asset.length),
            });
          }
        }
        return out;
      };
      // The sensors arrive in parts; between them, once window k has been stored, a sample taken in window
      // k arrives (late, but within the allowed lateness: the watermark is only ~6 s past the window's end).
      let from = 0;
      for (const k of LATE_WINDOWS) {
        const upTo = (k + 1) * 10 + 9;
        await producer.send(topics.sensors, seconds(from, upTo));
        from = upTo;
        await waitFor(
          `window ${k} stored`,
          async () =>
            (
              await c.query(`SELECT 1 FROM scores WHERE asset = 'pump-03' AND window_start = $1`, [
                new Date(T0 + k * W),
              ])
            ).rows.length > 0,
        );
        const t = T0 + k * W + 5_500;
        await producer.send(topics.sensors, [
          {
            key: 'pump-03',
            value: JSON.stringify(sample('pump-03', t, 100_000 + k)),
            timestamp: T0 + upTo * 1000 + 300,
          },
        ]);
      }
      await producer.send(topics.sensors, seconds(from, SECONDS));

      // The last frames are at T0 + 590.5 s, so every window ending by 588.5 s fires.
      const lastWindow = T0 + SECONDS * 1000 - 2 * W;
      await waitFor('all windows scored', async () => {
        const r = await c.query(`SELECT asset, max(window_start) AS m FROM scores GROUP BY asset`);
        return r.rows.length === 3 && r.rows.every((x) => new Date(x.m).getTime() >= lastWindow - W);
      }).catch(async (e) => {
        const r = await c.query(`SELECT asset, count(*), max(window_start) AS m FROM scores GROUP BY asset`);
        throw new Error(`${(e as Error).message}: ${JSON.stringify(r.rows)}`);
      });

      // 1. Clocks: after a minute, every sample sits in the window of its true time, for every device.
      const rows = (
        await c.query(
          `SELECT asset, extract(epoch FROM window_start) * 1000 AS ws, v FROM readings
      WHERE channel = 'truth_s' AND window_start >= $1 AND window_start < $2`,
          [new Date(T0 + 60_000), new Date(lastWindow)],
        )
      ).rows;
      assert.ok(rows.length >= 3 * 50, `readings rows ${rows.length}`);
      let misplaced = 0,
        total = 0;
      for (const r of rows) {
        for (const truth of r.v as number[]) {
          total++;
          if (T0 + truth * 1000 < Number(r.ws) || T0 + truth * 1000 >= Number(r.ws) + W) misplaced++;
        }
      }
      assert.ok(misplaced / total <= 0.005, `${misplaced} of ${total} samples in the wrong window`);
      const q = (
        await c.query(
          `SELECT DISTINCT ON (asset) asset, quality FROM scores WHERE window_start >= $1 ORDER BY asset, window_start`,
          [new Date(T0 + 120_000)],
        )
      ).rows;
      const clock = Object.fromEntries(q.map((x) => [x.asset, x.quality.clocks[`${x.asset}-vib`]]));
      assert.equal(clock['pump-01'].corrected, true);
      assert.ok(
        Math.abs(clock['pump-01'].offsetMs + 20_000) < 250,
        `pump-01 offset ${clock['pump-01'].offsetMs}`,
      );
      assert.ok(
        Math.abs(clock['pump-02'].offsetMs - 12_000) < 250,
        `pump-02 offset ${clock['pump-02'].offsetMs}`,
      );
      assert.ok(Math.abs(clock['pump-03'].offsetMs) < 250, `pump-03 offset ${clock['pump-03'].offsetMs}`);

      // 2. The silent camera: tuples keep coming, with no frame while it is silent (and frames otherwise).
      const cam = (
        await c.query(
          `SELECT DISTINCT ON (window_start) extract(epoch FROM window_start) * 1000 AS ws, image_ts
      FROM scores WHERE asset = 'pump-02' AND window_start < $1 ORDER BY window_start, revision DESC`,
          [new Date(lastWindow)],
        )
      ).rows;
      const silentWindows = cam.filter(
        (r) => Number(r.ws) >= SILENT.from + 20_000 && Number(r.ws) < SILENT.to,
      );
      assert.ok(
        silentWindows.length >= 10 && silentWindows.every((r) => r.image_ts === null),
        'no frame while silent',
      );
      assert.ok(
        cam
          .filter(
            (r) =>
              Number(r.ws) >= T0 + 60_000 && (Number(r.ws) < SILENT.from || Number(r.ws) >= SILENT.to + W),
          )
          .every((r) => r.image_ts !== null),
        'frames otherwise',
      );

      // 3. Late samples within the allowed lateness: the stored window gets a new revision with them.
      for (const k of LATE_WINDOWS) {
        const revs = (
          await c.query(
            `SELECT revision, quality FROM scores WHERE asset = 'pump-03' AND window_start = $1 ORDER BY revision`,
            [new Date(T0 + k * W)],
          )
        ).rows;
        assert.deepEqual(
          revs.map((r) => r.revision),
          [0, 1],
          `window ${k}`,
        );
        assert.equal(
          revs[1].quality.samples,
          revs[0].quality.samples + 2,
          'the amended revision holds the late sample (two channels)',
        );
        const r = (
          await c.query(
            `SELECT v FROM readings WHERE asset = 'pump-03' AND channel = 'truth_s' AND window_start = $1`,
            [new Date(T0 + k * W)],
          )
        ).rows[0];
        assert.ok(
          (r.v as number[]).includes((k * W + 5_500) / 1000),
          'the stored readings are the amended ones',
        );
      }
      // Device clocks are exposed as Prometheus metrics.
      const metrics = await (await fetch(`${svc.url}/metrics`, withKey())).text();
      const gauge = (name: string, asset: string) =>
        Number(
          new RegExp(`^${name}\\{plant="p1",asset="${asset}",device="${asset}-vib"\\} (\\S+)$`, 'm').exec(
            metrics,
          )?.[1],
        );
      assert.ok(
        Math.abs(gauge('tributary_clock_offset_ms', 'pump-01') + 20_000) < 250,
        'pump-01 offset metric',
      );
      assert.ok(
        Math.abs(gauge('tributary_clock_offset_ms', 'pump-02') - 12_000) < 250,
        'pump-02 offset metric',
      );
      assert.equal(gauge('tributary_clock_corrected', 'pump-03'), 1);
      assert.ok(Number.isFinite(gauge('tributary_clock_uncertainty_ms', 'pump-01')));
      assert.ok(
        gauge('tributary_clock_stamp_jitter_ms', 'pump-01') >= 0,
        'stamp jitter of a sequenced device',
      );

      // 4. The note reached pump-02's windows around its time (± 60 s), through the notes topic keyed by pump-02.
      assert.deepEqual((await c.query(`SELECT asset FROM notes`)).rows, [{ asset: 'pump-02' }]);
      const noted = (
        await c.query(
          `SELECT DISTINCT extract(epoch FROM window_start) * 1000 - $1 AS w FROM scores
      WHERE asset = 'pump-02' AND note_count > 0 ORDER BY 1`,
          [T0],
        )
      ).rows.map((r) => Number(r.w));
      assert.deepEqual(
        noted,
        [40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150].map((x) => x * 1000),
      );
      const api = (await (
        await fetch(
          `${svc.url}/v1/anomalies?asset=pump-03&from=${new Date(T0 + LATE_WINDOWS[0] * W).toISOString()}&to=${new Date(T0 + LATE_WINDOWS[0] * W + 1).toISOString()}`,
          withKey(),
        )
      ).json()) as { rows: Array<{ revision: number }> };
      assert.deepEqual(
        api.rows.map((r) => r.revision),
        [1],
        'history reads the latest revision',
      );
    } finally {
      await producer.close();
      await c.end().catch(() => {});
      await svc.kill('SIGTERM');
      await db.drop();
    }
  },
);
