/**
 * Training and evaluating the fusion model on the simulator suite: each run goes once through the real window
 * operator; the encoded inputs of every window (latest revision) are kept, optionally cached on disk (v8
 * serialisation) so that several models can be trained and compared without regenerating the plant.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import {
  encode,
  newFeatureState,
  type AssetFeatureState,
  type FeatureSpec,
  type ModelInput,
} from '../fusion/features.js';
import { FusionModel, type TrainRow } from '../fusion/model.js';
import { modalityOfChannel, type Modality, type WindowTuple } from '../schemas/index.js';
import { aliasTable, planOf, type SuiteRun } from '../sim/index.js';
import type { Detector } from './detectors.js';
import { runScenario, summarise, type DetectorMetrics, type RunResult } from './harness.js';
import { alertIntervals } from './metrics.js';

export interface EncodedRun {
  result: RunResult;
  inputs: Array<ModelInput | null>;
}

export const DEFAULT_SPEC: FeatureSpec = {
  channels: ['bearing_temp_c', 'current_a', 'flow_lpm', 'pressure_bar', 'vib_1x', 'vib_hf', 'vib_rms'],
  noteBuckets: 128,
  emaHalfLifeMs: 15 * 60_000,
  noteHalfLifeMs: 3 * 3_600_000,
  referenceWindows: 240,
  imageAge: true,
};

/** A detector that only records the encoded input of each window (its latest revision). */
function recorder(
  spec: FeatureSpec,
  names: Map<string, string[]>,
  into: Map<string, ModelInput | null>,
): Detector {
  const states = new Map<string, AssetFeatureState>();
  return {
    name: 'recorder',
    threshold: Infinity,
    score(t: WindowTuple) {
      let st = states.get(t.asset);
      if (!st) states.set(t.asset, (st = newFeatureState()));
      into.set(`${t.asset}@${t.windowStart}`, encode(t, st, spec, names.get(t.plant) ?? []));
      return { score: null, contributions: {} };
    },
  };
}

const specKey = (spec: FeatureSpec) =>
  createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 12);

/** Runs (or reads from the cache) one scenario × seed and encodes its windows. */
export function encodeRun(
  r: SuiteRun,
  spec: FeatureSpec,
  cacheDir?: string,
  onProgress?: (d: number) => void,
): EncodedRun {
  const file = cacheDir ? join(cacheDir, specKey(spec), `${r.scenario.name}-${r.seed}.v8`) : null;
  if (file && existsSync(file)) return deserialize(readFileSync(file)) as EncodedRun;
  const plan = planOf(r.scenario, r.seed);
  const names = new Map<string, string[]>();
  for (const [plant, table] of Object.entries(aliasTable(plan))) names.set(plant, Object.keys(table));
  const rec = new Map<string, ModelInput | null>();
  const result = runScenario(r, [recorder(spec, names, rec)], { onProgress });
  const inputs = result.windows.map((w) => rec.get(`${w.asset}@${w.windowStart}`) ?? null);
  const out: EncodedRun = {
    result: { ...result, windows: result.windows.map((w) => ({ ...w, scores: [], top: [] })) },
    inputs,
  };
  if (file) {
    mkdirSync(join(cacheDir!, specKey(spec)), { recursive: true });
    writeFileSync(file, serialize(out));
  }
  return out;
}

/** Windows → training rows. Normal windows are thinned to `normalShare` (faults are rare and all kept). */
export function trainingRows(runs: EncodedRun[], normalShare = 1, seed = 3): TrainRow[] {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const rows: TrainRow[] = [];
  for (const r of runs) {
    r.result.windows.forEach((w, k) => {
      const x = r.inputs[k];
      if (!x) return;
      if (w.label === null) return; // sensor faults: data quality, neither normal nor a failure
      if (w.label === 0 && rnd() >= normalShare) return;
      rows.push({ x, label: w.label });
    });
  }
  return rows;
}

export const normalInputs = (runs: EncodedRun[]) =>
  runs.flatMap((r) =>
    r.result.windows.flatMap((w, k) => (w.label === 0 && r.inputs[k] ? [r.inputs[k]!] : [])),
  );

export interface FusionVariant {
  name: string;
  model: FusionModel;
  /** Modalities removed at test time. */
  removeAtTest?: Modality[];
}

const MODS: Modality[] = ['sensors', 'images', 'notes'];

/** Scores every window of the runs with a model; fills `scores[slot]` and `top[slot]` of the run results. */
export function scoreRuns(runs: EncodedRun[], v: FusionVariant, slot: number, batch = 2048): void {
  for (const r of runs) {
    const idx: number[] = [];
    const xs: ModelInput[] = [];
    r.inputs.forEach((x, k) => {
      if (!x) return;
      const present = x.present.map((p, m) =>
        v.removeAtTest?.includes(MODS[m]) ? 0 : p,
      ) as ModelInput['present'];
      if (!present.some((p) => p)) return;
      idx.push(k);
      xs.push({ ...x, present });
    });
    for (const w of r.result.windows) {
      w.scores[slot] = null;
      w.top[slot] = null;
    }
    for (let from = 0; from < xs.length; from += batch) {
      const out = v.model.score(xs.slice(from, from + batch));
      out.forEach((o, j) => {
        const w = r.result.windows[idx[from + j]];
        w.scores[slot] = o.probability ?? o.raw;
        const top = Object.entries(o.contributions).sort((a, b) => b[1] - a[1])[0];
        w.top[slot] = top ? { modality: modalityOfChannel(top[0]), channel: top[0] } : null;
      });
    }
  }
}

/** Late fusion of scored slots: the mean of their scores where any scored. */
export function lateFusionSlot(runs: EncodedRun[], parts: number[], slot: number): void {
  for (const r of runs)
    for (const w of r.result.windows) {
      const s = parts.map((p) => w.scores[p]).filter((x): x is number => x !== null && x !== undefined);
      w.scores[slot] = s.length ? s.reduce((a, b) => a + b, 0) / s.length : null;
      w.top[slot] = null;
    }
}

/** Metrics of named slots over runs (threshold per slot). */
export function metricsOf(
  runs: EncodedRun[],
  slots: Array<{ name: string; threshold: number }>,
): DetectorMetrics[] {
  const dets: Detector[] = slots.map((s) => ({
    name: s.name,
    threshold: s.threshold,
    score: () => ({ score: null, contributions: {} }),
  }));
  return summarise(
    runs.map((r) => r.result),
    dets,
  );
}

/** Operating thresholds tried, lowest first, and the false alerts per asset-week one may open on held-out windows. */
const THRESHOLD_LADDER = [0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999];
const MAX_FALSE_PER_ASSET_WEEK = 0.5;
/** Training settings shared by the simulator and stored-history paths. */
const TRAIN_SETTINGS = { batch: 512, learningRate: 4e-3, noteL2: 0.01 };

/**
 * The operating threshold: the lowest of a ladder of probabilities whose false alerts on the validation runs
 * stay within `maxFalsePerAssetWeek` (the k-consecutive rule); the top of the ladder otherwise.
 */
export function chooseThreshold(
  runs: EncodedRun[],
  slot: number,
  maxFalsePerAssetWeek = MAX_FALSE_PER_ASSET_WEEK,
): number {
  for (const thr of THRESHOLD_LADDER) {
    const [m] = metricsOf(
      runs.map((r) => ({
        ...r,
        result: {
          ...r.result,
          windows: r.result.windows.map((w) => ({ ...w, scores: [w.scores[slot]], top: [w.top[slot]] })),
        },
      })),
      [{ name: 'x', threshold: thr }],
    );
    if (!(m.falseAlertsPerAssetWeek > maxFalsePerAssetWeek)) return thr;
  }
  return THRESHOLD_LADDER[THRESHOLD_LADDER.length - 1];
}

export interface TrainFusionOptions {
  version: string;
  spec?: FeatureSpec;
  modalities?: Modality[];
  epochs?: number;
  normalShare?: number;
  seed?: number;
  modalityDropout?: number | [number, number, number];
  noteL2?: number;
  onProgress?: (done: number, what: string) => void;
}

/** Trains, calibrates on the validation runs' normal windows, picks the threshold, and writes the card. */
export function trainFusion(
  train: EncodedRun[],
  validation: EncodedRun[],
  o: TrainFusionOptions,
): FusionModel {
  const spec = o.spec ?? DEFAULT_SPEC;
  const model = FusionModel.create(o.version, spec, { seed: o.seed ?? 1, modalities: o.modalities });
  const rows = trainingRows(train, o.normalShare ?? 0.25, o.seed ?? 3);
  const t0 = Date.now();
  const res = model.train(rows, {
    ...TRAIN_SETTINGS,
    epochs: o.epochs ?? 6,
    seed: o.seed ?? 7,
    modalityDropout: o.modalityDropout,
    noteL2: o.noteL2 ?? TRAIN_SETTINGS.noteL2,
    onProgress: (d, loss) => o.onProgress?.(d, `loss ${loss.toFixed(4)}`),
  });
  model.calibrate(normalInputs(validation));
  model.setReference(rows.filter((r) => r.label === 0).map((r) => r.x));
  scoreRuns(validation, { name: o.version, model }, 0);
  const threshold = chooseThreshold(validation, 0);
  const [val] = metricsOf(validation, [{ name: o.version, threshold }]);
  model.card = {
    name: o.version,
    kind: 'fusion',
    modalities: model.modalities,
    mode: model.mode,
    threshold,
    trainedOn: [...new Set(train.map((r) => r.result.run))],
    validatedOn: [...new Set(validation.map((r) => r.result.run))],
    trainingRows: rows.length,
    positives: rows.filter((r) => r.label === 1).length,
    steps: res.steps,
    finalLoss: Number(res.loss.toFixed(5)),
    trainSeconds: Math.round((Date.now() - t0) / 1000),
    validation: {
      aucPr: round3(val.aucPr),
      aucRoc: round3(val.aucRoc),
      f1: round3(val.f1),
      far: round3(val.far),
      mar: round3(val.mar),
      falseAlertsPerAssetWeek: round3(val.falseAlertsPerAssetWeek),
    },
    intendedUse:
      'Window anomaly probability for plant pumps and motors from sensors, thermal camera and operator notes.',
    limitations:
      'Trained on simulated plants; calibrated on their normal windows. Retrain or recalibrate on a real plant before trusting the threshold.',
  };
  return model;
}

const round3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

export interface AblationResult {
  metrics: DetectorMetrics[];
  models: Record<string, FusionModel>;
}

/**
 * The fusion model's ablation on held-out runs: the fused model; one model per single modality and per pair
 * (trained on those modalities only); late fusion (the mean of the three single models' probabilities);
 * and the fused model with each modality removed at test time, beside the pair model trained without it.
 */
export function fusionAblation(
  train: EncodedRun[],
  validation: EncodedRun[],
  test: EncodedRun[],
  o: Omit<TrainFusionOptions, 'version' | 'modalities'> & { only?: boolean },
): AblationResult {
  const variants: Array<{ name: string; mods?: Modality[] }> = [
    { name: 'fused' },
    ...(o.only
      ? []
      : [
          { name: 'sensors only', mods: ['sensors'] as Modality[] },
          { name: 'images only', mods: ['images'] as Modality[] },
          { name: 'notes only', mods: ['notes'] as Modality[] },
          { name: 'trained without sensors', mods: ['images', 'notes'] as Modality[] },
          { name: 'trained without images', mods: ['sensors', 'notes'] as Modality[] },
          { name: 'trained without notes', mods: ['sensors', 'images'] as Modality[] },
        ]),
  ];
  const slots: Array<{ name: string; threshold: number }> = [];
  const models: Record<string, FusionModel> = {};
  variants.forEach((v, k) => {
    const m = trainFusion(train, validation, {
      ...o,
      version: v.name,
      modalities: v.mods,
      onProgress: (d, w) => o.onProgress?.((k + d) / variants.length, `${v.name}: ${w}`),
    });
    models[v.name] = m;
    scoreRuns(test, { name: v.name, model: m }, slots.length);
    slots.push({ name: v.name, threshold: Number(m.card.threshold) });
  });
  const fusedThr = Number(models.fused.card.threshold);
  if (!o.only) {
    lateFusionSlot(test, [1, 2, 3], slots.length);
    slots.push({ name: 'late fusion', threshold: fusedThr });
    for (const mod of MODS) {
      scoreRuns(test, { name: `fused − ${mod}`, model: models.fused, removeAtTest: [mod] }, slots.length);
      slots.push({ name: `fused − ${mod} at test`, threshold: fusedThr });
    }
  }
  return { metrics: metricsOf(test, slots), models };
}

/**
 * Trains on a plant's stored history (`tributary train --from-store`): windows in time order per asset;
 * the first 80 % of the period trains (supervised too when operators confirmed and rejected alerts), the
 * last 20 % calibrates and picks the threshold (at most 0.5 false alerts per asset-week there, the
 * 3-window rule, counting only windows not inside a confirmed alert).
 */
export function trainFromHistory(
  history: Array<{ tuple: WindowTuple; label: 0 | 1 | null }>,
  o: {
    version: string;
    spec: FeatureSpec;
    assetNames?: (plant: string) => string[];
    epochs?: number;
    onProgress?: (done: number, what: string) => void;
  },
): FusionModel {
  const states = new Map<string, AssetFeatureState>();
  const rows: Array<{ x: ModelInput; label: 0 | 1 | null; asset: string; start: number }> = [];
  for (const h of history) {
    let st = states.get(h.tuple.asset);
    if (!st) states.set(h.tuple.asset, (st = newFeatureState()));
    const x = encode(h.tuple, st, o.spec, o.assetNames?.(h.tuple.plant) ?? []);
    if (x) rows.push({ x, label: h.label, asset: h.tuple.asset, start: h.tuple.windowStart });
  }
  if (rows.length < 50)
    throw new Error(`only ${rows.length} windows past the reference period: not enough history to train`);
  const starts = rows.map((r) => r.start).sort((a, b) => a - b);
  const cut = starts[Math.floor(starts.length * 0.8)];
  const train = rows.filter((r) => r.start < cut),
    val = rows.filter((r) => r.start >= cut);
  const model = FusionModel.create(o.version, o.spec);
  const res = model.train(
    train.map((r) => ({ x: r.x, label: r.label })),
    {
      ...TRAIN_SETTINGS,
      epochs: o.epochs ?? 6,
      onProgress: (d, loss) => o.onProgress?.(d, `loss ${loss.toFixed(4)}`),
    },
  );
  const normals = val.filter((r) => r.label === 0).map((r) => r.x);
  model.calibrate(normals.length >= 50 ? normals : train.filter((r) => r.label === 0).map((r) => r.x));
  model.setReference(train.filter((r) => r.label === 0).map((r) => r.x));
  // Threshold: false alerts of the rule on the held-out windows, per asset-week.
  const probs = model.rawScores(val.map((r) => r.x)).map((raw) => model.probability(raw) ?? 0);
  const windowMs = history.length ? history[0].tuple.windowEnd - history[0].tuple.windowStart : 60_000;
  const byAsset = new Map<string, Array<number | null>>();
  val.forEach((r, k) => {
    if (!byAsset.has(r.asset)) byAsset.set(r.asset, []);
    byAsset.get(r.asset)!.push(r.label === 0 ? probs[k] : null);
  });
  const weeks = (val.filter((r) => r.label === 0).length * windowMs) / (7 * 86_400_000);
  const threshold =
    THRESHOLD_LADDER.find((thr) => {
      let alerts = 0;
      for (const s of byAsset.values()) alerts += alertIntervals(s, thr, 3, 6).length;
      return weeks > 0 ? alerts / weeks <= MAX_FALSE_PER_ASSET_WEEK : alerts === 0;
    }) ?? THRESHOLD_LADDER[THRESHOLD_LADDER.length - 1];
  model.card = {
    name: o.version,
    kind: 'fusion',
    modalities: model.modalities,
    mode: model.mode,
    threshold,
    trainedOn: ['stored history'],
    validatedOn: ['stored history, last 20 %'],
    trainingRows: train.length,
    positives: train.filter((r) => r.label === 1).length,
    steps: res.steps,
    finalLoss: Number(res.loss.toFixed(5)),
    validation: { windows: val.length, heldOutNormal: normals.length },
    intendedUse:
      "Window anomaly probability for this plant's assets from sensors, thermal camera and operator notes.",
    limitations:
      "Trained on the plant's own history: faults absent from it are only caught as disagreement between modalities.",
  };
  return model;
}
