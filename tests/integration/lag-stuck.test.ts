/**
 * Consumer lag and stuck partitions on the real broker and PostgreSQL (issue 19). Lag is the log-end
 * offset minus the group's committed offset; it stays right while a partition is stuck (its batch waits
 * on a table another session has locked), and a partition with records waiting whose offsets stand still
 * raises a `dq:partition-stuck` alert, the `tributary_partition_stuck` metric and a warn log, all
 * cleared once it moves. A quiet partition whose commit is held back by windows still open for
 * amendments is not stuck: the end of an input is never taken for one.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { pino } from 'pino';
import { createTopics } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { generate, simplePlan } from '../../sim/index.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor, withKey } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 25, 6) / W) * W;

let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

test(
  'lag is log-end minus committed, right while a partition is stuck; a stuck partition alerts, logs and shows in the metrics, and clears',
  { timeout: 240_000 },
  async (t) => {
    const prefix = uniqueName('lag');
    const topics = {
      sensors: `${prefix}.sensors`,
      images: `${prefix}.images`,
      notes: `${prefix}.notes`,
      deadLetter: `${prefix}.dlq`,
    };
    const kafkaCfg = {
      brokers: kafka.brokers,
      topics,
      groupId: uniqueName('g'),
      partitions: 2,
      lagCheckMs: 500,
      stuckAfterMs: 3_000,
    };
    await createTopics(Config.parse({ kafka: kafkaCfg }).kafka, { partitions: 2 }, logger);
    const plan = simplePlan({ seed: 5, assets: 4, sampleMs: 1000 });
    const first = generate(plan, T0, T0 + 12 * W).sensors;
    const second = generate(plan, T0 + 12 * W, T0 + 24 * W).sensors;
    const kp = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer();
    await kp.connect();
    const send = (recs: typeof first) =>
      kp.send({
        topic: topics.sensors,
        acks: -1,
        messages: recs.map((r) => ({ key: r.asset, value: JSON.stringify(r) })),
      });
    await send(first);

    const db = await createTestDatabase('lag');
    const svc = await startServiceProcess({
      // Room in the pool beside the two waiting batches, for the API (its key checks) and the alert checks.
      kafka: kafkaCfg,
      database: { url: db.url, poolSize: 6 },
      align: { windowMs: W, idleTimeoutMs: 2_000, clock: { checkpointEveryMs: 1_000 } },
      scorer: { kind: 'baseline', referenceWindows: 3 },
      alerts: { checkEveryMs: 500 },
      api: { port: 0 },
      sim: { enabled: false },
    });
    const admin = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    const locker = new pg.Client({ connectionString: db.url });
    const c = new pg.Client({ connectionString: db.url });
    try {
      await admin.connect();
      await locker.connect();
      await c.connect();
      /** Per sensors partition: log-end − committed, as the broker has it. */
      const brokerLag = async () => {
        const committed = new Map(
          (
            await admin.fetchOffsets({ groupId: kafkaCfg.groupId, topics: [topics.sensors] })
          )[0].partitions.map((p) => [p.partition, Number(p.offset)]),
        );
        return new Map(
          (await admin.fetchTopicOffsets(topics.sensors)).map((p) => [
            p.partition,
            Number(p.high) - Math.max(Number(p.low), committed.get(p.partition) ?? -1),
          ]),
        );
      };
      const metrics = async () => {
        const text = await (await fetch(`${svc.url}/metrics`, withKey())).text();
        const read = (name: string) =>
          new Map(
            [
              ...text.matchAll(
                new RegExp(
                  `^${name}\\{topic="${topics.sensors.replace(/\./g, '\\.')}",partition="(\\d+)"\\} (\\S+)$`,
                  'gm',
                ),
              ),
            ].map((m) => [Number(m[1]), Number(m[2])]),
          );
        return { lag: read('tributary_consumer_lag_records'), stuck: read('tributary_partition_stuck') };
      };
      const alerts = async (state: string) =>
        (
          (await (
            await fetch(`${svc.url}/v1/alerts?rule=dq:partition-stuck&state=${state}`, withKey())
          ).json()) as { alerts: Array<{ plant: string; asset: string; reason: string }> }
        ).alerts;

      // A finite input: once every window has fired, quiet partitions are not stuck, for longer than
      // stuckAfterMs, whatever lag their held-back commit leaves; the metric is the broker's lag.
      const windows = async () =>
        Number((await c.query('SELECT count(DISTINCT (asset, window_start)) AS n FROM scores')).rows[0].n);
      await waitFor('the first input windowed', async () => (await windows()) >= 4 * 12, 60_000, 250);
      await new Promise((r) => setTimeout(r, 5_000));
      await waitFor(
        'metrics and broker agree',
        async () => {
          const [b, m] = [await brokerLag(), await metrics()];
          return (
            m.lag.size === 2 &&
            [...b].every(([p, x]) => m.lag.get(p) === x) &&
            [...m.stuck.values()].every((x) => x === 0)
          );
        },
        10_000,
        250,
      ).catch(async (e) => {
        t.diagnostic(
          `broker lag ${JSON.stringify([...(await brokerLag())])}; metrics ${JSON.stringify(Object.entries(await metrics()).map(([k, v]) => [k, [...v]]))}; logs ${JSON.stringify(svc.logs.filter((l) => Number(l.level) >= 40).slice(0, 5))}`,
        );
        throw e;
      });

      // Another session locks the readings table: the next batches wait on it; the partitions are stuck.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE readings IN ACCESS EXCLUSIVE MODE');
      await send(second);
      const stuck = await waitFor(
        'both partitions stuck in the metrics',
        async () => {
          const m = await metrics();
          return m.stuck.size === 2 && [...m.stuck.values()].every((x) => x === 1) ? m : null;
        },
        60_000,
        250,
      ).catch(async (e) => {
        t.diagnostic(
          `broker lag ${JSON.stringify([...(await brokerLag())])}; metrics ${JSON.stringify(Object.entries(await metrics()).map(([k, v]) => [k, [...v]]))}; logs ${JSON.stringify(svc.logs.filter((l) => Number(l.level) >= 40).slice(0, 5))}`,
        );
        throw e;
      });
      const b = await brokerLag();
      t.diagnostic(
        `stuck: lag by partition, metric ${JSON.stringify([...stuck.lag])}, broker ${JSON.stringify([...b])}`,
      );
      for (const [p, lag] of b) {
        assert.ok(lag > 0, `partition ${p} has lag`);
        assert.equal((await metrics()).lag.get(p), lag, `partition ${p}: the metric is log-end − committed`);
      }
      const open = await waitFor(
        'a stuck-partition alert per partition',
        async () => {
          const a = await alerts('open');
          return a.length === 2 ? a : null;
        },
        30_000,
        250,
      );
      assert.deepEqual(
        open.map((a) => a.asset).sort(),
        [0, 1].map((p) => `kafka:${topics.sensors}:${p}`),
      );
      assert.ok(
        open.every(
          (a) =>
            a.plant === '_service' &&
            /\d+ records wait \(\d+ after the committed offset \d+\), no progress for/.test(a.reason),
        ),
        JSON.stringify(open),
      );
      const warned = svc.logs.filter(
        (l) =>
          l.msg === 'partition stuck: records wait and its offsets have not moved' && Number(l.level) === 40,
      );
      assert.deepEqual(warned.map((l) => l.partition).sort(), [0, 1]);

      // The lock goes: the partitions move, the alerts resolve and the lag comes down to 0.
      await locker.query('ROLLBACK');
      await waitFor(
        'the alerts resolved',
        async () => (await alerts('open')).length === 0 && (await alerts('resolved')).length === 2,
        60_000,
        250,
      );
      await waitFor(
        "not stuck again, the metric the broker's lag",
        async () => {
          const [b, m] = [await brokerLag(), await metrics()];
          return [...b].every(([p, x]) => m.lag.get(p) === x) && [...m.stuck.values()].every((x) => x === 0);
        },
        60_000,
        250,
      );
      assert.ok((await windows()) >= 4 * 24, 'the second input windowed');
      assert.ok(svc.logs.some((l) => l.msg === 'partition moving again'));
    } finally {
      await locker.end().catch(() => undefined);
      await c.end().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      await kp.disconnect().catch(() => undefined);
      await svc.kill('SIGTERM');
      await db.drop();
    }
  },
);
