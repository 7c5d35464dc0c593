/**
 * 10 000 fuzzed records among good ones, through a real broker into the service and the PostgreSQL server:
 * random bytes, truncated JSON, wrong types, huge values, NaN, dates far in the future or the past,
 * records whose key names another asset. No crash; every fuzzed record in the dead-letter topic with a
 * reason; every window of the good records scored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createKafkaIngest, createRecordProducer, readTopic } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { startService } from '../../service.js';
import { generate, Rng, simplePlan } from '../../sim/index.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { waitFor } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 24, 6) / W) * W;

/** A fuzzed value: invalid by construction, of one of the kinds above. */
function fuzz(r: Rng, good: string, i: number): { key: string | null; value: Buffer; kind: string } {
  const base = JSON.parse(good) as Record<string, unknown>;
  const kinds = ['bytes', 'truncated', 'type', 'huge', 'nan', 'future', 'past', 'key', 'empty', 'nested'];
  const kind = kinds[i % kinds.length];
  const asJson = (o: unknown) => Buffer.from(JSON.stringify(o));
  switch (kind) {
    case 'bytes':
      return { key: 'pump-01', value: randomBytes(1 + r.int(300)), kind };
    case 'truncated':
      return { key: 'pump-01', value: Buffer.from(good.slice(0, 1 + r.int(good.length - 2))), kind };
    case 'type':
      return {
        key: 'pump-01',
        value: asJson({ ...base, values: { vib_rms: 'loud' }, ts: 'yesterday' }),
        kind,
      };
    case 'huge':
      return {
        key: 'pump-01',
        value: Buffer.from(good.replace(/"vib_rms":[0-9.e-]+/, '"vib_rms":1e400')),
        kind,
      };
    case 'nan':
      return {
        key: 'pump-01',
        value: Buffer.from(good.replace(/"vib_rms":[0-9.e-]+/, '"vib_rms":NaN')),
        kind,
      };
    case 'future':
      return { key: 'pump-01', value: asJson({ ...base, ts: Date.UTC(2200, 0, 1) }), kind };
    case 'past':
      return { key: 'pump-01', value: asJson({ ...base, ts: -86_400_000 }), kind };
    case 'key':
      return { key: `pump-${90 + r.int(9)}`, value: Buffer.from(good), kind };
    case 'empty':
      return { key: 'pump-01', value: Buffer.alloc(0), kind };
    default:
      return { key: 'pump-01', value: asJson({ ...base, values: { vib_rms: { deep: [1, 2, 3] } } }), kind };
  }
}

test(
  '10 000 fuzzed records: no crash, every one dead-lettered with a reason, the good records around them all scored',
  { timeout: 300_000 },
  async () => {
    const db = await createTestDatabase('fuzz');
    const prefix = uniqueName('fuzz');
    const topics = {
      sensors: `${prefix}.sensors`,
      images: `${prefix}.images`,
      notes: `${prefix}.notes`,
      deadLetter: `${prefix}.dlq`,
    };
    const cfg = Config.parse({
      kafka: { brokers: kafka.brokers, groupId: `${prefix}-g`, topics, partitions: 2 },
      database: { url: db.url, poolSize: 2 },
      align: { windowMs: W, outOfOrdernessMs: 2000, allowedLatenessMs: 3000 },
      scorer: { kind: 'baseline', referenceWindows: 5 },
      api: { port: 0 },
      sim: { enabled: false },
      log: { level: 'silent' },
    });
    await createKafkaIngest(cfg.kafka, logger).ensureTopics();
    const plan = simplePlan({ seed: 4, assets: 2, sampleMs: 1000, imageMs: W, noteMs: 120_000 });
    const recs = generate(plan, T0, T0 + 30 * W);
    const r = new Rng(42);
    const good = recs.sensors.map((x) => ({ key: x.asset, value: Buffer.from(JSON.stringify(x)) }));
    const bad = Array.from({ length: 10_000 }, (_, i) =>
      fuzz(r, JSON.stringify(recs.sensors[i % recs.sensors.length]), i),
    );
    // Interleave: about 17 bad records between consecutive good ones, in event-time order of the good.
    const mixed: Array<{ key: string | null; value: Buffer }> = [];
    let b = 0;
    for (const g of good) {
      const n = Math.round(
        (bad.length - b) / (good.length - mixed.filter((m) => !('kind' in m)).length || 1),
      );
      for (let k = 0; k < n && b < bad.length; k++) mixed.push(bad[b++]);
      mixed.push(g);
    }
    while (b < bad.length) mixed.push(bad[b++]);
    const p = await createRecordProducer(kafka.brokers, logger);
    await p.send(
      topics.images,
      recs.images.map((x) => ({ key: x.asset, value: JSON.stringify(x) })),
    );
    await p.send(
      topics.notes,
      recs.notes.map((x) => ({ key: x.asset ?? null, value: JSON.stringify(x) })),
    );
    for (let i = 0; i < mixed.length; i += 1000) {
      await p.send(
        topics.sensors,
        mixed.slice(i, i + 1000).map((m) => ({ key: m.key, value: m.value as unknown as string })),
      );
    }
    await p.close();

    const svc = await startService(
      cfg,
      pino({ level: process.env.FUZZ_LOG ?? 'silent' }, pino.destination(2)),
    );
    try {
      // Windows the watermark closes: end ≤ min(last sample, last frame) − out-of-orderness.
      const wm =
        Math.min(Math.max(...recs.sensors.map((x) => x.ts)), Math.max(...recs.images.map((x) => x.ts))) -
        2000;
      const closed = Math.floor((wm - T0) / W);
      await waitFor(
        'every closed window scored',
        async () => {
          const n = (
            await svc.store.db.query<{ n: number }>(
              `SELECT count(DISTINCT (asset, window_start))::int AS n FROM scores`,
            )
          ).rows[0].n;
          return n >= 2 * closed;
        },
        120_000,
        250,
      ).catch(async (e) => {
        const rows = (
          await svc.store.db.query(
            `SELECT asset, count(*)::int AS n, max(window_start) AS last FROM scores GROUP BY asset`,
          )
        ).rows;
        const late = (
          await svc.store.db.query(`SELECT reason, count(*)::int AS n FROM late_records GROUP BY reason`)
        ).rows;
        throw new Error(
          `${(e as Error).message}: expected ${closed} per asset from ${new Date(T0).toISOString()}; scores ${JSON.stringify(rows)}; late ${JSON.stringify(late)}`,
        );
      });
      const perAsset = (
        await svc.store.db.query<{ asset: string; n: number }>(
          `SELECT asset, count(DISTINCT window_start)::int AS n FROM scores GROUP BY asset ORDER BY asset`,
        )
      ).rows;
      assert.deepEqual(
        perAsset,
        [
          { asset: 'pump-01', n: closed },
          { asset: 'pump-02', n: closed },
        ],
        'only the real assets, every window',
      );
      const samples = (
        await svc.store.db.query<{ n: number }>(
          `SELECT coalesce(sum((quality->>'samples')::int), 0)::int AS n FROM scores WHERE revision = 0`,
        )
      ).rows[0].n;
      assert.equal(
        samples,
        2 * closed * 10 * Object.keys(recs.sensors[0].values).length,
        'every good sample (value per channel) in its window, no fuzzed one',
      );
      const health = await fetch(`${svc.apiUrl}/healthz`);
      assert.equal(health.status, 200, 'still alive');

      const offsets = (read: Array<{ headers: Record<string, string> }>) =>
        new Set(
          read.map(
            (d) => `${d.headers['tributary-source-partition']}:${d.headers['tributary-source-offset']}`,
          ),
        );
      const dead = await readTopic(
        kafka.brokers,
        topics.deadLetter,
        (read) => offsets(read).size >= bad.length,
        120_000,
        logger,
      );
      assert.equal(offsets(dead).size, bad.length, 'every fuzzed record dead-lettered (at least once)');
      const codes = new Map<string, number>();
      for (const d of dead) {
        assert.ok((d.headers['tributary-reason'] ?? '').length > 3, 'with a reason');
        codes.set(d.headers['tributary-error-code'], (codes.get(d.headers['tributary-error-code']) ?? 0) + 1);
      }
      for (const c of ['invalid_json', 'invalid_record', 'key_mismatch', 'empty'])
        assert.ok((codes.get(c) ?? 0) > 0, `code ${c}`);
      // The original bytes come back unchanged.
      const sample = dead.find((d) => d.headers['tributary-error-code'] === 'invalid_json');
      assert.ok(sample && bad.some((x) => x.value.equals(sample.value!)));
      process.stdout.write(`# dead letters by code: ${JSON.stringify(Object.fromEntries(codes))}\n`);
    } finally {
      await svc.stop();
      await db.drop();
    }
  },
);
