import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { runEndToEnd } from '../../eval/index.js';
import { parseScenario } from '../../sim/index.js';
import { useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';

let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

test(
  'the harness end to end: Kafka and PostgreSQL score every window exactly as the in-process run does',
  { timeout: 300_000 },
  async () => {
    const db = await createTestDatabase('evale2e');
    try {
      const scenario = parseScenario({
        name: 'e2e',
        start: '2026-05-04T00:00:00Z',
        durationH: 2,
        imageMs: 20_000,
        plants: [{ id: 'p', assets: [{ id: 'a-1', aliases: ['first pump'] }, { id: 'a-2' }] }],
        faults: [{ asset: 'a-2', type: 'bearing_wear', onsetH: 0.8, failureH: 2, severity: 2 }],
        cycles: { setpointEveryH: 0, loadDaily: 0 },
        clocks: { offsetMs: 1500, driftPpm: 40 },
        network: { delayMs: 50, jitterMs: 150, duplicateRate: 0.01 },
        notes: { roundsPerDay: 96, textOnlyRate: 0.5 },
      });
      const r = await runEndToEnd(
        { scenario, seed: 3, split: 'test' },
        {
          brokers: kafka.brokers,
          databaseUrl: db.url,
          referenceWindows: 20,
          timeoutMs: 180_000,
          align: {
            windowMs: 60_000,
            outOfOrdernessMs: 3_000,
            allowedLatenessMs: 10_000,
            idleTimeoutMs: 5_000,
          },
        },
        pino({ level: 'silent' }),
      );
      assert.ok(r.published > 14_000, `${r.published} records`);
      assert.ok(r.compared >= 190, `${r.compared} windows compared`);
      assert.equal(r.identical, r.compared, 'the same score for every window');
      assert.equal(r.endToEnd.windows, r.inProcess.windows);
      assert.equal(r.endToEnd.aucRoc, r.inProcess.aucRoc);
      assert.equal(r.endToEnd.faultsDetected, 1);
      assert.ok(r.endToEnd.aucRoc > 0.9, `AUC ${r.endToEnd.aucRoc}`);
    } finally {
      await db.drop();
    }
  },
);
