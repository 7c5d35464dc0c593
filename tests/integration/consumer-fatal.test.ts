/**
 * How the consumer ends (issue 19), on the real broker. A batch whose handler fails, even with the kind
 * of error kafkajs gives up on (a TypeError), is retried in the process: the consumer keeps its other
 * partitions and no crash loop can start from one record. An error the consumer cannot recover from
 * (here the group is held by another application with an incompatible assignor) ends the service with
 * status 1, for a supervisor to start it again, instead of leaving it up and idle.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { createKafkaIngest, createTopics } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { startServiceProcess, waitFor } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

const topicsOf = (prefix: string) => ({
  sensors: `${prefix}.sensors`,
  images: `${prefix}.images`,
  notes: `${prefix}.notes`,
  deadLetter: `${prefix}.dlq`,
});

test(
  'a batch handler that throws a TypeError is retried in the process; the consumer stays and handles every record',
  { timeout: 120_000 },
  async () => {
    const cfg = Config.parse({
      kafka: {
        brokers: kafka.brokers,
        topics: topicsOf(uniqueName('fail')),
        groupId: uniqueName('g'),
        partitions: 1,
      },
    }).kafka;
    await createTopics(cfg, { partitions: 1 }, logger);
    const kp = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer();
    await kp.connect();
    await kp.send({
      topic: cfg.topics.sensors,
      messages: Array.from({ length: 10 }, (_, i) => ({ key: 'a', value: String(i) })),
    });
    await kp.disconnect();
    const ingest = createKafkaIngest(cfg, logger);
    let calls = 0,
      fatal: Error | null = null;
    const seen = new Set<number>();
    try {
      await ingest.ensureTopics();
      await ingest.run(
        async (b) => {
          if (++calls <= 3) throw new TypeError(`a bug on call ${calls}`);
          for (const m of b.messages) seen.add(m.offset);
          return b.messages.length
            ? [
                {
                  topic: b.topic,
                  partition: b.partition,
                  offset: b.messages[b.messages.length - 1].offset + 1,
                },
              ]
            : [];
        },
        undefined,
        (e) => {
          fatal = e;
        },
      );
      await waitFor(
        'every record handled after the failures',
        async () => seen.size === 10 || fatal,
        90_000,
        100,
      );
      assert.equal(fatal, null, 'the consumer was not given up');
      assert.ok(calls > 3);
      assert.equal(seen.size, 10);
      assert.ok(ingest.isJoined());
    } finally {
      await ingest.stop();
    }
  },
);

test('a consumer that cannot recover ends the service with status 1', { timeout: 120_000 }, async () => {
  const topics = topicsOf(uniqueName('fatal'));
  const groupId = uniqueName('g');
  await createTopics(
    Config.parse({ kafka: { brokers: kafka.brokers, topics } }).kafka,
    { partitions: 1 },
    logger,
  );
  // Another application holds the group with the default assignor: the service's join is refused
  // (INCONSISTENT_GROUP_PROTOCOL, not retriable).
  const other = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).consumer({ groupId });
  await other.connect();
  await other.subscribe({ topics: [topics.sensors] });
  await other.run({ eachMessage: async () => {} });
  try {
    await assert.rejects(
      startServiceProcess(
        {
          kafka: { brokers: kafka.brokers, topics, groupId },
          database: { dataDir: ':memory:' },
          api: { port: 0 },
          sim: { enabled: false },
        },
        90_000,
      ),
      (e: Error) =>
        (/service exited with 1/.test(e.message) &&
          /the Kafka consumer stopped for good; exiting/.test(e.message) &&
          /incompatible with those of existing members/.test(e.message)) ||
        assert.fail(e.message.slice(0, 3000)),
    );
  } finally {
    await other.disconnect();
  }
});
