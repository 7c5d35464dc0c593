/**
 * End to end through the real broker and the PostgreSQL server (`npm run bench -- e2e`):
 *
 * 1. Backlog at full speed: a simulated plant's records (broker timestamps as the plant would have published
 *    them) are read by raw kafkajs (no work), then by the pipeline (ingest → align → score → store).
 *    Records and samples per second, consumer lag over time, and the store's write rate against raw COPY of
 *    the very rows it wrote (readings and scores), all in this process.
 * 2. Live at half the maximum rate: first the live plant's own maximum (the highest rate it keeps up
 *    with, live, found by a ramp of 25-s steps); then a plant of that shape publishes in real time, at
 *    half of it, while the pipeline, the alert rules and the webhook sender run; window close → score
 *    committed, and record → webhook received (from the end of the window that opened or resolved an
 *    alert to the delivery at a local HTTP endpoint).
 * 3. 10 000 assets: the service as its own process (`tributary start`) consumes a backlog of 10 000 assets;
 *    its resident memory is sampled throughout.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pipeline as streamPipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { pino } from 'pino';
import { startDeliveryWorker } from '../alerts/index.js';
import { createKafkaIngest, createRecordProducer, drainTopics, type KafkaIngest } from '../ingest/index.js';
import { createPipeline, type ScoredSummary } from '../pipeline/index.js';
import { Config, type ConfigInput, type Modality } from '../schemas/index.js';
import { generate, simplePlan } from '../sim/index.js';
import { openStore, syncConfigEndpoints, type Db, type Queryable } from '../store/index.js';
import { uniqueName, type TestKafka } from '../tests/helpers/kafka.js';
import { createTestDatabase } from '../tests/helpers/pg.js';
import { startServiceProcess, TEST_API_KEY } from '../tests/helpers/service.js';
import { cores, cpuNow, cpuSince, type CpuSeconds } from './cpu.js';
import { publish } from './publish.js';

const perRecordUs = (c: CpuSeconds, records: number): CpuSeconds => ({
  self: (c.self / records) * 1e6,
  broker: (c.broker / records) * 1e6,
  postgres: (c.postgres / records) * 1e6,
});
const quantile = (xs: number[], q: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

export function topicsOf(prefix: string) {
  return {
    sensors: `${prefix}.sensors`,
    images: `${prefix}.images`,
    notes: `${prefix}.notes`,
    deadLetter: `${prefix}.dlq`,
  };
}

/** One statement of a write transaction, as the store sent it. */
type Op =
  | { sql: string; params?: unknown[]; deferred?: true }
  | { copy: string; data: Buffer[] }
  | { temp: [string, string] };
const isRows = (sql: string) =>
  /^\s*(INSERT INTO (readings|scores) |COPY (readings|scores)(_in)? |(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) copy_(readings|scores))/.test(
    sql,
  );

/**
 * The pool with its write transactions recorded statement for statement (and their time inside the
 * pipeline, which includes waiting for the busy event loop).
 */
function recordingDb(db: Db): { db: Db; busyMs: () => number; transactions: Op[][] } {
  let busy = 0;
  const transactions: Op[][] = [];
  const rec = Object.create(db) as Db;
  rec.transaction = async (f) => {
    const t = performance.now();
    try {
      return await db.transaction(async (tx) => {
        const ops: Op[] = [];
        const q = Object.create(tx) as Queryable;
        q.query = (sql, params) => {
          ops.push({ sql, params });
          return tx.query(sql, params);
        };
        if (tx.copyIn) {
          q.copyIn = (sql, data) => {
            // Recorded as the chunks go out (the pipeline makes the next while the server reads the last).
            const chunks: Buffer[] = [];
            ops.push({ copy: sql, data: chunks });
            return tx.copyIn!(
              sql,
              (function* () {
                for (const c of data) {
                  chunks.push(c);
                  yield c;
                }
              })(),
            );
          };
        }
        if (tx.tempTable)
          q.tempTable = (name, like) => {
            ops.push({ temp: [name, like] });
            return tx.tempTable!(name, like);
          };
        if (tx.defer)
          q.defer = (sql, params) => {
            ops.push({ sql, params, deferred: true });
            return tx.defer!(sql, params);
          };
        const out = await f(q);
        transactions.push(ops);
        return out;
      });
    } finally {
      busy += performance.now() - t;
    }
  };
  return { db: rec, busyMs: () => busy, transactions };
}

/**
 * The store's write speed: the pipeline's write transactions replayed statement for statement, one after
 * another on an otherwise idle connection, into a fresh database; the statements that write readings and
 * scores are timed apart (the rows raw COPY is compared with).
 */
async function replayWrites(
  db: Db,
  txs: Op[][],
): Promise<{
  rowsS: number;
  transactionsS: number;
  byStatement: Array<{ what: string; ms: number; n: number }>;
}> {
  let rows = 0,
    whole = 0;
  const per = new Map<string, { ms: number; n: number }>();
  const note = (sql: string, ms: number) => {
    const what =
      /^\s*(\w+(?:\s+(?:INTO|FROM|TABLE))?\s+\w+)/.exec(sql)?.[1].replace(/\s+/g, ' ') ?? sql.slice(0, 30);
    const e = per.get(what) ?? { ms: 0, n: 0 };
    e.ms += ms;
    e.n++;
    per.set(what, e);
    if (isRows(sql)) rows += ms;
  };
  for (const ops of txs) {
    const t = performance.now();
    await db.transaction(async (tx) => {
      for (const op of ops) {
        const s = performance.now();
        if ('temp' in op) {
          await tx.tempTable!(...op.temp);
          continue;
        }
        if ('copy' in op) {
          await tx.copyIn!(op.copy, op.data);
          note(op.copy, performance.now() - s);
          continue;
        }
        // A deferred statement goes out with the next one (as in the pipeline), which its time is counted with.
        if (op.deferred && tx.defer) {
          await tx.defer(op.sql, op.params);
          continue;
        }
        await tx.query(op.sql, op.params);
        note(op.sql, performance.now() - s);
      }
    });
    whole += performance.now() - t;
  }
  return {
    rowsS: rows / 1000,
    transactionsS: whole / 1000,
    byStatement: [...per].map(([what, e]) => ({ what, ...e })).sort((a, b) => b.ms - a.ms),
  };
}

/**
 * A backlog of `records` through a pipeline (ingest → align → score → store) from the first fetch until
 * every record's batch is durable; the seconds it took. `every500ms`: elapsed seconds and records left.
 */
export async function consumeBacklog(
  cfg: Config,
  db: Db,
  ingest: KafkaIngest,
  records: number,
  o: { onScored?: (s: ScoredSummary) => void; every500ms?: (s: number, left: number) => void } = {},
): Promise<number> {
  const logger = pino({ level: 'warn' });
  let seen = 0,
    done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const { sensors, images, notes } = cfg.kafka.topics;
  const p = createPipeline({
    cfg,
    db,
    logger,
    topics: { sensors, images, notes },
    deadLetter: (d) => ingest.deadLetter(d),
  });
  p.events.on('durable', (s) => {
    seen += s.records;
    if (seen >= records) done();
  });
  if (o.onScored) p.events.on('scored', o.onScored);
  const t = performance.now();
  const sampler = o.every500ms
    ? setInterval(() => o.every500ms!((performance.now() - t) / 1000, records - seen), 500)
    : null;
  await ingest.run((b) => p.handle({ ...b, partitionKey: `p${b.partition}` }));
  await finished;
  const s = (performance.now() - t) / 1000;
  if (sampler) clearInterval(sampler);
  await ingest.stop();
  return s;
}

/** Seconds of each step of the live ramp. */
const RAMP_S = 25;

export interface E2eResult {
  backlog: {
    records: number;
    samples: number;
    rawPerS: number;
    /** Raw consumption plus UTF-8 decoding and JSON.parse of every record: the floor of any pipeline. */
    parsePerS: number;
    pipelinePerS: number;
    samplesPerS: number;
    ratio: number;
    lag: Array<{ s: number; lag: number }>;
    store: {
      readingRows: number;
      scoreRows: number;
      rowsS: number;
      transactionsS: number;
      inPipelineS: number;
      copyS: number;
      ratio: number;
      byStatement: Array<{ what: string; ms: number; n: number }>;
    };
    closeToCommitMs: { p50: number; p99: number };
    /**
     * CPU per record (µs) of raw consumption and of the pipeline, by process (this one, the broker,
     * PostgreSQL), over the same records; and the machine's cores. Null where /proc cannot be read.
     */
    cpu: { raw: CpuSeconds; pipeline: CpuSeconds; cores: number } | null;
  };
  /**
   * The live plant's maximum: the highest rate of the ramp's steps that it kept up with (ended at most 2 s
   * behind), and every step.
   */
  liveMax: {
    perS: number;
    steps: Array<{ ratePerS: number; assets: number; drainMs: number; keptUp: boolean; p99: number }>;
  } | null;
  /** Cameras on their own schedules, then every camera at the same instants (all windows close at once). */
  live: Array<{
    cameras: 'spread' | 'synchronised';
    ratePerS: number;
    seconds: number;
    records: number;
    assets: number;
    drainMs: number;
    closeToCommitMs: { p50: number; p99: number; n: number };
    recordToWebhookMs: { p50: number; p99: number; n: number };
  }>;
  big: { assets: number; records: number; seconds: number; maxRssMiB: number; endRssMiB: number } | null;
}

export interface E2eOptions {
  assets: number;
  minutes: number;
  sampleMs: number;
  liveSeconds: number;
  bigAssets: number;
  bigMinutes: number;
  /**
   * The live phase's rate (records/s) instead of half the live plant's maximum (measured first, by a
   * ramp), and which camera schedules it runs.
   */
  liveRate?: number;
  cameras?: Array<'spread' | 'synchronised'>;
}

export async function runE2eBench(
  kafka: TestKafka,
  o: E2eOptions = {
    assets: 40,
    minutes: 20,
    sampleMs: 200,
    liveSeconds: 60,
    bigAssets: 10_000,
    bigMinutes: 2,
  },
  say: (s: string) => void = () => {},
): Promise<E2eResult> {
  const logger = pino({ level: 'warn' });
  const tdb = await createTestDatabase('benche2e');
  const producer = await createRecordProducer(kafka.brokers, logger);
  try {
    // ---- 1. backlog at full speed
    const t1 = topicsOf(uniqueName('e2e'));
    const cfg = Config.parse({
      kafka: { brokers: kafka.brokers, groupId: uniqueName('g'), topics: t1 },
      database: { url: tdb.url },
    });
    const ingest = createKafkaIngest(cfg.kafka, logger);
    await ingest.ensureTopics();
    const T0 = Date.now() - o.minutes * 60_000 - 60_000;
    const recs = generate(
      simplePlan({
        seed: 1,
        assets: o.assets,
        sampleMs: o.sampleMs,
        imageMs: 10_000,
        noteMs: 600_000,
        spreadCameras: true,
      }),
      T0,
      T0 + o.minutes * 60_000,
    );
    const topics: Record<Modality, string> = { sensors: t1.sensors, images: t1.images, notes: t1.notes };
    const records = await publish(producer, topics, recs);
    const samples = recs.sensors.reduce((s, r) => s + Object.keys(r.values).length, 0);
    say(`backlog: ${records} records published`);
    // Raw consumption twice (a fresh group each time), the faster counted: the first read of freshly
    // written topics, and the group's first join, vary from run to run.
    let t = 0,
      rawS = Infinity,
      parseS = Infinity,
      rawCpu: CpuSeconds | null = null;
    for (let k = 0; k < 2; k++) {
      t = performance.now();
      const c0 = cpuNow();
      await drainTopics(kafka.brokers, Object.values(topics), records, logger);
      const s = (performance.now() - t) / 1000;
      if (s < rawS) {
        rawS = s;
        rawCpu = cpuSince(c0, cpuNow());
      }
    }
    // The floor of any pipeline of these records: raw consumption plus reading each record's JSON, the
    // one step every record needs whatever is done with it next (the same TextDecoder and JSON.parse).
    const utf8 = new TextDecoder('utf-8', { fatal: true });
    let parsed = 0;
    for (let k = 0; k < 2; k++) {
      t = performance.now();
      await drainTopics(kafka.brokers, Object.values(topics), records, logger, (v) => {
        if (v && JSON.parse(utf8.decode(v))) parsed++;
      });
      parseS = Math.min(parseS, (performance.now() - t) / 1000);
    }
    if (parsed !== 2 * records)
      throw new Error(`the floor's consumer parsed ${parsed} records of ${2 * records}`);

    const store = await openStore(cfg.database);
    const timed = recordingDb(store.db);
    const closeToCommit: number[] = [];
    const lag: Array<{ s: number; lag: number }> = [];
    const c0 = cpuNow();
    const pipeS = await consumeBacklog(cfg, timed.db, ingest, records, {
      onScored: (s) => {
        if (s.scored) closeToCommit.push(s.closeToCommitMs);
      },
      every500ms: (s, left) => lag.push({ s: Math.round(s * 10) / 10, lag: left }),
    });
    const pipeCpu = cpuSince(c0, cpuNow());
    lag.push({ s: Math.round(pipeS * 10) / 10, lag: 0 });

    // Raw COPY of the same rows the store wrote, into empty copies of its tables.
    const client = new pg.Client({ connectionString: tdb.url });
    await client.connect();
    const dump = async (sql: string, binary: boolean) => {
      const chunks: Buffer[] = [];
      for await (const c of client.query(
        copyTo(`COPY (${sql}) TO STDOUT${binary ? ' WITH (FORMAT binary)' : ''}`),
      ))
        chunks.push(c as Buffer);
      return chunks;
    };
    const rcols = 'plant, asset, device, channel, window_start, n, t_offset_ms, v';
    const scols =
      'plant, asset, window_start, window_end, revision, model_version, status, score, contributions, quality, image_ts, note_count, explanation';
    const readingRows = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM readings')).rows[0]
      .n;
    const scoreRows = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM scores')).rows[0].n;
    // Raw COPY in both formats (the store writes binary where it can), the faster counted.
    let raw = await Promise.all(
      [false, true].map(async (binary) => ({
        binary,
        rd: await dump(`SELECT ${rcols} FROM readings`, binary),
        sd: await dump(`SELECT ${scols} FROM scores`, binary),
      })),
    );
    await client.query('CREATE TABLE readings_copy (LIKE readings INCLUDING ALL)');
    await client.query('CREATE TABLE scores_copy (LIKE scores INCLUDING ALL)');
    // Each side twice, alternately, the better run counted (the server's own background work varies).
    let copyS = Infinity;
    let replay: Awaited<ReturnType<typeof replayWrites>> | null = null;
    for (let k = 0; k < 2; k++) {
      for (const { binary, rd, sd } of raw) {
        await client.query('TRUNCATE readings_copy, scores_copy');
        const format = binary ? ' WITH (FORMAT binary)' : '';
        t = performance.now();
        await streamPipeline(
          Readable.from(rd),
          client.query(copyFrom(`COPY readings_copy (${rcols}) FROM STDIN${format}`)),
        );
        await streamPipeline(
          Readable.from(sd),
          client.query(copyFrom(`COPY scores_copy (${scols}) FROM STDIN${format}`)),
        );
        copyS = Math.min(copyS, (performance.now() - t) / 1000);
      }
      // The store's writes replayed into a fresh database.
      const rdb = await createTestDatabase('benchreplay');
      const replayStore = await openStore({ ...cfg.database, url: rdb.url });
      const r = await replayWrites(replayStore.db, timed.transactions);
      if (!replay || r.rowsS < replay.rowsS) replay = r;
      await replayStore.close();
      await rdb.drop();
    }
    await client.end();
    await store.close();
    // What the backlog phase kept for the replay goes before the live phase: a heap of hundreds of MiB
    // would make its garbage collections (and so its latencies) the bench's, not the pipeline's.
    timed.transactions.length = 0;
    raw = [];
    globalThis.gc?.();
    const backlog = {
      records,
      samples,
      rawPerS: records / rawS,
      parsePerS: records / parseS,
      pipelinePerS: records / pipeS,
      samplesPerS: samples / pipeS,
      ratio: rawS / pipeS,
      lag,
      store: {
        readingRows,
        scoreRows,
        rowsS: replay!.rowsS,
        transactionsS: replay!.transactionsS,
        inPipelineS: timed.busyMs() / 1000,
        copyS,
        ratio: copyS / replay!.rowsS,
        byStatement: replay!.byStatement,
      },
      closeToCommitMs: { p50: quantile(closeToCommit, 0.5), p99: quantile(closeToCommit, 0.99) },
      cpu:
        rawCpu && pipeCpu
          ? { raw: perRecordUs(rawCpu, records), pipeline: perRecordUs(pipeCpu, records), cores: cores() }
          : null,
    };
    say(
      `backlog: pipeline ${Math.round(backlog.pipelinePerS)} records/s, raw ${Math.round(backlog.rawPerS)} records/s`,
    );

    // ---- 2. live at half the maximum rate, with alerts and webhooks (skipped with liveSeconds 0)
    // The live plant's configuration (webhooks apart).
    const liveConfig = (topics: ReturnType<typeof topicsOf>, url: string) => ({
      kafka: { brokers: kafka.brokers, groupId: uniqueName('g'), topics },
      database: { url },
      align: { windowMs: 5_000 },
      // A touchy rule (noise opens alerts) so that there are enough webhooks to time, not so many that
      // deliveries queue.
      alerts: { threshold: 8, openAfter: 2, resolveAfter: 2 },
    });
    const perAsset = 1000 / o.sampleMs + 0.1; // sensor records and frames per asset and second
    /**
     * The live plant at `rate` for `seconds`. `webhooks`: with an endpoint, waiting for the last windows
     * to close and deliver; without, a step of the ramp, over once every record is processed.
     * `drainMs`: from the plant's last record to the pipeline's, how far behind the pipeline ended.
     */
    const livePhase = async (
      cameras: 'spread' | 'synchronised',
      rate: number,
      seconds: number,
      webhooks = true,
    ) => {
      const liveAssets = Math.max(1, Math.round(rate / perAsset));
      const received: Array<{ at: number; type: string; window: number }> = [];
      const hook = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => {
          body += c;
        });
        req.on('end', () => {
          const e = JSON.parse(body) as {
            type: string;
            data: { lastWindow: number; resolvedWindow: number | null };
          };
          received.push({
            at: Date.now(),
            type: e.type,
            window:
              e.type === 'alert.resolved' ? (e.data.resolvedWindow ?? e.data.lastWindow) : e.data.lastWindow,
          });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
      const port = (hook.address() as { port: number }).port;
      const t2 = topicsOf(uniqueName('live'));
      const db2 = await createTestDatabase('benchlive');
      const cfg2 = Config.parse({
        ...liveConfig(t2, db2.url),
        webhooks: [{ url: `http://127.0.0.1:${port}/hook` }],
        delivery: { allowPrivateNetworks: true, pollMs: 50 },
      });
      const store2 = await openStore(cfg2.database);
      await syncConfigEndpoints(store2.db, cfg2.webhooks);
      const delivery = startDeliveryWorker(store2.db, cfg2, logger);
      const ingest2 = createKafkaIngest(cfg2.kafka, logger);
      await ingest2.ensureTopics();
      const topics2: Record<Modality, string> = { sensors: t2.sensors, images: t2.images, notes: t2.notes };
      const live: number[] = [];
      let processed = 0;
      const p2 = createPipeline({
        cfg: cfg2,
        db: store2.db,
        logger,
        topics: topics2,
        deadLetter: (d) => ingest2.deadLetter(d),
      });
      p2.events.on('durable', (s) => {
        processed += s.records;
        delivery.wake();
      });
      p2.events.on('scored', (s) => {
        if (s.scored) live.push(s.closeToCommitMs);
      });
      await ingest2.run((b) => p2.handle({ ...b, partitionKey: `p${b.partition}` }));
      // The plant publishes from its own process, as a real one would (not from this event loop).
      const child = spawn(
        process.execPath,
        [
          '--max-old-space-size=4096',
          '--import',
          'tsx',
          fileURLToPath(new URL('./live-producer.ts', import.meta.url)),
          JSON.stringify({
            brokers: kafka.brokers,
            topics: topics2,
            seed: 2,
            assets: liveAssets,
            sampleMs: o.sampleMs,
            seconds,
            spreadCameras: cameras === 'spread',
          }),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let printed = '';
      child.stdout.on('data', (c: Buffer) => {
        printed += c.toString();
      });
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      if (code !== 0) throw new Error(`the live producer exited with ${code}`);
      const liveRecords = Number(printed.trim());
      const ended = Date.now();
      while (processed < liveRecords && Date.now() - ended < 60_000)
        await new Promise((r) => setTimeout(r, 20));
      const drainMs = processed >= liveRecords ? Date.now() - ended : Infinity;
      if (webhooks) await new Promise((r) => setTimeout(r, 15_000)); // the last windows close (watermark, idle timeout) and deliver
      await ingest2.stop();
      await delivery.stop();
      await store2.close();
      await db2.drop();
      await new Promise<void>((r) => hook.close(() => r()));
      say(
        `live (${cameras} cameras): ${liveAssets} assets, ${Math.round(liveRecords / seconds)} records/s, ${received.length} webhooks, ${Number.isFinite(drainMs) ? `${drainMs} ms` : 'over 60 s'} behind at the end`,
      );
      // Record → webhook: from the end of the window that caused the event (its last record) to receipt.
      const webhookMs = received.map((e) => e.at - (e.window + cfg2.align.windowMs));
      return {
        cameras,
        ratePerS: liveRecords / seconds,
        seconds,
        records: liveRecords,
        assets: liveAssets,
        drainMs,
        closeToCommitMs: { p50: quantile(live, 0.5), p99: quantile(live, 0.99), n: live.length },
        recordToWebhookMs: {
          p50: quantile(webhookMs, 0.5),
          p99: quantile(webhookMs, 0.99),
          n: webhookMs.length,
        },
      };
    };
    // The live plant's maximum: the highest rate it keeps up with, live. Steps of RAMP_S seconds (cameras
    // on their own schedules), each ×1.3 the one before, from a quarter of the backlog's rate, until one
    // ends more than 2 s behind (down by the same factor if the first did); then one step halfway between
    // the last kept up and that one. A backlog's rate is no measure of it: thousands of assets, each with
    // its windows, model, rules and checkpoint rows, in batches of a few records each, cost more per
    // record than 40 assets read in megabytes.
    let liveMax: E2eResult['liveMax'] = null;
    if (o.liveSeconds > 0 && o.liveRate === undefined) {
      const steps: NonNullable<E2eResult['liveMax']>['steps'] = [];
      const step = async (rate: number) => {
        const r = await livePhase('spread', rate, RAMP_S, false);
        const x = {
          ratePerS: r.ratePerS,
          assets: r.assets,
          drainMs: r.drainMs,
          keptUp: r.drainMs <= 2_000,
          p99: r.closeToCommitMs.p99,
        };
        steps.push(x);
        say(
          `ramp: ${Math.round(x.ratePerS)} records/s, ${x.assets} assets: ${x.keptUp ? 'kept up' : 'fell behind'} (close → commit p99 ${Math.round(x.p99)} ms)`,
        );
        return x;
      };
      let ok: Awaited<ReturnType<typeof step>> | null = null,
        over: Awaited<ReturnType<typeof step>> | null = null;
      // Up while it keeps up; down, if the first step did not.
      for (let rate = backlog.pipelinePerS / 4; !(ok && over) && steps.length < 10;) {
        const x = await step(rate);
        if (x.keptUp) ok = x;
        else over = x;
        rate = over && !ok ? rate / 1.3 : rate * 1.3;
      }
      if (ok && over) {
        const x = await step((ok.ratePerS + over.ratePerS) / 2);
        if (x.keptUp) ok = x;
      }
      if (!ok) throw new Error('the live plant kept up with no step of the ramp');
      liveMax = { perS: ok.ratePerS, steps };
      globalThis.gc?.();
    }
    const liveResult: E2eResult['live'] = [];
    if (o.liveSeconds > 0) {
      const rate = o.liveRate ?? liveMax!.perS / 2;
      for (const cameras of o.cameras ?? (['spread', 'synchronised'] as const))
        liveResult.push(await livePhase(cameras, rate, o.liveSeconds));
    }

    // ---- 3. 10 000 assets: the service process's resident memory
    let big: E2eResult['big'] = null;
    if (o.bigAssets > 0) {
      const t3 = topicsOf(uniqueName('big'));
      const db3 = await createTestDatabase('benchbig');
      const bigCfg: ConfigInput = {
        kafka: { brokers: kafka.brokers, groupId: uniqueName('g'), topics: t3 },
        database: { url: db3.url },
        api: { port: 0 },
      };
      const ingest3 = createKafkaIngest(Config.parse(bigCfg).kafka, logger);
      await ingest3.ensureTopics();
      const bigPlan = simplePlan({
        seed: 3,
        assets: o.bigAssets,
        sampleMs: 1000,
        imageMs: 60_000,
        noteMs: 86_400_000,
        spreadCameras: true,
      });
      const B0 = Date.now() - o.bigMinutes * 60_000 - 30_000;
      let bigRecords = 0;
      for (let s = 0; s < o.bigMinutes * 60; s += 10)
        bigRecords += await publish(producer, t3, generate(bigPlan, B0 + s * 1000, B0 + (s + 10) * 1000));
      say(`10 000 assets: ${bigRecords} records published`);
      const svc = await startServiceProcess(bigCfg, 120_000);
      const rss: number[] = [];
      const tb = performance.now();
      try {
        const rssOf = () => {
          const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${svc.proc.pid}/status`, 'utf8'));
          return m ? Number(m[1]) / 1024 : NaN;
        };
        const consumed = async () => {
          const text = await (
            await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })
          ).text();
          let n = 0;
          for (const m of text.matchAll(/^tributary_records_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
          return n;
        };
        // Resident memory every second; consumption (a metrics scrape, as Prometheus would) every 5 s.
        for (let k = 0; ; k++) {
          rss.push(rssOf());
          if (k % 5 === 4 && (await consumed()) >= bigRecords) break;
          if (performance.now() - tb > 900_000)
            throw new Error('10 000 assets: not consumed within 15 minutes');
          await new Promise((r) => setTimeout(r, 1000));
        }
        rss.push(rssOf());
        big = {
          assets: o.bigAssets,
          records: bigRecords,
          seconds: (performance.now() - tb) / 1000,
          maxRssMiB: Math.max(...rss),
          endRssMiB: rss[rss.length - 1],
        };
      } finally {
        await svc.kill();
        await db3.drop();
      }
    }
    return { backlog, liveMax, live: liveResult, big };
  } finally {
    await producer.close();
    await tdb.drop();
  }
}
