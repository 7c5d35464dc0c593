import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyAction,
  configuredRules,
  evaluateRule,
  evaluateRules,
  initialRunState,
  isPrivateAddress,
  LifecycleError,
  qualityChecks,
  retryDelayMs,
  timedChanges,
  type Decision,
} from '../../alerts/index.js';
import { AlertRule, Config, type Alert, type ScoreRow } from '../../schemas/index.js';
import { endpointWants } from '../../store/index.js';

const W = 60_000;
const row = (i: number, score: number | null, asset = 'a1'): ScoreRow => ({
  plant: 'p1',
  asset,
  windowStart: i * W,
  windowEnd: (i + 1) * W,
  revision: 0,
  modelVersion: 'm',
  status: score === null ? 'reference' : 'scored',
  score,
  contributions: { vib_hf: 0.7, image: 0.2, notes: 0.1 },
  quality: { samples: 60, duplicates: 0, late: 0, images: 6, notes: 0, clockOffsetMs: 0 },
  imageTs: null,
  noteCount: 0,
});
const rule = (over: Partial<AlertRule> = {}): AlertRule =>
  AlertRule.parse({ id: 'r', openAbove: 0.9, closeBelow: 0.5, openK: 3, openN: 3, closeM: 2, ...over });
const ctx = { publicUrl: 'https://tributary.example' };
/** Runs a script of scores through one rule: the decision kinds per window ('-' for none). */
function script(scores: Array<number | null>, r: AlertRule) {
  const s = initialRunState();
  const ds = scores.map((x, i) => evaluateRule(row(i, x), s, r, ctx));
  return { ds, kinds: ds.map((d) => d.map((x) => x.kind).join('+') || '-'), s };
}

test('k of n: an isolated spike or a flapping signal does not open; a sustained one does, at its first window', () => {
  const r = rule({ openK: 3, openN: 5 });
  assert.deepEqual(
    script([0.1, 0.95, 0.1, 0.1, 0.95, 0.1, 0.1, 0.95], r).kinds.filter((k) => k !== '-'),
    [],
    'spikes two windows apart never reach 3 of 5',
  );
  const { kinds, ds } = script([0.1, 0.95, 0.2, 0.96, 0.3, 0.97, 0.99], r);
  assert.deepEqual(kinds, ['-', '-', '-', '-', '-', 'opened', 'updated']);
  assert.equal(ds[5][0].alert.openedWindow, 1 * W, 'opened at the first anomalous window of the k');
  // Consecutive (k = n) is stricter: the same flapping never opens.
  assert.deepEqual(
    script([0.1, 0.95, 0.2, 0.96, 0.3, 0.97, 0.2], rule({ openK: 3, openN: 3 })).kinds.filter(
      (k) => k !== '-',
    ),
    [],
  );
});

test('hysteresis: scores between closeBelow and openAbove neither keep the alert anomalous nor resolve it', () => {
  const { kinds } = script([0.95, 0.95, 0.95, 0.7, 0.7, 0.7, 0.7, 0.4, 0.7, 0.4, 0.4, 0.2], rule());
  assert.deepEqual(kinds, ['-', '-', 'opened', '-', '-', '-', '-', '-', '-', '-', 'resolved', '-']);
});

test('cooldown: no new alert for cooldownWindows after a resolve; then the rule counts afresh', () => {
  const r = rule({ cooldownWindows: 4, openK: 2, openN: 2, closeM: 1 });
  const { kinds, ds } = script([0.95, 0.95, 0.1, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95], r);
  assert.deepEqual(kinds, ['-', 'opened', 'resolved', '-', '-', '-', '-', '-', 'opened']);
  assert.notEqual(ds[8][0].alert.id, ds[1][0].alert.id, 'a new alert, a new id');
  assert.equal(ds[8][0].alert.openedWindow, 7 * W);
});

test('severity from score and persistence; an escalation event when it rises, not when it stays', () => {
  const r = rule({ openK: 1, openN: 1, severity: { major: { windows: 4 }, critical: { above: 5 } } });
  const { ds, kinds } = script([0.95, 0.95, 0.95, 0.96, 0.97, 0.98, 6, 7, 0.2, 0.2], r);
  assert.deepEqual(kinds, [
    'opened',
    'updated',
    'updated',
    'escalated',
    'updated',
    'updated',
    'escalated',
    'updated',
    '-',
    'resolved',
  ]);
  assert.equal(ds[0][0].alert.severity, 'warning');
  assert.equal(ds[3][0].alert.severity, 'major');
  assert.equal(ds[6][0].alert.severity, 'critical');
  assert.equal(ds[9][0].alert.severity, 'critical', 'resolved at its highest severity');
  assert.equal(ds[9][0].alert.peakScore, 7);
});

test('one open alert per asset and rule; rules apply by plant and asset pattern; reference windows count for nothing', () => {
  const rules = [
    rule({ id: 'pumps', assets: ['pump-*'], openK: 1, openN: 1 }),
    rule({ id: 'p2-only', plants: ['p2'], openK: 1, openN: 1 }),
    rule({ id: 'all', openK: 1, openN: 1 }),
  ];
  const states: Record<string, ReturnType<typeof initialRunState>> = {};
  const all: Decision[] = [];
  for (let i = 0; i < 5; i++)
    all.push(...evaluateRules(row(i, i === 2 ? null : 0.99, 'pump-7'), states, rules, ctx));
  const opened = all.filter((d) => d.kind === 'opened');
  assert.deepEqual(
    opened.map((d) => d.alert.rule).sort(),
    ['all', 'pumps'],
    'one each; p2-only does not apply to plant p1',
  );
  assert.equal(new Set(all.map((d) => `${d.alert.rule}:${d.alert.id}`)).size, 2);
  const fan = evaluateRules(row(0, 0.99, 'fan-1'), {}, rules, ctx);
  assert.deepEqual(
    fan.map((d) => d.alert.rule),
    ['all'],
  );
  // The alert carries what an engineer needs.
  const a = opened[0].alert;
  assert.deepEqual(
    [a.topModality, a.topChannel, a.severity, a.kind],
    ['sensors', 'vib_hf', 'warning', 'anomaly'],
  );
  assert.match(a.links.timeline, /^https:\/\/tributary\.example\/v1\/assets\/pump-7\/timeline\?from=/);
});

test('the default rule reproduces the foundation rule (k consecutive ≥ threshold, m below resolves)', () => {
  const [r] = configuredRules(
    Config.parse({ alerts: { threshold: 5, openAfter: 3, resolveAfter: 2 } }).alerts,
  );
  const { kinds } = script([1, 6, 7, 1, 6, 6, 9, 8, 1, 6, 1, 1, 1], r);
  assert.deepEqual(kinds, [
    '-',
    '-',
    '-',
    '-',
    '-',
    '-',
    'opened',
    'updated',
    '-',
    'updated',
    '-',
    'resolved',
    '-',
  ]);
});

const alert = (over: Partial<Alert> = {}): Alert => ({
  id: 'al',
  plant: 'p1',
  asset: 'a1',
  rule: 'r',
  kind: 'anomaly',
  state: 'open',
  severity: 'warning',
  openedWindow: 0,
  lastWindow: W,
  resolvedWindow: null,
  peakScore: 1,
  modelVersion: 'm',
  contributions: {},
  topModality: null,
  topChannel: null,
  notes: [],
  acknowledgedBy: null,
  acknowledgedAt: null,
  snoozedUntil: null,
  resolvedBy: null,
  reason: null,
  links: { timeline: '' },
  ...over,
});

test('lifecycle: acknowledge with who and when, snooze, manual resolve; invalid transitions are refused', () => {
  const now = 1_000_000;
  const ack = applyAction(alert(), { type: 'acknowledge', by: 'ana', comment: 'on it' }, now);
  assert.deepEqual(
    [ack.event, ack.alert.state, ack.alert.acknowledgedBy, ack.alert.acknowledgedAt],
    ['alert.acknowledged', 'acknowledged', 'ana', now],
  );
  assert.throws(
    () => applyAction(ack.alert, { type: 'acknowledge', by: 'bo' }, now),
    (e: Error) => e instanceof LifecycleError && /already acknowledged by ana/.test(e.message),
  );
  assert.throws(
    () => applyAction(alert(), { type: 'snooze', by: 'ana', until: now - 1 }, now),
    (e: LifecycleError) => e.status === 400,
  );
  const sn = applyAction(ack.alert, { type: 'snooze', by: 'ana', until: now + 3_600_000 }, now);
  assert.equal(sn.alert.snoozedUntil, now + 3_600_000);
  assert.equal(sn.alert.state, 'acknowledged');
  const res = applyAction(sn.alert, { type: 'resolve', by: 'bo' }, now);
  assert.deepEqual([res.alert.state, res.alert.resolvedBy, res.alert.snoozedUntil], ['resolved', 'bo', null]);
  assert.throws(() => applyAction(res.alert, { type: 'acknowledge', by: 'ana' }, now), /is resolved/);
});

test('snooze expiry and escalation of an alert nobody acknowledged, once', () => {
  const t0 = 10_000_000;
  const snoozed = alert({ id: 's', snoozedUntil: t0 + 60_000 });
  const unacked = alert({ id: 'u' });
  const acked = alert({ id: 'k', state: 'acknowledged' });
  const xs = [
    { alert: snoozed, createdAt: t0, unackEscalated: false },
    { alert: unacked, createdAt: t0, unackEscalated: false },
    { alert: acked, createdAt: t0, unackEscalated: false },
  ];
  assert.deepEqual(timedChanges(xs, t0 + 30_000, 3_600_000), [], 'nothing yet');
  const at60 = timedChanges(xs, t0 + 60_000, 3_600_000);
  assert.deepEqual(
    at60.map((c) => [c.alert.id, c.event, c.alert.snoozedUntil]),
    [['s', 'alert.snooze_expired', null]],
  );
  const later = timedChanges(
    [
      { ...xs[1] },
      { ...xs[2] },
      { alert: { ...snoozed, snoozedUntil: null }, createdAt: t0, unackEscalated: false },
    ],
    t0 + 3_600_000,
    3_600_000,
  );
  assert.deepEqual(
    later.map((c) => [c.alert.id, c.event, c.alert.severity]),
    [
      ['u', 'alert.escalated', 'major'],
      ['s', 'alert.escalated', 'major'],
    ],
  );
  assert.deepEqual(
    timedChanges([{ alert: unacked, createdAt: t0, unackEscalated: true }], t0 + 7_200_000, 3_600_000),
    [],
    'once',
  );
  assert.deepEqual(
    timedChanges([{ alert: unacked, createdAt: t0, unackEscalated: false }], t0 + 7_200_000, 0),
    [],
    '0: never',
  );
});

test('data quality: a silent sensor stream, an offline camera and an uncertain clock open alerts that resolve when it ends', () => {
  const cfg = Config.parse({ alerts: { silentAfterMs: 600_000, clockUncertaintyMs: 2000 } }).alerts;
  const now = 100_000_000;
  const streams = [
    { plant: 'p1', asset: 'a1', sensorsLastSeen: now - 700_000, imagesLastSeen: now - 1000 },
    { plant: 'p1', asset: 'a2', sensorsLastSeen: now - 1000, imagesLastSeen: now - 900_000 },
    { plant: 'p1', asset: 'a3', sensorsLastSeen: now - 1000, imagesLastSeen: null },
  ];
  const clocks = [
    { plant: 'p1', asset: 'a3', device: 'd3', uncertaintyMs: 5000, corrected: true },
    { plant: 'p1', asset: 'a1', device: 'd1', uncertaintyMs: 20, corrected: true },
    // A replay of history: its stamps are kept as given, its clock is not judged.
    { plant: 'p1', asset: 'a2', device: 'd2', uncertaintyMs: 9e9, corrected: false },
  ];
  const ds = qualityChecks(streams, clocks, [], now, cfg);
  assert.deepEqual(ds.map((d) => [d.kind, d.alert.asset, d.alert.rule, d.alert.kind]).sort(), [
    ['opened', 'a1', 'dq:sensors-silent', 'data_quality'],
    ['opened', 'a2', 'dq:camera-silent', 'data_quality'],
    ['opened', 'a3', 'dq:clock-uncertain', 'data_quality'],
  ]);
  assert.match(ds.find((d) => d.alert.asset === 'a2')!.alert.reason!, /camera offline: no frame for 15 min/);
  const open = ds.map((d) => d.alert);
  assert.deepEqual(qualityChecks(streams, clocks, open, now + 1000, cfg), [], 'open once');
  const back = qualityChecks(
    streams.map((s) => ({ ...s, sensorsLastSeen: now, imagesLastSeen: s.imagesLastSeen && now })),
    clocks.map((c) => ({ ...c, uncertaintyMs: 10 })),
    open,
    now + 2000,
    cfg,
  );
  assert.deepEqual(back.map((d) => [d.kind, d.alert.asset]).sort(), [
    ['resolved', 'a1'],
    ['resolved', 'a2'],
    ['resolved', 'a3'],
  ]);
});

test('retry schedule: Svix-like, about a day, with ±20 % jitter; spent after the last entry', () => {
  const d = Config.parse({}).delivery;
  assert.deepEqual(
    d.schedule.map((x) => x / 1000),
    [5, 300, 1800, 7200, 18000, 36000, 36000],
  );
  assert.equal(d.schedule.reduce((a, b) => a + b, 0) / 3_600_000 > 26, true);
  assert.equal(
    retryDelayMs(1, d, () => 0.5),
    5000,
  );
  assert.equal(
    retryDelayMs(1, d, () => 0),
    4000,
  );
  assert.equal(
    retryDelayMs(3, d, () => 1),
    2_160_000,
  );
  assert.equal(
    retryDelayMs(8, d, () => 0.5),
    null,
  );
});

test('private and loopback addresses are recognised (SSRF guard)', () => {
  for (const a of [
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
  ]) {
    assert.equal(isPrivateAddress(a), true, a);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])
    assert.equal(isPrivateAddress(a), false, a);
});

test('endpoint filters: plants, asset patterns, minimum severity, event types', () => {
  const ev = (over: Partial<Alert> = {}, type: 'alert.opened' | 'alert.resolved' = 'alert.opened') => ({
    type,
    timestamp: '',
    data: alert(over),
    by: 'x',
    comment: null,
  });
  assert.equal(endpointWants({}, ev()), true);
  assert.equal(endpointWants({ plants: ['p2'] }, ev()), false);
  assert.equal(endpointWants({ assets: ['pump-*'] }, ev({ asset: 'pump-3' })), true);
  assert.equal(endpointWants({ assets: ['pump-*'] }, ev({ asset: 'fan-3' })), false);
  assert.equal(endpointWants({ minSeverity: 'major' }, ev({ severity: 'warning' })), false);
  assert.equal(endpointWants({ minSeverity: 'major' }, ev({ severity: 'critical' })), true);
  assert.equal(endpointWants({ eventTypes: ['alert.resolved'] }, ev({}, 'alert.opened')), false);
  assert.equal(endpointWants({ eventTypes: ['alert.resolved'] }, ev({}, 'alert.resolved')), true);
});

test('model drift: a plant-scoped data-quality alert per plant and model, held until the drift is well below the line', () => {
  const cfg = Config.parse({}).alerts;
  const now = Date.UTC(2026, 10, 1);
  const drift = (psi: number, plant = 'p1') => ({
    modelVersion: 'fusion-7',
    plant,
    psi,
    feature: 'vib:mean',
  });
  const opened = qualityChecks([], [], [], now, cfg, [], [drift(0.4), drift(0.4, 'p2'), drift(0.05, 'p3')]);
  assert.deepEqual(
    opened.map((d) => [d.kind, d.alert.plant, d.alert.asset, d.alert.rule, d.alert.kind]),
    [
      ['opened', 'p1', 'model:fusion-7', 'dq:model-drift', 'data_quality'],
      ['opened', 'p2', 'model:fusion-7', 'dq:model-drift', 'data_quality'],
    ],
  );
  assert.notEqual(opened[0].alert.id, opened[1].alert.id, 'one alert per plant');
  assert.match(
    opened[0].alert.reason!,
    /inputs of fusion-7 in plant p1 drifted .*PSI 0\.40 \(most: vib:mean\)/,
  );
  const open = [opened[0].alert];
  // 0.15: below the line (0.25) but above 0.4 × it: held open, not opened again.
  assert.deepEqual(qualityChecks([], [], open, now + 60_000, cfg, [], [drift(0.15)]), []);
  // 0.08: resolved; and gone from the figures altogether (another model active): resolved too.
  assert.equal(qualityChecks([], [], open, now + 120_000, cfg, [], [drift(0.08)])[0].kind, 'resolved');
  assert.equal(qualityChecks([], [], open, now + 120_000, cfg, [], [])[0].kind, 'resolved');
  // A new drift at 0.15 opens nothing; driftPsi 0 turns the check off.
  assert.deepEqual(qualityChecks([], [], [], now, cfg, [], [drift(0.15)]), []);
  const off = Config.parse({ alerts: { driftPsi: 0 } }).alerts;
  assert.deepEqual(qualityChecks([], [], [], now, off, [], [drift(0.9)]), []);
});
