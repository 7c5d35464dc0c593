/**
 * Several instances in one consumer group on a real broker and the PostgreSQL server, one killed with
 * SIGKILL mid-stream: the survivors take its partitions (restoring their checkpoints and replaying from the
 * committed offsets), and the stored score rows and alerts equal those of one undisturbed instance.
 * This test found that a partition kept across a rebalance was replayed from its (held-back) committed
 * offset into windows that still held those samples: state is now restored on every rebalance.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createKafkaIngest } from '../../ingest/index.js';
import { Config, type ConfigInput } from '../../schemas/index.js';
import { generate, simplePlan } from '../../sim/index.js';
import { publishPlan, uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor, type RunningService } from '../helpers/service.js';
import { tcpProxy } from '../helpers/proxy.js';
import { decided, snapshot, type Snapshot } from '../helpers/snapshot.js';

const logger = pino({ level: 'silent' });
const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 22, 9) / W) * W;
const T_END = T0 + 60 * W;
const MID = T0 + 30 * W + 4_000;
const ASSETS = 6;
const plan = simplePlan({
  seed: 21,
  assets: ASSETS,
  sampleMs: 1000,
  imageMs: W,
  noteMs: 120_000,
  fault: { asset: 4, onsetMs: T0 + 25 * W, fullMs: T0 + 45 * W },
});
const align = { windowMs: W, outOfOrdernessMs: 2000, allowedLatenessMs: 3000, idleTimeoutMs: 30_000 };

let kafka: TestKafka;
const cleanups: Array<() => Promise<unknown>> = [];
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await kafka?.stop();
});

/** Windows the watermark closes per asset: end ≤ min(last sample, last frame) − out-of-orderness. */
function expectedScores(): number {
  const all = generate(plan, T0, T_END);
  let n = 0;
  for (let a = 0; a < ASSETS; a++) {
    const id = `pump-${String(a + 1).padStart(2, '0')}`;
    const wm =
      Math.min(
        Math.max(...all.sensors.filter((s) => s.asset === id).map((s) => s.ts)),
        Math.max(...all.images.filter((s) => s.asset === id).map((s) => s.ts)),
      ) - align.outOfOrdernessMs;
    n += Math.floor((wm - T0) / W);
  }
  return n;
}

async function topics(name: string) {
  const prefix = uniqueName(name);
  const t = {
    sensors: `${prefix}.sensors`,
    images: `${prefix}.images`,
    notes: `${prefix}.notes`,
    deadLetter: `${prefix}.dlq`,
  };
  await createKafkaIngest(
    Config.parse({ kafka: { brokers: kafka.brokers, topics: t, partitions: 3 } }).kafka,
    logger,
  ).ensureTopics();
  return t;
}
const publish = (t: { sensors: string; images: string; notes: string }, from: number, to: number) =>
  publishPlan(kafka.brokers, t, plan, from, to);
const config = (t: Awaited<ReturnType<typeof topics>>, db: string, group: string): ConfigInput => ({
  kafka: { brokers: kafka.brokers, topics: t, partitions: 3, groupId: group, sessionTimeoutMs: 6_000 },
  database: { url: db, poolSize: 2 },
  align,
  scorer: { kind: 'baseline', referenceWindows: 10 },
  api: { port: 0 },
  sim: { enabled: false },
  log: { level: 'info' },
});
async function start(cfg: ConfigInput): Promise<RunningService> {
  const s = await startServiceProcess(cfg);
  cleanups.push(() => s.kill('SIGKILL'));
  return s;
}
const scored = async (url: string) => (await snapshot(url)).scores.length;

let reference: Snapshot | null = null;
const total = expectedScores();

test('one undisturbed instance: the reference', { timeout: 180_000 }, async () => {
  const t = await topics('ref');
  await publish(t, T0, T_END);
  const db = await createTestDatabase('ref');
  cleanups.push(() => db.drop());
  const svc = await start(config(t, db.url, uniqueName('g')));
  await waitFor('every closed window scored', async () => (await scored(db.url)) >= total, 120_000, 100);
  await new Promise((r) => setTimeout(r, 1000));
  reference = await snapshot(db.url);
  await svc.kill('SIGTERM');
  assert.equal(reference.scores.length, total);
  assert.equal(reference.alerts.length, 1, 'the faulty pump alerts');
  assert.equal(reference.alerts[0].asset, 'pump-05');
});

test(
  'one instance killed with SIGKILL four times during the stream: the final rows and alerts are identical',
  { timeout: 300_000 },
  async (t) => {
    assert.ok(reference, 'needs the reference run');
    const tp = await topics('kill4');
    const db = await createTestDatabase('kill4');
    cleanups.push(() => db.drop());
    const cfg = config(tp, db.url, uniqueName('g'));
    // The stream arrives in four parts; each life is killed as soon as its part's windows start being stored.
    const cuts = [T0, T0 + 15 * W + 4_000, T0 + 30 * W + 4_000, T0 + 45 * W + 4_000, T_END];
    const kills: number[] = [];
    for (let part = 0; part < 4; part++) {
      await publish(tp, cuts[part], cuts[part + 1]);
      const life = await start(cfg);
      const before = await scored(db.url);
      if (part < 3) {
        await waitFor(
          `life ${part + 1} storing windows`,
          async () => (await scored(db.url)) > before,
          120_000,
          20,
        );
        await life.kill('SIGKILL');
        kills.push(await scored(db.url));
      } else {
        await waitFor(
          'every closed window scored by the last life',
          async () => (await scored(db.url)) >= total,
          150_000,
          200,
        ).catch(async (e) => {
          const snap = await snapshot(db.url);
          const missing = reference!.scores
            .filter((r) => !snap.scores.some((x) => x.asset === r.asset && x.ws === r.ws))
            .map((r) => `${r.asset}@${(r.ws - T0) / W}`);
          t.diagnostic(
            `scored ${snap.scores.length} of ${total}; missing ${missing.join(' ')}; logs ${JSON.stringify(life.logs.filter((x) => /restored|replay/i.test(String(x.msg))).map((x) => [x.msg, x.partition, x.processed]))}`,
          );
          throw e;
        });
        await new Promise((r) => setTimeout(r, 1000));
        await life.kill('SIGTERM');
      }
    }
    const snap = await snapshot(db.url);
    t.diagnostic(
      `killed at ${kills.join(', ')} of ${total} windows; compared ${snap.scores.length} windows and ${snap.alerts.length} alert`,
    );
    assert.equal(snap.duplicates, 0);
    assert.equal(snap.scores.length, reference!.scores.length);
    assert.deepEqual(decided(snap.scores), decided(reference!.scores));
    assert.deepEqual(snap.alerts, reference!.alerts);
  },
);

for (const n of [2, 3]) {
  test(
    `${n} instances, one killed mid-stream: the survivors take its partitions and the result is identical`,
    { timeout: 240_000 },
    async (t) => {
      assert.ok(reference, 'needs the reference run');
      const tp = await topics(`x${n}`);
      await publish(tp, T0, MID);
      const db = await createTestDatabase(`x${n}`);
      cleanups.push(() => db.drop());
      const cfg = config(tp, db.url, uniqueName('g'));
      const lives: RunningService[] = [];
      for (let i = 0; i < n; i++) lives.push(await start(cfg));
      await waitFor(
        'the first half being scored',
        async () => (await scored(db.url)) > total / 6,
        120_000,
        100,
      );
      const victim = lives[0];
      await victim.kill('SIGKILL');
      const atKill = await scored(db.url);
      t.diagnostic(`killed one of ${n} with ${atKill} of ${total} windows scored`);
      await publish(tp, MID, T_END);
      await waitFor(
        'every closed window scored by the survivors',
        async () => (await scored(db.url)) >= total,
        150_000,
        200,
      ).catch(async (e) => {
        t.diagnostic(`scored ${await scored(db.url)} of ${total}`);
        throw e;
      });
      await new Promise((r) => setTimeout(r, 1000));
      const snap = await snapshot(db.url);
      const dupWindows = snap.scores.filter((x) => x.quality.duplicates > 0);
      if (dupWindows.length)
        t.diagnostic(
          `windows with duplicates: ${JSON.stringify(dupWindows.map((x) => [x.asset, new Date(x.ws).toISOString().slice(11, 19), x.quality.duplicates, x.revision]))}; logs ${JSON.stringify(lives.map((l) => l.logs.filter((x) => /restored|assign|join|rebalanc/i.test(String(x.msg))).map((x) => x.msg + ' ' + JSON.stringify(x.partition ?? x.processed ?? ''))))}`,
        );
      assert.equal(snap.duplicates, 0);
      assert.equal(snap.scores.length, reference!.scores.length);
      assert.deepEqual(decided(snap.scores), decided(reference!.scores));
      assert.deepEqual(snap.alerts, reference!.alerts);
      const took = lives
        .slice(1)
        .some((l) => l.logs.some((x) => x.msg === 'restored checkpoint; replaying open windows'));
      t.diagnostic(
        `compared ${snap.scores.length} windows and ${snap.alerts.length} alert; a survivor restored a checkpoint: ${took}`,
      );
      for (const l of lives.slice(1)) await l.kill('SIGTERM');
    },
  );
}

test(
  'PostgreSQL unreachable for 60 s mid-stream: the service waits, readiness says so, nothing is lost',
  { timeout: 240_000 },
  async (t) => {
    assert.ok(reference, 'needs the reference run');
    const tp = await topics('pgdown');
    await publish(tp, T0, MID);
    const db = await createTestDatabase('pgdown');
    cleanups.push(() => db.drop());
    const direct = new URL(db.url);
    const proxy = await tcpProxy(direct.hostname, Number(direct.port || 5432));
    cleanups.push(() => proxy.close());
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const svc = await start(config(tp, viaProxy.toString(), uniqueName('g')));
    await waitFor(
      'the first half scored',
      async () => (await scored(db.url)) >= total / 2 - ASSETS,
      120_000,
      100,
    );
    await proxy.cut();
    const cutAt = Date.now();
    await publish(tp, MID, T_END);
    await waitFor(
      'readiness reports the database',
      async () => (await fetch(`${svc.url}/readyz`)).status === 503,
      30_000,
      200,
    );
    const body = (await (await fetch(`${svc.url}/readyz`)).json()) as { checks: Record<string, boolean> };
    assert.equal(body.checks.database, false);
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200, 'alive all the while');
    await new Promise((r) => setTimeout(r, Math.max(0, 60_000 - (Date.now() - cutAt))));
    const during = await scored(db.url);
    await proxy.restore();
    t.diagnostic(
      `database cut for ${Math.round((Date.now() - cutAt) / 1000)} s with ${during} of ${total} windows stored`,
    );
    await waitFor(
      'every closed window scored after the database returned',
      async () => (await scored(db.url)) >= total,
      120_000,
      200,
    ).catch((e) => {
      const warn = svc.logs
        .filter((l) => Number(l.level) >= 40)
        .map(({ time, hostname, pid, service, ...rest }) => JSON.stringify(rest).slice(0, 300));
      t.diagnostic(
        `scored ${during}+; warnings: ${warn.slice(0, 6).join(' | ')} … ${warn.slice(-8).join(' | ')}`,
      );
      throw e;
    });
    await waitFor('ready again', async () => (await fetch(`${svc.url}/readyz`)).status === 200, 30_000, 200);
    await new Promise((r) => setTimeout(r, 1000));
    const snap = await snapshot(db.url);
    assert.equal(snap.duplicates, 0);
    assert.deepEqual(decided(snap.scores), decided(reference!.scores));
    assert.deepEqual(snap.alerts, reference!.alerts);
    assert.ok(
      svc.logs.some((l) => /failed; retrying/.test(String(l.msg))),
      'it waited and retried',
    );
    // Back-pressure: the waiting partitions stopped fetching and started again once the writes went through.
    const paused = svc.logs
      .filter((l) => /failing: partition paused/.test(String(l.msg)))
      .map((l) => l.partition);
    const resumed = svc.logs
      .filter((l) => /through: partition resumed/.test(String(l.msg)))
      .map((l) => l.partition);
    assert.ok(paused.length > 0, 'partitions paused during the outage');
    assert.deepEqual(
      [...new Set(resumed)].sort(),
      [...new Set(paused)].sort(),
      'every paused partition resumed',
    );
    await svc.kill('SIGTERM');
  },
);
