/**
 * Ingest on the real broker (issue 19). Poison pills: records at and over the size limits, whose
 * dead-letter copies would not fit the dead-letter topic, among good records. The consumer never stops:
 * every good record is windowed and scored, every bad one is dead-lettered (cut to fit, with headers that
 * say so and where the whole original is: the dead_letters table), and the producer's headers are kept.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { pino } from 'pino';
import { createKafkaIngest, readTopic } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { generate, simplePlan } from '../../sim/index.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor, withKey } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
const ROOT = new URL('../..', import.meta.url).pathname;
const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 23, 9) / W) * W;
const MAX_RECORD = 65_536;
const DLQ_MAX = 65_536;
const BUDGET = DLQ_MAX - 16 * 1024; // the service's margin for key, headers and framing

let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

test(
  'records at and over the limits, and a burst of 1 000 whose dead-letter copies do not fit, never stop the consumer',
  { timeout: 240_000 },
  async (t) => {
    const prefix = uniqueName('pill');
    const topics = {
      sensors: `${prefix}.sensors`,
      images: `${prefix}.images`,
      notes: `${prefix}.notes`,
      deadLetter: `${prefix}.dlq`,
    };
    const admin = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        ...[topics.sensors, topics.images, topics.notes].map((topic) => ({
          topic,
          numPartitions: 2,
          replicationFactor: -1,
          configEntries: [{ name: 'max.message.bytes', value: String(4 * MAX_RECORD) }],
        })),
        {
          topic: topics.deadLetter,
          numPartitions: 2,
          replicationFactor: -1,
          configEntries: [{ name: 'max.message.bytes', value: String(DLQ_MAX) }],
        },
      ],
    });
    await admin.disconnect();

    const plan = simplePlan({ seed: 3, assets: 2, sampleMs: 1000, imageMs: W });
    const recs = generate(plan, T0, T0 + 20 * W);
    const bad = (n: number, fill: string) =>
      Buffer.from(`{"v":1,"broken":"${fill.repeat(Math.max(0, n - 21))}`.padEnd(n, fill)).subarray(0, n);
    const pills = [
      { why: 'exactly the record limit', value: bad(MAX_RECORD, 'x') },
      { why: 'one byte over the dead-letter budget', value: bad(BUDGET + 1, 'y') },
      { why: 'one byte over the record limit', value: bad(MAX_RECORD + 1, 'z') },
      ...Array.from({ length: 1000 }, (_, i) => ({ why: 'burst', value: bad(60_000 + (i % 7), 'b') })),
    ];
    const kp = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer();
    await kp.connect();
    await kp.send({
      topic: topics.images,
      messages: recs.images.map((r) => ({ key: r.asset, value: JSON.stringify(r) })),
    });
    // The bad records among the good ones: the three single ones early, the burst in the middle.
    const good = recs.sensors.map((r) => ({
      key: r.asset,
      value: Buffer.from(JSON.stringify(r)) as Buffer,
      headers: {} as Record<string, string>,
    }));
    const mixed = [
      ...good.slice(0, 20),
      ...pills.slice(0, 3).map((p) => ({ key: 'pump-01', value: p.value, headers: { 'x-gateway': 'gw-7' } })),
      ...good.slice(20, 200),
      ...pills.slice(3).map((p) => ({ key: 'pump-02', value: p.value, headers: { 'x-gateway': 'gw-7' } })),
      ...good.slice(200),
    ];
    // A broker's limit is per record batch: the large ones go one to a request.
    for (let i = 0; i < mixed.length;) {
      const big = mixed.slice(i, i + 50).findIndex((m) => m.value.length > 1000);
      const part = mixed.slice(i, i + (big === -1 ? 50 : Math.max(1, big)));
      await kp.send({ topic: topics.sensors, acks: -1, messages: part });
      i += part.length;
    }
    await kp.disconnect();

    const db = await createTestDatabase('pill');
    const svc = await startServiceProcess({
      kafka: { brokers: kafka.brokers, topics, groupId: uniqueName('g'), partitions: 2 },
      database: { url: db.url, poolSize: 2 },
      limits: { maxRecordBytes: MAX_RECORD },
      align: { windowMs: W, idleTimeoutMs: 5_000 },
      scorer: { kind: 'baseline', referenceWindows: 3 },
      api: { port: 0 },
      sim: { enabled: false },
    });
    const c = new pg.Client({ connectionString: db.url });
    try {
      await c.connect();
      const samples = recs.sensors.reduce((n, r) => n + Object.keys(r.values).length, 0);
      await waitFor(
        'every good sample windowed',
        async () =>
          Number((await c.query('SELECT coalesce(sum(cardinality(v)), 0) AS n FROM readings')).rows[0].n) >=
          samples,
        120_000,
        500,
      ).catch(async (e) => {
        const n = (
          await c.query('SELECT coalesce(sum(cardinality(v)), 0) AS n, count(*) AS rows FROM readings')
        ).rows[0];
        t.diagnostic(
          `windowed ${JSON.stringify(n)} of ${samples}; logs ${JSON.stringify(svc.logs.filter((x) => Number(x.level) >= 40).slice(0, 8))}`.slice(
            0,
            4000,
          ),
        );
        throw e;
      });
      const dead = await readTopic(
        kafka.brokers,
        topics.deadLetter,
        (read) => read.length >= pills.length,
        60_000,
        logger,
      );
      t.diagnostic(
        `${samples} good samples windowed; ${dead.length} dead letters of ${pills.length} bad records`,
      );
      assert.equal(dead.length, pills.length, 'every bad record dead-lettered once');
      for (const d of dead) {
        assert.equal(d.headers['x-gateway'], 'gw-7', "the producer's headers are kept");
        assert.ok(d.value!.length <= BUDGET, 'the copy fits the dead-letter topic');
        assert.match(d.headers['tributary-truncated'], /bytes, the first \d+ kept/);
        assert.match(d.headers['tributary-original'], /^dead_letters:/);
      }
      const kept = (await c.query('SELECT record_key, length(value) AS n, code FROM dead_letters')).rows;
      assert.equal(kept.length, pills.length, 'every cut original kept whole');
      const lengths = kept.map((r) => Number(r.n)).sort((a, b) => a - b);
      assert.deepEqual(
        lengths,
        pills.map((p) => p.value.length).sort((a, b) => a - b),
      );
      assert.ok(kept.some((r) => r.code === 'too_large') && kept.some((r) => r.code === 'invalid_json'));
      const ready = await fetch(`${svc.url}/readyz`, withKey());
      assert.equal(ready.status, 200, 'the consumer is still in its group');
    } finally {
      await c.end().catch(() => undefined);
      await svc.kill('SIGTERM');
      await db.drop();
    }
  },
);

test(
  '`tributary topics create` makes co-partitioned input topics and the dead-letter topic, kept for ever for a history replay',
  { timeout: 60_000 },
  async () => {
    const prefix = uniqueName('topics');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        join(ROOT, 'cli.ts'),
        'topics',
        'create',
        '--brokers',
        kafka.brokers.join(','),
        '--prefix',
        prefix,
        '--partitions',
        '4',
        '--retention-ms',
        'forever',
      ],
      { encoding: 'utf8', timeout: 50_000, env: { ...process.env, TRIBUTARY_CONFIG: '' } },
    );
    assert.equal(r.status, 0, r.stderr);
    const admin = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const names = ['sensors', 'images', 'notes', 'dead-letter'].map((x) => `${prefix}.${x}`);
      const meta = await admin.fetchTopicMetadata({ topics: names });
      assert.deepEqual(
        meta.topics.map((t) => t.partitions.length),
        [4, 4, 4, 4],
      );
      const conf = await admin.describeConfigs({
        includeSynonyms: false,
        resources: names.map((name) => ({ type: 2, name, configNames: ['retention.ms'] })),
      });
      assert.ok(
        conf.resources.every(
          (x) => x.configEntries.find((e) => e.configName === 'retention.ms')?.configValue === '-1',
        ),
      );
    } finally {
      await admin.disconnect();
    }
    assert.match(r.stdout, new RegExp(`${prefix}.sensors: 4 partitions, created, retention.ms -1`));
  },
);

test(
  "the service's producer connects once for concurrent callers (re-keyed notes and dead letters sent at once)",
  { timeout: 60_000 },
  async () => {
    const prefix = uniqueName('conn');
    const topics = {
      sensors: `${prefix}.sensors`,
      images: `${prefix}.images`,
      notes: `${prefix}.notes`,
      deadLetter: `${prefix}.dlq`,
    };
    const cfg = Config.parse({
      kafka: { brokers: kafka.brokers, groupId: `${prefix}-g`, topics, partitions: 1 },
    }).kafka;
    const ingest = createKafkaIngest(cfg, pino({ level: 'silent' }));
    await ingest.ensureTopics();
    try {
      // Before the fix the second caller found the producer made but not connected: "The producer is disconnected".
      await Promise.all(
        [1, 2, 3].map((i) => ingest.republish('notes', [{ key: `pump-0${i}`, value: `{"n":${i}}` }])),
      );
      const got = await readTopic(
        kafka.brokers,
        topics.notes,
        (read) => read.length >= 3,
        30_000,
        pino({ level: 'silent' }),
      );
      assert.equal(got.length, 3);
    } finally {
      await ingest.stop();
    }
  },
);
