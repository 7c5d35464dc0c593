/**
 * The checkpoint: a partition's state as stored, in the same transaction as the effects it describes.
 *
 * Stored as the partition's row (`PartitionRow`: the format, the processed marks and the clocks' marks) and
 * rows per asset and part (`AssetParts`), of which a batch rewrites only the parts it changed: `core`
 * (watermarks, revisions, notes) and `images` (the frames kept) as they change, `rules` (the alert rules'
 * state) for the assets whose windows fired, `scoring` (model and feature state) for those whose model
 * state changed, `ctx:…` chunks of a context scorer's memory, and `clocks` (device clocks, the largest
 * part) every `align.clock.checkpointEveryMs`.
 *
 * Older formats are read through one function, `upgrade`; nothing else knows they existed.
 */
import type { AlignSnapshot, WindowOperator } from '../align/index.js';
import type { AssetRuleStates } from '../alerts/index.js';
import {
  contextCheckpoint,
  restoreContext,
  type AssetFeatureState,
  type AssetModelState,
  type ContextCheckpoint,
  type ContextState,
} from '../fusion/index.js';
import type { Modality, WindowTuple } from '../schemas/index.js';
import { loadAssetCheckpoints, loadCheckpoint, type Db } from '../store/index.js';

/** The format written now (see `upgrade` for the older ones). */
export const CHECKPOINT_FORMAT = 2;

/** A partition's whole state, as held in memory. */
export interface Checkpoint {
  align: AlignSnapshot;
  models: Record<string, AssetModelState>;
  /** Fusion models' per-asset feature state (reference, moving averages, note memory), by version/asset. */
  features?: Record<string, AssetFeatureState>;
  /** Context scorers' per-asset state (memory of normal windows), by version/asset. */
  contexts?: Record<string, ContextState>;
  /** Per asset: rule id → the rule engine's state. */
  rules: Record<string, AssetRuleStates>;
  processed: Partial<Record<Modality, number>>;
  /**
   * Per topic, the offset through which the stored device clocks have observed records (absent: as
   * `processed`). Records after it are observed again when replayed.
   */
  clocksAt?: Partial<Record<Modality, number>>;
}

/** The partition's row. Format 0 held the whole checkpoint here (`Partial<Checkpoint>`). */
export type PartitionRow = { format?: number } & Pick<Checkpoint, 'processed' | 'clocksAt'> &
  Partial<Checkpoint>;

/** One asset's rows, by part. */
export interface AssetParts {
  core?: Omit<AlignSnapshot['assets'][string], 'images' | 'clocks'>;
  images?: AlignSnapshot['assets'][string]['images'];
  clocks?: AlignSnapshot['assets'][string]['clocks'];
  /** Model and feature state (`rules`: format 1 kept the rules' state here). */
  scoring?: {
    models?: Record<string, AssetModelState>;
    features?: Record<string, AssetFeatureState>;
    contexts?: Record<string, ContextCheckpoint['head']>;
    rules?: AssetRuleStates;
  };
  rules?: AssetRuleStates;
  /** A context scorer's memory, in chunks: `ctx:<version/asset>:<chunk>` (see contextCheckpoint). */
  [chunk: `ctx:${string}`]: ContextCheckpoint['chunks'][number];
}

/** What a partition restores from: the checkpoint, each asset's model keys, and whether to rewrite it all. */
export interface Restored {
  cp: Checkpoint | null;
  /** Per asset: its keys in `models`, `features` and `contexts`. */
  keys: Map<string, Set<string>>;
  /** Stored in an older format: the next write rewrites every asset's rows in this one. */
  rewrite: boolean;
}

/** A partition's stored checkpoint, whole (null: none). */
export async function readCheckpoint(db: Db, partitionKey: string): Promise<Checkpoint | null> {
  return (await restoreCheckpoint(db, partitionKey)).cp;
}

/** Reads a partition's rows and brings them to the current format. */
export async function restoreCheckpoint(db: Db, partitionKey: string): Promise<Restored> {
  const part = (await loadCheckpoint(db, partitionKey)) as PartitionRow | null;
  const assets = (await loadAssetCheckpoints(db, partitionKey)) as Map<string, AssetParts>;
  return upgrade(part, assets);
}

/**
 * Any stored format → the current one, in memory:
 * - format 0: the partition's row held the whole checkpoint (no per-asset rows); model keys are matched
 *   to the assets they name, and every asset's rows are rewritten with the next batch;
 * - format 1: per-asset rows, the rules' state possibly inside `scoring`, and rule state from before rule
 *   sets (one state per asset, `above`), which starts the asset's rules afresh;
 * - format 2 (now): the partition's row says `format: 2`.
 */
export function upgrade(part: PartitionRow | null, assets: Map<string, AssetParts>): Restored {
  const keys = new Map<string, Set<string>>();
  if (!part && !assets.size) return { cp: null, keys, rewrite: false };
  const cp: Checkpoint = {
    align: { assets: { ...part?.align?.assets } },
    models: { ...part?.models },
    features: { ...part?.features },
    contexts: {},
    rules: { ...part?.rules },
    processed: part?.processed ?? {},
    clocksAt: part?.clocksAt ?? part?.processed ?? {},
  };
  // Format 0. Keys are `asset` or `version/asset`, and asset ids may hold "/": the longest asset the key ends with.
  const named = Object.keys(cp.align.assets).sort((a, b) => b.length - a.length);
  for (const key of [...Object.keys(cp.models), ...Object.keys(cp.features!)]) {
    const asset =
      named.find((a) => key === a || key.endsWith(`/${a}`)) ?? key.slice(key.lastIndexOf('/') + 1);
    if (!keys.has(asset)) keys.set(asset, new Set());
    keys.get(asset)!.add(key);
  }
  for (const [asset, rows] of assets) {
    if (rows.core)
      cp.align.assets[asset] = { ...rows.core, images: rows.images ?? [], clocks: rows.clocks ?? {} };
    Object.assign(cp.models, rows.scoring?.models);
    Object.assign(cp.features!, rows.scoring?.features);
    const rules = rows.rules ?? rows.scoring?.rules;
    if (rules) cp.rules[asset] = rules;
    for (const [key, head] of Object.entries(rows.scoring?.contexts ?? {})) {
      const chunks: ContextCheckpoint['chunks'] = {};
      for (let c = 0; c < head.chunksWritten; c++) chunks[c] = rows[`ctx:${key}:${c}`] ?? [];
      cp.contexts![key] = restoreContext(head, chunks);
    }
    const own = [
      ...Object.keys(rows.scoring?.models ?? {}),
      ...Object.keys(rows.scoring?.features ?? {}),
      ...Object.keys(rows.scoring?.contexts ?? {}),
    ];
    if (own.length) keys.set(asset, new Set(own));
  }
  // Rule state from before rule sets.
  for (const [asset, states] of Object.entries(cp.rules)) if ('above' in states) delete cp.rules[asset];
  return { cp, keys, rewrite: !!part?.align };
}

/** The partition's row as written now. */
export function partitionRow(
  processed: Checkpoint['processed'],
  clocksAt: Checkpoint['clocksAt'],
): PartitionRow {
  return { format: CHECKPOINT_FORMAT, processed, clocksAt };
}

/** The scoring side of a partition's state, as `assetRows` reads it. */
export interface ScoringState {
  models: Record<string, AssetModelState>;
  features?: Record<string, AssetFeatureState>;
  contexts?: Record<string, ContextState>;
  rules: Record<string, AssetRuleStates>;
  keys: Map<string, Set<string>>;
  /** The next write rewrites every asset's rows. */
  writeAll: boolean;
}

/**
 * The rows of the parts changed since the last write (all of them when `writeAll`): core and frames as
 * they change, rule state for the assets whose windows fired, model state for those whose model state
 * changed (`models`: a baseline's reference period, a fusion model's feature state, a context scorer's
 * memory; a fitted baseline's parameters stay as they are), clocks when `clocks`.
 */
export function assetRows(
  op: WindowOperator,
  state: ScoringState,
  tuples: WindowTuple[],
  models: Set<string>,
  clocks: boolean,
): Record<string, Record<string, unknown>> {
  const changed = op.takeChanged(clocks);
  const all = state.writeAll ? new Set(op.assetIds()) : null;
  const out: Record<string, Record<string, unknown>> = {};
  const put = (part: string, asset: string, value: unknown) => {
    (out[part] ??= {})[asset] = value;
  };
  for (const asset of all ?? changed.core) {
    const core = op.snapshotAsset(asset, { images: false, clocks: false });
    if (core) put('core', asset, core);
  }
  for (const asset of all ?? changed.images) put('images', asset, op.imagesOf(asset));
  for (const asset of all ?? changed.clocks ?? []) put('clocks', asset, op.clocksOf(asset));
  for (const asset of all ?? models) {
    const scoring: NonNullable<AssetParts['scoring']> = {};
    for (const key of state.keys.get(asset) ?? []) {
      if (state.models[key]) (scoring.models ??= {})[key] = state.models[key];
      if (state.features?.[key]) (scoring.features ??= {})[key] = state.features[key];
      const context = state.contexts?.[key];
      if (context) {
        const { head, chunks } = contextCheckpoint(context, !!all);
        (scoring.contexts ??= {})[key] = head;
        for (const [c, chunk] of Object.entries(chunks)) put(`ctx:${key}:${c}`, asset, chunk);
      }
    }
    put('scoring', asset, scoring);
  }
  const fired = all ?? new Set(tuples.map((t) => t.asset));
  for (const asset of fired) if (state.rules[asset]) put('rules', asset, state.rules[asset]);
  return out;
}
