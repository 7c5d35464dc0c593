/**
 * Detectors the evaluation harness runs side by side on the same tuples. A detector keeps its own
 * per-asset state; `score` returns null while the asset is still in its reference (training) period.
 */
import { scoreBaseline, type AssetModelState } from '../fusion/baseline.js';
import { newContextState, scoreContext, type ContextOptions, type ContextState } from '../fusion/context.js';
import type { Modality, WindowTuple } from '../schemas/index.js';

export interface DetectorScore {
  score: number | null;
  contributions: Record<string, number>;
}
export interface Detector {
  name: string;
  /** Operating threshold of this detector's score (the alert rule's). */
  threshold: number;
  score(t: WindowTuple): DetectorScore;
}

/** The tuple with some modalities blanked, exactly as a missing camera / silent sensors / no notes look. */
export function withoutModalities(t: WindowTuple, drop: readonly Modality[]): WindowTuple {
  if (!drop.length) return t;
  return {
    ...t,
    channels: drop.includes('sensors') ? {} : t.channels,
    grid: drop.includes('sensors') ? { stepMs: t.grid.stepMs, channels: {} } : t.grid,
    image: drop.includes('images') ? null : t.image,
    notes: drop.includes('notes') ? [] : t.notes,
  };
}

const ALL: readonly Modality[] = ['sensors', 'images', 'notes'];

/**
 * The foundation's baseline scorer (robust z) with its note-novelty feature on, optionally restricted to some modalities (trained and
 * scored on those only) or with modalities removed at test time only (trained on everything).
 */
export function baselineDetector(
  name: string,
  o: {
    referenceWindows: number;
    threshold: number;
    use?: readonly Modality[];
    removeAtTest?: readonly Modality[];
    noteNovelty?: boolean;
  },
): Detector {
  const states = new Map<string, AssetModelState>();
  const unused = ALL.filter((m) => !(o.use ?? ALL).includes(m));
  return {
    name,
    threshold: o.threshold,
    score(t) {
      let st = states.get(t.asset);
      if (!st) states.set(t.asset, (st = { reference: [], params: null }));
      const fitted = st.params !== null;
      const input = withoutModalities(t, fitted ? [...unused, ...(o.removeAtTest ?? [])] : unused);
      const { row } = scoreBaseline(input, st, {
        referenceWindows: o.referenceWindows,
        modelVersion: name,
        noteNovelty: o.noteNovelty ?? true,
      });
      return { score: row.status === 'scored' ? row.score : null, contributions: row.contributions };
    },
  };
}

/** The context scorer (fusion/context.ts): k-NN against each asset's adaptive memory of normal windows. */
export function contextDetector(name: string, o: ContextOptions): Detector {
  const states = new Map<string, ContextState>();
  return {
    name,
    threshold: o.threshold,
    score(t) {
      let st = states.get(t.asset);
      if (!st) states.set(t.asset, (st = newContextState()));
      return scoreContext(t, st, o);
    },
  };
}

/** Late fusion: the mean of the single-modality detectors' scores (those that scored the window). */
export function lateFusion(name: string, parts: Detector[], threshold: number): Detector {
  return {
    name,
    threshold,
    score(t) {
      const scores = parts.map((d) => d.score(t).score).filter((s): s is number => s !== null);
      return {
        score: scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : null,
        contributions: {},
      };
    },
  };
}

/** The ablation set for the baseline scorer: each modality alone, late fusion, all fused, and fused with each modality removed at test time. */
export function baselineAblation(referenceWindows: number, threshold: number): Detector[] {
  const single = (m: Modality) => baselineDetector(`${m} only`, { referenceWindows, threshold, use: [m] });
  return [
    single('sensors'),
    single('images'),
    single('notes'),
    lateFusion('late fusion', [single('sensors'), single('images'), single('notes')], threshold),
    baselineDetector('fused', { referenceWindows, threshold }),
    baselineDetector('fused − sensors', { referenceWindows, threshold, removeAtTest: ['sensors'] }),
    baselineDetector('fused − images', { referenceWindows, threshold, removeAtTest: ['images'] }),
    baselineDetector('fused − notes', { referenceWindows, threshold, removeAtTest: ['notes'] }),
  ];
}
