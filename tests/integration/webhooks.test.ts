/**
 * Webhooks against real HTTP receivers (Fastify servers in the test) and the PostgreSQL server: signatures
 * checked with the Standard Webhooks library, time-outs, 500 then recovery, 429 with Retry-After, 410, a
 * receiver down for ten minutes of injected time, SSRF refusal, secret rotation, redelivery, and a
 * SIGKILL of the service between an alert's state change and its delivery.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { startDeliveryWorker } from '../../alerts/index.js';
import { Config, type Alert, type ConfigInput } from '../../schemas/index.js';
import {
  createEndpoint,
  getEndpoint,
  listAttempts,
  openStore,
  redeliver,
  rotateSecret,
  writeAlertChanges,
  type AlertChange,
  type Store,
} from '../../store/index.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, waitFor, withKey } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A receiver as a real integration would write one: verify, then process each webhook-id once. */
interface Receiver {
  app: FastifyInstance;
  url: string;
  requests: number;
  last: { body: string; headers: Record<string, string> } | null;
  processed: Map<string, { type: string; asset: string }>;
  invalid: number;
  setSecret(s: string): void;
}
async function receiver(
  respond: (
    n: number,
  ) =>
    | Promise<{ status: number; headers?: Record<string, string> }>
    | { status: number; headers?: Record<string, string> },
  port = 0,
): Promise<Receiver> {
  const app = Fastify();
  const r = {
    app,
    url: '',
    requests: 0,
    last: null,
    processed: new Map(),
    invalid: 0,
    secret: '',
    setSecret: () => undefined,
  } as Receiver & { secret: string };
  r.setSecret = (s) => {
    r.secret = s;
  };
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.post('/hook', async (req, reply) => {
    const n = ++r.requests;
    r.last = { body: req.body as string, headers: req.headers as Record<string, string> };
    const out = await respond(n);
    if (out.status >= 200 && out.status < 300) {
      try {
        const ev = new Webhook(r.secret).verify(
          req.body as string,
          req.headers as Record<string, string>,
        ) as { type: string; data: { asset: string } };
        const id = req.headers['webhook-id'] as string;
        if (!r.processed.has(id)) r.processed.set(id, { type: ev.type, asset: ev.data.asset });
      } catch {
        r.invalid++;
        return reply.code(400).send();
      }
    }
    return reply
      .code(out.status)
      .headers(out.headers ?? {})
      .send();
  });
  await app.listen({ host: '127.0.0.1', port });
  r.url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/hook`;
  cleanups.push(() => app.close());
  return r;
}

async function freshStore(): Promise<Store> {
  const db = await createTestDatabase('hooks');
  const store = await openStore(Config.parse({ database: { url: db.url } }).database);
  cleanups.push(async () => {
    await store.close();
    await db.drop();
  });
  return store;
}

const alertOf = (i: number, over: Partial<Alert> = {}): Alert => ({
  id: `al${i}`,
  plant: 'p1',
  asset: `pump-${i}`,
  rule: 'r',
  kind: 'anomaly',
  state: 'open',
  severity: 'warning',
  openedWindow: i * 60_000,
  lastWindow: i * 60_000,
  resolvedWindow: null,
  peakScore: 9,
  modelVersion: 'm',
  contributions: { vib_hf: 1 },
  topModality: 'sensors',
  topChannel: 'vib_hf',
  notes: [],
  acknowledgedBy: null,
  acknowledgedAt: null,
  snoozedUntil: null,
  resolvedBy: null,
  reason: null,
  links: { timeline: 'http://x/t' },
  ...over,
});
const opened = (i: number): AlertChange => ({
  alert: alertOf(i),
  type: 'alert.opened',
  eventId: `evt_open_${i}`,
  by: 'rule:r',
});
const resolved = (i: number): AlertChange => ({
  alert: alertOf(i, { state: 'resolved', resolvedWindow: i * 60_000 + 600_000 }),
  type: 'alert.resolved',
  eventId: `evt_res_${i}`,
  by: 'rule:r',
});

test(
  'every event reaches every receiver exactly once after de-duplication: time-outs, 500s, 429 with Retry-After, 410, rotation',
  { timeout: 120_000 },
  async () => {
    const store = await freshStore();
    let clockMs = Date.UTC(2026, 10, 26, 12);
    const clock = { now: () => clockMs };
    const cfg = Config.parse({ delivery: { timeoutMs: 300, allowPrivateNetworks: true } });

    const ok = await receiver(() => ({ status: 204 }));
    const flaky = await receiver((n) => ({ status: n <= 3 ? 500 : 200 }));
    const slow = await receiver(async (n) => {
      if (n <= 2) await new Promise((res) => setTimeout(res, 800));
      return { status: 200 };
    });
    const limited = await receiver((n) =>
      n === 1 ? { status: 429, headers: { 'retry-after': '120' } } : { status: 200 },
    );
    const gone = await receiver(() => ({ status: 410 }));
    const receivers = { ok, flaky, slow, limited, gone };
    const ids: Record<string, string> = {};
    for (const [name, r] of Object.entries(receivers)) {
      const e = await createEndpoint(store.db, { url: r.url, description: name });
      r.setSecret(e.secrets[0].secret);
      ids[name] = e.id;
    }

    await store.db.transaction((tx) => writeAlertChanges(tx, [opened(1), opened(2), opened(3)], clockMs));
    const worker = startDeliveryWorker(store.db, cfg, logger, { clock, autostart: false, random: () => 0.5 });
    cleanups.push(() => worker.stop());
    await worker.tick();
    // More events while some receivers are failing; and a secret rotation half-way (both secrets sign).
    await store.db.transaction((tx) => writeAlertChanges(tx, [resolved(1), opened(4)], clockMs));
    const rotated = await rotateSecret(store.db, ids.ok, 3_600_000, clockMs);
    const oldSecret = (await getEndpoint(store.db, ids.ok))!.secrets[1].secret;
    for (let step = 0; step < 40; step++) {
      clockMs += 15_000;
      await worker.tick();
      if (step === 5) ok.setSecret(rotated!.secret);
    }
    const all = ['evt_open_1', 'evt_open_2', 'evt_open_3', 'evt_res_1', 'evt_open_4'];
    for (const name of ['ok', 'flaky', 'slow', 'limited'] as const) {
      assert.deepEqual(
        [...receivers[name].processed.keys()].sort(),
        [...all].sort(),
        `${name} processed every event once`,
      );
      assert.equal(receivers[name].invalid, 0, `${name}: every signature verifies`);
    }
    assert.ok(flaky.requests >= 3 + all.length && slow.requests >= 2 + all.length, 'failures were retried');
    assert.deepEqual(ok.processed.get('evt_res_1'), { type: 'alert.resolved', asset: 'pump-1' });

    // 429: the retry waited Retry-After (120 s of injected time), not the 5 s of the schedule.
    const la = (await listAttempts(store.db, ids.limited, 100))
      .filter((a) => a.eventId === 'evt_open_1')
      .sort((a, b) => a.attempt - b.attempt);
    assert.equal(la[0].status, 429);
    assert.ok(
      Date.parse(la[1].at) - Date.parse(la[0].at) >= 120_000,
      `retried after ${(Date.parse(la[1].at) - Date.parse(la[0].at)) / 1000} s`,
    );
    // The time-out is logged as an error, then the retry succeeded.
    const sa = await listAttempts(store.db, ids.slow, 100);
    assert.ok(sa.some((a) => a.status === null && /timed out/.test(a.error ?? '')));
    // 410: one request, the endpoint disabled, nothing more sent to it.
    assert.equal(gone.requests, 1);
    const g = (await getEndpoint(store.db, ids.gone))!;
    assert.equal(g.enabled, false);
    assert.match(g.disabledReason!, /410/);

    // Manual redelivery of one message (same webhook-id: the receiver de-duplicates it).
    const before = ok.requests;
    assert.equal(await redeliver(store.db, ids.ok, { eventId: 'evt_open_2' }, clockMs), 1);
    await worker.tick();
    assert.equal(ok.requests, before + 1);
    assert.equal(ok.processed.size, all.length);
    // During the rotation's grace period the message carries two signatures: old and new secrets both verify.
    assert.equal(ok.last!.headers['webhook-signature'].split(' ').length, 2);
    for (const secret of [oldSecret, rotated!.secret])
      assert.ok(new Webhook(secret).verify(ok.last!.body, ok.last!.headers));
    // Everything since a time.
    assert.equal(await redeliver(store.db, ids.ok, { since: 0 }, clockMs), all.length);
    await worker.tick();
    assert.equal(ok.requests, before + 1 + all.length);
  },
);

test(
  'a receiver down for ten minutes (injected time) gets every event once it is back',
  { timeout: 60_000 },
  async () => {
    const store = await freshStore();
    let clockMs = Date.UTC(2026, 10, 26, 12);
    const cfg = Config.parse({ delivery: { timeoutMs: 500, allowPrivateNetworks: true } });
    // Reserve a port, then close the receiver: connections are refused until it listens again.
    const probe = await receiver(() => ({ status: 200 }));
    const port = Number(new URL(probe.url).port);
    const ep = await createEndpoint(store.db, { url: probe.url });
    await probe.app.close();
    const worker = startDeliveryWorker(store.db, cfg, logger, {
      clock: { now: () => clockMs },
      autostart: false,
      random: () => 0.5,
    });
    cleanups.push(() => worker.stop());

    const t0 = clockMs;
    await store.db.transaction((tx) => writeAlertChanges(tx, [opened(1), opened(2)], clockMs));
    let back: Receiver | null = null;
    while (clockMs < t0 + 60 * 60_000) {
      if (clockMs - t0 === 3 * 60_000)
        await store.db.transaction((tx) => writeAlertChanges(tx, [opened(3), resolved(1)], clockMs));
      if (!back && clockMs - t0 >= 10 * 60_000) {
        back = await receiver(() => ({ status: 200 }), port);
        back.setSecret(ep.secrets[0].secret);
      }
      await worker.tick();
      clockMs += 30_000;
    }
    assert.ok(back);
    assert.deepEqual([...back.processed.keys()].sort(), [
      'evt_open_1',
      'evt_open_2',
      'evt_open_3',
      'evt_res_1',
    ]);
    const attempts = await listAttempts(store.db, ep.id, 100);
    const failed = attempts.filter((a) => a.status === null);
    assert.ok(failed.length >= 6, `${failed.length} refused attempts while down`);
    assert.ok(failed.every((a) => Date.parse(a.at) < t0 + 10 * 60_000));
    // Delivered at the schedule's next attempt after the outage: the third wait (30 min) for the first events.
    const delivered = attempts.filter((a) => a.status === 200);
    assert.equal(delivered.length, 4);
    assert.ok(
      delivered.every((a) => Date.parse(a.at) >= t0 + 10 * 60_000 && Date.parse(a.at) <= t0 + 40 * 60_000),
    );
    assert.equal((await getEndpoint(store.db, ep.id))!.failingSince, null, 'the failure streak ended');
  },
);

test('no request to a loopback address unless the configuration allows it', async () => {
  const store = await freshStore();
  const r = await receiver(() => ({ status: 200 }));
  const ep = await createEndpoint(store.db, { url: r.url });
  const byName = await createEndpoint(store.db, { url: r.url.replace('127.0.0.1', 'localhost') });
  await store.db.transaction((tx) => writeAlertChanges(tx, [opened(1)], Date.now()));
  const worker = startDeliveryWorker(store.db, Config.parse({}), logger, { autostart: false });
  cleanups.push(() => worker.stop());
  await worker.tick();
  assert.equal(r.requests, 0);
  for (const id of [ep.id, byName.id]) {
    const [a] = await listAttempts(store.db, id, 10);
    assert.match(a.error!, /refused: .*non-public address/);
  }
  const row = (
    await store.db.query<{ failed: boolean }>(
      `SELECT failed_at IS NOT NULL AS failed FROM webhook_outbox WHERE endpoint_id = $1`,
      [ep.id],
    )
  ).rows[0];
  assert.equal(row.failed, true, 'not retried: a configuration error');
});

test(
  "SIGKILL between an alert's state change and its delivery: the event is delivered after a restart",
  { timeout: 120_000 },
  async () => {
    const db = await createTestDatabase('hookkill');
    cleanups.push(() => db.drop());
    let hold: (() => void) | null = null;
    const r = await receiver(async (n) => {
      // The first delivery hangs until the service is killed; later ones answer at once.
      if (n === 1)
        await new Promise<void>((res) => {
          hold = res;
        });
      return { status: 200 };
    });
    const cfg: ConfigInput = {
      database: { url: db.url },
      api: { port: 0 },
      sim: { enabled: false },
      log: { level: 'info' },
      webhooks: [
        {
          url: r.url,
          secret: `whsec_${Buffer.from('kill-test-secret-kill-test-secret').toString('base64')}`,
        },
      ],
      delivery: { timeoutMs: 1000, pollMs: 50, allowPrivateNetworks: true },
    };
    r.setSecret(cfg.webhooks![0].secret!);
    const first = await startServiceProcess(cfg);
    cleanups.push(() => first.kill('SIGKILL'));
    // An alert exists; the state change under test is an engineer acknowledging it through the API.
    const store = await openStore(Config.parse({ database: { url: db.url } }).database);
    cleanups.push(() => store.close());
    await store.db.transaction((tx) => writeAlertChanges(tx, [opened(7)], Date.now()));
    await waitFor('the opened event delivered', async () => r.processed.size === 1 || r.requests >= 1);
    const res = await fetch(
      `${first.url}/v1/alerts/al7/acknowledge`,
      withKey({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ by: 'ana', comment: 'crew on the way' }),
      }),
    );
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as Alert).state, 'acknowledged');
    await waitFor('a delivery in flight', async () => r.requests >= 1 && hold !== null);
    await first.kill('SIGKILL');
    (hold as (() => void) | null)?.();
    const pending = (
      await store.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM webhook_outbox WHERE delivered_at IS NULL`,
      )
    ).rows[0].n;
    assert.ok(pending >= 1, 'the kill left a delivery undone');

    const second = await startServiceProcess(cfg);
    cleanups.push(() => second.kill('SIGTERM'));
    await waitFor(
      'every event delivered after the restart',
      async () =>
        (
          await store.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM webhook_outbox WHERE delivered_at IS NULL`,
          )
        ).rows[0].n === 0,
      30_000,
    );
    const events = (
      await store.db.query<{ event_id: string; type: string }>(
        `SELECT event_id, type FROM alert_events WHERE alert_id = 'al7' ORDER BY at`,
      )
    ).rows;
    assert.deepEqual(
      events.map((e) => e.type),
      ['alert.opened', 'alert.acknowledged'],
    );
    assert.deepEqual(
      [...r.processed.keys()].sort(),
      events.map((e) => e.event_id).sort(),
      'each event processed once',
    );
    assert.equal(r.invalid, 0);
    const body = (await (await fetch(`${second.url}/v1/alerts/al7`, withKey())).json()) as {
      alert: Alert;
      events: Array<{ type: string; by: string; comment: string | null }>;
    };
    assert.equal(body.alert.acknowledgedBy, 'ana');
    assert.deepEqual(
      body.events.map((e) => [e.type, e.by, e.comment]),
      [
        ['alert.opened', 'rule:r', null],
        ['alert.acknowledged', 'ana', 'crew on the way'],
      ],
    );
  },
);
