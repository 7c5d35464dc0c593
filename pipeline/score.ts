/**
 * Score: each fired window by every running model (the active one and those in shadow), in the models'
 * order, each model's state kept per asset in the partition's state.
 */
import {
  CONTEXT_DEFAULTS,
  newContextState,
  scoreBaseline,
  scoreContext,
  scoreFusionBatch,
  SCORE_AT_Q99,
  type FusionModel,
} from '../fusion/index.js';
import type { Config, ScoreRow, WindowTuple } from '../schemas/index.js';
import type { ModelParamsRow } from '../store/index.js';
import { keyOf, type PartitionState } from './state.js';
import type { PipelineEventMap, TypedEvents } from './events.js';
import type { RunningModel } from './types.js';

/**
 * The scorer the configuration names (`scorer.kind`): as the registry registers it at start-up, and as the
 * pipeline runs it when there is no registry.
 */
export function configuredScorer(cfg: Config): {
  kind: 'context-knn' | 'baseline-robustz';
  params: Record<string, unknown>;
  card: string;
  running: RunningModel;
} {
  if (cfg.scorer.kind === 'baseline') {
    const version = cfg.scorer.modelVersion ?? 'baseline-robustz-1';
    const referenceWindows = cfg.scorer.referenceWindows;
    return {
      kind: 'baseline-robustz',
      params: { referenceWindows },
      card: `Robust z-score baseline: per asset, the median and MAD of each window feature over the first ${referenceWindows} windows; the score is the largest |z|, contributions by channel.`,
      running: { version, active: true, referenceWindows },
    };
  }
  const version = cfg.scorer.modelVersion ?? 'context-knn-1';
  const context = { ...CONTEXT_DEFAULTS, ...cfg.scorer.context, threshold: cfg.alerts.threshold };
  return {
    kind: 'context-knn',
    params: context,
    card:
      "Context scorer: per asset, the distance of each window (every channel's mean and spread, the frame's hottest and mean pixel) " +
      `to its k-th (${context.k}) nearest window in a memory of the asset's own normal windows, scaled so that ${SCORE_AT_Q99} is the memory's own 99th percentile; ` +
      `operating states the asset has been in are normal. Scored from ${context.coldStartMs / 60_000} minutes after an asset's first data; the memory adapts ` +
      `(a window joins ${context.lagMs / 60_000} minutes after it ends if it scored below ${context.threshold}, or after ${context.acceptAfterMs / 3_600_000} hours whatever it scored). ` +
      'Contributions by channel against the nearest remembered window.',
    running: { version, active: true, referenceWindows: 0, context },
  };
}

/** One window's rows, one per running model in order, and the active model's. */
export interface ScoredWindow {
  rows: ScoreRow[];
  active: ScoreRow | null;
  /** The active model, when it is a fusion model (its own alert rules apply). */
  activeFusion?: FusionModel;
}

export interface Scored {
  windows: ScoredWindow[];
  /** Baselines fitted by this batch. */
  modelParams: ModelParamsRow[];
  /** The assets whose model state changed (their scoring rows are rewritten). */
  modelsChanged: Set<string>;
}

/**
 * Scores the windows. `baselineKey`: the baseline version whose state is kept under the bare asset id
 * (checkpoints from before the registry); other models keep theirs under `version/asset`.
 */
export function scoreWindows(
  state: PartitionState,
  tuples: WindowTuple[],
  running: RunningModel[],
  baselineKey: string,
  assetNames: (plant: string) => string[],
  events: TypedEvents<PipelineEventMap>,
): Scored {
  const modelsChanged = new Set<string>();
  const modelParams: ModelParamsRow[] = [];
  // Fusion models score the batch's windows in one pass (their rows come back in window order).
  const fusionRows = new Map<string, ScoreRow[]>();
  for (const model of running) {
    if (!model.fusion || !tuples.length) continue;
    const { rows, inputs } = scoreFusionBatch(tuples, model.fusion, (state.features ??= {}), assetNames);
    fusionRows.set(model.version, rows);
    for (const t of tuples) {
      modelsChanged.add(t.asset);
      keyOf(state, t.asset, `${model.version}/${t.asset}`);
    }
    events.emit('fusionInputs', { model: model.fusion, inputs });
  }
  const windows = tuples.map((t, i): ScoredWindow => {
    const scored: ScoredWindow = { rows: [], active: null };
    for (const model of running) {
      let row: ScoreRow;
      const fusion = fusionRows.get(model.version);
      if (fusion) {
        row = fusion[i];
        if (model.active) scored.activeFusion = model.fusion;
      } else if (model.context) {
        const key = keyOf(state, t.asset, `${model.version}/${t.asset}`);
        const r = scoreContext(t, (state.contexts![key] ??= newContextState()), model.context);
        modelsChanged.add(t.asset);
        row = {
          plant: t.plant,
          asset: t.asset,
          windowStart: t.windowStart,
          windowEnd: t.windowEnd,
          revision: t.revision,
          modelVersion: model.version,
          status: r.score === null ? 'reference' : 'scored',
          score: r.score,
          contributions: r.contributions,
          quality: t.quality,
          imageTs: t.image?.ts ?? null,
          noteCount: t.notes.length,
          explanation: {
            basis: r.basis,
            memory: r.memory,
            ...(r.transitionFrom === undefined ? {} : { transition: { wholeWindowScore: r.transitionFrom } }),
          },
        };
      } else {
        const key = keyOf(
          state,
          t.asset,
          model.version === baselineKey ? t.asset : `${model.version}/${t.asset}`,
        );
        const baseline = (state.models[key] ??= { reference: [], params: null });
        const r = scoreBaseline(t, baseline, {
          referenceWindows: model.referenceWindows,
          modelVersion: model.version,
        });
        row = r.row;
        // Only a window of the reference period changes a baseline's state (its reference, then its fit).
        if (row.status === 'reference') modelsChanged.add(t.asset);
        if (r.fitted)
          modelParams.push({
            modelVersion: row.modelVersion,
            asset: t.asset,
            kind: 'robust-z',
            params: r.fitted,
            referenceTo: t.windowEnd,
          });
      }
      scored.rows.push(row);
      if (model.active) scored.active = row;
    }
    return scored;
  });
  return { windows, modelParams, modelsChanged };
}
