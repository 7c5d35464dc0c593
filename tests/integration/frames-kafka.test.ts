/**
 * Encoded frames through the real broker into the service on PostgreSQL (issue 20): a thermal camera
 * sending 16-bit radiometric PNGs, another sending false-colour PNGs with camera metadata, a visible-light
 * JPEG camera, and bad frames (a decompression-bomb header, a corrupt PNG, an unknown encoding). Windows
 * carry the decoded frames' temperatures, frame.png shows them through the colour map, the visible frame
 * is served as sent and never read as temperatures, and each bad frame is dead-lettered with its reason.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import jpeg from 'jpeg-js';
import pg from 'pg';
import { PNG } from 'pngjs';
import { pino } from 'pino';
import { createRecordProducer, createTopics, readTopic } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { ironPng, png16 } from '../helpers/frames.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor, withKey } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 26, 8) / W) * W;

let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

test(
  'PNG, false-colour and JPEG frames through Kafka: windows read their temperatures, frame.png shows them, bad frames are dead-lettered',
  { timeout: 240_000 },
  async (t) => {
    const prefix = uniqueName('frames');
    const topics = {
      sensors: `${prefix}.sensors`,
      images: `${prefix}.images`,
      notes: `${prefix}.notes`,
      deadLetter: `${prefix}.dlq`,
    };
    const kafkaCfg = { brokers: kafka.brokers, topics, groupId: uniqueName('g'), partitions: 1 };
    await createTopics(Config.parse({ kafka: kafkaCfg }).kafka, { partitions: 1 }, logger);
    const assets = ['pump-01', 'pump-02', 'pump-03'];
    const sensors = assets.flatMap((asset) =>
      Array.from({ length: 200 }, (_, k) => ({
        v: 1,
        plant: 'p1',
        asset,
        device: `${asset}-d`,
        seq: k,
        ts: T0 + k * 1000,
        values: { temp: 40 + (k % 5) },
      })),
    );
    const head = (asset: string, camera: string, k: number) => ({
      v: 1,
      plant: 'p1',
      asset,
      camera,
      ts: T0 + k * W + 5_000,
    });
    // pump-01: 160 × 120 radiometric PNG, a hot spot at 80 °C on a 30 °C body; pump-02: 80 × 60 iron
    // palette over 10…100 °C, with metadata our schema does not know; pump-03: a visible-light JPEG.
    const hot = png16(160, 120, (x, y) => (Math.hypot(x - 40, y - 60) < 15 ? 80 : 30));
    const warm = ironPng(80, 60, (x) => Math.round((255 * x) / 79) / 255);
    const rgba = Buffer.alloc(64 * 48 * 4, 128);
    const photo = jpeg.encode({ data: rgba, width: 64, height: 48 }, 80).data;
    const bomb = Buffer.from(hot);
    bomb.writeUInt32BE(20_000, 16);
    bomb.writeUInt32BE(20_000, 20);
    const frames = Array.from({ length: 20 }, (_, k) => [
      {
        ...head('pump-01', 'ir-1', k),
        kind: 'thermal',
        encoding: 'png',
        base64: hot.toString('base64'),
        scale: { offset: -40, gain: 0.01 },
      },
      {
        ...head('pump-02', 'ir-2', k),
        kind: 'thermal',
        encoding: 'png',
        base64: warm.toString('base64'),
        palette: 'iron',
        range: { min: 10, max: 100 },
        emissivity: 0.95,
        distanceM: 2.5,
        regions: ['bearing'],
      },
      { ...head('pump-03', 'cam-3', k), kind: 'visible', encoding: 'jpeg', base64: photo.toString('base64') },
    ]).flat();
    const bad = [
      {
        ...head('pump-01', 'ir-1', 3),
        ts: T0 + 31_000,
        kind: 'thermal',
        encoding: 'png',
        base64: bomb.toString('base64'),
        scale: { offset: -40, gain: 0.01 },
      },
      {
        ...head('pump-01', 'ir-1', 4),
        ts: T0 + 41_000,
        kind: 'thermal',
        encoding: 'png',
        base64: Buffer.concat([hot.subarray(0, 60), Buffer.alloc(40, 7)]).toString('base64'),
        scale: { offset: -40, gain: 0.01 },
      },
      {
        ...head('pump-01', 'ir-1', 5),
        ts: T0 + 51_000,
        kind: 'thermal',
        encoding: 'webp',
        base64: hot.toString('base64'),
        scale: { offset: -40, gain: 0.01 },
      },
    ];
    const producer = await createRecordProducer(kafka.brokers, logger);
    for (const f of [...frames, ...bad])
      await producer.send(topics.images, [{ key: f.asset, value: JSON.stringify(f) }]);
    for (let i = 0; i < sensors.length; i += 200)
      await producer.send(
        topics.sensors,
        sensors.slice(i, i + 200).map((r) => ({ key: r.asset, value: JSON.stringify(r) })),
      );
    await producer.close();

    const db = await createTestDatabase('frames');
    const svc = await startServiceProcess({
      kafka: kafkaCfg,
      database: { url: db.url, poolSize: 2 },
      align: { windowMs: W, idleTimeoutMs: 3_000 },
      scorer: { kind: 'baseline', referenceWindows: 3 },
      api: { port: 0 },
      sim: { enabled: false },
    });
    const c = new pg.Client({ connectionString: db.url });
    try {
      await c.connect();
      await waitFor(
        'every window scored',
        async () =>
          Number(
            (await c.query('SELECT count(DISTINCT (asset, window_start)) AS n FROM scores')).rows[0].n,
          ) >=
          3 * 20,
        120_000,
        500,
      );
      // The windows carry the frames; the tuples' image summaries are stored in the scores' quality.
      const q = (
        await c.query(
          `SELECT asset, count(*) FILTER (WHERE image_ts IS NOT NULL)::int AS with_frame, count(*)::int AS n FROM scores GROUP BY asset ORDER BY asset`,
        )
      ).rows;
      t.diagnostic(JSON.stringify(q));
      assert.ok(
        q.every((r) => r.with_frame >= 18),
        "nearly every window has its camera's frame",
      );
      // The scorer read the thermal frames' temperatures (an image contribution), never the visible one's.
      const img = (
        await c.query(
          `SELECT asset, bool_or(contributions ? 'image') AS image FROM scores WHERE status = 'scored' GROUP BY asset ORDER BY asset`,
        )
      ).rows;
      assert.deepEqual(
        img.map((r) => [r.asset, r.image]),
        [
          ['pump-01', true],
          ['pump-02', true],
          ['pump-03', false],
        ],
      );
      const stored = (
        await c.query(
          `SELECT asset, kind, encoding, width, height, coding FROM images WHERE ts = $1 ORDER BY asset`,
          [new Date(T0 + 5_000)],
        )
      ).rows;
      assert.deepEqual(
        stored.map((r) => [r.asset, r.kind, r.encoding, r.width, r.height]),
        [
          ['pump-01', 'thermal', 'png', 160, 120],
          ['pump-02', 'thermal', 'png', 80, 60],
          ['pump-03', 'visible', 'jpeg', null, null],
        ],
      );
      assert.deepEqual(
        stored[1].coding,
        { palette: 'iron', range: { min: 10, max: 100 } },
        'the coding kept, the unknown metadata dropped',
      );

      // frame.png: decoded thermal frames through the colour map (as big as the frame, scaled); the visible frame as sent.
      for (const [asset, w, h] of [
        ['pump-01', 160, 120],
        ['pump-02', 80, 60],
      ] as const) {
        const r = await fetch(`${svc.url}/v1/assets/${asset}/frame.png?scale=2`, withKey());
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('content-type'), 'image/png');
        const img = PNG.sync.read(Buffer.from(await r.arrayBuffer()));
        assert.deepEqual([img.width, img.height], [2 * w, 2 * h]);
      }
      const v = await fetch(`${svc.url}/v1/assets/pump-03/frame.png`, withKey());
      assert.equal(v.headers.get('content-type'), 'image/jpeg');
      assert.deepEqual(Buffer.from(await v.arrayBuffer()), photo);
      // Temperatures read back from the stored frames by the training path's decoder: the hot spot and body.
      const { storedThermal } = await import('../../ingest/frames.js');
      const row = (
        await c.query(
          `SELECT kind, width, height, unit, data, encoding, base64, coding FROM images WHERE asset = 'pump-01' LIMIT 1`,
        )
      ).rows[0];
      const m = storedThermal(row)!;
      assert.ok(Math.abs(m.data[60 * 160 + 40] - 80) < 0.01 && Math.abs(m.data[0] - 30) < 0.01);
      const visibleRow = (
        await c.query(
          `SELECT kind, width, height, unit, data, encoding, base64, coding FROM images WHERE asset = 'pump-03' LIMIT 1`,
        )
      ).rows[0];
      assert.equal(storedThermal(visibleRow), null, 'a visible frame is never temperatures');

      const dead = await readTopic(
        kafka.brokers,
        topics.deadLetter,
        (read) => read.length >= 3,
        60_000,
        logger,
      );
      assert.deepEqual(dead.map((d) => d.headers['tributary-error-code']).sort(), [
        'image_too_large',
        'invalid_image',
        'invalid_record',
      ]);
      assert.ok(
        dead.some((d) =>
          /20000 × 20000 pixels, limit \d+ \(not decoded\)/.test(d.headers['tributary-reason']),
        ),
      );
      assert.ok(dead.some((d) => /encoding/.test(d.headers['tributary-reason'])));
    } finally {
      await c.end().catch(() => undefined);
      await svc.kill('SIGTERM');
      await db.drop();
    }
  },
);
