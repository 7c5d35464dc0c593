/**
 * The unseen-plant protocol: the service judged on plant family B (sim/plant-b.ts), which nothing it ships
 * with was chosen on. A run gets only what a user would give: the plant's assets and the names operators
 * use (`userConfigOf`), and the plant's own unlabelled history (the hours or days before the measured
 * period, without faults). Labels are read only after every detector has scored every window.
 *
 * Detectors: the baseline as shipped (what runs out of the box), each modality alone, their late fusion,
 * the fusion model trained on the plant's history (as `tributary train --from-store` does), and the
 * shipped fusion model when one is given (trained on family A).
 *
 * Window labels: 1 from a fault's first evidence (any modality, or jointly) to its failure; unknown
 * (left out) between its onset and its first evidence and while the machine is tripped for repair; 0
 * otherwise. Windows of the history period are never measured.
 */
import { WindowOperator, resolveNoteAsset } from '../align/index.js';
import { encode, newFeatureState, type AssetFeatureState, type ModelInput } from '../fusion/features.js';
import type { FusionModel } from '../fusion/model.js';
import { decodeRecord } from '../ingest/decode.js';
import { Config, type InputRecord, type WindowTuple } from '../schemas/index.js';
import {
  firstEvidence,
  splitOfSeed,
  streamB,
  userConfigOf,
  type BenignEvent,
  type BenignType,
  type PlantBFault,
  type PlantBRun,
  type Visibility,
} from '../sim/plant-b.js';
import { baselineDetector, contextDetector, lateFusion, type Detector } from './detectors.js';
import { DEFAULT_SPEC, trainFromHistory } from './fusion.js';
import { alertIntervals, aucPr, aucRoc } from './metrics.js';
import { table } from './report.js';

export interface UnseenWindow {
  asset: string;
  windowStart: number;
  windowEnd: number;
  label: 0 | 1 | null;
  fault: PlantBFault | null;
  visibility: Visibility | null;
  benign: BenignType[];
  scores: Array<number | null>;
}
export interface UnseenRun {
  run: PlantBRun;
  detectors: Array<{ name: string; threshold: number }>;
  windows: UnseenWindow[];
  windowMs: number;
  /** The service's default alert rule (open after k windows at or above the threshold, resolve after m below). */
  rule: { openAfter: number; resolveAfter: number };
  deliveries: number;
  /** Records ingest's decoding refused (none expected). */
  rejected: number;
  historyWindows: number;
  /** The same plant, seed and period without its faults (the counterfactual for per-fault figures). */
  twin?: UnseenRun;
}
export interface UnseenOptions {
  windowMs?: number;
  /** The shipped fusion model (trained on family A), scored as it is. */
  shippedModel?: FusionModel | null;
  /** Train the fusion model on the run's history (default true). */
  trainOnHistory?: boolean;
  /** Every batch of tuples the window operator fired, in order (to score other detectors later: `rescore`). */
  record?: WindowTuple[][];
  epochs?: number;
  /** Test seeds are for the final measurement: refused unless this is set (see the closing note). */
  allowTestSeeds?: boolean;
  onProgress?: (done: number, what: string) => void;
}

/** Refuses family B's test seeds to anything but an explicit final measurement. */
export function assertMayUse(run: PlantBRun, allowTest: boolean | undefined) {
  if (splitOfSeed(run.seed) === 'test' && !allowTest) {
    throw new Error(
      `plant B seed ${run.seed} is a test seed: it is measured only with --split test (never to choose anything)`,
    );
  }
}

/** A fusion model scored after the fact: inputs encoded online (in arrival order), scored in batches at the end. */
class DeferredFusion {
  readonly inputs = new Map<string, ModelInput | null>();
  private states = new Map<string, AssetFeatureState>();
  constructor(
    readonly name: string,
    public model: FusionModel | null,
    private names: string[],
  ) {}
  see(t: WindowTuple, keep: boolean) {
    if (!this.model) return;
    let st = this.states.get(t.asset);
    if (!st) this.states.set(t.asset, (st = newFeatureState()));
    const x = encode(t, st, this.model.spec, this.names);
    if (keep) this.inputs.set(`${t.asset}@${t.windowStart}`, x);
  }
  scores(): Map<string, number | null> {
    const out = new Map<string, number | null>();
    if (!this.model) return out;
    const keys = [...this.inputs.keys()].filter((k) => this.inputs.get(k));
    for (let i = 0; i < keys.length; i += 2048) {
      const part = keys.slice(i, i + 2048);
      const raw = this.model.rawScores(part.map((k) => this.inputs.get(k)!));
      part.forEach((k, j) => out.set(k, this.model!.probability(raw[j])));
    }
    return out;
  }
}

/**
 * A window's scores as the detectors gave them, by `asset@windowStart`. A revision replaces the scores,
 * except that a detector that did not score the first emission (null) stays null: an alert rule counts
 * windows as they first fire, so a revision cannot make a window count.
 */
function keepScores(byKey: Map<string, UnseenWindow>, t: WindowTuple, results: Array<number | null>): void {
  const key = `${t.asset}@${t.windowStart}`;
  const prev = byKey.get(key);
  const w: UnseenWindow = prev ?? {
    asset: t.asset,
    windowStart: t.windowStart,
    windowEnd: t.windowEnd,
    label: 0,
    fault: null,
    visibility: null,
    benign: [],
    scores: [],
  };
  results.forEach((x, i) => {
    if (!(prev && w.scores[i] === null)) w.scores[i] = x;
  });
  byKey.set(key, w);
}

/** One plant-B run through the window operator and every detector. */
export function runUnseen(run: PlantBRun, o: UnseenOptions = {}): UnseenRun {
  assertMayUse(run, o.allowTestSeeds);
  const user = userConfigOf(run);
  const cfg = Config.parse({ align: { windowMs: o.windowMs ?? 60_000, aliases: user.aliases } });
  const { threshold, openAfter, resolveAfter } = cfg.alerts;
  const referenceWindows = cfg.scorer.referenceWindows;
  const single = (m: 'sensors' | 'images' | 'notes') =>
    baselineDetector(`${m} only`, { referenceWindows, threshold, use: [m], noteNovelty: m === 'notes' });
  const online: Detector[] = [
    baselineDetector('baseline (shipped)', { referenceWindows, threshold, noteNovelty: false }),
    single('sensors'),
    single('images'),
    single('notes'),
    lateFusion('late fusion', [single('sensors'), single('images'), single('notes')], threshold),
    contextDetector('context k-NN', { threshold }),
  ];
  const names = Object.keys(user.aliases[run.plant]);
  const fromHistory = new DeferredFusion('fusion (trained on history)', null, names);
  const shipped = o.shippedModel
    ? new DeferredFusion('fusion (shipped, family A)', o.shippedModel, names)
    : null;

  let now = run.historyFromMs;
  const op = new WindowOperator(cfg.align, () => now);
  const byKey = new Map<string, UnseenWindow>();
  const history = new Map<string, WindowTuple>();
  let trained = o.trainOnHistory === false,
    deliveries = 0,
    offset = 0,
    rejected = 0;

  const trainNow = () => {
    trained = true;
    const tuples = [...history.values()].sort((a, b) => a.windowStart - b.windowStart);
    const perAsset = tuples.length / Math.max(1, new Set(tuples.map((t) => t.asset)).size);
    const spec = {
      ...DEFAULT_SPEC,
      channels: [...new Set(tuples.flatMap((t) => Object.keys(t.channels)))].sort(),
      referenceWindows: Math.max(20, Math.min(240, Math.floor(perAsset / 5))),
    };
    o.onProgress?.(0.5, `training the fusion model on ${tuples.length} history windows`);
    // Unlabelled history counts as normal, as `train --from-store` takes windows outside confirmed alerts.
    fromHistory.model = trainFromHistory(
      tuples.map((tuple) => ({ tuple, label: 0 as const })),
      { version: 'plant-history', spec, assetNames: () => names, epochs: o.epochs ?? 6 },
    );
    for (const t of tuples) fromHistory.see(t, false); // warm the feature states as the service's would be
  };
  const take = (ts: WindowTuple[]) => {
    if (ts.length) o.record?.push(ts);
    for (const t of ts) {
      const key = `${t.asset}@${t.windowStart}`;
      const inHistory = t.windowEnd <= run.startMs;
      if (inHistory) history.set(key, t);
      else if (!trained) trainNow();
      const results = online.map((d) => d.score(t).score);
      if (!inHistory) fromHistory.see(t, true);
      shipped?.see(t, !inHistory);
      keepScores(byKey, t, results);
    }
  };

  let lastFire = -Infinity;
  const total = run.endMs - run.historyFromMs;
  for (const batch of streamB(run)) {
    for (const d of batch) {
      now = d.arrivalMs;
      deliveries++;
      let rec: InputRecord;
      if (d.topic === 'notes') {
        const n = d.record as InputRecord['value'] & { text: string; plant: string; asset?: string };
        const asset = n.asset ?? resolveNoteAsset(n.plant, n.text, cfg.align.aliases);
        if (!asset) continue;
        rec = { modality: 'notes', value: { ...n, asset } } as InputRecord;
      } else if (d.topic === 'images') {
        // Frames go through ingest's decoding, as they would from Kafka (PNG → temperatures; a bad one is dropped).
        const dec = decodeRecord('images', Buffer.from(JSON.stringify(d.record)), cfg.limits);
        if (!dec.ok) {
          rejected++;
          continue;
        }
        rec = dec.record;
      } else rec = { modality: d.topic, value: d.record } as InputRecord;
      op.add(rec, offset++, { recordTime: d.arrivalMs });
      if (now - lastFire >= 1_000) {
        take(op.fire());
        lastFire = now;
      }
    }
    o.onProgress?.(Math.min(0.95, (0.9 * (now - run.historyFromMs)) / total), run.name);
  }
  take(op.flush());
  if (!trained) trainNow();

  const deferred = [fromHistory, ...(shipped ? [shipped] : [])];
  const deferredScores = deferred.map((d) => d.scores());
  const detectors = [
    ...online.map((d) => ({ name: d.name, threshold: d.threshold })),
    ...deferred.map((d) => ({ name: d.name, threshold: Number(d.model?.card.threshold ?? 0.99) })),
  ];
  const windows = [...byKey.entries()]
    .filter(([, w]) => w.windowStart >= run.startMs && w.windowEnd <= run.endMs)
    .map(([key, w]) => ({ ...w, scores: [...w.scores, ...deferredScores.map((m) => m.get(key) ?? null)] }))
    .sort((a, b) => (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : a.windowStart - b.windowStart));
  labelWindows(run, windows);
  deferred.forEach((d) => d.model !== o.shippedModel && d.model?.dispose());
  o.onProgress?.(1, run.name);
  return {
    run,
    detectors,
    windows,
    windowMs: cfg.align.windowMs,
    rule: { openAfter, resolveAfter },
    deliveries,
    rejected,
    historyWindows: history.size,
  };
}

/**
 * Detectors scored on a run's recorded tuples (`UnseenOptions.record`) as `runUnseen` would score them
 * online: the same windows, labels and alert rule, only these detectors. `run` must have been generated
 * (streamed through `streamB`, as `runUnseen` does): first evidence is recorded during generation, and a
 * run never streamed labels no window positive. The window bookkeeping is `runUnseen`'s (`keepScores`).
 */
export function rescore(
  run: PlantBRun,
  batches: WindowTuple[][],
  detectors: Detector[],
  windowMs = 60_000,
): UnseenRun {
  const cfg = Config.parse({});
  const byKey = new Map<string, UnseenWindow>();
  for (const ts of batches) {
    for (const t of ts) {
      keepScores(
        byKey,
        t,
        detectors.map((d) => d.score(t).score),
      );
    }
  }
  const windows = [...byKey.values()]
    .filter((w) => w.windowStart >= run.startMs && w.windowEnd <= run.endMs)
    .sort((a, b) => (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : a.windowStart - b.windowStart));
  labelWindows(run, windows);
  return {
    run,
    detectors: detectors.map((d) => ({ name: d.name, threshold: d.threshold })),
    windows,
    windowMs,
    rule: { openAfter: cfg.alerts.openAfter, resolveAfter: cfg.alerts.resolveAfter },
    deliveries: 0,
    rejected: 0,
    historyWindows: 0,
  };
}

/** Labels and benign tags from the run's ground truth (read only now, after scoring). */
export function labelWindows(run: PlantBRun, windows: UnseenWindow[]) {
  for (const w of windows) {
    for (const f of run.faults) {
      if (f.asset !== w.asset || w.windowEnd <= f.onsetMs || w.windowStart >= f.endMs) continue;
      const ev = firstEvidence(f);
      if (ev !== null && w.windowEnd > ev && w.windowStart < f.failureMs) {
        w.label = 1;
        w.fault = f.type;
        w.visibility = f.visibility;
      } else if (w.label !== 1) {
        w.label = null;
        w.fault = f.type;
        w.visibility = f.visibility;
      }
    }
    w.benign = [
      ...new Set(
        run.benign
          .filter(
            (b) =>
              (b.asset === null || b.asset === w.asset) && b.fromMs < w.windowEnd && b.toMs > w.windowStart,
          )
          .map((b) => b.type),
      ),
    ];
  }
}

// ─── metrics ──────────────────────────────────────────────────────────────────────────────────────────

export interface FaultOutcome {
  run: string;
  asset: string;
  fault: PlantBFault;
  visibility: Visibility;
  firstEvidenceMs: number | null;
  failureMs: number;
  alertedMs: number | null;
  leadToFailureH: number | null;
  delayFromEvidenceH: number | null;
}
export interface FalseAlert {
  run: string;
  asset: string;
  atMs: number;
  nearest: { type: BenignType; distanceMin: number } | null;
}
export interface UnseenMetrics {
  detector: string;
  threshold: number;
  windows: number;
  scored: number;
  coverage: number;
  positives: number;
  prevalence: number;
  aucRoc: number;
  aucPr: number;
  /**
   * Per fault type and per visibility class: `aucRoc` of its windows against the normal windows of the same
   * assets in the same operating state (running or stopped); `twinAucRoc` against the same windows of the
   * run's healthy twin (NaN without one).
   */
  byFault: Record<string, { windows: number; aucRoc: number; twinAucRoc: number }>;
  byVisibility: Record<string, { windows: number; aucRoc: number; twinAucRoc: number }>;
  /** Per benign event type: its (normal) windows' median percentile among all normal windows, and the share at or above the threshold. */
  benign: Record<string, { windows: number; medianPercentile: number; aboveThreshold: number }>;
  faults: FaultOutcome[];
  faultsAlerted: number;
  falseAlerts: FalseAlert[];
  assetWeeks: number;
  falseAlertsPerAssetWeek: number;
}

/** The line stopped in this window (a shutdown, a break or a changeover), or the asset tripped. */
const stopped = (w: UnseenWindow) =>
  w.benign.some((b) => b === 'shutdown' || b === 'break' || b === 'product_change');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length ? (s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2) : NaN;
};

/** Alerts by the service's default rule on each asset's test windows: the window index each opened at. */
export function ruleOpenings(
  ws: UnseenWindow[],
  i: number,
  threshold: number,
  rule = { openAfter: 3, resolveAfter: 6 },
): number[] {
  return alertIntervals(
    ws.map((w) => w.scores[i] ?? null),
    threshold,
    rule.openAfter,
    rule.resolveAfter,
  ).map(([a]) => a);
}

/**
 * Metrics of detector `i` over runs. `openings(run, asset)` gives the alert opening times of the asset
 * (default: the service's default rule on the detector's scores; the end-to-end path passes the service's
 * own stored alerts).
 */
export function unseenMetrics(
  runs: UnseenRun[],
  i: number,
  openings?: (r: UnseenRun, asset: string) => number[],
): UnseenMetrics {
  const det = runs[0].detectors[i];
  const scores: number[] = [],
    labels: number[] = [];
  let windows = 0,
    scored = 0,
    testMs = 0;
  const faults: FaultOutcome[] = [],
    falseAlerts: FalseAlert[] = [];
  const tagged: Array<{ s: number; w: UnseenWindow; twin: number | null }> = [];
  for (const r of runs) {
    const twinScores = new Map(
      (r.twin?.windows ?? []).map((w) => [`${w.asset}@${w.windowStart}`, w.scores[i] ?? null]),
    );
    const byAsset = new Map<string, UnseenWindow[]>();
    for (const w of r.windows) {
      windows++;
      (byAsset.get(w.asset) ?? byAsset.set(w.asset, []).get(w.asset)!).push(w);
      const s = w.scores[i];
      if (s === null || s === undefined) continue;
      scored++;
      if (w.label === null) continue;
      scores.push(s);
      labels.push(w.label);
      tagged.push({ s, w, twin: twinScores.get(`${w.asset}@${w.windowStart}`) ?? null });
    }
    testMs += (r.run.endMs - r.run.startMs) * r.run.assets.length;
    for (const a of r.run.assets) {
      const ws = byAsset.get(a.id) ?? [];
      const opens = openings
        ? openings(r, a.id)
        : ruleOpenings(ws, i, det.threshold, r.rule).map((k) => ws[k].windowEnd);
      const mine = r.run.faults.filter((f) => f.asset === a.id);
      for (const f of mine) {
        const ev = firstEvidence(f);
        const hit = ev === null ? undefined : opens.find((t) => t >= ev && t <= f.failureMs);
        faults.push({
          run: r.run.name,
          asset: a.id,
          fault: f.type,
          visibility: f.visibility,
          firstEvidenceMs: ev,
          failureMs: f.failureMs,
          alertedMs: hit ?? null,
          leadToFailureH: hit === undefined ? null : (f.failureMs - hit) / 3_600_000,
          delayFromEvidenceH: hit === undefined || ev === null ? null : (hit - ev) / 3_600_000,
        });
      }
      for (const t of opens) {
        // Inside a fault from its first evidence to its repair: not false. Everything else is.
        if (
          mine.some((f) => {
            const ev = firstEvidence(f);
            return ev !== null && t >= ev && t < f.endMs;
          })
        )
          continue;
        falseAlerts.push({
          run: r.run.name,
          asset: a.id,
          atMs: t,
          nearest: nearestBenign(r.run.benign, a.id, t),
        });
      }
    }
  }
  const normal = tagged
    .filter((x) => x.w.label === 0)
    .map((x) => x.s)
    .sort((a, b) => a - b);
  const pct = (s: number) => {
    let lo = 0,
      hi = normal.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (normal[m] < s) lo = m + 1;
      else hi = m;
    }
    return (100 * lo) / Math.max(1, normal.length);
  };
  const group = (key: (w: UnseenWindow) => string | null) => {
    const out: Record<string, { windows: number; aucRoc: number; twinAucRoc: number }> = {};
    const keys = new Set(
      tagged
        .filter((x) => x.w.label === 1)
        .map((x) => key(x.w))
        .filter((k): k is string => k !== null),
    );
    for (const k of keys) {
      const pos = tagged.filter((x) => x.w.label === 1 && key(x.w) === k);
      // Detectability: against the normal windows of the same assets in the same operating state (the line
      // running or stopped), the AUC of each state weighted by its fault windows.
      const assets = new Set(pos.map((x) => x.w.asset));
      let sum = 0,
        weight = 0;
      for (const state of [true, false]) {
        const p = pos.filter((x) => stopped(x.w) === state).map((x) => x.s);
        const neg = tagged
          .filter((x) => x.w.label === 0 && assets.has(x.w.asset) && stopped(x.w) === state)
          .map((x) => x.s);
        if (!p.length || !neg.length) continue;
        sum += p.length * aucRoc([...p, ...neg], [...p.map(() => 1), ...neg.map(() => 0)]);
        weight += p.length;
      }
      // Sensitivity: against the same windows of the healthy twin run (same plant, schedule and weather, no
      // fault): does the score move with the fault itself, all else equal.
      const paired = pos.filter((x) => x.twin !== null);
      out[k] = {
        windows: pos.length,
        aucRoc: weight ? sum / weight : NaN,
        twinAucRoc: paired.length
          ? aucRoc(
              [...paired.map((x) => x.s), ...paired.map((x) => x.twin!)],
              [...paired.map(() => 1), ...paired.map(() => 0)],
            )
          : NaN,
      };
    }
    return out;
  };
  const benign: UnseenMetrics['benign'] = {};
  const benignTypes = new Set(tagged.flatMap((x) => (x.w.label === 0 ? x.w.benign : [])));
  for (const b of benignTypes) {
    const xs = tagged.filter((x) => x.w.label === 0 && x.w.benign.includes(b)).map((x) => x.s);
    benign[b] = {
      windows: xs.length,
      medianPercentile: median(xs.map(pct)),
      aboveThreshold: xs.filter((s) => s >= det.threshold).length / xs.length,
    };
  }
  const assetWeeks = testMs / (7 * 86_400_000);
  const positives = labels.filter((l) => l === 1).length;
  return {
    detector: det.name,
    threshold: det.threshold,
    windows,
    scored,
    coverage: windows ? scored / windows : NaN,
    positives,
    prevalence: labels.length ? positives / labels.length : NaN,
    aucRoc: aucRoc(scores, labels),
    aucPr: aucPr(scores, labels),
    byFault: group((w) => w.fault),
    byVisibility: group((w) => w.visibility),
    benign,
    faults,
    faultsAlerted: faults.filter((f) => f.alertedMs !== null).length,
    falseAlerts,
    assetWeeks,
    falseAlertsPerAssetWeek: falseAlerts.length / assetWeeks,
  };
}

/** The benign event nearest to a time (same asset or plant-wide): inside it is distance 0. */
export function nearestBenign(
  events: BenignEvent[],
  asset: string,
  t: number,
): { type: BenignType; distanceMin: number } | null {
  let best: { type: BenignType; distanceMin: number } | null = null;
  for (const e of events) {
    if (e.asset !== null && e.asset !== asset) continue;
    const d = t < e.fromMs ? e.fromMs - t : t > e.toMs ? t - e.toMs : 0;
    if (!best || d / 60_000 < best.distanceMin) best = { type: e.type, distanceMin: d / 60_000 };
  }
  return best;
}

// ─── report ───────────────────────────────────────────────────────────────────────────────────────────

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '–');
const h1 = (x: number | null) => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(1));

/** Tables for people: detectors, per fault type, benign events, and the false alerts' nearest benign events. */
export function unseenTables(ms: UnseenMetrics[]): string {
  const faultTypes = [...new Set(ms.flatMap((m) => Object.keys(m.byFault)))].sort();
  const vis = [...new Set(ms.flatMap((m) => Object.keys(m.byVisibility)))].sort();
  const benign = [...new Set(ms.flatMap((m) => Object.keys(m.benign)))].sort();
  const main = table(
    [
      'detector',
      'threshold',
      'coverage',
      'AUC-ROC',
      'AUC-PR',
      'prevalence',
      'faults alerted',
      'lead h (median)',
      'after evidence h',
      'false alerts / asset-week',
    ],
    ms.map((m) => {
      const hit = m.faults.filter((f) => f.alertedMs !== null);
      return [
        m.detector,
        String(m.threshold),
        `${(100 * m.coverage).toFixed(1)} %`,
        f3(m.aucRoc),
        f3(m.aucPr),
        f3(m.prevalence),
        `${m.faultsAlerted}/${m.faults.length}`,
        h1(median(hit.map((f) => f.leadToFailureH!))),
        h1(median(hit.map((f) => f.delayFromEvidenceH!))),
        m.falseAlertsPerAssetWeek.toFixed(1),
      ];
    }),
  );
  const per = (which: 'aucRoc' | 'twinAucRoc') =>
    table(
      ['detector', ...faultTypes, ...vis.map((v) => `[${v}]`)],
      ms.map((m) => [
        m.detector,
        ...faultTypes.map((f) => f3(m.byFault[f]?.[which] ?? NaN)),
        ...vis.map((v) => f3(m.byVisibility[v]?.[which] ?? NaN)),
      ]),
    );
  const byBenign = table(
    ['detector', ...benign],
    ms.map((m) => [
      m.detector,
      ...benign.map((b) =>
        m.benign[b]
          ? `${m.benign[b].medianPercentile.toFixed(0)} / ${(100 * m.benign[b].aboveThreshold).toFixed(0)} %`
          : '–',
      ),
    ]),
  );
  const causes = table(
    ['detector', 'false alerts', 'nearest benign event (within 30 min): count'],
    ms.map((m) => {
      const c = new Map<string, number>();
      for (const a of m.falseAlerts) {
        const k = a.nearest && a.nearest.distanceMin <= 30 ? a.nearest.type : 'none within 30 min';
        c.set(k, (c.get(k) ?? 0) + 1);
      }
      return [
        m.detector,
        m.falseAlerts.length,
        [...c]
          .sort((x, y) => y[1] - x[1])
          .map(([k, n]) => `${k} ${n}`)
          .join(', '),
      ];
    }),
  );
  return [
    main,
    '',
    'AUC-ROC per fault type and [visibility class], against normal windows of the same assets in the same operating state:',
    per('aucRoc'),
    '',
    '… and against the same windows of the healthy twin run (the fault itself, all else equal):',
    per('twinAucRoc'),
    '',
    'Benign events: median percentile of their windows among normal windows / share at or above the threshold:',
    byBenign,
    '',
    'False alerts (the default alert rule) by the benign event nearest to each:',
    causes,
  ].join('\n');
}
