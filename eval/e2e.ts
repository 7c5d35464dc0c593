/**
 * The harness end to end: a scenario's deliveries are published to real Kafka topics (record time = the
 * simulated arrival), a Tributary service consumes them into the database, and the stored score rows are
 * labelled and measured exactly like the in-process run, which runs beside it on the same plan so the two
 * can be compared window by window.
 */
import type { Logger } from 'pino';
import { createKafkaIngest, createRecordProducer } from '../ingest/index.js';
import { Config, modalityOfChannel, type ConfigInput } from '../schemas/index.js';
import { startService } from '../service.js';
import { latestRevisions, type Queryable } from '../store/index.js';
import { aliasTable, kafkaSink, planOf, pump, shiftPlan, stream, type SuiteRun } from '../sim/index.js';
import { baselineDetector, type Detector } from './detectors.js';
import {
  EVAL_ALIGN,
  runScenario,
  summarise,
  type DetectorMetrics,
  type EvalWindow,
  type RunResult,
} from './harness.js';

export interface E2eOptions {
  brokers: string[];
  /** PostgreSQL URL; absent: the embedded PGlite in a temporary directory. */
  databaseUrl?: string;
  dataDir?: string;
  threshold?: number;
  referenceWindows?: number;
  timeoutMs?: number;
  /** Window and watermark settings for both runs (default EVAL_ALIGN). */
  align?: ConfigInput['align'];
  onProgress?: (what: string) => void;
}

export interface E2eResult {
  inProcess: DetectorMetrics;
  endToEnd: DetectorMetrics;
  /** Windows scored by both; of those, with the same score (to 1e-6). */
  compared: number;
  identical: number;
  published: number;
}

export async function runEndToEnd(r: SuiteRun, o: E2eOptions, logger: Logger): Promise<E2eResult> {
  const threshold = o.threshold ?? 6,
    referenceWindows = o.referenceWindows ?? 240;
  // Record times must be recent for the broker's retention: the plan is moved to end now.
  const base = planOf(r.scenario, r.seed);
  const plan = shiftPlan(
    base,
    Math.floor((Date.now() - (base.endMs - base.startMs)) / 3_600_000) * 3_600_000,
  );
  const run: SuiteRun = {
    ...r,
    scenario: { ...r.scenario, start: new Date(plan.startMs).toISOString() },
    seed: r.seed,
  };
  const det = (): Detector => baselineDetector('fused', { referenceWindows, threshold, noteNovelty: false });

  o.onProgress?.('in-process run');
  const align = o.align ?? EVAL_ALIGN;
  const inProc = runScenario(run, [det()], { align });

  const prefix = `eval-${process.pid}-${Date.now()}`;
  const topics = {
    sensors: `${prefix}.sensors`,
    images: `${prefix}.images`,
    notes: `${prefix}.notes`,
    deadLetter: `${prefix}.dlq`,
  };
  const cfgIn: ConfigInput = {
    kafka: { brokers: o.brokers, groupId: `${prefix}-g`, topics, partitions: 3 },
    database: o.databaseUrl ? { url: o.databaseUrl } : { dataDir: o.dataDir ?? ':memory:' },
    align: { ...align, aliases: aliasTable(plan) },
    scorer: { kind: 'baseline', referenceWindows },
    alerts: { threshold },
    api: { port: 0 },
    sim: { enabled: false },
    log: { level: 'warn' },
  };
  const cfg = Config.parse(cfgIn);
  const ingest = createKafkaIngest(cfg.kafka, logger);
  await ingest.ensureTopics();
  o.onProgress?.('publishing');
  const producer = await createRecordProducer(o.brokers, logger);
  const published = await pump(stream(plan), kafkaSink(producer, topics), {
    speed: 0,
    startMs: plan.startMs,
  });
  await producer.close();

  o.onProgress?.('consuming');
  const svc = await startService(cfg, logger);
  const expected = inProc.windows.filter((w) => w.scores[0] !== null).length;
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
  let stored: EvalWindow[] = [];
  let last = -1,
    stableSince = Date.now();
  try {
    for (;;) {
      stored = await storedWindows(svc.store.db, inProc);
      const scored = stored.filter((w) => w.scores[0] !== null).length;
      if (scored !== last) {
        last = scored;
        stableSince = Date.now();
        o.onProgress?.(`consuming: ${scored}/${expected} windows scored`);
      }
      // Without a final watermark the last windows of each asset stay open: done when nothing moves.
      // (A camera silent for the idle time-out stops holding its asset back, so wait that long and more.)
      if (
        scored >= expected ||
        (scored > 0 && Date.now() - stableSince > cfg.align.idleTimeoutMs + 10_000) ||
        Date.now() > deadline
      )
        break;
      await new Promise((res) => setTimeout(res, 1000));
    }
  } finally {
    await svc.stop();
  }
  const e2e: RunResult = { ...inProc, windows: stored };
  const byKey = new Map(inProc.windows.map((w) => [`${w.asset}@${w.windowStart}`, w]));
  let compared = 0,
    identical = 0;
  for (const w of stored) {
    const a = byKey.get(`${w.asset}@${w.windowStart}`);
    if (!a || a.scores[0] === null || w.scores[0] === null) continue;
    compared++;
    if (Math.abs(a.scores[0]! - w.scores[0]!) < 1e-6) identical++;
  }
  // Measure both over the same windows: those the service closed.
  const common = new Set(stored.map((w) => `${w.asset}@${w.windowStart}`));
  const inProcCommon: RunResult = {
    ...inProc,
    windows: inProc.windows.filter((w) => common.has(`${w.asset}@${w.windowStart}`)),
  };
  return {
    inProcess: summarise([inProcCommon], [det()])[0],
    endToEnd: summarise([e2e], [det()])[0],
    compared,
    identical,
    published,
  };
}

/** The stored latest revision of every window, labelled like the in-process windows. */
async function storedWindows(db: Queryable, ref: RunResult): Promise<EvalWindow[]> {
  // The service runs the one baseline version.
  const rows = await latestRevisions(db);
  const labels = new Map(ref.windows.map((w) => [`${w.asset}@${w.windowStart}`, w]));
  const out: EvalWindow[] = [];
  for (const r of rows) {
    const l = labels.get(`${r.asset}@${r.windowStart}`);
    if (!l) continue;
    const top = Object.entries(r.contributions ?? {}).sort((a, b) => b[1] - a[1])[0];
    out.push({
      ...l,
      scores: [r.status === 'scored' ? r.score : null],
      top: [top && r.status === 'scored' ? { modality: modalityOfChannel(top[0]), channel: top[0] } : null],
    });
  }
  return out;
}
