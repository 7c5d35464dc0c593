/**
 * The whole path on a real Kafka broker and the real PostgreSQL server: a scripted multimodal sequence for
 * three assets (bearing wear on pump-03) plus malformed records goes through the service, which must
 * score every closed window, alert on pump-03 only, POST the alert to a real local HTTP server, and
 * dead-letter every malformed record with its reason and original bytes. The same input with the service
 * SIGKILLed mid-stream and restarted must end with identical score rows and alerts and no duplicates.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import {
  createKafkaIngest,
  createRecordProducer,
  readTopic,
  type RecordProducer,
} from '../../ingest/index.js';
import { Config, type ConfigInput } from '../../schemas/index.js';
import { generate, simplePlan } from '../../sim/index.js';
import { useKafka, uniqueName, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor, withKey } from '../helpers/service.js';
import { decided, snapshot } from '../helpers/snapshot.js';

const logger = pino({ level: 'silent' });
const W = 10_000;
const T0 = Math.floor(Date.UTC(2026, 10, 20, 8) / W) * W;
const WINDOWS = 50;
const T_END = T0 + WINDOWS * W;
/** The input is published in two parts split here. */
const MID = T0 + 27 * W + 4_000;
const SECRET = `whsec_${Buffer.from('tributary-integration-test-secret').toString('base64')}`;
const plant = simplePlan({
  seed: 11,
  assets: 3,
  sampleMs: 1000,
  imageMs: W,
  noteMs: 120_000,
  loadCycle: 0,
  fault: { asset: 2, onsetMs: T0 + 25 * W, fullMs: T0 + 40 * W },
});
const align = { windowMs: W, outOfOrdernessMs: 2000, allowedLatenessMs: 3000, idleTimeoutMs: 30_000 };

/** Fired windows per the watermark contract: end ≤ min(last sensor, last image) − out-of-orderness. */
function expectedWindows(upTo: number): number[] {
  const all = generate(plant, T0, upTo);
  const lastSensor = Math.max(...all.sensors.map((s) => s.ts));
  const lastImage = Math.max(...all.images.map((i) => i.ts));
  const wm = Math.min(lastSensor, lastImage) - align.outOfOrdernessMs;
  const out: number[] = [];
  for (let s = T0; s + W <= wm; s += W) out.push(s);
  return out;
}

const MALFORMED: Array<{ key: string; value: Buffer; code: string }> = [
  { key: 'pump-01', value: Buffer.from('{"v":1,"plant":"p1",'), code: 'invalid_json' },
  {
    key: 'pump-02',
    value: Buffer.from(
      JSON.stringify({
        v: 1,
        plant: 'p1',
        asset: 'pump-02',
        device: 'd',
        ts: T0 + 1,
        values: { vib_rms: 'loud' },
      }),
    ),
    code: 'invalid_record',
  },
  {
    key: 'pump-03',
    value: Buffer.from(
      JSON.stringify({ v: 1, plant: 'p1', asset: 'pump-03', ts: T0 + 1, values: { vib_rms: 1 } }),
    ),
    code: 'invalid_record',
  },
  {
    key: 'pump-01',
    value: Buffer.from(
      JSON.stringify({ v: 9, plant: 'p1', asset: 'pump-01', device: 'd', ts: T0 + 1, values: { x: 1 } }),
    ),
    code: 'unsupported_version',
  },
  {
    key: 'pump-02',
    value: Buffer.from(
      JSON.stringify({
        v: 1,
        plant: 'p1',
        asset: 'pump-02',
        device: 'd',
        ts: T0 + 1,
        values: { x: 1 },
        pad: 'x'.repeat(5000),
      }),
    ),
    code: 'too_large',
  },
  {
    key: 'pump-01',
    value: Buffer.from(
      JSON.stringify({ v: 1, plant: 'p1', asset: 'pump-02', device: 'd', ts: T0 + 1, values: { x: 1 } }),
    ),
    code: 'key_mismatch',
  },
];

interface Hook {
  id: string;
  body: string;
  headers: Record<string, string>;
}

function webhookServer(): Promise<{ server: Server; url: string; hooks: Hook[] }> {
  const hooks: Hook[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      hooks.push({
        id: String(req.headers['webhook-id']),
        body,
        headers: req.headers as Record<string, string>,
      });
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      resolve({
        server,
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`,
        hooks,
      });
    }),
  );
}

let kafka: TestKafka;
const cleanups: Array<() => Promise<unknown> | void> = [];
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await kafka?.stop();
});

async function topicsWithData(
  prefix: string,
  from: number,
  to: number,
  malformed: boolean,
): Promise<ConfigInput['kafka'] & object> {
  const topics = {
    sensors: `${prefix}.sensors`,
    images: `${prefix}.images`,
    notes: `${prefix}.notes`,
    deadLetter: `${prefix}.dlq`,
  };
  const ingest = createKafkaIngest(Config.parse({ kafka: { brokers: kafka.brokers, topics } }).kafka, logger);
  await ingest.ensureTopics();
  await publish(topics, from, to, malformed);
  return { brokers: kafka.brokers, topics, partitions: 3 };
}

let producer: RecordProducer | null = null;
async function publish(
  topics: { sensors: string; images: string; notes: string },
  from: number,
  to: number,
  malformed: boolean,
) {
  producer ??= await createRecordProducer(kafka.brokers, logger);
  const recs = generate(plant, from, to);
  const asMsgs = (xs: Array<{ asset?: string }>) =>
    xs.map((r) => ({ key: r.asset ?? null, value: JSON.stringify(r) }));
  await producer.send(topics.images, asMsgs(recs.images));
  await producer.send(topics.notes, asMsgs(recs.notes));
  const sensors = asMsgs(recs.sensors);
  if (malformed) {
    // Spread the bad records among the good ones.
    MALFORMED.forEach((m, i) =>
      sensors.splice(100 + i * 97, 0, { key: m.key, value: m.value as unknown as string }),
    );
  }
  await producer.send(topics.sensors, sensors);
}

function serviceConfig(
  k: ConfigInput['kafka'],
  dbUrl: string,
  hookUrl: string,
  groupId: string,
): ConfigInput {
  return {
    kafka: { ...k, groupId, clientId: groupId, sessionTimeoutMs: 6_000 },
    database: { url: dbUrl, poolSize: 2 },
    limits: { maxRecordBytes: 4096 },
    align,
    scorer: { kind: 'baseline', referenceWindows: 20 },
    alerts: { threshold: 6, openAfter: 3, resolveAfter: 6 },
    webhooks: [{ url: hookUrl, secret: SECRET }],
    delivery: { pollMs: 100, schedule: [100, 200, 400, 800, 1600], allowPrivateNetworks: true },
    api: { port: 0 },
    log: { level: 'debug' },
  };
}

/** Fresh topics holding the first part of the input (and the malformed records), a database, a webhook receiver. */
async function newRun(name: string) {
  const k = await topicsWithData(uniqueName(name), T0, MID, true);
  const db = await createTestDatabase(name);
  cleanups.push(() => db.drop());
  const hook = await webhookServer();
  cleanups.push(() => new Promise((r) => hook.server.close(r)));
  return { k, db, hook, cfg: serviceConfig(k, db.url, hook.url, uniqueName('g')) };
}

const expectedAll = expectedWindows(T_END);
let reference: Awaited<ReturnType<typeof snapshot>>;

test(
  'records from three real topics become scores, one alert, a signed webhook and dead letters',
  { timeout: 180_000 },
  async () => {
    const { k, db, hook, cfg } = await newRun('it');
    const svc = await startServiceProcess(cfg);
    cleanups.push(() => svc.kill('SIGKILL'));
    // The input arrives in two parts, as in the kill test, so both runs see the same arrival order
    // (a note that arrives after its window closed is not attached to it, by design).
    await waitFor(
      'the first part scored',
      async () => (await snapshot(db.url)).scores.length >= expectedWindows(MID).length * 3,
    );
    await publish(k.topics as { sensors: string; images: string; notes: string }, MID, T_END, false);

    const total = expectedAll.length * 3;
    await waitFor('every closed window scored', async () => (await snapshot(db.url)).scores.length >= total);
    await waitFor('the webhook', async () => hook.hooks.length >= 1);
    const snap = await snapshot(db.url);

    // A score row for every closed window of every asset, and nothing for a window still open.
    for (const asset of ['pump-01', 'pump-02', 'pump-03']) {
      assert.deepEqual(
        snap.scores.filter((s) => s.asset === asset).map((s) => s.ws),
        expectedAll,
        `windows of ${asset}`,
      );
    }
    assert.equal(snap.scores.filter((s) => s.status === 'reference').length, 60);
    assert.ok(snap.readings >= total, 'raw readings stored with their windows');
    // Images and notes are aligned to the windows.
    assert.ok(
      snap.scores.every((s) => s.image_ts !== null),
      'every window has its thermal frame',
    );
    assert.ok(
      snap.scores.some((s) => s.note_count > 0),
      'notes attached',
    );

    // An alert for the faulty asset only, opened after the fault's onset, with vibration the top contributor.
    assert.equal(snap.alerts.length, 1, JSON.stringify(snap.alerts));
    const [alert] = snap.alerts;
    assert.equal(alert.asset, 'pump-03');
    assert.equal(alert.state, 'open');
    assert.ok(new Date(alert.opened_window).getTime() >= plant.faults[0].onsetMs);
    const top = Object.entries(alert.contributions as Record<string, number>).sort(
      (a, b) => b[1] - a[1],
    )[0][0];
    assert.equal(top, 'vib_hf', 'the bearing-defect band');
    const maxOf = (pred: (a: string) => boolean) =>
      Math.max(...snap.scores.filter((s) => pred(s.asset) && s.score !== null).map((s) => s.score));
    const healthy = maxOf((a) => a !== 'pump-03');
    const faulty = maxOf((a) => a === 'pump-03');
    assert.ok(
      faulty > 5 * healthy,
      `the faulty asset stands out (faulty max ${faulty}, healthy max ${healthy})`,
    );

    // The webhook: delivered to a real HTTP server, signed per Standard Webhooks, the alert in the body.
    await waitFor('outbox settled', async () => (await snapshot(db.url)).outbox.every((o) => o.delivered));
    // Opened (and escalated if the score climbed past a severity level after it opened): one message per event.
    const types = snap.outbox.map((o) => o.event_type);
    assert.equal(types.filter((x) => x === 'alert.opened').length, 1);
    assert.ok(
      types.every((x) => x === 'alert.opened' || x === 'alert.escalated'),
      types.join(),
    );
    assert.equal(new Set(hook.hooks.map((h) => h.id)).size, snap.outbox.length);
    const h = hook.hooks.find((x) => JSON.parse(x.body).type === 'alert.opened')!;
    const payload = new Webhook(SECRET).verify(h.body, h.headers) as {
      type: string;
      data: { asset: string; id: string };
    };
    assert.equal(payload.type, 'alert.opened');
    assert.equal(payload.data.asset, 'pump-03');
    assert.equal(payload.data.id, alert.id);

    // Every malformed record in the dead-letter topic with its code, reason and original bytes.
    const dead = await readTopic(
      kafka.brokers,
      k.topics!.deadLetter!,
      (read) => read.length >= MALFORMED.length,
      20_000,
      logger,
    );
    assert.equal(dead.length, MALFORMED.length);
    for (const m of MALFORMED) {
      const d = dead.find((x) => x.value?.equals(m.value));
      assert.ok(d, `dead letter for ${m.code}`);
      assert.equal(d.headers['tributary-error-code'], m.code);
      assert.ok(d.headers['tributary-reason'].length > 5);
      assert.equal(d.headers['tributary-source-topic'], k.topics!.sensors);
      assert.equal(d.key?.toString(), m.key);
    }

    // Health, readiness and the history API answer from the database.
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
    const ready = (await (await fetch(`${svc.url}/readyz`)).json()) as { checks: Record<string, boolean> };
    assert.deepEqual(ready.checks, { database: true, model: true, kafka: true });
    const res = await fetch(
      `${svc.url}/v1/anomalies?asset=pump-03&from=${new Date(T0).toISOString()}&to=${new Date(T_END).toISOString()}&minScore=6`,
      withKey(),
    );
    const body = (await res.json()) as { rows: Array<{ asset: string; score: number }> };
    assert.ok(body.rows.length >= 3 && body.rows.every((r) => r.asset === 'pump-03' && r.score >= 6));
    const metrics = await (await fetch(`${svc.url}/metrics`, withKey())).text();
    assert.match(metrics, /^tributary_dead_letters_total\{modality="sensors"\} 6$/m);
    assert.match(metrics, /^tributary_alerts_opened_total 1$/m);
    const hourly = (await (
      await fetch(`${svc.url}/v1/anomalies?bucket=1h&from=${new Date(T0).toISOString()}`, withKey())
    ).json()) as { buckets: Array<{ asset: string; aboveThreshold: number }> };
    assert.deepEqual(hourly.buckets.map((b) => [b.asset, b.aboveThreshold > 0]).sort(), [
      ['pump-01', false],
      ['pump-02', false],
      ['pump-03', true],
    ]);
    const page = (await (await fetch(`${svc.url}/v1/anomalies?limit=5`, withKey())).json()) as {
      rows: unknown[];
      nextCursor: string;
    };
    const next = (await (
      await fetch(`${svc.url}/v1/anomalies?limit=5&cursor=${page.nextCursor}`, withKey())
    ).json()) as { rows: Array<{ windowStart: string }> };
    assert.equal(page.rows.length, 5);
    assert.equal(next.rows.length, 5);
    assert.equal(
      (
        (await (await fetch(`${svc.url}/v1/anomalies?bucket=fortnight`, withKey())).json()) as {
          field: string;
        }
      ).field,
      'bucket',
    );
    const openapi = (await (await fetch(`${svc.url}/docs/json`)).json()) as {
      openapi: string;
      paths: Record<string, { get: { parameters: Array<{ name: string }> } }>;
    };
    assert.match(openapi.openapi, /^3\./);
    assert.ok(
      openapi.paths['/v1/anomalies'].get.parameters.some((x) => x.name === 'bucket'),
      'the OpenAPI document lists the query parameters',
    );
    assert.equal((await fetch(`${svc.url}/docs`)).status < 400, true, 'interactive docs are served');
    const bad = await fetch(`${svc.url}/v1/anomalies?from=yesterday`, withKey());
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { field: string }).field, 'from');
    // Over real HTTP too: no key, an unknown key.
    assert.equal((await fetch(`${svc.url}/v1/anomalies`)).status, 401);
    assert.equal(
      (await fetch(`${svc.url}/metrics`, { headers: { authorization: 'Bearer trb_nope' } })).status,
      401,
    );
    // The hourly roll-up answers the same as the score rows (a threshold other than the roll-ups' reads the rows).
    const fromRows = (await (
      await fetch(
        `${svc.url}/v1/anomalies?bucket=1h&threshold=5.999999&from=${new Date(T0).toISOString()}`,
        withKey(),
      )
    ).json()) as { buckets: Array<{ asset: string; windows: number; maxScore: number }> };
    assert.deepEqual(
      hourly.buckets.map((b) => [b.asset, (b as unknown as { windows: number }).windows]),
      fromRows.buckets.map((b) => [b.asset, b.windows]),
    );

    assert.equal(await svc.kill('SIGTERM'), 0, 'a clean stop exits 0');
    reference = snap;
  },
);

test(
  'SIGKILL mid-stream and restart: the same score rows and alerts, no duplicates',
  { timeout: 240_000 },
  async (t) => {
    const t0 = Date.now();
    const step = (what: string) => t.diagnostic(`${what} at ${Date.now() - t0} ms`);
    /** On a time-out, says which windows exist and what each life did, then rethrows. */
    const explain = async (
      e: unknown,
      lives: Array<{ logs: Array<Record<string, unknown>> }>,
    ): Promise<never> => {
      const snap = await snapshot(db.url);
      t.diagnostic(
        `scores per asset: ${['pump-01', 'pump-02', 'pump-03']
          .map((a) => {
            const xs = snap.scores.filter((x) => x.asset === a);
            return `${a}: ${xs.length} (last ${xs.length ? new Date(Math.max(...xs.map((x) => x.ws))).toISOString() : '-'})`;
          })
          .join(', ')}`,
      );
      lives.forEach((l, i) =>
        t.diagnostic(
          `life ${i + 1}: ${JSON.stringify(l.logs.filter((x) => x.stage === 'pipeline' || Number(x.level) >= 40).map(({ time, hostname, pid, service, ...rest }) => rest))}`,
        ),
      );
      throw e;
    };
    assert.ok(reference, 'needs the undisturbed run');
    const { k, db, hook, cfg } = await newRun('kill');

    // First life: killed as soon as it has scored anything.
    const first = await startServiceProcess(cfg);
    cleanups.push(() => first.kill('SIGKILL'));
    await waitFor('first scores', async () => (await snapshot(db.url)).scores.length > 0, 60_000, 20);
    await first.kill('SIGKILL');
    step('first life killed');
    const atKill = (await snapshot(db.url)).scores.length;

    // Second life: catches up with the first half (every window it can close), then is killed too.
    const firstHalf = expectedWindows(MID).length * 3;
    assert.ok(atKill <= firstHalf);
    const second = await startServiceProcess(cfg);
    cleanups.push(() => second.kill('SIGKILL'));
    const restored = () => second.logs.some((l) => l.msg === 'restored checkpoint; replaying open windows');
    await waitFor(
      'the first half scored after a restore',
      async () => restored() && (await snapshot(db.url)).scores.length >= firstHalf,
      60_000,
      20,
    ).catch((e) => explain(e, [first, second]));
    await second.kill('SIGKILL');
    step(`second life killed; ${atKill} of ${firstHalf} first-part windows were scored by the first life`);
    assert.equal((await snapshot(db.url)).scores.length, firstHalf, 'no window closes before its data');

    // The rest of the data arrives while the service is down; the third life finishes the job.
    await publish(k.topics as { sensors: string; images: string; notes: string }, MID, T_END, false);
    const third = await startServiceProcess(cfg);
    cleanups.push(() => third.kill('SIGKILL'));
    await waitFor(
      'every closed window scored',
      async () => (await snapshot(db.url)).scores.length >= reference.scores.length,
    ).catch((e) => explain(e, [first, second, third]));
    step('third life scored everything');
    await waitFor(
      'webhook delivered',
      async () => (await snapshot(db.url)).outbox.every((o) => o.delivered) && hook.hooks.length > 0,
    );
    step('webhook delivered');
    const snap = await snapshot(db.url);

    // Everything decided by the sensors and the camera is identical (tests/helpers/snapshot.ts).
    assert.equal(snap.scores.length, reference.scores.length);
    assert.deepEqual(decided(snap.scores), decided(reference.scores));
    assert.deepEqual(snap.alerts, reference.alerts);
    assert.deepEqual(
      snap.outbox.map((o) => o.event_id),
      reference.outbox.map((o) => o.event_id),
    );
    assert.equal(
      new Set(hook.hooks.map((h) => h.id)).size,
      snap.outbox.length,
      'each event once (receivers dedupe redeliveries by webhook-id)',
    );
    // At least once: a record whose batch was cut short by the kill may be dead-lettered twice, never not at all.
    const offsets = (read: Array<{ headers: Record<string, string> }>) =>
      new Set(
        read.map((d) => `${d.headers['tributary-source-partition']}:${d.headers['tributary-source-offset']}`),
      );
    const dead = await readTopic(
      kafka.brokers,
      k.topics!.deadLetter!,
      (read) => offsets(read).size >= MALFORMED.length,
      15_000,
      logger,
    );
    assert.equal(offsets(dead).size, MALFORMED.length);
    await third.kill('SIGTERM');
  },
);

after(async () => {
  await producer?.close();
});
