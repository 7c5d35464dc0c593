/**
 * The fusion model in the pipeline: a batch of window tuples → score rows (one per tuple, in order), with the
 * per-asset feature state kept in plain data for the checkpoint. Windows in an asset's reference period are
 * `reference` rows; a window with no usable modality is `unscorable` with the reason; every scored row
 * carries the calibrated probability (or the raw score of an uncalibrated model) and its explanation.
 * Bad input never reaches the store as NaN.
 */
import { operatingThreshold, type AlertRule, type ScoreRow, type WindowTuple } from '../schemas/index.js';
import {
  encode,
  newFeatureState,
  SENSOR_STATS,
  type AssetFeatureState,
  type ModelInput,
} from './features.js';
import { psi, type FusionModel } from './model.js';

export function scoreFusionBatch(
  tuples: WindowTuple[],
  model: FusionModel,
  states: Record<string, AssetFeatureState>,
  assetNames: (plant: string) => string[],
): { rows: ScoreRow[]; inputs: Array<{ plant: string; x: ModelInput }> } {
  const rows: ScoreRow[] = [];
  const pending: Array<{ at: number; plant: string; x: ModelInput }> = [];
  for (const t of tuples) {
    const base = {
      plant: t.plant,
      asset: t.asset,
      windowStart: t.windowStart,
      windowEnd: t.windowEnd,
      revision: t.revision,
      modelVersion: model.version,
      quality: t.quality,
      imageTs: t.image?.ts ?? null,
      noteCount: t.notes.length,
    };
    const key = `${model.version}/${t.asset}`;
    const st = (states[key] ??= newFeatureState());
    let x: ModelInput | null;
    try {
      x = encode(t, st, model.spec, assetNames(t.plant));
    } catch (e) {
      rows.push({
        ...base,
        status: 'unscorable',
        score: null,
        contributions: {},
        explanation: { reason: `input could not be encoded: ${(e as Error).message}` },
      });
      continue;
    }
    if (!x) {
      rows.push({ ...base, status: 'reference', score: null, contributions: {} });
      continue;
    }
    const usable = x.present.map(
      (p, k) => p && model.modalities.includes((['sensors', 'images', 'notes'] as const)[k]),
    );
    if (!usable.some(Boolean)) {
      const why = [
        'no sensor readings',
        t.image ? 'no usable thermal frame' : 'no camera frame',
        'no recent notes',
      ];
      rows.push({
        ...base,
        status: 'unscorable',
        score: null,
        contributions: {},
        explanation: { reason: [...why, ...x.issues].join('; ') },
      });
      continue;
    }
    rows.push({ ...base, status: 'scored', score: null, contributions: {} });
    pending.push({ at: rows.length - 1, plant: t.plant, x });
  }
  let out: ReturnType<FusionModel['score']>;
  try {
    out = model.score(pending.map((p) => p.x));
  } catch (e) {
    // A model that fails (a backend error, a corrupt file) must not stop ingest: its windows say why.
    for (const { at } of pending)
      rows[at] = {
        ...rows[at],
        status: 'unscorable',
        explanation: { reason: `the model failed: ${(e as Error).message}` },
      };
    return { rows, inputs: [] };
  }
  out.forEach((o, j) => {
    const { at, x } = pending[j];
    const score = o.probability ?? o.raw;
    if (!Number.isFinite(score)) {
      rows[at] = {
        ...rows[at],
        status: 'unscorable',
        explanation: { reason: ['the model gave a non-finite score', ...x.issues].join('; ') },
      };
      return;
    }
    rows[at] = {
      ...rows[at],
      score,
      contributions: o.contributions,
      explanation: {
        raw: o.raw,
        gates: o.gates,
        ...(o.terms.length ? { terms: o.terms } : {}),
        ...(x.issues.length ? { reason: x.issues.join('; ') } : {}),
      },
    };
  });
  return { rows, inputs: pending.map((p) => ({ plant: p.plant, x: p.x })) };
}

/**
 * The alert rules as a calibrated model sees them: a rule written for the baseline's robust-z scale
 * (openAbove > 1) uses the model's operating probability instead, and closes once the probability falls
 * below the level with twice the false-alarm rate; severities on that scale are dropped.
 */
export function rulesForModel(rules: AlertRule[], model: FusionModel): AlertRule[] {
  const thr = operatingThreshold(model);
  if (thr === null) return rules;
  return rules.map((r) =>
    r.openAbove <= 1
      ? r
      : {
          ...r,
          openAbove: thr,
          closeBelow: Math.max(0, 1 - 2 * (1 - thr)),
          severity: {
            major: { ...r.severity.major, above: undefined },
            critical: { ...r.severity.critical, above: undefined },
          },
        },
  );
}

/** Input drift of a model over a set of recent inputs: PSI per sensor feature (current window part). */
export function driftOf(
  model: FusionModel,
  inputs: ModelInput[],
): { windows: number; maxPsi: number; psi: Record<string, number> } {
  const values = psi(model.reference, inputs);
  const names = model.spec.channels.flatMap((ch) => SENSOR_STATS.map((s) => `${ch}:${s}`));
  const out: Record<string, number> = {};
  values.forEach((v, j) => {
    out[names[j]] = v;
  });
  return {
    windows: inputs.filter((x) => x.present[0]).length,
    maxPsi: values.length ? Math.max(...values) : 0,
    psi: out,
  };
}

/**
 * Input drift of the running fusion models: the latest inputs per model and plant (a ring of `keep`), and
 * on demand the PSI of each sensor feature against the model's training deciles. A PSI above 0.25 is the
 * usual sign of a shifted input; the alert rules can act on the stored figures.
 */
export class DriftMonitor {
  private readonly recent = new Map<
    string,
    { model: FusionModel; plant: string; xs: ModelInput[]; next: number }
  >();
  constructor(
    private readonly keep = 2_000,
    private readonly minWindows = 200,
  ) {}

  add(model: FusionModel, inputs: Array<{ plant: string; x: ModelInput }>): void {
    for (const { plant, x } of inputs) {
      const key = `${model.version}\u0000${plant}`;
      let r = this.recent.get(key);
      if (!r || r.model !== model) this.recent.set(key, (r = { model, plant, xs: [], next: 0 }));
      if (r.xs.length < this.keep) r.xs.push(x);
      else {
        r.xs[r.next] = x;
        r.next = (r.next + 1) % this.keep;
      }
    }
  }

  /** Drift of every model and plant with enough recent windows. */
  evaluate(): Array<{
    modelVersion: string;
    plant: string;
    windows: number;
    maxPsi: number;
    psi: Record<string, number>;
  }> {
    const out = [];
    for (const r of this.recent.values()) {
      if (!r.model.reference.length) continue;
      const d = driftOf(r.model, r.xs);
      if (d.windows >= this.minWindows) out.push({ modelVersion: r.model.version, plant: r.plant, ...d });
    }
    return out;
  }

  /** Forgets models no longer running. */
  retain(versions: Set<string>): void {
    for (const [k, r] of this.recent) if (!versions.has(r.model.version)) this.recent.delete(k);
  }
}
