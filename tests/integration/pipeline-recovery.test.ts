/**
 * The pipeline's recovery contract on the embedded store, with batches in a chosen order: after a crash, a
 * camera batch read before the sensor replay must not close the windows being refilled.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { CommitRequest, IncomingMessage } from '../../ingest/index.js';
import { createPipeline, readCheckpoint, type Pipeline } from '../../pipeline/index.js';
import { Config, type Modality } from '../../schemas/index.js';
import { generate, simplePlan } from '../../sim/index.js';
import { asMessages, testAlign, W } from '../helpers/pipeline.js';
import { openStore, type Store } from '../../store/index.js';

const T0 = Date.UTC(2026, 10, 1);
const cfg = Config.parse({
  database: { dataDir: ':memory:' },
  align: testAlign,
  scorer: { kind: 'baseline', referenceWindows: 3 },
  alerts: { threshold: 3, openAfter: 2 },
});
/** The context scorer at a scale these short runs reach: scored from 30 s, its memory past warm-up after a minute. */
const contextScorer = {
  kind: 'context',
  context: { coldStartMs: 30_000, warmUpMs: 60_000, minMemory: 3, rememberEveryMs: 0, lagMs: 20_000 },
} as const;
const cfgContext = Config.parse({ ...cfg, scorer: contextScorer });
const topics: Record<Modality, string> = { sensors: 's', images: 'i', notes: 'n' };
const data = generate(
  simplePlan({
    seed: 5,
    assets: 1,
    sampleMs: 1000,
    imageMs: W,
    fault: { asset: 0, onsetMs: T0 + 60_000, fullMs: T0 + 120_000 },
  }),
  T0,
  T0 + 150_000,
);
const msgs = asMessages;
const MODS: Modality[] = ['sensors', 'images', 'notes'];
const S = msgs(data.sensors);
const I = msgs(data.images);

async function open(c = cfg): Promise<{ store: Store; pipeline: () => Pipeline }> {
  const store = await openStore(c.database);
  return {
    store,
    pipeline: () =>
      createPipeline({ cfg: c, db: store.db, logger: pino({ level: 'silent' }), deadLetter: null, topics }),
  };
}
const feed = (p: Pipeline, modality: Modality, messages: IncomingMessage[]) =>
  p.handle({ partitionKey: 'p0', partition: 0, modality, topic: topics[modality], messages });
const rows = async (store: Store) =>
  (
    await store.db.query<Record<string, unknown>>(
      `SELECT asset, window_start, status, score, contributions, image_ts, quality FROM scores ORDER BY window_start`,
    )
  ).rows;

for (const [kind, c] of [
  ['baseline', cfg],
  ['context', cfgContext],
] as const)
  test(`a restored partition refills its open windows before anything fires, whatever topic comes first (${kind} scorer)`, async () => {
    // Undisturbed: sensors (first part), frames (all), sensors (rest).
    const u = await open(c);
    const up = u.pipeline();
    await feed(up, 'sensors', S.slice(0, 70));
    await feed(up, 'images', I.slice(0, 3));
    await feed(up, 'images', I.slice(3));
    await feed(up, 'sensors', S.slice(70));
    const expected = await rows(u.store);
    assert.ok(expected.length >= 12, `windows closed: ${expected.length}`);
    assert.ok(expected.some((r) => r.status === 'scored'));

    if (kind === 'context')
      assert.ok(
        expected.some((r) => r.status === 'reference') &&
          expected.some((r) => (r.contributions as Record<string, number>).bearing_temp_c !== undefined),
        'cold, then scored with contributions',
      );
    // Crash while the camera lags; the new instance reads the remaining frames before the sensor replay.
    const d = await open(c);
    const before = d.pipeline();
    await feed(before, 'sensors', S.slice(0, 70));
    const commits: CommitRequest[] = await feed(before, 'images', I.slice(0, 3));
    const committedSensors = commits.find((c) => c.topic === 's')?.offset;
    assert.ok(
      committedSensors !== undefined && committedSensors > 0 && committedSensors < 70,
      `sensor commit held back to an open window (${committedSensors})`,
    );
    const after = d.pipeline();
    await feed(after, 'images', I.slice(3));
    await feed(after, 'sensors', S.slice(committedSensors));
    assert.deepEqual(await rows(d.store), expected);
    await u.store.close();
    await d.store.close();
  });

test('batches of one partition number handed over at once are handled one at a time, in call order', async () => {
  const seq = await open();
  const sp = seq.pipeline();
  for (const [m, xs] of [
    ['sensors', S.slice(0, 70)],
    ['images', I],
    ['sensors', S.slice(70)],
  ] as const)
    await feed(sp, m, xs);
  const con = await open();
  const cp = con.pipeline();
  await Promise.all([
    feed(cp, 'sensors', S.slice(0, 70)),
    feed(cp, 'images', I),
    feed(cp, 'sensors', S.slice(70)),
  ]);
  assert.deepEqual(await rows(con.store), await rows(seq.store));
  assert.ok((await rows(con.store)).length > 10);
  await seq.store.close();
  await con.store.close();
});

test('a sample for a closed window lands in the late log with its reason, once, even when replayed', async () => {
  const x = await open();
  const p = x.pipeline();
  await feed(p, 'sensors', S.slice(0, 70));
  await feed(p, 'images', I);
  const lateSample = { ...data.sensors[5], seq: 9999, ts: data.sensors[5].ts + 500 };
  await feed(p, 'sensors', msgs([lateSample], 70));
  await feed(x.pipeline(), 'sensors', msgs([lateSample], 70)); // a restarted instance replays it
  const late = (
    await x.store.db.query<{ record_key: string; reason: string; value: { ts: number } }>(
      'SELECT record_key, reason, value FROM late_records',
    )
  ).rows;
  assert.deepEqual(
    late.map((l) => [l.record_key, l.reason, l.value.ts]),
    [['s:0:70', 'window already closed', lateSample.ts]],
  );
  await x.store.close();
});

test('a note without an asset is windowed with the asset its text names (embedded mode: in place)', async () => {
  const store = await openStore(cfg.database);
  const withAliases = Config.parse({
    ...cfg,
    align: { ...cfg.align, aliases: { p1: { 'pump one': 'pump-01' } } },
  });
  const p = createPipeline({
    cfg: withAliases,
    db: store.db,
    logger: pino({ level: 'silent' }),
    deadLetter: null,
    topics,
  });
  const note: { asset?: string } = {
    v: 1,
    plant: 'p1',
    author: 'j.doe',
    ts: T0 + 15_000,
    text: 'Pump One: smell of hot oil',
  } as { asset?: string };
  await feed(p, 'notes', msgs([note]));
  await feed(p, 'sensors', S.slice(0, 70));
  await feed(p, 'images', I);
  const stored = (await store.db.query<{ asset: string | null }>('SELECT asset FROM notes')).rows;
  assert.deepEqual(stored, [{ asset: 'pump-01' }]);
  const counts = (
    await store.db.query<{ n: number }>(`SELECT note_count AS n FROM scores WHERE window_start = $1`, [
      new Date(T0 + 10_000),
    ])
  ).rows;
  assert.deepEqual(counts, [{ n: 1 }]);
  await store.close();
});

test('a note without an asset that names two assets by their ids, as operators write them, goes to both', async () => {
  const { store, pipeline } = await open();
  const p = pipeline();
  const two = generate(simplePlan({ seed: 6, assets: 2, sampleMs: 1000, imageMs: W }), T0, T0 + 60_000);
  const before = (r: { ts?: number }) => (r.ts ?? 0) < T0 + 25_000;
  const early = msgs(two.sensors.filter(before)),
    rest = msgs(two.sensors.filter((r) => !before(r)));
  // The assets are known from their readings first; then a note names "PUMP 1" and "P-02".
  await feed(p, 'sensors', early);
  const note = {
    v: 1,
    plant: 'p1',
    author: 'j.doe',
    ts: T0 + 25_000,
    text: 'PUMP 1 and P-02 both hot after the restart',
  };
  await feed(p, 'notes', msgs([note as unknown as { asset?: string }]));
  await feed(p, 'sensors', rest);
  await feed(p, 'images', msgs(two.images));
  const stored = (await store.db.query<{ asset: string | null }>('SELECT asset FROM notes ORDER BY asset'))
    .rows;
  assert.deepEqual(stored, [{ asset: 'pump-01' }, { asset: 'pump-02' }]);
  // Each asset's windows around the note carry it.
  const counts = (
    await store.db.query<{ asset: string; n: number }>(
      `SELECT asset, count(*)::int AS n FROM scores WHERE note_count > 0 GROUP BY asset ORDER BY asset`,
    )
  ).rows;
  assert.deepEqual(
    counts.map((c) => c.asset),
    ['pump-01', 'pump-02'],
  );
  await store.close();
});

for (const kind of ['baseline', 'context'] as const)
  test(`the per-asset checkpoint rows hold the whole partition state after every batch (clocks written with each), and a batch rewrites only the assets it changed (${kind} scorer)`, async () => {
    // Three assets with a fault, notes, and a camera that dies: its asset's windows wait for it until its
    // idle time-out passes, in processing time, and then fire in a batch with no record of that asset.
    const plan = simplePlan({
      seed: 12,
      assets: 3,
      sampleMs: 1000,
      imageMs: W,
      noteMs: 60_000,
      fault: { asset: 0, onsetMs: T0 + 60_000, fullMs: T0 + 120_000 },
    });
    const all = generate(plan, T0, T0 + 200_000);
    const sensors = msgs(all.sensors),
      images = msgs(all.images.filter((f) => f.asset !== 'pump-03' || f.ts < T0 + 90_000)),
      notes = msgs(all.notes);
    const c = Config.parse({
      database: { dataDir: ':memory:' },
      align: { ...testAlign, idleTimeoutMs: 5_000, clock: { checkpointEveryMs: 0 } },
      scorer: kind === 'baseline' ? { kind, referenceWindows: 3 } : contextScorer,
      alerts: { threshold: 3, openAfter: 2 },
    });
    const store = await openStore(c.database);
    let clock = T0;
    const p = createPipeline({
      cfg: c,
      db: store.db,
      logger: pino({ level: 'silent' }),
      deadLetter: null,
      topics,
      now: () => clock,
    });
    const cursor: Record<Modality, number> = { sensors: 0, images: 0, notes: 0 };
    // The last ten seconds of sensor records are kept for the end.
    const src: Record<Modality, IncomingMessage[]> = { sensors: sensors.slice(0, -30), images, notes };
    const latestRows = async () =>
      (
        await store.db.query<{ asset: string }>(
          `SELECT DISTINCT asset FROM asset_checkpoints WHERE part = 'core' AND updated_at = (SELECT max(updated_at) FROM asset_checkpoints)`,
        )
      ).rows.map((r) => r.asset);
    let rng = 7;
    const next = () => {
      rng = (rng * 1103515245 + 12345) % 2 ** 31;
      return rng / 2 ** 31;
    };
    let batches = 0,
      partial = 0;
    while (MODS.some((m) => cursor[m] < src[m].length)) {
      const m = MODS.filter((x) => cursor[x] < src[x].length)[
        Math.floor(next() * 3) % MODS.filter((x) => cursor[x] < src[x].length).length
      ];
      // Sensor records arrive in sets of one per asset; a batch of one record changes one asset.
      const n = m === 'sensors' ? 1 + Math.floor(next() * 12) : 1 + Math.floor(next() * 3);
      await feed(p, m, src[m].slice(cursor[m], cursor[m] + n));
      cursor[m] += n;
      batches++;
      const stored = JSON.parse(JSON.stringify(await readCheckpoint(store.db, 'p0')));
      assert.deepEqual(
        stored,
        JSON.parse(JSON.stringify(p.checkpoint('p0'))),
        `after batch ${batches} (${m} × ${n})`,
      );
      if ((await latestRows()).length < 3) partial++;
    }
    const same = async (what: string) =>
      assert.deepEqual(
        JSON.parse(JSON.stringify(await readCheckpoint(store.db, 'p0'))),
        JSON.parse(JSON.stringify(p.checkpoint('p0'))),
        what,
      );
    // The processing clock stood still so far; now the sensors go on and the camera stays silent.
    clock += 4_000;
    await feed(p, 'sensors', sensors.slice(-30));
    await same('after the last sensor records');
    const waiting = (
      await store.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scores WHERE asset = 'pump-03'`)
    ).rows[0].n;
    clock += 2_000;
    await feed(p, 'notes', []);
    assert.ok(
      (await store.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scores WHERE asset = 'pump-03'`))
        .rows[0].n > waiting,
      'the dead camera stopped holding pump-03 back',
    );
    await same('after the idle time-out');

    // A checkpoint from before per-asset rows (the whole state in the partition's row) is read, and the
    // next batch writes every asset's row.
    const whole = p.checkpoint('p0')!;
    await store.db.query('DELETE FROM asset_checkpoints');
    await store.db.query(`UPDATE align_checkpoints SET state = $1::jsonb WHERE partition_key = 'p0'`, [
      JSON.stringify(whole),
    ]);
    const p2 = createPipeline({
      cfg: c,
      db: store.db,
      logger: pino({ level: 'silent' }),
      deadLetter: null,
      topics,
      now: () => clock,
    });
    await feed(p2, 'notes', []);
    assert.deepEqual(
      (
        await store.db.query<{ asset: string }>(
          `SELECT asset FROM asset_checkpoints WHERE part = 'clocks' ORDER BY asset`,
        )
      ).rows.map((r) => r.asset),
      ['pump-01', 'pump-02', 'pump-03'],
    );
    assert.deepEqual(
      JSON.parse(JSON.stringify(await readCheckpoint(store.db, 'p0'))),
      JSON.parse(JSON.stringify(p2.checkpoint('p0'))),
    );
    assert.deepEqual(
      p2.checkpoint('p0')!.rules,
      JSON.parse(JSON.stringify(whole.rules)),
      'the rule states came through',
    );
    const alerts = (await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM alerts')).rows[0].n;
    assert.ok(alerts > 0, 'the fault opened an alert (rule state is in the rows)');
    assert.ok(
      partial > batches / 4,
      `batches that rewrote fewer than all three assets: ${partial} of ${batches}`,
    );
    await store.close();
  });

test('device clocks checkpointed every so often come back exact: the records after their checkpoint are observed again', async () => {
  // Record times with a delay that varies, so the clocks have something to fit; three assets, a fault.
  const plan = simplePlan({
    seed: 13,
    assets: 3,
    sampleMs: 1000,
    imageMs: W,
    noteMs: 60_000,
    fault: { asset: 1, onsetMs: T0 + 60_000, fullMs: T0 + 120_000 },
  });
  const all = generate(plan, T0, T0 + 240_000);
  const stamped = (xs: Array<{ asset?: string; ts: number }>) =>
    msgs(xs).map((m, i) => ({ ...m, timestamp: xs[i].ts + 40 + ((i * 37) % 90) }));
  const src: Record<Modality, IncomingMessage[]> = {
    sensors: stamped(all.sensors),
    images: stamped(all.images),
    notes: stamped(all.notes),
  };
  const c = Config.parse({
    database: { dataDir: ':memory:' },
    align: { ...testAlign, clock: { checkpointEveryMs: 20_000, minEvidenceMs: 10_000 } },
    scorer: { kind: 'baseline', referenceWindows: 3 },
    alerts: { threshold: 3, openAfter: 2 },
  });
  const result = async (store: Store) =>
    (
      await store.db.query<Record<string, unknown>>(
        'SELECT asset, window_start, revision, status, score, quality, image_ts FROM scores ORDER BY asset, window_start, revision',
      )
    ).rows;
  // One order of batches (sizes from `seed`) from the given offsets to the end; processing time 1 s a batch.
  async function run(
    p: Pipeline,
    from: Record<Modality, number>,
    seed: number,
    clock: { t: number },
    stopAfter = Infinity,
  ) {
    const cursor = { ...from };
    let rng = seed,
      n = 0;
    const next = () => {
      rng = (rng * 1103515245 + 12345) % 2 ** 31;
      return rng / 2 ** 31;
    };
    const commits: Partial<Record<Modality, number>> = {};
    while (MODS.some((m) => cursor[m] < src[m].length) && n++ < stopAfter) {
      const left = MODS.filter((x) => cursor[x] < src[x].length);
      const m = left[Math.floor(next() * left.length)];
      const k = m === 'sensors' ? 1 + Math.floor(next() * 20) : 1 + Math.floor(next() * 3);
      for (const cr of await feed(p, m, src[m].slice(cursor[m], cursor[m] + k)))
        commits[MODS.find((x) => topics[x] === cr.topic)!] = cr.offset;
      cursor[m] += k;
      clock.t += 1000;
    }
    return commits;
  }
  const make = (store: Store, clock: { t: number }) =>
    createPipeline({
      cfg: c,
      db: store.db,
      logger: pino({ level: 'silent' }),
      deadLetter: null,
      topics,
      now: () => clock.t,
    });

  const u = await openStore(c.database);
  const uclock = { t: T0 };
  const pu = make(u, uclock);
  await run(pu, { sensors: 0, images: 0, notes: 0 }, 21, uclock);
  const expected = await result(u);
  assert.ok(
    expected.some(
      (r) =>
        (r.quality as { clocks?: Record<string, { corrected: boolean }> }).clocks &&
        Object.values((r.quality as { clocks: Record<string, { corrected: boolean }> }).clocks).some(
          (x) => x.corrected,
        ),
    ),
    'clocks corrected some windows',
  );

  const d = await openStore(c.database);
  const clock = { t: T0 };
  const commits = await run(make(d, clock), { sensors: 0, images: 0, notes: 0 }, 21, clock, 150);
  const cp = (await readCheckpoint(d.db, 'p0'))!;
  assert.ok(
    (cp.clocksAt?.sensors ?? -1) < (cp.processed.sensors ?? -1),
    `the stored clocks are behind the processed mark (${cp.clocksAt?.sensors} < ${cp.processed.sensors})`,
  );
  assert.ok(
    (commits.sensors ?? 0) <= (cp.clocksAt?.sensors ?? -1) + 1,
    'the sensor commit is held back to the clocks',
  );
  // A new instance resumes from the committed offsets, in another order of batches.
  const p2 = make(d, clock);
  await run(
    p2,
    { sensors: commits.sensors ?? 0, images: commits.images ?? 0, notes: commits.notes ?? 0 },
    99,
    clock,
  );
  assert.deepEqual(await result(d), expected);
  const clocksOf = (p: Pipeline) =>
    Object.fromEntries(Object.entries(p.checkpoint('p0')!.align.assets).map(([a, x]) => [a, x.clocks]));
  assert.deepEqual(clocksOf(p2), clocksOf(pu), 'every device clock ends as the undisturbed one');
  await u.close();
  await d.close();
});

test('an asset id with a slash keeps its model and rule state in its own checkpoint rows across a restart', async () => {
  // Asset ids may hold "/" (wire format); model state is keyed `asset` or `version/asset`.
  const plan = simplePlan({ seed: 14, assets: 2, sampleMs: 1000, imageMs: W });
  const all = generate(plan, T0, T0 + 150_000);
  const rename = <T extends { asset?: string }>(xs: T[]) =>
    xs.map((x) => ({ ...x, asset: x.asset === 'pump-01' ? 'line1/pump-02' : x.asset }));
  const S2 = msgs(rename(all.sensors)),
    I2 = msgs(rename(all.images));
  const store = await openStore(cfg.database);
  const make = () =>
    createPipeline({ cfg, db: store.db, logger: pino({ level: 'silent' }), deadLetter: null, topics });
  const half = Math.floor(S2.length / 2);
  const p1 = make();
  await feed(p1, 'sensors', S2.slice(0, half));
  await feed(p1, 'images', I2);
  assert.ok(p1.checkpoint('p0')!.models['line1/pump-02']?.params, 'the baseline fitted the asset');
  const written = async (part: string) =>
    new Map(
      (
        await store.db.query<{ asset: string; state: string; at: Date }>(
          `SELECT asset, state, updated_at AS at FROM asset_checkpoints WHERE part = $1`,
          [part],
        )
      ).rows.map((r) => [r.asset, `${new Date(r.at).getTime()} ${r.state}`]),
    );
  const [scoringBefore, rulesBefore] = [await written('scoring'), await written('rules')];
  // A restart: the new owner restores both assets' state from their rows and goes on.
  const p2 = make();
  await feed(p2, 'sensors', S2.slice(half));
  // Fitted models do not change: their rows are not rewritten; the rules' state is, as windows fire.
  const scoringAfter = await written('scoring');
  const fitted = [...scoringBefore].filter(([, v]) => v.includes('"params":{'));
  assert.ok(fitted.some(([a]) => a === 'line1/pump-02'));
  for (const [a, v] of fitted)
    assert.equal(scoringAfter.get(a), v, `${a}: a fitted baseline writes its scoring row no more`);
  const rulesAfter = await written('rules');
  assert.deepEqual([...rulesAfter.keys()].sort(), ['line1/pump-02', 'pump-02']);
  assert.ok(
    [...rulesAfter].some(([a, v]) => rulesBefore.get(a) !== v),
    'rule state rows are rewritten as windows fire',
  );
  const stored = (await readCheckpoint(store.db, 'p0'))!;
  assert.deepEqual(
    JSON.parse(JSON.stringify(stored.models)),
    JSON.parse(JSON.stringify(p2.checkpoint('p0')!.models)),
  );
  assert.ok(
    stored.models['line1/pump-02'] && stored.rules['line1/pump-02'],
    'its model and rule state are stored under it',
  );
  const rows = (
    await store.db.query<{ asset: string; state: string }>(
      `SELECT asset, state FROM asset_checkpoints WHERE part = 'scoring' ORDER BY asset`,
    )
  ).rows;
  assert.deepEqual(
    rows.map((r) => [r.asset, Object.keys(JSON.parse(r.state).models ?? {})]),
    [
      ['line1/pump-02', ['line1/pump-02']],
      ['pump-02', ['pump-02']],
    ],
    "each asset's row holds its own model state only",
  );
  await store.close();
});
