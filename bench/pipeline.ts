/**
 * Ingest → align → score → store through the real broker and PostgreSQL server, against raw kafkajs
 * consumption of the same records with no work, in the same process.
 */
import { pino } from 'pino';
import { createKafkaIngest, createRecordProducer, drainTopics } from '../ingest/index.js';
import { createPipeline } from '../pipeline.js';
import { Config, type Modality } from '../schemas/index.js';
import { generate, simplePlan } from '../sim/index.js';
import { openStore } from '../store/index.js';
import { uniqueName, type TestKafka } from '../tests/helpers/kafka.js';
import { createTestDatabase } from '../tests/helpers/pg.js';

export interface PipelineBenchResult { records: number; samples: number; rawRecordsPerS: number; pipelineRecordsPerS: number; pipelineSamplesPerS: number; ratio: number }

export async function runPipelineBench(kafka: TestKafka, opts = { assets: 20, minutes: 30, sampleMs: 250 }): Promise<PipelineBenchResult> {
  const logger = pino({ level: 'warn' });
  const prefix = uniqueName('bench');
  const cfg = Config.parse({
    kafka: { brokers: kafka.brokers, groupId: uniqueName('g'), topics: { sensors: `${prefix}.sensors`, images: `${prefix}.images`, notes: `${prefix}.notes`, deadLetter: `${prefix}.dlq` } },
  });
  const ingest = createKafkaIngest(cfg.kafka, logger);
  await ingest.ensureTopics();
  const T0 = Date.UTC(2026, 0, 1);
  const recs = generate(simplePlan({ seed: 1, assets: opts.assets, sampleMs: opts.sampleMs, imageMs: 10_000, noteMs: 600_000 }), T0, T0 + opts.minutes * 60_000);
  const producer = await createRecordProducer(kafka.brokers, logger);
  const topics: Record<Modality, string> = { sensors: cfg.kafka.topics.sensors, images: cfg.kafka.topics.images, notes: cfg.kafka.topics.notes };
  for (const m of ['sensors', 'images', 'notes'] as const) {
    const msgs = recs[m].map((r) => ({ key: r.asset ?? null, value: JSON.stringify(r) }));
    for (let i = 0; i < msgs.length; i += 500) await producer.send(topics[m], msgs.slice(i, i + 500));
  }
  await producer.close();
  const records = recs.sensors.length + recs.images.length + recs.notes.length;
  const samples = recs.sensors.reduce((s, r) => s + Object.keys(r.values).length, 0);

  let t = performance.now();
  await drainTopics(kafka.brokers, Object.values(topics), records, logger);
  const rawS = (performance.now() - t) / 1000;

  const tdb = await createTestDatabase('benchp');
  const store = await openStore({ ...cfg.database, url: tdb.url });
  try {
    let seen = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => { done = r; });
    const pipeline = createPipeline({
      cfg, db: store.db, logger, topics, deadLetter: (d) => ingest.deadLetter(d),
      onDurable: (s) => { seen += s.records; if (seen >= records) done(); },
    });
    t = performance.now();
    await ingest.run((b) => pipeline.handle({ ...b, partitionKey: `p${b.partition}` }));
    await finished;
    const pipeS = (performance.now() - t) / 1000;
    await ingest.stop();
    return { records, samples, rawRecordsPerS: records / rawS, pipelineRecordsPerS: records / pipeS, pipelineSamplesPerS: samples / pipeS, ratio: rawS / pipeS };
  } finally {
    await store.close();
    await tdb.drop();
  }
}
