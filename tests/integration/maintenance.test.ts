/**
 * Maintenance windows (issue 22): made through the HTTP API of a running service, they keep an asset's
 * windows from its alert rules while the windows are still scored and stored, flagged with the window's
 * id; the same fault on an asset not in maintenance alerts. Bad bodies get a 400 naming the field, a key
 * of another plant a 403. On the real broker and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { pino } from 'pino';
import { createTopics } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { createApiKey, openStore } from '../../store/index.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor, withKey } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 24, 6) / W) * W;
const N = 600; // 10 minutes of 1-s samples per asset
const FAULT = 400; // from sample 400 on, both pumps vibrate far above anything before

let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

test(
  "a maintenance window made through the API silences its asset's alerts; the windows are scored and flagged",
  { timeout: 240_000 },
  async () => {
    const prefix = uniqueName('maint');
    const topics = {
      sensors: `${prefix}.sensors`,
      images: `${prefix}.images`,
      notes: `${prefix}.notes`,
      deadLetter: `${prefix}.dlq`,
    };
    const kafkaCfg = { brokers: kafka.brokers, topics, groupId: uniqueName('g'), partitions: 2 };
    await createTopics(Config.parse({ kafka: kafkaCfg }).kafka, { partitions: 2 }, logger);
    const db = await createTestDatabase('maint');
    const svc = await startServiceProcess({
      kafka: kafkaCfg,
      database: { url: db.url, poolSize: 2 },
      align: { windowMs: W, idleTimeoutMs: 3_000 },
      scorer: { kind: 'baseline', referenceWindows: 20 },
      api: { port: 0 },
      sim: { enabled: false },
    });
    const c = new pg.Client({ connectionString: db.url });
    const store = await openStore(Config.parse({ database: { url: db.url, poolSize: 1 } }).database);
    const kp = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer();
    try {
      await c.connect();
      const post = (path: string, body: unknown, init: RequestInit = withKey()) =>
        fetch(`${svc.url}${path}`, {
          ...init,
          method: 'POST',
          headers: { ...(init.headers as Record<string, string>), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const iso = (ms: number) => new Date(ms).toISOString();
      const body = {
        plant: 'p1',
        asset: 'pump-A',
        from: iso(T0 + (FAULT - 60) * 1000),
        to: iso(T0 + N * 1000 + 60_000),
        reason: 'bearing replacement',
        by: 'j.doe',
      };

      // Bad bodies name the field; another plant's key is refused.
      const bad = await post('/v1/maintenance', { ...body, to: body.from });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(await bad.json()), /"to"/);
      const extra = await post('/v1/maintenance', { ...body, colour: 'red' });
      assert.equal(extra.status, 400);
      assert.match(JSON.stringify(await extra.json()), /colour/);
      const other = (await createApiKey(store.db, { name: 'p2 writer', scopes: ['write'], plants: ['p2'] }))
        .key;
      assert.equal(
        (await post('/v1/maintenance', body, { headers: { authorization: `Bearer ${other}` } })).status,
        403,
      );

      const made = await post('/v1/maintenance', body);
      assert.equal(made.status, 201);
      const mw = (
        (await made.json()) as {
          maintenance: { id: string; asset: string; reason: string; createdBy: string };
        }
      ).maintenance;
      assert.equal(mw.asset, 'pump-A');
      assert.equal(mw.createdBy, 'j.doe');
      const listed = (await (await fetch(`${svc.url}/v1/maintenance?asset=pump-A`, withKey())).json()) as {
        maintenance: Array<{ id: string }>;
      };
      assert.deepEqual(
        listed.maintenance.map((m) => m.id),
        [mw.id],
      );
      const hidden = (await (
        await fetch(`${svc.url}/v1/maintenance`, { headers: { authorization: `Bearer ${other}` } })
      ).json()) as { count: number };
      assert.equal(hidden.count, 0, "another plant's key sees none of p1's windows");

      // Two pumps, the same fault; only pump-A is in maintenance.
      await kp.connect();
      const sample = (asset: string, k: number) => ({
        v: 1,
        plant: 'p1',
        asset,
        device: `${asset}-d`,
        seq: k,
        ts: T0 + k * 1000,
        values: { vib: (k >= FAULT ? 9 : 1) + 0.05 * Math.sin(k * 1.7) + 0.03 * ((k * 7919) % 13) },
      });
      for (let k = 0; k < N; k += 100) {
        await kp.send({
          topic: topics.sensors,
          acks: -1,
          messages: ['pump-A', 'pump-B'].flatMap((a) =>
            Array.from({ length: 100 }, (_, i) => ({ key: a, value: JSON.stringify(sample(a, k + i)) })),
          ),
        });
      }
      const scored = async (asset: string) =>
        Number(
          (
            await c.query(`SELECT count(*)::int AS n FROM scores WHERE asset = $1 AND status = 'scored'`, [
              asset,
            ])
          ).rows[0].n,
        );
      await waitFor(
        'both pumps scored to the end',
        async () => (await scored('pump-A')) >= N / 10 - 21 && (await scored('pump-B')) >= N / 10 - 21,
        120_000,
        500,
      );
      await waitFor(
        'pump-B alerted',
        async () =>
          (await c.query(`SELECT 1 FROM alerts WHERE asset = 'pump-B' AND kind = 'anomaly'`)).rows.length > 0,
        30_000,
        500,
      );

      const alertsA = (await c.query(`SELECT id FROM alerts WHERE asset = 'pump-A' AND kind = 'anomaly'`))
        .rows;
      assert.deepEqual(alertsA, [], 'no anomaly alert for the asset in maintenance');
      const flagged = (
        await c.query<{ n: number; high: number }>(
          `
      SELECT count(*)::int AS n, count(*) FILTER (WHERE score >= 6)::int AS high FROM scores
       WHERE asset = 'pump-A' AND explanation->>'maintenance' = $1`,
          [mw.id],
        )
      ).rows[0];
      assert.ok(
        flagged.n >= 20 && flagged.high >= 10,
        `pump-A's windows in maintenance are scored and flagged: ${JSON.stringify(flagged)}`,
      );
      const outside = Number(
        (
          await c.query(
            `SELECT count(*)::int AS n FROM scores WHERE asset = 'pump-A' AND window_end <= $1 AND explanation ? 'maintenance'`,
            [body.from],
          )
        ).rows[0].n,
      );
      assert.equal(outside, 0, 'windows before the maintenance window are not flagged');

      // Ended early: it ends now (in the past of the request) and says so.
      const ended = await post(`/v1/maintenance/${mw.id}/end`, { by: 'j.doe' });
      assert.equal(ended.status, 200);
      const e = ((await ended.json()) as { maintenance: { to: number } }).maintenance;
      assert.ok(e.to <= Date.now() && e.to >= Date.parse(body.from));
      assert.equal((await post('/v1/maintenance/mw_nope/end', {})).status, 404);
    } finally {
      await kp.disconnect().catch(() => undefined);
      await c.end().catch(() => undefined);
      await store.close();
      await svc.kill('SIGTERM');
      await db.drop();
    }
  },
);
