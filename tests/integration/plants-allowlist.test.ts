/**
 * `plants` in the configuration limits which plants are accepted (issue 19): a record of another
 * plant is dead-lettered with the reason, the configured plant's records are windowed as before.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createPipeline } from '../../pipeline/index.js';
import { Config, type Modality } from '../../schemas/index.js';
import { openStore } from '../../store/index.js';
import { asMessages, testAlign } from '../helpers/pipeline.js';

const T0 = Date.UTC(2026, 10, 1);
const topics: Record<Modality, string> = { sensors: 's', images: 'i', notes: 'n' };

test('a record of a plant not in `plants` is dead-lettered with its reason; the configured plant is windowed', async () => {
  const cfg = Config.parse({
    database: { dataDir: ':memory:' },
    plants: ['p1'],
    align: testAlign,
    scorer: { kind: 'baseline', referenceWindows: 3 },
  });
  const store = await openStore(cfg.database);
  try {
    const clock = { t: T0 };
    const p = createPipeline({
      cfg,
      db: store.db,
      logger: pino({ level: 'silent' }),
      deadLetter: null,
      topics,
      now: () => clock.t,
    });
    const rec = (plant: string, k: number) => ({
      v: 1,
      plant,
      asset: 'pump-01',
      device: 'd',
      seq: k,
      ts: T0 + k * 1000,
      values: { x: k },
    });
    const records = Array.from({ length: 60 }, (_, k) => rec(k % 10 === 5 ? 'p2' : 'p1', k));
    await p.handle({
      partitionKey: 'p0',
      partition: 0,
      modality: 'sensors',
      topic: 's',
      messages: asMessages(records),
    });
    // The input then goes quiet: the idle tick fires what is left (there is no camera).
    clock.t += 31_000;
    await p.tick();
    const dead = (
      await store.db.query<{ code: string; reason: string }>('SELECT code, reason FROM dead_letters')
    ).rows;
    assert.equal(dead.length, 6);
    assert.ok(
      dead.every(
        (d) =>
          d.code === 'unknown_plant' && /plant "p2" is not among the configured plants \(p1\)/.test(d.reason),
      ),
    );
    const n = Number(
      (await store.db.query<{ n: string }>('SELECT coalesce(sum(cardinality(v)), 0) AS n FROM readings'))
        .rows[0].n,
    );
    assert.ok(n >= 40 && n <= 54, `p1's samples windowed (${n})`);
  } finally {
    await store.close();
  }
});
