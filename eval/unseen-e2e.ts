/**
 * The unseen-plant protocol end to end: a plant-B run is published to real Kafka topics (record time = its
 * arrival), a Tributary service configured as a user would (assets' names, default rules, the default
 * scorer: the context scorer) consumes it into the database, and the stored scores and the service's own
 * stored alerts are measured like the in-process run beside it.
 */
import type { Logger } from 'pino';
import { createKafkaIngest, createRecordProducer } from '../ingest/index.js';
import { Config, type ConfigInput } from '../schemas/index.js';
import { startService } from '../service.js';
import { latestRevisions, type Queryable } from '../store/index.js';
import { kafkaSink, pump } from '../sim/index.js';
import { streamB, userConfigOf } from '../sim/plant-b.js';
import {
  labelWindows,
  unseenMetrics,
  type UnseenMetrics,
  type UnseenRun,
  type UnseenWindow,
} from './unseen.js';

export interface UnseenE2eOptions {
  brokers: string[];
  databaseUrl?: string;
  timeoutMs?: number;
  onProgress?: (what: string) => void;
}

/** `inProc`: the same run in-process (its `SERVICE_DETECTOR` scores as the service does). */
/** The in-process detector (eval/unseen.ts) that scores as the service's default configuration does. */
export const SERVICE_DETECTOR = 'context k-NN';

export async function runUnseenEndToEnd(
  inProc: UnseenRun,
  o: UnseenE2eOptions,
  logger: Logger,
): Promise<{
  metrics: UnseenMetrics;
  published: number;
  compared: number;
  identical: number;
  sameSide: number;
}> {
  const run = inProc.run;
  const prefix = `evalb-${process.pid}-${Date.now()}`;
  const topics = {
    sensors: `${prefix}.sensors`,
    images: `${prefix}.images`,
    notes: `${prefix}.notes`,
    deadLetter: `${prefix}.dlq`,
  };
  const cfgIn: ConfigInput = {
    kafka: { brokers: o.brokers, groupId: `${prefix}-g`, topics, partitions: 3 },
    database: o.databaseUrl ? { url: o.databaseUrl } : { dataDir: ':memory:' },
    align: { windowMs: inProc.windowMs, aliases: userConfigOf(run).aliases },
    api: { port: 0 },
    sim: { enabled: false },
    log: { level: 'warn' },
  };
  const cfg = Config.parse(cfgIn);
  const ingest = createKafkaIngest(cfg.kafka, logger);
  await ingest.ensureTopics();
  o.onProgress?.(`${run.name}: publishing`);
  const producer = await createRecordProducer(o.brokers, logger);
  const published = await pump(streamB(run), kafkaSink(producer, topics), {
    speed: 0,
    startMs: run.historyFromMs,
  });
  await producer.close();

  o.onProgress?.(`${run.name}: consuming`);
  const svc = await startService(cfg, logger);
  // The in-process detector that is the service's default scorer: its windows are the ones to wait for and compare.
  const mine = inProc.detectors.findIndex((d) => d.name === SERVICE_DETECTOR);
  if (mine < 0)
    throw new Error(
      `the in-process run has no ${JSON.stringify(SERVICE_DETECTOR)} detector to compare the service with`,
    );
  const expected = inProc.windows.filter((w) => w.scores[mine] !== null).length;
  const deadline = Date.now() + (o.timeoutMs ?? 900_000);
  let stored: UnseenWindow[] = [];
  let opened: Array<{ asset: string; atMs: number }> = [];
  let last = -1,
    stableSince = Date.now();
  try {
    for (;;) {
      stored = await storedWindows(svc.store.db, inProc);
      const scored = stored.filter((w) => w.scores[0] !== null).length;
      if (scored !== last) {
        last = scored;
        stableSince = Date.now();
        o.onProgress?.(`${run.name}: ${scored}/${expected} windows scored`);
      }
      // Done when every window the in-process run scored is scored, or nothing has moved for well over the
      // idle time-out (windows held back by a silent device fire after it).
      if (
        scored >= expected ||
        (scored > 0 && Date.now() - stableSince > 2 * cfg.align.idleTimeoutMs + 30_000) ||
        Date.now() > deadline
      )
        break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    // The service's own alerts (default rule), as stored: opened at the end of the window that opened them.
    const rows = await svc.store.db.query<{ asset: string; opened: number }>(
      `SELECT asset, (extract(epoch FROM opened_window) * 1000)::float8 AS opened FROM alerts WHERE plant = $1 AND rule = 'default' ORDER BY opened_window`,
      [run.plant],
    );
    opened = rows.rows
      .map((r) => ({ asset: r.asset, atMs: Number(r.opened) + inProc.windowMs }))
      .filter((a) => a.atMs > run.startMs && a.atMs <= run.endMs);
  } finally {
    await svc.stop();
  }
  labelWindows(run, stored);
  const byKey = new Map(inProc.windows.map((w) => [`${w.asset}@${w.windowStart}`, w]));
  let compared = 0,
    identical = 0,
    sameSide = 0;
  for (const w of stored) {
    const a = byKey.get(`${w.asset}@${w.windowStart}`);
    if (!a || a.scores[mine] === null || w.scores[0] === null) continue;
    compared++;
    if (Math.abs(a.scores[mine]! - w.scores[0]!) < 1e-6) identical++;
    if (a.scores[mine]! >= cfg.alerts.threshold === w.scores[0]! >= cfg.alerts.threshold) sameSide++;
  }
  const e2eRun: UnseenRun = {
    ...inProc,
    detectors: [{ name: 'the service (Kafka + database)', threshold: cfg.alerts.threshold }],
    windows: stored,
  };
  const metrics = unseenMetrics([e2eRun], 0, (_r, asset) =>
    opened.filter((x) => x.asset === asset).map((x) => x.atMs),
  );
  return { metrics, published, compared, identical, sameSide };
}

/** The stored latest revision of every measured window (the service's one model). */
async function storedWindows(db: Queryable, ref: UnseenRun): Promise<UnseenWindow[]> {
  const rows = await latestRevisions(db);
  const out: UnseenWindow[] = [];
  for (const r of rows) {
    if (r.windowStart < ref.run.startMs || r.windowEnd > ref.run.endMs) continue;
    out.push({
      asset: r.asset,
      windowStart: r.windowStart,
      windowEnd: r.windowEnd,
      label: 0,
      fault: null,
      visibility: null,
      benign: [],
      scores: [r.status === 'scored' ? r.score : null],
    });
  }
  return out.sort((a, b) => (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : a.windowStart - b.windowStart));
}
