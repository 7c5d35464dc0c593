/**
 * The broker stopped mid-stream and restarted on its kept state: the service waits (kafkajs reconnects),
 * readiness reports the lost consumer, and afterwards every window is scored exactly as without the stop.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createKafkaIngest } from '../../ingest/index.js';
import { Config, type ConfigInput } from '../../schemas/index.js';
import { simplePlan } from '../../sim/index.js';
import { ownKafka, publishPlan, uniqueName } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor, type RunningService } from '../helpers/service.js';
import { decided, snapshot } from '../helpers/snapshot.js';

const logger = pino({ level: 'silent' });
const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 21, 15) / W) * W;
const T_END = T0 + 40 * W;
const MID = T0 + 20 * W + 4_000;
const plan = simplePlan({
  seed: 8,
  assets: 3,
  sampleMs: 1000,
  imageMs: W,
  noteMs: 120_000,
  fault: { asset: 1, onsetMs: T0 + 15 * W, fullMs: T0 + 30 * W },
});

let kafka: Awaited<ReturnType<typeof ownKafka>>;
const cleanups: Array<() => Promise<unknown>> = [];
before(async () => {
  kafka = await ownKafka();
});
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await kafka?.stop();
});

async function run(
  name: string,
  disturb: (svc: RunningService, publishRest: () => Promise<void>) => Promise<void>,
) {
  const prefix = uniqueName(name);
  const t = {
    sensors: `${prefix}.sensors`,
    images: `${prefix}.images`,
    notes: `${prefix}.notes`,
    deadLetter: `${prefix}.dlq`,
  };
  await createKafkaIngest(
    Config.parse({ kafka: { brokers: kafka.brokers, topics: t, partitions: 2 } }).kafka,
    logger,
  ).ensureTopics();
  const publish = (from: number, to: number) => publishPlan(kafka.brokers, t, plan, from, to);
  await publish(T0, MID);
  const db = await createTestDatabase(name);
  cleanups.push(() => db.drop());
  const cfg: ConfigInput = {
    kafka: {
      brokers: kafka.brokers,
      topics: t,
      partitions: 2,
      groupId: uniqueName('g'),
      sessionTimeoutMs: 10_000,
    },
    database: { url: db.url, poolSize: 2 },
    align: { windowMs: W, outOfOrdernessMs: 2000, allowedLatenessMs: 3000 },
    scorer: { kind: 'baseline', referenceWindows: 8 },
    api: { port: 0 },
    sim: { enabled: false },
    log: { level: 'info' },
  };
  const svc = await startServiceProcess(cfg);
  cleanups.push(() => svc.kill('SIGKILL'));
  const firstHalf = 3 * Math.floor((MID - 2000 - 4000 - T0) / W);
  await waitFor(
    'the first half scored',
    async () => (await snapshot(db.url)).scores.length >= firstHalf,
    120_000,
    100,
  );
  await disturb(svc, () => publish(MID, T_END));
  const total = 3 * Math.floor((T_END - W - 2000 - T0) / W);
  await waitFor(
    'every closed window scored',
    async () => (await snapshot(db.url)).scores.length >= total,
    180_000,
    200,
  );
  await new Promise((r) => setTimeout(r, 1000));
  const snap = await snapshot(db.url);
  await svc.kill('SIGTERM');
  return snap;
}

test(
  'broker stopped and restarted mid-stream: the service waits and loses nothing',
  { timeout: 420_000 },
  async (t) => {
    const reference = await run('brkref', async (_svc, rest) => {
      await rest();
    });
    const disturbed = await run('brkstop', async (svc, rest) => {
      kafka.halt();
      const down = Date.now();
      // kafkajs reports the lost broker (a consumer crash) only after its retries, which can take over a minute.
      await waitFor(
        'readiness reports the consumer',
        async () => (await fetch(`${svc.url}/readyz`)).status === 503,
        150_000,
        500,
      );
      assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
      await new Promise((r) => setTimeout(r, Math.max(0, 15_000 - (Date.now() - down))));
      kafka.resume();
      t.diagnostic(`broker down for ${Math.round((Date.now() - down) / 1000)} s`);
      await rest();
      await waitFor(
        'ready again',
        async () => (await fetch(`${svc.url}/readyz`)).status === 200,
        120_000,
        500,
      );
    });
    assert.equal(disturbed.duplicates, 0);
    assert.equal(disturbed.scores.length, reference.scores.length);
    assert.deepEqual(decided(disturbed.scores), decided(reference.scores));
    assert.deepEqual(disturbed.alerts, reference.alerts);
    t.diagnostic(`compared ${disturbed.scores.length} windows and ${disturbed.alerts.length} alert(s)`);
  },
);
