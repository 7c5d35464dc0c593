/**
 * Two instances in one consumer group on a real broker: the co-partitioning assignor gives each the same
 * partition numbers of all three input topics, and the numbers are split between them. (With an odd
 * partition count kafkajs's default round-robin over topic-partitions would split them across members.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createKafkaIngest, createRecordProducer, type KafkaIngest } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { waitFor } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

test(
  'two members of one group: each owns partition p of all three topics, disjoint, together all of them',
  { timeout: 120_000 },
  async () => {
    const prefix = uniqueName('scale');
    const cfg = Config.parse({
      kafka: {
        brokers: kafka.brokers,
        groupId: `${prefix}-g`,
        partitions: 3,
        sessionTimeoutMs: 10_000,
        topics: {
          sensors: `${prefix}.sensors`,
          images: `${prefix}.images`,
          notes: `${prefix}.notes`,
          deadLetter: `${prefix}.dlq`,
        },
      },
    }).kafka;
    const seen = [new Map<string, Set<number>>(), new Map<string, Set<number>>()];
    const members: KafkaIngest[] = [];
    for (const k of [0, 1]) {
      const m = createKafkaIngest(cfg, logger);
      await m.ensureTopics();
      await m.run(async (b) => {
        if (!seen[k].has(b.topic)) seen[k].set(b.topic, new Set());
        seen[k].get(b.topic)!.add(b.partition);
        return [];
      });
      members.push(m);
    }
    try {
      await waitFor('both joined', async () => members.every((m) => m.isJoined()), 60_000);
      // Wait for the group to settle on two members before producing: keys spread over all partitions.
      await new Promise((r) => setTimeout(r, 3000));
      const p = await createRecordProducer(kafka.brokers, logger);
      for (const topic of [cfg.topics.sensors, cfg.topics.images, cfg.topics.notes]) {
        await p.send(
          topic,
          Array.from({ length: 64 }, (_, i) => ({ key: `asset-${i}`, value: '{}' })),
        );
      }
      await p.close();
      const parts = (k: number, t: string) => [...(seen[k].get(t) ?? [])].sort();
      await waitFor(
        'every partition of every topic consumed',
        async () =>
          [cfg.topics.sensors, cfg.topics.images, cfg.topics.notes].every(
            (t) => parts(0, t).length + parts(1, t).length === 3,
          ),
        60_000,
      );
      for (const k of [0, 1]) {
        assert.ok(parts(k, cfg.topics.sensors).length > 0, `member ${k} got partitions`);
        assert.deepEqual(
          parts(k, cfg.topics.images),
          parts(k, cfg.topics.sensors),
          `member ${k}: images co-partitioned with sensors`,
        );
        assert.deepEqual(
          parts(k, cfg.topics.notes),
          parts(k, cfg.topics.sensors),
          `member ${k}: notes co-partitioned with sensors`,
        );
      }
      assert.deepEqual([...parts(0, cfg.topics.sensors), ...parts(1, cfg.topics.sensors)].sort(), [0, 1, 2]);
    } finally {
      for (const m of members) await m.stop();
    }
  },
);

test('start-up says clearly when the input topics are not co-partitioned', { timeout: 60_000 }, async () => {
  const prefix = uniqueName('uneven');
  const topics = {
    sensors: `${prefix}.sensors`,
    images: `${prefix}.images`,
    notes: `${prefix}.notes`,
    deadLetter: `${prefix}.dlq`,
  };
  // Made by someone else, unevenly: sensors and notes with 2 partitions, images with 3 (these calls create
  // the topics, then refuse them themselves).
  await createKafkaIngest(
    Config.parse({
      kafka: { brokers: kafka.brokers, partitions: 2, topics: { ...topics, images: `${prefix}.other` } },
    }).kafka,
    logger,
  ).ensureTopics();
  await createKafkaIngest(
    Config.parse({
      kafka: { brokers: kafka.brokers, partitions: 3, topics: { ...topics, sensors: `${prefix}.s2` } },
    }).kafka,
    logger,
  )
    .ensureTopics()
    .catch(() => undefined);
  const m = createKafkaIngest(
    Config.parse({ kafka: { brokers: kafka.brokers, partitions: 2, topics } }).kafka,
    logger,
  );
  await assert.rejects(
    m.ensureTopics(),
    /input topics must be co-partitioned \(equal partition counts\); found .*images=3/,
  );
});
