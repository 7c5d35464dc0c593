/**
 * The pipeline with camera frames (issue 20): one frame per asset per minute, of each encoding in turn,
 * beside the same plant without frames. Each run is the backlog phase of the e2e bench (through the real
 * broker into the pipeline and the PostgreSQL server, a fresh topic set, group and database each), and
 * the figure is the sensor throughput: samples stored per second. BENCH_FRAMES_ONLY=text runs the
 * encodings whose name holds it (and the run without frames); BENCH_FRAME_THREADS=n sets
 * `frames.decodeThreads` (0: decode on the partition loop's thread). A run lasts seconds and the machine's
 * speed drifts by tens of per cent between them, so the runs go in rounds (BENCH_FRAMES_ROUNDS, 3), each a
 * run without frames then one of each encoding, and an encoding's figure is its median over the rounds
 * of its ratio to the same round's run without frames. BENCH_FRAMES_MINUTES (30) sets the plant's length,
 * BENCH_KAFKA_CONCURRENCY `kafka.concurrency`. The frame threads are the process's (see FramePool.shared):
 * the first run with frames starts them, as the service does once at its first frame.
 */
import { pino } from 'pino';
import { createKafkaIngest, createRecordProducer } from '../ingest/index.js';
import { Config, type ImageFrame, type Modality } from '../schemas/index.js';
import { generate, simplePlan } from '../sim/index.js';
import { openStore } from '../store/index.js';
import { uniqueName, type TestKafka } from '../tests/helpers/kafka.js';
import { createTestDatabase } from '../tests/helpers/pg.js';
import { createPipeline } from '../pipeline/index.js';
import { cpuNow, cpuSince, type CpuSeconds } from './cpu.js';
import { topicsOf } from './e2e.js';
import { grey, iron, jpg, jpgGrey } from './images.js';
import { publish } from './publish.js';

export interface FramesRun {
  name: string;
  /** Which round (every round runs each encoding once, after a run without frames). */
  round: number;
  frames: number;
  samples: number;
  seconds: number;
  samplesPerS: number;
  /** CPU seconds over the run by process (this one, the broker, PostgreSQL); null where /proc cannot be read. */
  cpu: CpuSeconds | null;
}

/** How each run's frames are sent (null: no frames at all). */
const ALL_KINDS: Array<{ name: string; coding: (() => Record<string, unknown>) | null }> = [
  { name: 'no frames', coding: null },
  {
    name: 'PNG 160×120 8-bit',
    coding: () => ({
      encoding: 'png',
      base64: grey(160, 120, 8).toString('base64'),
      range: { min: 10, max: 100 },
    }),
  },
  {
    name: 'PNG 160×120 16-bit',
    coding: () => ({
      encoding: 'png',
      base64: grey(160, 120, 16).toString('base64'),
      scale: { offset: -40, gain: 0.01 },
    }),
  },
  {
    name: 'PNG 80×60 false colour',
    coding: () => ({
      encoding: 'png',
      base64: iron(80, 60).toString('base64'),
      palette: 'iron',
      range: { min: 10, max: 100 },
    }),
  },
  {
    name: 'JPEG 640×480 thermal',
    coding: () => ({
      encoding: 'jpeg',
      base64: jpg(640, 480).toString('base64'),
      range: { min: 10, max: 100 },
    }),
  },
  // The same bytes as the thermal JPEG, stored and never decoded: what the frames' bytes cost alone.
  {
    name: 'JPEG 640×480 visible',
    coding: () => ({ encoding: 'jpeg', base64: jpg(640, 480).toString('base64'), kind: 'visible' }),
  },
  ...(jpgGrey(8, 8)
    ? [
        {
          name: 'JPEG 640×480 grey 1-comp',
          coding: () => ({
            encoding: 'jpeg',
            base64: jpgGrey(640, 480)!.toString('base64'),
            range: { min: 10, max: 100 },
          }),
        },
      ]
    : []),
];

const rotate = <T>(xs: T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length]);

export async function runFramesPipelineBench(
  kafka: TestKafka,
  o = {
    assets: 20,
    minutes: Number(process.env.BENCH_FRAMES_MINUTES ?? 30),
    sampleMs: 250,
    rounds: Number(process.env.BENCH_FRAMES_ROUNDS ?? 3),
  },
  say: (s: string) => void = () => {},
): Promise<FramesRun[]> {
  const logger = pino({ level: 'warn' });
  const producer = await createRecordProducer(kafka.brokers, logger);
  const T0 = Date.now() - o.minutes * 60_000 - 60_000;
  const plant = generate(
    simplePlan({
      seed: 1,
      assets: o.assets,
      sampleMs: o.sampleMs,
      imageMs: 60_000,
      noteMs: 600_000,
      spreadCameras: true,
    }),
    T0,
    T0 + o.minutes * 60_000,
  );
  const samples = plant.sensors.reduce((s, r) => s + Object.keys(r.values).length, 0);
  const runs: FramesRun[] = [];
  const kinds = ALL_KINDS.filter(
    (k) =>
      !process.env.BENCH_FRAMES_ONLY || k.coding === null || k.name.includes(process.env.BENCH_FRAMES_ONLY),
  );
  try {
    for (let round = 0; round < o.rounds; round++)
      // Each round starts its encodings one further along (the run without frames first in every round):
      // a run leaves the server work (WAL, dirty pages) that the next one pays for.
      for (const kind of [kinds[0], ...rotate(kinds.slice(1), round)]) {
        const coding = kind.coding?.();
        const images = coding
          ? plant.images.map((f) => {
              const { v, plant: p, asset, camera, ts } = f as ImageFrame & { camera: string };
              return { v, plant: p, asset, camera, ts, kind: 'thermal', ...coding } as unknown as ImageFrame;
            })
          : [];
        const recs = { ...plant, images };
        const tdb = await createTestDatabase('benchframes');
        const t = topicsOf(uniqueName('frames'));
        // A short idle time, the same in every run: the last windows of the backlog fire a second after it ends.
        const cfg = Config.parse({
          kafka: {
            brokers: kafka.brokers,
            groupId: uniqueName('g'),
            topics: t,
            ...(process.env.BENCH_KAFKA_CONCURRENCY
              ? { concurrency: Number(process.env.BENCH_KAFKA_CONCURRENCY) }
              : {}),
          },
          database: { url: tdb.url },
          align: { idleTimeoutMs: 1_000 },
          ...(process.env.BENCH_FRAME_THREADS
            ? { frames: { decodeThreads: Number(process.env.BENCH_FRAME_THREADS) } }
            : {}),
        });
        const ingest = createKafkaIngest(cfg.kafka, logger);
        await ingest.ensureTopics();
        const topics: Record<Modality, string> = { sensors: t.sensors, images: t.images, notes: t.notes };
        await publish(producer, topics, recs);
        const store = await openStore(cfg.database);
        // Every run starts from a clean server: the previous run's dirty pages written out now, not during it.
        await store.db.query('CHECKPOINT').catch(() => {});
        try {
          // Timed until every sample is stored: windows fire as the watermark passes them, the last ones
          // on the idle tick (as the service runs it), so both runs end the same way.
          const pipeline = createPipeline({
            cfg,
            db: store.db,
            logger,
            topics,
            deadLetter: (d) => ingest.deadLetter(d),
          });
          const t0 = performance.now(),
            c0 = cpuNow();
          await ingest.run((b) => pipeline.handle({ ...b, partitionKey: `p${b.partition}` }));
          const tick = setInterval(() => {
            void pipeline.tick((c) => ingest.commit(c));
          }, 250);
          let stored = 0;
          for (let waited = 0; stored < samples && waited < 600_000; waited += 100) {
            await new Promise((r) => setTimeout(r, 100));
            stored = (
              await store.db.query<{ n: number }>('SELECT coalesce(sum(n), 0)::int AS n FROM readings')
            ).rows[0].n;
          }
          const seconds = (performance.now() - t0) / 1000,
            cpu = cpuSince(c0, cpuNow());
          clearInterval(tick);
          await ingest.stop();
          const scored = (await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM scores'))
            .rows[0].n;
          if (stored !== samples)
            throw new Error(
              `${kind.name}: ${stored} samples stored of ${samples} (${scored} windows scored)`,
            );
          if (coding && coding.kind !== 'visible') {
            const framed = (
              await store.db.query<{ n: number }>(
                'SELECT count(*)::int AS n FROM scores WHERE image_ts IS NOT NULL',
              )
            ).rows[0].n;
            if (framed === 0) throw new Error(`${kind.name}: no window read a frame`);
          }
          runs.push({
            name: kind.name,
            round,
            frames: images.length,
            samples,
            seconds,
            samplesPerS: samples / seconds,
            cpu,
          });
          say(`round ${round + 1}, ${kind.name}: ${Math.round(samples / seconds)} samples/s`);
        } finally {
          await store.close();
          await tdb.drop();
        }
      }
  } finally {
    await producer.close();
  }
  return runs;
}
