/**
 * The alert and webhook routes through Fastify's inject against a real store (embedded PGlite-TimescaleDB),
 * and the timed alert jobs (snooze expiry, unacknowledged escalation, data quality) with injected time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { startAlertJobs } from '../../alerts/index.js';
import { buildApi } from '../../api/index.js';
import { Config, type Alert } from '../../schemas/index.js';
import {
  createApiKey,
  feedbackLabels,
  openStore,
  writeAlertChanges,
  type AlertChange,
  type Store,
} from '../../store/index.js';

let store: Store;
let app: FastifyInstance;
let woken = 0,
  rulesChanged = 0;
let key = '';
/** app.inject with the admin key. */
const inject = (o: string | { method?: string; url: string; payload?: unknown }) => {
  const opts = typeof o === 'string' ? { url: o } : o;
  return app.inject({
    ...opts,
    method: (opts.method ?? 'GET') as 'GET',
    payload: opts.payload as object | undefined,
    headers: { authorization: `Bearer ${key}` },
  });
};
const cfg = Config.parse({ database: { dataDir: ':memory:' }, alerts: { publicUrl: 'https://t.example' } });

const alertOf = (i: number, over: Partial<Alert> = {}): Alert => ({
  id: `al${i}`,
  plant: i % 2 ? 'p1' : 'p2',
  asset: `pump-${i}`,
  rule: 'default',
  kind: 'anomaly',
  state: 'open',
  severity: i === 3 ? 'critical' : 'warning',
  openedWindow: i * 60_000,
  lastWindow: i * 60_000,
  resolvedWindow: null,
  peakScore: 9,
  modelVersion: 'm',
  contributions: { vib_hf: 1 },
  topModality: 'sensors',
  topChannel: 'vib_hf',
  notes: [{ ts: 1, author: 'ana', text: 'grinding noise' }],
  acknowledgedBy: null,
  acknowledgedAt: null,
  snoozedUntil: null,
  resolvedBy: null,
  reason: null,
  links: { timeline: 'https://t.example/v1/assets/pump/timeline' },
  ...over,
});
const opened = (i: number): AlertChange => ({
  alert: alertOf(i),
  type: 'alert.opened',
  eventId: `evt_o${i}`,
  by: 'rule:default',
});

before(async () => {
  store = await openStore(cfg.database);
  key = (await createApiKey(store.db, { name: 'test admin', scopes: ['admin'] })).key;
  app = await buildApi({
    db: store.db,
    readiness: {},
    threshold: 6,
    alerts: {
      cfg,
      wake: () => {
        woken++;
      },
      rulesChanged: () => {
        rulesChanged++;
      },
    },
  });
  for (let i = 1; i <= 5; i++) await store.db.transaction((tx) => writeAlertChanges(tx, [opened(i)]));
});
after(async () => {
  await app.close();
  await store.close();
});

const json = <T>(r: { body: string }) => JSON.parse(r.body) as T;

test('list alerts with filters and cursor pages; get one with its events', async () => {
  const all = json<{ alerts: Alert[]; count: number }>(await inject('/v1/alerts'));
  assert.equal(all.count, 5);
  assert.deepEqual(
    json<{ alerts: Alert[] }>(await inject('/v1/alerts?plant=p1'))
      .alerts.map((a) => a.id)
      .sort(),
    ['al1', 'al3', 'al5'],
  );
  assert.deepEqual(
    json<{ alerts: Alert[] }>(await inject('/v1/alerts?severity=major')).alerts.map((a) => a.id),
    ['al3'],
  );
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { alerts: Alert[]; nextCursor: string | null } = json(
      await inject(`/v1/alerts?limit=2${cursor ? `&cursor=${cursor}` : ''}`),
    );
    seen.push(...page.alerts.map((a) => a.id));
    cursor = page.nextCursor;
  } while (cursor);
  assert.deepEqual([...seen].sort(), ['al1', 'al2', 'al3', 'al4', 'al5']);
  assert.equal(new Set(seen).size, 5);
  const one = json<{ alert: Alert; events: Array<{ type: string; by: string }> }>(
    await inject('/v1/alerts/al2'),
  );
  assert.equal(one.alert.asset, 'pump-2');
  assert.deepEqual(one.alert.notes, [{ ts: 1, author: 'ana', text: 'grinding noise' }]);
  assert.deepEqual(
    one.events.map((e) => [e.type, e.by]),
    [['alert.opened', 'rule:default']],
  );
});

test('bad parameters get a 400 naming the field; unknown ids a 404', async () => {
  const cases: Array<[string, string]> = [
    ['/v1/alerts?state=sleeping', 'state'],
    ['/v1/alerts?limit=0', 'limit'],
    ['/v1/alerts?severity=dire', 'severity'],
    ['/v1/alerts?bogus=1', 'bogus'],
    ['/v1/alerts?cursor=bm9wZQ', 'cursor'],
  ];
  for (const [url, field] of cases) {
    const r = await inject(url);
    assert.equal(r.statusCode, 400, url);
    assert.equal(json<{ field: string }>(r).field, field, url);
  }
  const body = await inject({
    method: 'POST',
    url: '/v1/alerts/al1/acknowledge',
    payload: { by: '', comment: 'x' },
  });
  assert.equal(body.statusCode, 400);
  assert.equal(json<{ field: string }>(body).field, 'by');
  const snooze = await inject({
    method: 'POST',
    url: '/v1/alerts/al1/snooze',
    payload: { by: 'ana', until: 'tomorrow' },
  });
  assert.equal(json<{ field: string }>(snooze).field, 'until');
  assert.equal((await inject('/v1/alerts/nope')).statusCode, 404);
  assert.equal(
    (await inject({ method: 'POST', url: '/v1/alerts/nope/resolve', payload: { by: 'ana' } })).statusCode,
    404,
  );
  assert.equal((await inject('/v1/webhooks/ep_nope')).statusCode, 404);
});

test('acknowledge, snooze, resolve and feedback: state, who and when, events, and 409 for what the state forbids', async () => {
  const ack = await inject({
    method: 'POST',
    url: '/v1/alerts/al1/acknowledge',
    payload: { by: 'ana', comment: 'crew sent' },
  });
  assert.equal(ack.statusCode, 200);
  assert.deepEqual([json<Alert>(ack).state, json<Alert>(ack).acknowledgedBy], ['acknowledged', 'ana']);
  assert.equal(
    (await inject({ method: 'POST', url: '/v1/alerts/al1/acknowledge', payload: { by: 'bo' } })).statusCode,
    409,
  );
  const until = new Date(Date.now() + 3_600_000).toISOString();
  const sn = await inject({ method: 'POST', url: '/v1/alerts/al1/snooze', payload: { by: 'ana', until } });
  assert.equal(json<Alert>(sn).snoozedUntil, Date.parse(until));
  const res = await inject({
    method: 'POST',
    url: '/v1/alerts/al1/resolve',
    payload: { by: 'bo', comment: 'bearing replaced' },
  });
  assert.deepEqual([json<Alert>(res).state, json<Alert>(res).resolvedBy], ['resolved', 'bo']);
  assert.equal(
    (await inject({ method: 'POST', url: '/v1/alerts/al1/snooze', payload: { by: 'ana', until } }))
      .statusCode,
    409,
  );
  const fb = await inject({
    method: 'POST',
    url: '/v1/alerts/al1/feedback',
    payload: { by: 'bo', label: 'true_positive', failureMode: 'bearing_wear', comment: 'outer race' },
  });
  assert.equal(fb.statusCode, 201);
  assert.equal(
    (await inject({ method: 'POST', url: '/v1/alerts/al1/feedback', payload: { by: 'bo', label: 'maybe' } }))
      .statusCode,
    400,
  );
  const one = json<{
    alert: Alert;
    events: Array<{ type: string; by: string; comment: string | null }>;
    feedback: Array<{ label: string }>;
  }>(await inject('/v1/alerts/al1'));
  assert.deepEqual(
    one.events.map((e) => [e.type, e.by]),
    [
      ['alert.opened', 'rule:default'],
      ['alert.acknowledged', 'ana'],
      ['alert.snoozed', 'ana'],
      ['alert.resolved', 'bo'],
      ['alert.feedback', 'bo'],
    ],
  );
  assert.equal(one.events[1].comment, 'crew sent');
  assert.deepEqual(
    one.feedback.map((f) => f.label),
    ['true_positive'],
  );
  assert.deepEqual(
    (await feedbackLabels(store.db)).map((l) => [l.alertId, l.asset, l.label, l.failureMode]),
    [['al1', 'pump-1', 'true_positive', 'bearing_wear']],
  );
  assert.ok(woken >= 4, 'each change wakes the sender');
  // A rule decision for an alert a person resolved is dropped: it stays resolved.
  await store.db.transaction((tx) =>
    writeAlertChanges(tx, [
      { alert: { ...alertOf(1), lastWindow: 99 * 60_000 }, type: null, eventId: null, by: 'rule:default' },
    ]),
  );
  assert.equal(json<{ alert: Alert }>(await inject('/v1/alerts/al1')).alert.state, 'resolved');
});

test('alert rules through the API: create, list, replace, delete; configured rules are read-only', async () => {
  const put = await inject({
    method: 'PUT',
    url: '/v1/alert-rules/pumps-strict',
    payload: { assets: ['pump-*'], openAbove: 8, closeBelow: 4, openK: 2, openN: 4 },
  });
  assert.equal(put.statusCode, 201);
  assert.equal(
    (
      await inject({
        method: 'PUT',
        url: '/v1/alert-rules/pumps-strict',
        payload: { openAbove: 8, closeBelow: 9 },
      })
    ).statusCode,
    400,
    'closeBelow above openAbove',
  );
  assert.equal(
    json<{ field: string }>(
      await inject({
        method: 'PUT',
        url: '/v1/alert-rules/x',
        payload: { openAbove: 8, closeBelow: 4, openK: 5, openN: 2 },
      }),
    ).field,
    'openN',
  );
  assert.equal(
    (
      await inject({
        method: 'PUT',
        url: '/v1/alert-rules/pumps-strict',
        payload: { openAbove: 9, closeBelow: 4 },
      })
    ).statusCode,
    200,
  );
  const rules = json<{ rules: Array<{ rule: { id: string; openAbove: number }; source: string }> }>(
    await inject('/v1/alert-rules'),
  ).rules;
  assert.deepEqual(
    rules.map((r) => [r.rule.id, r.rule.openAbove, r.source]),
    [['pumps-strict', 9, 'api']],
  );
  await store.db.query(`INSERT INTO alert_rules (id, rule, source) VALUES ('cfg', '{}'::jsonb, 'config')`);
  assert.equal((await inject({ method: 'DELETE', url: '/v1/alert-rules/cfg' })).statusCode, 409);
  assert.equal((await inject({ method: 'DELETE', url: '/v1/alert-rules/pumps-strict' })).statusCode, 204);
  assert.equal((await inject({ method: 'DELETE', url: '/v1/alert-rules/pumps-strict' })).statusCode, 404);
  assert.equal(rulesChanged, 3);
});

test('webhook endpoints through the API: create (secret once), filter, rotate, test, delivery log, redeliver, disable, delete', async () => {
  const c = await inject({
    method: 'POST',
    url: '/v1/webhooks',
    payload: {
      url: 'https://hooks.example/tributary',
      filters: { minSeverity: 'major', assets: ['pump-*'] },
    },
  });
  assert.equal(c.statusCode, 201);
  const ep = json<{ id: string; secret: string; secrets: Array<{ fingerprint: string }> }>(c);
  assert.match(ep.secret, /^whsec_/);
  const shown =
    JSON.stringify(json(await inject(`/v1/webhooks/${ep.id}`))) +
    JSON.stringify(json(await inject('/v1/webhooks')));
  assert.ok(
    !shown.includes(ep.secret.slice(6, 14)),
    'no part of the secret is shown again (not even its first characters)',
  );
  assert.match(
    json<{ secrets: Array<{ fingerprint: string }> }>(await inject(`/v1/webhooks/${ep.id}`)).secrets[0]
      .fingerprint,
    /^[0-9a-f]{12}$/,
  );
  assert.equal(
    json<{ field: string }>(
      await inject({ method: 'POST', url: '/v1/webhooks', payload: { url: 'ftp://x' } }),
    ).field,
    'url',
  );
  assert.equal(
    json<{ field: string }>(
      await inject({
        method: 'POST',
        url: '/v1/webhooks',
        payload: { url: 'https://x.example', filters: { minSeverity: 'loud' } },
      }),
    ).field,
    'filters.minSeverity',
  );
  // Filters apply when an event is queued: a warning is not for this endpoint, a critical one is.
  await store.db.transaction((tx) =>
    writeAlertChanges(tx, [opened(6), { ...opened(7), alert: { ...alertOf(7), severity: 'critical' } }]),
  );
  const queued = (
    await store.db.query<{ event_id: string }>(
      `SELECT event_id FROM webhook_outbox WHERE endpoint_id = $1 ORDER BY event_id`,
      [ep.id],
    )
  ).rows.map((r) => r.event_id);
  assert.deepEqual(queued, ['evt_o7']);
  const rot = await inject({
    method: 'POST',
    url: `/v1/webhooks/${ep.id}/rotate-secret`,
    payload: { graceMs: 60_000 },
  });
  assert.notEqual(json<{ secret: string }>(rot).secret, ep.secret);
  assert.equal(json<{ secrets: unknown[] }>(await inject(`/v1/webhooks/${ep.id}`)).secrets.length, 2);
  const t = await inject({ method: 'POST', url: `/v1/webhooks/${ep.id}/test` });
  assert.equal(t.statusCode, 202);
  assert.equal(
    (
      await store.db.query(
        `SELECT 1 FROM webhook_outbox WHERE endpoint_id = $1 AND event_type = 'webhook.test'`,
        [ep.id],
      )
    ).rows.length,
    1,
  );
  assert.deepEqual(
    json<{ attempts: unknown[] }>(await inject(`/v1/webhooks/${ep.id}/deliveries`)).attempts,
    [],
  );
  assert.equal(
    json<{ field: string }>(await inject(`/v1/webhooks/${ep.id}/deliveries?limit=-1`)).field,
    'limit',
  );
  assert.equal(
    json<{ queued: number }>(
      await inject({
        method: 'POST',
        url: `/v1/webhooks/${ep.id}/redeliver`,
        payload: { since: new Date(0).toISOString() },
      }),
    ).queued,
    2,
  );
  assert.equal(
    (
      await inject({
        method: 'POST',
        url: `/v1/webhooks/${ep.id}/redeliver`,
        payload: { eventId: 'evt_none' },
      })
    ).statusCode,
    404,
  );
  assert.equal(
    (await inject({ method: 'POST', url: `/v1/webhooks/${ep.id}/redeliver`, payload: {} })).statusCode,
    400,
  );
  const off = json<{ enabled: boolean }>(
    await inject({ method: 'PATCH', url: `/v1/webhooks/${ep.id}`, payload: { enabled: false } }),
  );
  assert.equal(off.enabled, false);
  assert.equal(
    (await inject({ method: 'POST', url: `/v1/webhooks/${ep.id}/redeliver`, payload: { eventId: 'evt_o7' } }))
      .statusCode,
    409,
  );
  assert.equal((await inject({ method: 'DELETE', url: `/v1/webhooks/${ep.id}` })).statusCode, 204);
  assert.equal((await inject(`/v1/webhooks/${ep.id}`)).statusCode, 404);
  // The OpenAPI document lists the new routes.
  const paths = Object.keys(json<{ paths: Record<string, unknown> }>(await inject('/docs/json')).paths);
  for (const p of [
    '/v1/alerts',
    '/v1/alerts/{id}/acknowledge',
    '/v1/webhooks/{id}/redeliver',
    '/v1/alert-rules/{id}',
  ])
    assert.ok(paths.includes(p), p);
});

test("an alert's timeline link answers: scores, notes and readings of the asset", async () => {
  const T = Date.UTC(2026, 10, 26, 10);
  await store.db.query(
    `INSERT INTO readings (plant, asset, device, channel, window_start, n, t_offset_ms, v) VALUES
    ('p1', 'pump-1', 'd', 'vib_hf', $1, 4, '{0,15000,30000,45000}', '{1,2,3,4}'), ('p1', 'pump-1', 'd', 'vib_hf', $2, 2, '{0,30000}', '{5,7}')`,
    [new Date(T), new Date(T + 60_000)],
  );
  await store.db.query(
    `INSERT INTO scores (plant, asset, window_start, window_end, model_version, status, score, contributions, quality, note_count, revision) VALUES
    ('p1', 'pump-1', $1, $2, 'm', 'scored', 3, '{"vib_hf":1}', '{}', 0, 0), ('p1', 'pump-1', $1, $2, 'm', 'scored', 4, '{"vib_hf":1}', '{}', 0, 1)`,
    [new Date(T), new Date(T + 60_000)],
  );
  await store.db.query(
    `INSERT INTO notes (id, plant, asset, author, ts, text) VALUES ('n1', 'p1', 'pump-1', 'ana', $1, 'grinding noise')`,
    [new Date(T + 5000)],
  );
  const r = await inject(
    `/v1/assets/pump-1/timeline?from=${new Date(T).toISOString()}&to=${new Date(T + 120_000).toISOString()}&resolution=1m`,
  );
  assert.equal(r.statusCode, 200);
  const tl = json<{
    readings: Record<string, Array<{ mean: number; n: number }>>;
    scores: Array<{ score: number; revision: number }>;
    notes: Array<{ text: string }>;
  }>(r);
  assert.deepEqual(
    tl.readings.vib_hf.map((b) => [b.mean, b.n]),
    [
      [2.5, 4],
      [6, 2],
    ],
  );
  assert.deepEqual(
    tl.scores.map((s) => [s.score, s.revision]),
    [[4, 1]],
    'the latest revision',
  );
  assert.deepEqual(
    tl.notes.map((n) => n.text),
    ['grinding noise'],
  );
  assert.equal(
    json<{ field: string }>(await inject('/v1/assets/pump-1/timeline?resolution=fortnight')).field,
    'resolution',
  );
  assert.equal(
    json<{ field: string }>(
      await inject(
        `/v1/assets/pump-1/timeline?from=${new Date(T).toISOString()}&to=${new Date(T - 1).toISOString()}`,
      ),
    ).field,
    'to',
  );
});

test('timed jobs: a snooze ends, an unacknowledged alert escalates once, a silent camera opens a data-quality alert that resolves', async () => {
  let now = Date.now() + 10_000;
  let camSeen = now;
  const jobs = startAlertJobs({
    db: store.db,
    cfg: Config.parse({ alerts: { silentAfterMs: 600_000, escalateUnacknowledgedMs: 3_600_000 } }),
    logger: pino({ level: 'silent' }),
    streams: () => [{ plant: 'p1', asset: 'pump-9', sensorsLastSeen: now, imagesLastSeen: camSeen }],
    clocks: () => [],
    onChange: () => undefined,
    clock: () => now,
    autostart: false,
  });
  await inject({
    method: 'POST',
    url: '/v1/alerts/al2/snooze',
    payload: { by: 'ana', until: new Date(now + 60_000).toISOString() },
  });
  await jobs.check(now);
  now += 61_000;
  await jobs.check(now);
  const al2 = json<{ alert: Alert; events: Array<{ type: string; by: string }> }>(
    await inject('/v1/alerts/al2'),
  );
  assert.equal(al2.alert.snoozedUntil, null);
  assert.deepEqual(
    al2.events.map((e) => e.type),
    ['alert.opened', 'alert.snoozed', 'alert.snooze_expired'],
  );
  now += 3_600_000;
  camSeen = now - 700_000;
  await jobs.check(now);
  await jobs.check(now + 1000);
  const al4 = json<{ alert: Alert; events: Array<{ type: string; comment: string | null }> }>(
    await inject('/v1/alerts/al4'),
  );
  assert.equal(al4.alert.severity, 'major');
  assert.deepEqual(
    al4.events.filter((e) => e.type === 'alert.escalated').map((e) => e.comment),
    ['not acknowledged within 60 min'],
    'once',
  );
  const dq = json<{ alerts: Alert[] }>(await inject('/v1/alerts?kind=data_quality')).alerts;
  assert.deepEqual(
    dq.map((a) => [a.asset, a.rule, a.state]),
    [['pump-9', 'dq:camera-silent', 'open']],
  );
  camSeen = now + 2000;
  await jobs.check(now + 2000);
  assert.deepEqual(
    json<{ alerts: Alert[] }>(await inject('/v1/alerts?kind=data_quality')).alerts.map((a) => a.state),
    ['resolved'],
  );
});

test('star patterns in rules and webhook filters: limited when made (a 400 naming the field), within limits accepted', async () => {
  const rule = (assets: string[]) =>
    inject({ method: 'PUT', url: '/v1/alert-rules/stars', payload: { assets, openAbove: 8, closeBelow: 4 } });
  const r33 = await rule([`${'*'.repeat(33)}X`]);
  assert.equal(r33.statusCode, 400);
  assert.equal(json<{ field: string }>(r33).field, 'assets.0');
  const hook = await inject({
    method: 'POST',
    url: '/v1/webhooks',
    payload: { url: 'https://hooks.example/stars', filters: { assets: ['*'.repeat(100_000)] } },
  });
  assert.equal(hook.statusCode, 400);
  assert.equal(json<{ field: string }>(hook).field, 'filters.assets.0');
  assert.ok([200, 201].includes((await rule(['pump-*-line-*'])).statusCode));
  assert.equal((await inject({ method: 'DELETE', url: '/v1/alert-rules/stars' })).statusCode < 300, true);
});

test('webhook URLs: private, loopback, link-local, NAT64 and 6to4 addresses refused at registration (a 400 naming url)', async () => {
  for (const url of [
    'http://127.0.0.1:9/x',
    'http://localhost:9/x',
    'http://10.1.2.3/x',
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]/x',
    'http://[64:ff9b::7f00:1]/x',
    'http://[2002:7f00:1::]/x',
    'http://[::ffff:192.168.1.1]/x',
    'http://[fd00::1]/x',
  ]) {
    const r = await inject({ method: 'POST', url: '/v1/webhooks', payload: { url } });
    assert.equal(r.statusCode, 400, url);
    assert.equal(json<{ field: string; message: string }>(r).field, 'url', url);
    assert.match(json<{ message: string }>(r).message, /non-public address/, url);
  }
  const ok = await inject({
    method: 'POST',
    url: '/v1/webhooks',
    payload: { url: 'https://hooks.example/public' },
  });
  assert.equal(
    ok.statusCode,
    201,
    'a public (or not yet resolvable) name is taken; delivery checks the address again',
  );
  const id = json<{ id: string }>(ok).id;
  const moved = await inject({
    method: 'PATCH',
    url: `/v1/webhooks/${id}`,
    payload: { url: 'http://192.168.0.10/x' },
  });
  assert.equal(json<{ field: string }>(moved).field, 'url', 'the same check when the URL changes');
  await inject({ method: 'DELETE', url: `/v1/webhooks/${id}` });
});
