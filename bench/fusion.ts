/**
 * The fusion model's scoring speed on the TensorFlow.js backend in use (wasm unless tfjs-node is installed):
 * windows per second batched and one at a time, raw scores alone and with explanations (occlusion per
 * modality and the note-term gradient); the encoder (features from tuples) alone; and the model's memory.
 * Baseline in the same process: the baseline robust-z scorer on the same windows; beside it the context
 * scorer (the service's default) with a full memory.
 */
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_SPEC } from '../eval/fusion.js';
import {
  contextCheckpoint,
  encode,
  FusionModel,
  initBackend,
  newContextState,
  newFeatureState,
  restoreContext,
  scoreBaseline,
  scoreContext,
  type ContextCheckpoint,
  type ModelInput,
} from '../fusion/index.js';
import type { WindowTuple } from '../schemas/index.js';

function tuples(n: number): WindowTuple[] {
  const out: WindowTuple[] = [];
  for (let k = 0; k < n; k++) {
    const channels: WindowTuple['channels'] = {},
      grid: WindowTuple['grid']['channels'] = {};
    for (const [c, ch] of DEFAULT_SPEC.channels.entries()) {
      const t = Array.from({ length: 60 }, (_, i) => k * 60_000 + i * 1000);
      const v = t.map((_, i) => c + Math.sin(i / 3 + k) + ((i * 7919 + k) % 13) / 13);
      channels[ch] = { device: 'd', t, v };
      grid[ch] = { v, mask: v.map(() => true) };
    }
    const patches = Array.from({ length: 48 }, (_, i) => 30 + (i % 8) + Math.sin(k));
    out.push({
      plant: 'p',
      asset: 'a',
      windowStart: k * 60_000,
      windowEnd: (k + 1) * 60_000,
      slideMs: 60_000,
      revision: 0,
      channels,
      grid: { stepMs: 1000, channels: grid },
      image: {
        camera: 'c',
        ts: k * 60_000,
        ageMs: 1000,
        kind: 'thermal',
        meanC: 33,
        maxC: 40 + Math.sin(k),
        patches,
      },
      notes:
        k % 30 === 0
          ? [
              {
                author: 'a',
                ts: k * 60_000,
                slackMs: 0,
                text: 'P1 grinding noise near the bearing, will check',
              },
            ]
          : [],
      quality: { samples: 420, duplicates: 0, late: 0, images: 1, notes: 0, clockOffsetMs: 0 },
    });
  }
  return out;
}

const rate = (n: number, ms: number) => (n * 1000) / ms;

function time(f: () => void, minMs = 1500): { ms: number; runs: number } {
  f(); // warm-up
  const t0 = performance.now();
  let runs = 0;
  do {
    f();
    runs++;
  } while (performance.now() - t0 < minMs);
  return { ms: (performance.now() - t0) / runs, runs };
}

export async function runFusionBench(): Promise<{
  backend: string;
  batch: number;
  rawPerS: number;
  explainedPerS: number;
  singlePerS: number;
  singleExplainedPerS: number;
  encodePerS: number;
  baselinePerS: number;
  contextPerS: number;
  contextMemory: number;
  contextKiBPerAsset: number;
  contextFeatures: number;
  params: number;
  weightsMiB: number;
  tensorMiB: number;
  heapDeltaMiB: number;
}> {
  const backend = await initBackend();
  const batch = 2048;
  const ts = tuples(DEFAULT_SPEC.referenceWindows + batch);
  const st = newFeatureState();
  const xs: ModelInput[] = [];
  const tEnc = performance.now();
  for (const t of ts) {
    const x = encode(t, st, DEFAULT_SPEC, ['p1']);
    if (x) xs.push(x);
  }
  const encodePerS = rate(ts.length, performance.now() - tEnc);
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const model = FusionModel.create('bench', DEFAULT_SPEC);
  model.calibrate(xs.slice(0, 512));
  const params = Object.values(model.w).reduce((a, v) => a + v.size, 0);
  const raw = time(() => model.rawScores(xs));
  const explained = time(() => model.score(xs));
  const one = xs.slice(0, 1);
  const single = time(() => {
    for (let k = 0; k < 50; k++) model.rawScores(one);
  });
  const singleExplained = time(() => {
    for (let k = 0; k < 20; k++) model.score(one);
  });
  const baseState = { reference: [], params: null };
  const base = time(() => {
    for (const t of ts)
      scoreBaseline(t, baseState, { referenceWindows: DEFAULT_SPEC.referenceWindows, modelVersion: 'b' });
  });
  // The context scorer with a full memory (2 000 windows): steady state, each window against all of them.
  const ctx = newContextState();
  const many = tuples(2_600);
  const o = { threshold: 6, lagMs: 0 };
  for (const t of many.slice(0, 2_300)) scoreContext(t, ctx, o);
  const context = time(() => {
    const st = structuredClone(ctx);
    for (const t of many.slice(2_300)) scoreContext(t, st, o);
  });
  // Its memory's heap per asset: 20 copies of the full state, each restored from a checkpoint as a service holds it.
  const cp = JSON.stringify(contextCheckpoint(structuredClone(ctx), true));
  global.gc?.();
  const heapCtx0 = process.memoryUsage().heapUsed;
  const copies = Array.from({ length: 20 }, () => {
    const c = JSON.parse(cp) as ContextCheckpoint;
    return restoreContext(c.head, c.chunks);
  });
  global.gc?.();
  const contextKiBPerAsset = (process.memoryUsage().heapUsed - heapCtx0) / copies.length / 1024;
  global.gc?.();
  const heapDeltaMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const tensorMiB = tf.memory().numBytes / 2 ** 20;
  model.dispose();
  return {
    backend,
    batch,
    rawPerS: rate(xs.length, raw.ms),
    explainedPerS: rate(xs.length, explained.ms),
    singlePerS: rate(50, single.ms),
    singleExplainedPerS: rate(20, singleExplained.ms),
    encodePerS,
    baselinePerS: rate(ts.length, base.ms),
    contextPerS: rate(300, context.ms),
    contextMemory: ctx.memory.length,
    contextKiBPerAsset,
    contextFeatures: ctx.names.length,
    params,
    weightsMiB: (params * 4) / 2 ** 20,
    tensorMiB,
    heapDeltaMiB,
  };
}
