/** `tributary train`: train, calibrate and register a fusion model (on the simulator's suites or the store's history). */
import {
  ablationTable,
  DEFAULT_SPEC,
  encodeRun,
  fusionAblation,
  metricsOf,
  progress,
  replayTuples,
  scoreRuns,
  trainFromHistory,
  trainFusion,
  type DetectorMetrics,
} from '../eval/index.js';
import { FusionModel, initBackend } from '../fusion/index.js';
import { type Modality } from '../schemas/index.js';
import { loadSuite, readCsv } from '../sim/index.js';
import { activateModel, historyWindows, openStore, registerModel, type Db } from '../store/index.js';
import { USAGE, UsageError, type Values, num, configOr2 } from './args.js';
import { writeFileSync } from 'node:fs';

/** The version a trained model is given: --version, else fusion-YYYYMMDDHHMM. */
const versionOf = (values: Values) =>
  values.version ?? `fusion-${new Date().toISOString().slice(0, 16).replace(/[-:T]/g, '')}`;

/** Earliest and latest of many times (no spread: training sets hold hundreds of thousands). */
function span(ts: number[]): [number | null, number | null] {
  let lo = Infinity,
    hi = -Infinity;
  for (const t of ts) {
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  return ts.length ? [lo, hi] : [null, null];
}

/** Stores a trained model in the registry (in shadow; --activate makes it active). */
async function registerTrained(
  db: Db,
  values: Values,
  model: FusionModel,
  json: object,
  trained: { from: number | null; to: number | null },
): Promise<void> {
  const version = (json as { version: string }).version;
  await registerModel(
    db,
    {
      version,
      kind: 'fusion',
      params: json as Record<string, unknown>,
      metrics: { validation: model.card.validation, ...(model.card.test ? { test: model.card.test } : {}) },
      card: modelCard(model.card),
      trainedFrom: trained.from,
      trainedTo: trained.to,
    },
    'tributary train',
  );
  if (values.activate) await activateModel(db, version, 'tributary train');
  process.stdout.write(`registered ${version}${values.activate ? ' and activated it' : ' in shadow'}\n`);
}

async function trainFromStore(values: Values): Promise<number> {
  const cfg = configOr2(values);
  if (!cfg) return 2;
  const when = (v: string | undefined, name: string, dflt: number) => {
    if (v === undefined) return dflt;
    const t = Date.parse(v);
    if (!Number.isFinite(t)) throw new UsageError(`--${name}: an ISO date-time, not ${JSON.stringify(v)}`);
    return t;
  };
  const from = when(values.from, 'from', 0),
    to = when(values.to, 'to', Date.now());
  const version = versionOf(values);
  const backend = await initBackend();
  const store = await openStore(cfg.database);
  try {
    const history = await historyWindows(store.db, cfg.align, { from, to, plant: values.plant });
    const assets = new Set(history.map((h) => h.tuple.asset));
    const perAsset = history.length / Math.max(1, assets.size);
    const spec = {
      ...DEFAULT_SPEC,
      channels: [...new Set(history.flatMap((h) => Object.keys(h.tuple.channels)))].sort(),
      referenceWindows: Math.max(20, Math.min(240, Math.floor(perAsset / 5))),
    };
    process.stderr.write(
      `TensorFlow.js backend: ${backend}; ${history.length} stored windows of ${assets.size} assets, channels ${spec.channels.join(', ')}\n`,
    );
    const bar = progress('train');
    const model = trainFromHistory(history, {
      version,
      spec,
      epochs: num(values.epochs, 'epochs', 6),
      assetNames: (plant) => Object.keys(cfg.align.aliases[plant] ?? {}),
      onProgress: (d, w) => bar.update(d, w),
    });
    bar.done();
    const json = model.toJSON();
    process.stdout.write(
      `trained ${version} (${model.mode}) on ${String(model.card.trainingRows)} windows (${String(model.card.positives)} in confirmed alerts); threshold ${String(model.card.threshold)}\n`,
    );
    if (values.out) writeFileSync(values.out, JSON.stringify(json));
    if (values.register) {
      const [first, last] = span(history.map((h) => h.tuple.windowStart));
      await registerTrained(store.db, values, model, json, {
        from: first,
        to: last === null ? null : last + cfg.align.windowMs,
      });
    }
    model.dispose();
    return 0;
  } finally {
    await store.close();
  }
}

/**
 * `train --csv FILE`: the fusion model's sensor path on one CSV dataset (one asset, any channels), windowed
 * as the service windows it (the configuration's `align.windowMs`, or --window-ms), self-supervised on
 * every window (label columns are not read: they stay for evaluation), calibrated and its threshold set
 * on the last 20 % of the windows, as `--from-store` does.
 */
async function trainFromCsv(values: Values): Promise<number> {
  if (values['from-store']) throw new UsageError(`give one of --csv and --from-store\n${USAGE}`);
  const cfg = configOr2(values);
  if (!cfg) return 2;
  const series = readCsv(values.csv!, {
    asset: values.asset,
    plant: values.plant,
    timeColumn: values['time-column'],
  });
  const windowMs = num(values['window-ms'], 'window-ms', cfg.align.windowMs);
  const tuples = [...replayTuples(series, windowMs).values()].sort((a, b) => a.windowStart - b.windowStart);
  const backend = await initBackend();
  const version = versionOf(values);
  const spec = {
    ...DEFAULT_SPEC,
    channels: [...series.channels].sort(),
    referenceWindows: Math.max(20, Math.min(240, Math.floor(tuples.length / 5))),
  };
  process.stderr.write(
    `TensorFlow.js backend: ${backend}; ${values.csv}: ${series.ts.length} rows of ${series.channels.length} channels (${series.channels.join(', ')}) in ${tuples.length} windows of ${windowMs / 1000} s, asset ${series.asset}\n`,
  );
  const bar = progress('train');
  let model: FusionModel;
  try {
    model = trainFromHistory(
      tuples.map((tuple) => ({ tuple, label: 0 as const })),
      { version, spec, epochs: num(values.epochs, 'epochs', 6), onProgress: (d, w) => bar.update(d, w) },
    );
  } catch (e) {
    bar.done();
    if (!(e instanceof Error) || !/not enough history/.test(e.message)) throw e;
    throw new UsageError(
      `--csv ${values.csv}: ${e.message} (${tuples.length} windows of ${windowMs / 1000} s, the first ${spec.referenceWindows} being the reference; a shorter --window-ms gives more)`,
    );
  }
  bar.done();
  const json = model.toJSON();
  process.stdout.write(
    `trained ${version} (${model.mode}) on ${String(model.card.trainingRows)} windows of ${series.asset}; threshold ${String(model.card.threshold)}; the service must window with align.windowMs ${windowMs}\n`,
  );
  if (values.out) writeFileSync(values.out, JSON.stringify(json));
  if (values.register) {
    const store = await openStore(cfg.database);
    try {
      await registerTrained(store.db, values, model, json, {
        from: tuples[0]?.windowStart ?? null,
        to: tuples.length ? tuples[tuples.length - 1].windowEnd : null,
      });
    } finally {
      await store.close();
    }
  }
  model.dispose();
  return 0;
}

export async function train(values: Values): Promise<number> {
  if (values.csv) return trainFromCsv(values);
  if (values['from-store']) return trainFromStore(values);
  const MODS = ['sensors', 'images', 'notes'] as const;
  const modalities = values.modalities ? values.modalities.split(',').map((m) => m.trim()) : [...MODS];
  const bad = modalities.filter((m) => !(MODS as readonly string[]).includes(m));
  if (bad.length || !modalities.length)
    throw new UsageError(`--modalities: ${bad.join(', ') || 'none'} (sensors, images, notes)\n${USAGE}`);
  const epochs = num(values.epochs, 'epochs', 6);
  const version = versionOf(values);
  const cfg = values.register ? configOr2(values) : null;
  if (values.register && !cfg) return 2;
  const backend = await initBackend();
  process.stderr.write(`TensorFlow.js backend: ${backend}\n`);
  const enc = (split: string) => {
    const runs = loadSuite(split);
    const bar = progress(`encode ${split}`);
    const out = runs.map((r, k) =>
      encodeRun(r, DEFAULT_SPEC, values.cache, (d) =>
        bar.update((k + d) / runs.length, `${r.scenario.name} seed ${r.seed}`),
      ),
    );
    bar.update(1, 'done');
    bar.done();
    return out;
  };
  const trainRuns = enc('sim-train'),
    val = enc('sim-validation'),
    test = enc('sim-test');
  const bar = progress('train');
  const t0 = Date.now();
  let model: FusionModel;
  let metrics: DetectorMetrics[];
  if (values.ablation) {
    const r = fusionAblation(trainRuns, val, test, { epochs, onProgress: (d, w) => bar.update(d, w) });
    model = r.models.fused;
    metrics = r.metrics;
  } else {
    model = trainFusion(trainRuns, val, {
      version,
      epochs,
      modalities: modalities as Modality[],
      onProgress: (d, w) => bar.update(d, w),
    });
    scoreRuns(test, { name: version, model }, 0);
    metrics = metricsOf(test, [{ name: version, threshold: Number(model.card.threshold) }]);
  }
  bar.done();
  const fused = metrics[0];
  model.card = {
    ...model.card,
    name: version,
    test: {
      aucPr: fused.aucPr,
      aucRoc: fused.aucRoc,
      f1: fused.f1,
      far: fused.far,
      mar: fused.mar,
      falseAlertsPerAssetWeek: fused.falseAlertsPerAssetWeek,
      explained: fused.explanationChecked ? fused.explanationHits / fused.explanationChecked : null,
    },
  };
  const json = { ...model.toJSON(), version };
  process.stdout.write(
    `trained ${version} (${model.modalities.join(', ')}; ${model.mode}) in ${Math.round((Date.now() - t0) / 1000)} s on ${backend}; threshold ${String(model.card.threshold)}\n`,
  );
  process.stdout.write(`sim-test: ${test.length} runs\n${ablationTable(metrics)}\n`);
  if (values.out) {
    writeFileSync(values.out, JSON.stringify(json));
    process.stdout.write(`model written to ${values.out}\n`);
  }
  if (values.json)
    writeFileSync(values.json, `${JSON.stringify({ version, card: model.card, metrics }, null, 2)}\n`);
  if (cfg) {
    const store = await openStore(cfg.database);
    try {
      const [from, to] = span(trainRuns.flatMap((r) => r.result.windows.map((w) => w.windowStart)));
      await registerTrained(store.db, values, model, json, { from, to });
    } finally {
      await store.close();
    }
  }
  model.dispose();
  return 0;
}

/** The model card as Markdown (stored with the model, shown by GET /v1/models/{version}). */
function modelCard(c: Record<string, unknown>): string {
  const v = (c.validation ?? {}) as Record<string, number>,
    t = (c.test ?? {}) as Record<string, number>;
  const pct = (x: number | undefined) => (x === undefined || x === null ? '–' : `${(100 * x).toFixed(1)} %`);
  return [
    `# ${String(c.name)}`,
    '',
    `Fusion model (${String(c.mode)}) over ${(c.modalities as string[]).join(', ')}. Operating threshold: anomaly probability ≥ ${String(c.threshold)}.`,
    '',
    `- Intended use: ${String(c.intendedUse)}`,
    `- Trained on ${(c.trainedOn as string[]).join(', ').slice(0, 200)} (${String(c.trainingRows)} windows, ${String(c.positives)} in faults or confirmed alerts).`,
    v.aucPr !== undefined
      ? `- Validation: AUC-PR ${v.aucPr}, FAR ${pct(v.far)}, MAR ${pct(v.mar)}, false alerts per asset-week ${v.falseAlertsPerAssetWeek}.`
      : `- Validation: ${v.windows ?? '–'} held-out windows (${v.heldOutNormal ?? '–'} normal) calibrate the probability and set the threshold.`,
    ...(t.aucPr !== undefined
      ? [
          `- Test: AUC-PR ${t.aucPr.toFixed(3)}, FAR ${pct(t.far)}, MAR ${pct(t.mar)}, false alerts per asset-week ${t.falseAlertsPerAssetWeek?.toFixed?.(2) ?? '–'}.`,
        ]
      : []),
    `- Limitations: ${String(c.limitations)}`,
  ].join('\n');
}
