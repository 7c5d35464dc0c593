/**
 * Fencing a zombie owner: an instance that lost a partition (a long pause, a network split) but does not
 * know it yet must not overwrite the new owner's checkpoint or write effects. Each owner claims an epoch
 * when it takes the partition; a batch commits only under the current epoch. On the PostgreSQL server
 * and on PGlite-TimescaleDB.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { IncomingMessage } from '../../ingest/index.js';
import { createPipeline, readCheckpoint } from '../../pipeline/index.js';
import { Config, type Modality } from '../../schemas/index.js';
import { generate, simplePlan } from '../../sim/index.js';
import { openStore, type Store } from '../../store/index.js';
import { createTestDatabase } from '../helpers/pg.js';
import { asMessages, testAlign, W } from '../helpers/pipeline.js';

const T0 = Date.UTC(2026, 10, 2);
const cfg = Config.parse({
  database: { dataDir: ':memory:' },
  align: testAlign,
  scorer: { kind: 'baseline', referenceWindows: 3 },
});
const topics: Record<Modality, string> = { sensors: 's', images: 'i', notes: 'n' };
const data = generate(simplePlan({ seed: 9, assets: 1, sampleMs: 1000, imageMs: W }), T0, T0 + 120_000);
const msgs = asMessages;
const S = msgs(data.sensors),
  I = msgs(data.images);

for (const backend of ['postgres', 'pglite'] as const) {
  describe(`fencing on ${backend}`, () => {
    let store: Store;
    let drop: (() => Promise<void>) | null = null;
    before(async () => {
      if (backend === 'postgres') {
        const db = await createTestDatabase('fence');
        drop = db.drop;
        store = await openStore({ ...cfg.database, url: db.url });
      } else store = await openStore(cfg.database);
    });
    after(async () => {
      await store?.close();
      await drop?.();
    });

    test("a zombie owner's batch is refused and writes nothing; the new owner's state stands", async () => {
      const logs: string[] = [];
      const logger = pino(
        { level: 'warn' },
        {
          write: (l: string) => {
            logs.push(l);
          },
        },
      );
      const feed = (p: ReturnType<typeof createPipeline>, m: Modality, xs: IncomingMessage[]) =>
        p.handle({ partitionKey: 'p0', partition: 0, modality: m, topic: topics[m], messages: xs });
      const zombie = createPipeline({ cfg, db: store.db, logger, deadLetter: null, topics });
      await feed(zombie, 'sensors', S.slice(0, 40));
      await feed(zombie, 'images', I.slice(0, 4));
      // The group gives the partition to another instance, which restores the zombie's checkpoint.
      const owner = createPipeline({ cfg, db: store.db, logger, deadLetter: null, topics });
      await feed(owner, 'sensors', S.slice(40, 80));
      await feed(owner, 'images', I.slice(4, 8));
      const state = async () => readCheckpoint(store.db, 'p0');
      const scores = async () =>
        (await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM scores')).rows[0].n;
      const ownerState = await state();
      const ownerScores = await scores();
      assert.ok(ownerScores > 0);
      // The zombie wakes up and carries on with what it had.
      await assert.rejects(feed(zombie, 'sensors', S.slice(40, 120)), /another instance owns it/);
      assert.deepEqual(await state(), ownerState, "the checkpoint is the owner's");
      assert.equal(await scores(), ownerScores, 'no effects from the zombie');
      assert.ok(logs.some((l) => /fenced: another instance took this partition/.test(l)));
      // The owner goes on undisturbed.
      await feed(owner, 'sensors', S.slice(80));
      await feed(owner, 'images', I.slice(8));
      assert.ok((await scores()) > ownerScores);
    });
  });
}
