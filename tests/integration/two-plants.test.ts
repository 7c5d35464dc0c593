/**
 * Two plants that use the same asset id (issue 19). Every table keys assets by id alone, so an id belongs
 * to the first plant that sends it; the other plant's records naming it are dead-lettered with the
 * reason `asset_of_other_plant`, nothing of theirs is stored under the owner's asset, and a key scoped to
 * one plant reads nothing of the other's through any route. On the real broker and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { pino } from 'pino';
import { createTopics, readTopic } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { createApiKey, openStore } from '../../store/index.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 24, 6) / W) * W;
const N = 200;

let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

test(
  "two plants with the same asset id: the second plant's records are dead-lettered, and neither plant's key reads the other's data",
  { timeout: 240_000 },
  async (t) => {
    const prefix = uniqueName('plants');
    const topics = {
      sensors: `${prefix}.sensors`,
      images: `${prefix}.images`,
      notes: `${prefix}.notes`,
      deadLetter: `${prefix}.dlq`,
    };
    // p1's values are positive, p2's negative: a stored value tells whose it is.
    const sample = (plant: string, asset: string, k: number, sign: number) => ({
      v: 1,
      plant,
      asset,
      device: `${plant}-${asset}-d`,
      seq: k,
      ts: T0 + k * 1000,
      values: { temp: sign * (10 + (k % 7)) },
    });
    const p1x = Array.from({ length: N }, (_, k) => sample('p1', 'X', k, 1));
    const p2x = Array.from({ length: N }, (_, k) => sample('p2', 'X', k, -1));
    const p2y = Array.from({ length: N }, (_, k) => sample('p2', 'Y', k, -1));
    const frame = (plant: string) => ({
      v: 1,
      plant,
      asset: 'X',
      camera: `${plant}-cam`,
      ts: T0 + 55_000,
      kind: 'thermal',
      width: 2,
      height: 2,
      unit: 'C',
      data: [40, 41, 42, 43],
    });
    const note = (plant: string, text: string) => ({
      v: 1,
      plant,
      asset: 'X',
      author: `${plant}-op`,
      ts: T0 + 60_000,
      text,
    });

    const kafkaCfg = { brokers: kafka.brokers, topics, groupId: uniqueName('g'), partitions: 2 };
    await createTopics(Config.parse({ kafka: kafkaCfg }).kafka, { partitions: 2 }, logger);
    const kp = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer();
    await kp.connect();
    const send = (topic: string, recs: Array<{ asset: string }>) =>
      kp.send({ topic, acks: -1, messages: recs.map((r) => ({ key: r.asset, value: JSON.stringify(r) })) });
    const db = await createTestDatabase('plants');
    const svc = await startServiceProcess({
      kafka: kafkaCfg,
      database: { url: db.url, poolSize: 2 },
      align: { windowMs: W, idleTimeoutMs: 3_000 },
      scorer: { kind: 'baseline', referenceWindows: 3 },
      api: { port: 0 },
      sim: { enabled: false },
    });
    const c = new pg.Client({ connectionString: db.url });
    const store = await openStore(Config.parse({ database: { url: db.url, poolSize: 1 } }).database);
    try {
      await c.connect();
      // p1 sends X first, and it is claimed before anything else is sent: the three topics are read
      // concurrently, so a p2 frame sent at the same moment may be read first (and would own X).
      await send(topics.sensors, p1x.slice(0, 1));
      await waitFor(
        'X claimed by p1',
        async () =>
          (await c.query(`SELECT plant FROM asset_owners WHERE asset = 'X'`)).rows[0]?.plant === 'p1',
        60_000,
        200,
      );
      // Then both plants interleaved, on the same partition (same key).
      await send(
        topics.sensors,
        p1x
          .slice(1)
          .flatMap((r, i) => [r, p2x[i], p2y[i]])
          .concat([p2x[N - 1], p2y[N - 1]]),
      );
      await send(topics.images, [frame('p2')]);
      await send(topics.notes, [
        note('p1', 'p1 says: bearing noise on X'),
        note('p2', 'p2 says: X is leaking'),
      ]);
      await kp.disconnect();
      const count = async (asset: string) =>
        Number(
          (
            await c.query('SELECT coalesce(sum(cardinality(v)), 0) AS n FROM readings WHERE asset = $1', [
              asset,
            ])
          ).rows[0].n,
        );
      await waitFor(
        'both assets windowed',
        async () => (await count('X')) >= N && (await count('Y')) >= N,
        120_000,
        500,
      );
      const dead = await readTopic(
        kafka.brokers,
        topics.deadLetter,
        (read) => read.length >= N + 2,
        60_000,
        logger,
      );
      t.diagnostic(
        `X: ${await count('X')} samples stored, Y: ${await count('Y')}; ${dead.length} dead letters`,
      );

      // The owner's asset holds exactly its own samples; the other plant's went to the dead-letter topic.
      assert.equal(await count('X'), N);
      assert.equal(await count('Y'), N);
      const signs = (
        await c.query(
          `SELECT asset, min(x) AS lo, max(x) AS hi FROM readings, unnest(v) x GROUP BY asset ORDER BY asset`,
        )
      ).rows;
      assert.ok(Number(signs[0].lo) > 0, "only p1's values under X");
      assert.ok(Number(signs[1].hi) < 0, "p2's values under Y");
      assert.equal(dead.length, N + 2, "p2's samples, frame and note for X, each dead-lettered once");
      const bySource = new Map<string, number>();
      for (const d of dead) {
        assert.equal(d.headers['tributary-error-code'], 'asset_of_other_plant');
        assert.match(d.headers['tributary-reason'], /asset "X" belongs to plant "p1", not "p2"/);
        assert.equal(JSON.parse(d.value!.toString()).plant, 'p2', 'the original bytes');
        bySource.set(
          d.headers['tributary-source-topic'],
          (bySource.get(d.headers['tributary-source-topic']) ?? 0) + 1,
        );
      }
      assert.deepEqual(Object.fromEntries(bySource), {
        [topics.sensors]: N,
        [topics.images]: 1,
        [topics.notes]: 1,
      });
      assert.deepEqual((await c.query('SELECT asset, plant FROM asset_owners ORDER BY asset')).rows, [
        { asset: 'X', plant: 'p1' },
        { asset: 'Y', plant: 'p2' },
      ]);
      assert.deepEqual((await c.query('SELECT plant, text FROM notes')).rows, [
        { plant: 'p1', text: 'p1 says: bearing noise on X' },
      ]);
      assert.equal(Number((await c.query(`SELECT count(*) AS n FROM images`)).rows[0].n), 0);

      // Keys scoped to one plant, through every route that takes an asset or a plant.
      const k1 = (await createApiKey(store.db, { name: 'p1', scopes: ['read'], plants: ['p1'] })).key;
      const k2 = (await createApiKey(store.db, { name: 'p2', scopes: ['read'], plants: ['p2'] })).key;
      const get = async (key: string, path: string) => {
        const r = await fetch(`${svc.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
        return {
          status: r.status,
          body: (await r.json().catch(() => null)) as Record<string, unknown> | null,
        };
      };
      const range = `from=${new Date(T0 - W).toISOString()}&to=${new Date(T0 + (N + 60) * 1000).toISOString()}`;
      const timeline = await get(k1, `/v1/assets/X/timeline?${range}`);
      assert.equal(timeline.status, 200);
      assert.deepEqual(
        (timeline.body!.notes as Array<{ text: string }>).map((n) => n.text),
        ['p1 says: bearing noise on X'],
        "p1 reads its note, not p2's",
      );
      // The other plant's asset answers exactly as an asset that does not exist.
      for (const [key, asset] of [
        [k1, 'Y'],
        [k2, 'X'],
      ]) {
        for (const path of [
          '/v1/assets/*',
          `/v1/assets/*/timeline?${range}`,
          '/v1/assets/*/frame.png',
          `/v1/anomalies?asset=*&${range}`,
          '/v1/alerts?asset=*',
        ]) {
          const [r, none] = [
            await get(key, path.replace('*', asset)),
            await get(key, path.replace('*', 'no-such')),
          ];
          assert.ok(
            r.status === 404 || (r.status === 200 && JSON.stringify(r.body).indexOf(`"${asset}"`) === -1),
            `${path} with the other plant's key: ${r.status} ${JSON.stringify(r.body)}`,
          );
          assert.equal(r.status, none.status, path);
          assert.equal(
            JSON.stringify(r.body).replaceAll(asset, '?'),
            JSON.stringify(none.body).replaceAll('no-such', '?'),
            path,
          );
        }
      }
      assert.equal((await get(k2, `/v1/assets/Y`)).status, 200);
      const list = async (key: string) =>
        ((await get(key, '/v1/assets')).body!.assets as Array<{ asset: string; plant: string }>).map(
          (a) => `${a.plant}/${a.asset}`,
        );
      assert.deepEqual(await list(k1), ['p1/X']);
      assert.deepEqual(await list(k2), ['p2/Y']);
      const plants = async (key: string) =>
        ((await get(key, '/v1/plants')).body!.plants as Array<{ plant: string }>).map((p) => p.plant);
      assert.deepEqual(await plants(k1), ['p1']);
      assert.deepEqual(await plants(k2), ['p2']);
      const anomalies = await get(k2, `/v1/anomalies?${range}`);
      assert.equal(anomalies.status, 200);
      assert.ok(
        JSON.stringify(anomalies.body).indexOf('"X"') === -1,
        "p2's plant-wide anomaly query holds nothing of X",
      );
    } finally {
      await kp.disconnect().catch(() => undefined);
      await c.end().catch(() => undefined);
      await store.close();
      await svc.kill('SIGTERM');
      await db.drop();
    }
  },
);
