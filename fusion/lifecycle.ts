/**
 * The model lifecycle: scheduled retraining from stored history, and promotion from shadow by a guard.
 *
 * - **Retraining.** Every `scorer.lifecycle.retrainEveryMs` a fusion model is trained on the last
 *   `historyMs` of the store's history (`tributary train --from-store`, operators' feedback as labels) in a
 *   child process, so the pipeline's loop never waits on it, and registered in shadow as
 *   `fusion-auto-YYYYMMDDHHMM`. The first one comes once the store's scores span `retrainEveryMs` of data
 *   time; the history is the `historyMs` up to the latest stored window (data time, so a replay of old data
 *   trains on it). A failed training is logged with its reason and tried again a seventh of the period later.
 * - **Promotion.** A `fusion-auto-…` model that has been in shadow `shadowMs` (scored and stored beside
 *   the active model, never alerting) is compared with the active model on the windows both scored since
 *   it was registered, each through the default alert rule at its own operating threshold:
 *   1. it must catch (a score at or above its threshold from an hour before the alert opened to its last
 *      window) at least as many of the alerts operators confirmed as the active model, and raise no more
 *      of those they rejected;
 *   2. and then either catch more confirmed alerts without opening more alerts elsewhere, or open at
 *      least `margin` (20 %) fewer alerts outside confirmed faults.
 *   Promoted, it becomes the active model (the one it replaces goes to shadow, and a roll-back returns
 *   to it). Otherwise it stays in shadow and the reason is kept in its metrics (`promotion`), where
 *   `GET /v1/models` shows it; a decision is made once per model. Fewer than `minWindows` windows scored
 *   by both: no decision yet.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { alertIntervals } from '../eval/metrics.js';
import type { Config } from '../schemas/index.js';
import {
  activateModel,
  labelledAlerts,
  listModels,
  modelAssets,
  modelScoreSeries,
  recordPromotion,
  type Db,
  type ModelInfo,
} from '../store/index.js';

export const AUTO_PREFIX = 'fusion-auto-';
/** How far before a labelled alert's opening a model's score counts as catching it. */
const LOOKBACK_MS = 3_600_000;

export interface ShadowFigures {
  /** Windows scored by both models in the period. */
  windows: number;
  /** Alert openings (the default rule at the model's threshold) outside the alerts operators confirmed. */
  openings: number;
  confirmed: number;
  confirmedCaught: number;
  rejected: number;
  rejectedRaised: number;
}
type Series = Map<string, { t: number[]; s: number[] }>;
type Labelled = Array<{
  key: string;
  opened: number;
  last: number;
  label: 'true_positive' | 'false_positive';
}>;

/** One model's figures on the windows `other` also scored. */
export function shadowFigures(
  mine: Series,
  other: Series,
  labelled: Labelled,
  threshold: number,
  rule: { openAfter: number; resolveAfter: number },
): ShadowFigures {
  let windows = 0,
    openings = 0;
  const raised = (key: string, from: number, to: number) => {
    const m = mine.get(key);
    return !!m && m.t.some((t, i) => t >= from && t <= to && m.s[i] >= threshold);
  };
  const confirmedOn = (key: string, t: number) =>
    labelled.some(
      (a) => a.label === 'true_positive' && a.key === key && t >= a.opened - LOOKBACK_MS && t <= a.last,
    );
  for (const [key, m] of mine) {
    const theirs = new Set(other.get(key)?.t ?? []);
    const keep = m.t.flatMap((t, i) => (theirs.has(t) ? [i] : []));
    windows += keep.length;
    const t = keep.map((i) => m.t[i]),
      s = keep.map((i) => m.s[i]);
    for (const [open] of alertIntervals(s, threshold, rule.openAfter, rule.resolveAfter))
      if (!confirmedOn(key, t[open])) openings++;
  }
  const confirmed = labelled.filter((a) => a.label === 'true_positive'),
    rejected = labelled.filter((a) => a.label === 'false_positive');
  return {
    windows,
    openings,
    confirmed: confirmed.length,
    confirmedCaught: confirmed.filter((a) => raised(a.key, a.opened - LOOKBACK_MS, a.last)).length,
    rejected: rejected.length,
    rejectedRaised: rejected.filter((a) => raised(a.key, a.opened - LOOKBACK_MS, a.last)).length,
  };
}

const NO_FIGURES: ShadowFigures = {
  windows: 0,
  openings: 0,
  confirmed: 0,
  confirmedCaught: 0,
  rejected: 0,
  rejectedRaised: 0,
};
const addFigures = (a: ShadowFigures, b: ShadowFigures): ShadowFigures => ({
  windows: a.windows + b.windows,
  openings: a.openings + b.openings,
  confirmed: a.confirmed + b.confirmed,
  confirmedCaught: a.confirmedCaught + b.confirmedCaught,
  rejected: a.rejected + b.rejected,
  rejectedRaised: a.rejectedRaised + b.rejectedRaised,
});

export interface PromotionDecision {
  decision: 'promote' | 'keep' | 'wait';
  reason: string;
}

/** The guard (see the header): the candidate's figures against the active model's. */
export function decidePromotion(
  c: ShadowFigures,
  a: ShadowFigures,
  o: { margin: number; minWindows: number },
): PromotionDecision {
  if (c.windows < o.minWindows)
    return { decision: 'wait', reason: `${c.windows} windows scored by both, ${o.minWindows} needed` };
  if (c.confirmedCaught < a.confirmedCaught)
    return {
      decision: 'keep',
      reason: `caught ${c.confirmedCaught} of ${c.confirmed} confirmed alerts, the active model ${a.confirmedCaught}`,
    };
  if (c.rejectedRaised > a.rejectedRaised)
    return {
      decision: 'keep',
      reason: `raised ${c.rejectedRaised} of ${c.rejected} rejected alerts, the active model ${a.rejectedRaised}`,
    };
  if (c.confirmedCaught > a.confirmedCaught && c.openings <= a.openings)
    return {
      decision: 'promote',
      reason: `caught ${c.confirmedCaught} of ${c.confirmed} confirmed alerts (the active model ${a.confirmedCaught}) and opened ${c.openings} alerts elsewhere (${a.openings})`,
    };
  if (a.openings > 0 && c.openings <= (1 - o.margin) * a.openings)
    return {
      decision: 'promote',
      reason: `opened ${c.openings} alerts outside confirmed faults against the active model's ${a.openings} (at least ${Math.round(100 * o.margin)} % fewer), catching as many confirmed alerts`,
    };
  return {
    decision: 'keep',
    reason: `opened ${c.openings} alerts outside confirmed faults against the active model's ${a.openings} (not ${Math.round(100 * o.margin)} % fewer) and caught no more confirmed alerts (${c.confirmedCaught} of ${c.confirmed})`,
  };
}

/** Runs `tributary train` with these arguments; resolves with its exit status and the end of its output. */
export type TrainRunner = (args: string[]) => Promise<{ code: number; output: string }>;

/** The CLI of this build (cli.ts through tsx from source, cli.js when compiled) in a child process. */
export const spawnTrain: TrainRunner = (args) => {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const entry = join(dirname(here), '..', fromSource ? 'cli.ts' : 'cli.js');
  const node = fromSource ? ['--import', import.meta.resolve('tsx'), entry] : [entry];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...node, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-4_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (e) => resolve({ code: -1, output: e.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
};

const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace(/[-:T]/g, '');

export interface ModelLifecycle {
  /** One round: decide on candidates due, start a retraining when due. Resolves when both are done. */
  tick(now?: number): Promise<void>;
  stop(): void;
}

export function startModelLifecycle(o: {
  db: Db;
  cfg: Config;
  logger: Logger;
  clock?: () => number;
  train?: TrainRunner;
  /** Run tick every minute (default true). */
  autostart?: boolean;
  /** The span of the store's history (default: its earliest and latest stored scores' windows). */
  historySpan?: () => Promise<{ first: number; last: number } | null>;
}): ModelLifecycle {
  const l = o.cfg.scorer.lifecycle;
  const clock = o.clock ?? Date.now;
  const train = o.train ?? spawnTrain;
  const rule = { openAfter: o.cfg.alerts.openAfter, resolveAfter: o.cfg.alerts.resolveAfter };
  const thresholdOf = (m: ModelInfo) => m.threshold ?? o.cfg.alerts.threshold;
  let failedAt: number | null = null;
  const waiting = new Map<string, number>();
  let running = false;

  const historySpan =
    o.historySpan ??
    (async () => {
      const end = async (order: 'ASC' | 'DESC') =>
        (
          await o.db.query<{ w: Date }>(
            `SELECT window_start AS w FROM scores ORDER BY window_start ${order} LIMIT 1`,
          )
        ).rows[0]?.w;
      const [first, last] = [await end('ASC'), await end('DESC')];
      return first && last ? { first: new Date(first).getTime(), last: new Date(last).getTime() } : null;
    });

  async function review(now: number, models: ModelInfo[]): Promise<void> {
    const active = models.find((m) => m.state === 'active');
    if (!active) return;
    for (const c of models) {
      if (c.state !== 'shadow' || !c.version.startsWith(AUTO_PREFIX) || c.metrics.promotion) continue;
      const since = Date.parse(c.createdAt);
      if (now - since < l.shadowMs) continue;
      // A candidate without enough windows yet is looked at again an hour later, not every minute.
      if (now - (waiting.get(c.version) ?? -Infinity) < 3_600_000) continue;
      // Asset by asset, so that memory holds one asset's two series at a time.
      const labelled = await labelledAlerts(o.db, since - LOOKBACK_MS, now);
      let fc = NO_FIGURES,
        fa = NO_FIGURES;
      const assets = await modelAssets(o.db, c.version, since, now);
      for (const a of assets) {
        const [cs, as] = await Promise.all([
          modelScoreSeries(o.db, c.version, since, now, a),
          modelScoreSeries(o.db, active.version, since, now, a),
        ]);
        const mine = labelled.filter((x) => x.key === `${a.plant}/${a.asset}`);
        fc = addFigures(fc, shadowFigures(cs, as, mine, thresholdOf(c), rule));
        fa = addFigures(fa, shadowFigures(as, cs, mine, thresholdOf(active), rule));
      }
      // Labelled alerts on assets the candidate never scored are counted, as caught by neither (the two
      // were never compared there).
      const seen = new Set(assets.map((a) => `${a.plant}/${a.asset}`));
      const unseen = labelled.filter((x) => !seen.has(x.key));
      fc = addFigures(fc, shadowFigures(new Map(), new Map(), unseen, thresholdOf(c), rule));
      fa = addFigures(fa, shadowFigures(new Map(), new Map(), unseen, thresholdOf(active), rule));
      const d = decidePromotion(fc, fa, l);
      if (d.decision === 'wait') {
        waiting.set(c.version, now);
        continue;
      }
      waiting.delete(c.version);
      const record = {
        at: new Date(now).toISOString(),
        decision: d.decision === 'promote' ? 'promoted' : 'kept',
        against: active.version,
        reason: d.reason,
        candidate: fc,
        active: fa,
      };
      await recordPromotion(o.db, c.version, record);
      if (d.decision === 'promote') await activateModel(o.db, c.version, 'lifecycle');
      o.logger.info({ model: c.version, ...record }, `model ${record.decision}`);
    }
  }

  async function retrain(now: number, models: ModelInfo[]): Promise<void> {
    if (!l.retrainEveryMs || running) return;
    if (!o.cfg.database.url) return; // the embedded database is held by this process (see the config)
    if (failedAt !== null && now - failedAt < l.retrainEveryMs / 7) return;
    const lastAuto = Math.max(
      ...models.filter((m) => m.version.startsWith(AUTO_PREFIX)).map((m) => Date.parse(m.createdAt)),
    );
    if (Number.isFinite(lastAuto) && now - lastAuto < l.retrainEveryMs) return;
    // The history, in data time (a replay of last year's data trains on last year's windows).
    const span = await historySpan();
    if (!span || (!Number.isFinite(lastAuto) && span.last - span.first < l.retrainEveryMs)) return;
    const version = `${AUTO_PREFIX}${stamp(now)}`;
    const dir = mkdtempSync(join(tmpdir(), 'tributary-train-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(o.cfg), { mode: 0o600 });
    running = true;
    o.logger.info({ model: version }, 'scheduled retraining started');
    try {
      const r = await train([
        '--from-store',
        '--from',
        new Date(span.last - l.historyMs).toISOString(),
        '--to',
        new Date(span.last + 1).toISOString(),
        '--register',
        '--version',
        version,
        '--config',
        file,
      ]);
      if (r.code === 0) {
        failedAt = null;
        o.logger.info({ model: version }, 'scheduled retraining registered a model in shadow');
      } else {
        failedAt = now;
        o.logger.warn(
          { model: version, code: r.code, output: r.output.trim().split('\n').slice(-3).join(' | ') },
          'scheduled retraining failed',
        );
      }
    } finally {
      running = false;
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async function tick(now = clock()): Promise<void> {
    const models = await listModels(o.db);
    await review(now, models);
    await retrain(now, await listModels(o.db));
  }

  let busy = false;
  const timer =
    o.autostart === false
      ? null
      : setInterval(() => {
          if (busy) return;
          busy = true;
          tick()
            .catch((e) => o.logger.warn({ err: (e as Error).message }, 'model lifecycle round failed'))
            .finally(() => (busy = false));
        }, 60_000);
  timer?.unref();
  return { tick, stop: () => timer && clearInterval(timer) };
}
