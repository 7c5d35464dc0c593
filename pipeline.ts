/**
 * One consumed batch, start to finish: decode → window → score → alert → one transaction → commit offsets.
 *
 * State per partition number (the three input topics are co-partitioned by asset, so partition p of each
 * holds the same assets): a window operator, each asset's model and alert-rule state, and the highest
 * offset per topic whose effects are durable (the processed mark). All of it but the samples of open
 * windows is checkpointed in the same transaction as the effects it describes; the samples are rebuilt by
 * replaying from the committed offsets, which are held back to the oldest sample still in an open window.
 * A restarted instance therefore closes, scores and alerts on exactly the windows an undisturbed one would:
 *   - a record at or below the processed mark is a replay: it refills its window if that window is still
 *     open, and does nothing else (its dead letter, late-log row, image or note are already stored);
 *   - a record above it is new;
 *   - nothing fires until the sensor replay has reached the processed mark.
 * Device clocks are restored too, from a checkpoint written every align.clock.checkpointEveryMs: a
 * replayed record after the clocks' mark is observed again (each device's records come from one topic
 * partition, in offset order, so the clock comes out as it was), one before it is corrected only. The
 * sensor and camera commits are held back to that mark as well.
 */
import type { Logger } from 'pino';
import { resolveNoteAsset, WindowOperator, type AlignSnapshot } from './align/index.js';
import { configuredRules, evaluateRules, type AssetRuleStates } from './alerts/index.js';
import { CONTEXT_DEFAULTS, contextCheckpoint, newContextState, restoreContext, rulesForModel, scoreBaseline, scoreContext, scoreFusionBatch, SCORE_AT_Q99, type AssetFeatureState, type ContextCheckpoint, type ContextOptions, type ContextState, type AssetModelState, type FusionModel, type ModelInput } from './fusion/index.js';
import { deadLetterKey, decodeRecord, screenRecord, type CommitRequest, type DeadLetter, type IncomingMessage } from './ingest/index.js';
import { FrameFetcher, type FetchOutcome } from './ingest/fetch.js';
import { decodeThermal, sniffEncoding } from './ingest/frames.js';
import { MODALITIES, type AlertEventType, type AlertRule, type Config, type ImageFrame, type Modality, type ScoreRow, type ThermalPixels, type WindowTuple } from './schemas/index.js';
import { claimAsset, claimPartition, emptyBatch, eventIdOf, FencedError, loadAssetCheckpoints, loadCheckpoint, maintenanceOf, writeBatch, type Db, type MaintenanceWindow } from './store/index.js';

/**
 * The checkpoint is stored as the partition's row (`PartitionRow`: the processed marks and the clocks'
 * marks) and rows per asset and part (`AssetParts`), of which a batch rewrites only the parts it changed:
 * `core` (watermarks, revisions, notes) and `images` (the frames kept) as they change, `rules` (the alert
 * rules' state) for the assets whose windows fired, `scoring` (model and feature state) for those whose
 * model state changed, and `clocks` (device clocks, the largest part) every `align.clock.checkpointEveryMs`.
 * `Checkpoint` is the whole, as held in memory, and as the partition's row held it before per-asset rows
 * (still read).
 */
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

type PartitionRow = Pick<Checkpoint, 'processed' | 'clocksAt'> & Partial<Checkpoint>;

/** One asset's rows, by part. */
interface AssetParts {
  core?: Omit<AlignSnapshot['assets'][string], 'images' | 'clocks'>;
  images?: AlignSnapshot['assets'][string]['images'];
  clocks?: AlignSnapshot['assets'][string]['clocks'];
  /** Model and feature state (`rules`: in rows written before the rules had their own part). */
  scoring?: { models?: Record<string, AssetModelState>; features?: Record<string, AssetFeatureState>; contexts?: Record<string, ContextCheckpoint['head']>; rules?: AssetRuleStates };
  rules?: AssetRuleStates;
  /** A context scorer's memory, in chunks: `ctx:<version/asset>:<chunk>` (see contextCheckpoint). */
  [chunk: `ctx:${string}`]: ContextCheckpoint['chunks'][number];
}

/** A partition's stored checkpoint, whole (null: none). */
export async function readCheckpoint(db: Db, partitionKey: string): Promise<Checkpoint | null> {
  return (await loadWhole(db, partitionKey)).cp;
}

/**
 * The partition's row and its per-asset rows, merged; `keys`: per asset, its keys in `models` and
 * `features` (from its scoring row; for a checkpoint from before per-asset rows, `legacy`, matched to
 * the assets it names).
 */
async function loadWhole(db: Db, partitionKey: string): Promise<{ cp: Checkpoint | null; keys: Map<string, Set<string>>; legacy: boolean }> {
  const part = (await loadCheckpoint(db, partitionKey)) as PartitionRow | null;
  const assets = await loadAssetCheckpoints(db, partitionKey) as Map<string, AssetParts>;
  const keys = new Map<string, Set<string>>();
  if (!part && !assets.size) return { cp: null, keys, legacy: false };
  const cp: Checkpoint = {
    align: { assets: { ...part?.align?.assets } }, models: { ...part?.models }, features: { ...part?.features },
    rules: { ...part?.rules }, processed: part?.processed ?? {}, clocksAt: part?.clocksAt ?? part?.processed ?? {}, contexts: {},
  };
  // Keys are `asset` or `version/asset`, and asset ids may hold "/": the longest asset the key ends with.
  const named = Object.keys(cp.align.assets).sort((a, b) => b.length - a.length);
  for (const k of [...Object.keys(cp.models), ...Object.keys(cp.features!)]) {
    const asset = named.find((a) => k === a || k.endsWith(`/${a}`)) ?? k.slice(k.lastIndexOf('/') + 1);
    if (!keys.has(asset)) keys.set(asset, new Set());
    keys.get(asset)!.add(k);
  }
  for (const [asset, a] of assets) {
    if (a.core) cp.align.assets[asset] = { ...a.core, images: a.images ?? [], clocks: a.clocks ?? {} };
    Object.assign(cp.models, a.scoring?.models);
    Object.assign(cp.features!, a.scoring?.features);
    const rules = a.rules ?? a.scoring?.rules;
    if (rules) cp.rules[asset] = rules;
    for (const [k, head] of Object.entries(a.scoring?.contexts ?? {})) {
      const chunks: ContextCheckpoint['chunks'] = {};
      for (let c = 0; c < head.chunksWritten; c++) chunks[c] = a[`ctx:${k}:${c}`] ?? [];
      cp.contexts![k] = restoreContext(head, chunks);
    }
    const own = [...Object.keys(a.scoring?.models ?? {}), ...Object.keys(a.scoring?.features ?? {}), ...Object.keys(a.scoring?.contexts ?? {})];
    if (own.length) keys.set(asset, new Set(own));
  }
  return { cp, keys, legacy: !!part?.align };
}

interface PartitionState extends Omit<Checkpoint, 'align'> {
  op: WindowOperator;
  committed: Partial<Record<Modality, number>>;
  /**
   * After a restore, the sensor offset up to which open windows are being refilled by the replay. Until
   * a sensor batch reaches it, nothing fires: a camera frame read before the replayed samples would
   * otherwise move the watermark past windows whose samples are still on their way.
   */
  replayingUntil: number | null;
  /** This instance's ownership epoch of the partition (fencing). */
  epoch: number;
  /** Per asset: the keys of its entries in `models` and `features` (for its checkpoint row). */
  keys: Map<string, Set<string>>;
  /** The next write rewrites every asset's rows (restored from a checkpoint from before per-asset rows). */
  writeAll: boolean;
  /** Per topic, the offset through which the stored clocks have observed records, and the clocks in memory have. */
  clocksAt: Partial<Record<Modality, number>>;
  observed: Partial<Record<Modality, number>>;
  /** When the clocks were last written (processing time; −∞: with the next batch). */
  clocksWrittenAt: number;
  /** When this partition's last batch was handled (processing time), and its partition number (see `tick`). */
  lastBatchAt: number;
  partition: number;
}

/** A URI frame's fetch outcome, with how its pixels give temperatures (from its record). */
export interface FetchedFrame { frame: Extract<ImageFrame, { uri: string }>; outcome: FetchOutcome }

export interface BatchInput {
  partitionKey: string;
  partition: number;
  modality: Modality;
  topic: string;
  messages: IncomingMessage[];
  /** URI frames fetched (or given up on) since the partition's last batch: applied before its messages. */
  fetched?: FetchedFrame[];
  /** Called while the batch waits out a failure, so the consumer keeps its group membership. */
  heartbeat?: () => Promise<void>;
  /** Back-pressure while the batch waits out a failure: stop and restart fetching its partition. */
  pause?: () => void;
  resume?: () => void;
}

export interface PipelineDeps {
  cfg: Config;
  db: Db;
  logger: Logger;
  /**
   * Kafka mode: the dead-letter topic; it returns the records whose copies it had to cut, whose whole
   * originals go to the dead_letters table in the batch's transaction. Embedded mode: null, and rejects go
   * to the dead_letters table.
   */
  deadLetter: ((records: DeadLetter[]) => Promise<DeadLetter[] | void>) | null;
  /**
   * Kafka mode: publishes a note whose asset was resolved from its text back to the notes topic, keyed by
   * the asset, so the instance owning that asset's partition windows it. Embedded mode: absent (one partition).
   */
  republish?: (modality: Modality, records: Array<{ key: string; value: string }>) => Promise<void>;
  topics: Record<Modality, string>;
  now?: () => number;
  /** Called after each committed transaction (wakes the webhook sender). */
  onDurable?: (summary: BatchSummary) => void;
  /** Stops retries of a failing write when the service shuts down. */
  isStopping?: () => boolean;
  /** The alert rules in force (configuration and API); default: the configured ones. */
  rules?: () => AlertRule[];
  /** Reports counts (to Prometheus metrics). */
  report?: {
    batch(s: BatchSummary & { modality: Modality }): void;
    scored?(s: ScoredSummary): void;
    /** The inputs a fusion model scored (for the drift monitor). */
    fusion?(model: FusionModel, inputs: Array<{ plant: string; x: ModelInput }>): void;
  };
  /**
   * The models to score with (the registry's active one and those in shadow); default: the configured
   * scorer, active. Only the active model's scores reach the alert rules.
   */
  models?: () => RunningModel[];
  /** Maintenance windows (store/maintenance.ts): an asset's windows in one are scored, flagged, and kept from its alert rules. */
  maintenance?: () => readonly MaintenanceWindow[];
}

export interface RunningModel {
  version: string; active: boolean; referenceWindows: number;
  /** A fusion model (kind `fusion`); absent, and no `context`: the baseline scorer. */
  fusion?: FusionModel;
  /** A context scorer (kind `context-knn`) with its options. */
  context?: ContextOptions;
}

/**
 * The scorer the configuration names (`scorer.kind`): as the registry registers it at start-up, and as the
 * pipeline runs it when there is no registry.
 */
export function configuredScorer(cfg: Config): { kind: 'context-knn' | 'baseline-robustz'; params: Record<string, unknown>; card: string; running: RunningModel } {
  if (cfg.scorer.kind === 'baseline') {
    const version = cfg.scorer.modelVersion ?? 'baseline-robustz-1', referenceWindows = cfg.scorer.referenceWindows;
    return {
      kind: 'baseline-robustz', params: { referenceWindows },
      card: `Robust z-score baseline: per asset, the median and MAD of each window feature over the first ${referenceWindows} windows; the score is the largest |z|, contributions by channel.`,
      running: { version, active: true, referenceWindows },
    };
  }
  const version = cfg.scorer.modelVersion ?? 'context-knn-1';
  const context = { ...CONTEXT_DEFAULTS, ...cfg.scorer.context, threshold: cfg.alerts.threshold };
  return {
    kind: 'context-knn', params: context,
    card: 'Context scorer: per asset, the distance of each window (every channel\'s mean and spread, the frame\'s hottest and mean pixel) '
      + `to its k-th (${context.k}) nearest window in a memory of the asset's own normal windows, scaled so that ${SCORE_AT_Q99} is the memory's own 99th percentile; `
      + `operating states the asset has been in are normal. Scored from ${context.coldStartMs / 60_000} minutes after an asset's first data; the memory adapts `
      + `(a window joins ${context.lagMs / 60_000} minutes after it ends if it scored below ${context.threshold}, or after ${context.acceptAfterMs / 3_600_000} hours whatever it scored). `
      + 'Contributions by channel against the nearest remembered window.',
    running: { version, active: true, referenceWindows: 0, context },
  };
}

export interface ScoredSummary {
  /** The batch's windows closed (processing time when they fired) → their score rows committed, in ms. */
  closeToCommitMs: number;
  /** Windows scored in the batch and the time scoring took. */
  scored: number; scoringMs: number;
}

export interface BatchSummary {
  partitionKey: string; records: number; rejected: number; late: number; windows: number; alertsOpened: number;
}

export interface Pipeline {
  handle(b: BatchInput): Promise<CommitRequest[]>;
  /** Embedded mode: the next offset to give a generated record of this partition and modality. */
  nextOffset(partitionKey: string, modality: Modality): Promise<number>;
  /** Drops the state of partitions this instance no longer owns (or must rebuild). */
  forget(partitions: number[]): void;
  /**
   * Fires what idleness allows in the partitions held here that have had no batch for idleTimeoutMs and
   * still hold open windows (an empty batch each): without it the last windows of a finite input, or of
   * a partition gone quiet, would wait for a record that does not come. `commit` (Kafka mode) commits the
   * offsets the fired windows no longer hold back.
   */
  tick(commit?: (c: CommitRequest[]) => Promise<void>): Promise<void>;
  /** Every device clock of every partition held here (read by the metrics at scrape time). */
  clockStates(): ReturnType<WindowOperator['clockStates']>;
  streamStates(): ReturnType<WindowOperator['streamStates']>;
  /** Every camera of every partition held here: its period and the windows it gave a frame to. */
  cameraStates(): ReturnType<WindowOperator['cameraStates']>;
  /** The next offset of each topic whose effects are durable, for a partition held here (null: not held). */
  processedThrough(partitionKey: string): Partial<Record<Modality, number>> | null;
  /**
   * The partition's state in memory, in the checkpoint's shape (null: not held). The stored clocks can be
   * older than these (`clocksAt`), between clock checkpoints.
   */
  checkpoint(partitionKey: string): Checkpoint | null;
}

/**
 * Which failures are worth waiting out: lost connections, a server starting or shutting down, lack of
 * resources, serialisation conflicts (SQLSTATE classes 08, 53, 57, 40) and Kafka's retriable errors.
 * Anything else is a bug or bad data and fails the batch at once.
 */
export function isRetriable(e: unknown): boolean {
  const err = e as { code?: unknown; retriable?: unknown; message?: unknown };
  if (err?.retriable === true) return true;
  const code = typeof err?.code === 'string' ? err.code : '';
  if (/^(08|53|57|40)/.test(code)) return true;
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)$/.test(code)) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(String(err?.message ?? ''));
}

/** How long a batch's decoding runs before it lets the event loop serve other work. */
const YIELD_AFTER_MS = 4;

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { cfg, db, logger } = deps;
  const configured = configuredScorer(cfg).running;
  // The baseline whose state is kept under the bare asset id (checkpoints from before the registry).
  const assetKeyed = cfg.scorer.kind === 'baseline' ? configured.version : 'baseline-robustz-1';
  // Processing time for the window operators (idle streams), not counting the time spent waiting out a
  // failed write: after a database outage every stream would otherwise look idle and windows would close
  // without the camera.
  // Partitions wait concurrently: the stalled time is the union of their waits.
  let stalledMs = 0, waiting = 0, waitingSince = 0;
  const wallNow = deps.now ?? Date.now;
  const now = () => wallNow() - stalledMs - (waiting > 0 ? wallNow() - waitingSince : 0);
  const states = new Map<string, PartitionState>();

  async function stateOf(key: string): Promise<PartitionState> {
    let s = states.get(key);
    if (!s) {
      // Claim first, then read: a checkpoint written by an older owner after this claim is refused.
      const epoch = await claimPartition(db, key);
      const { cp, keys, legacy } = await loadWhole(db, key);
      s = {
        epoch,
        keys,
        writeAll: legacy,
        clocksAt: { ...cp?.clocksAt },
        observed: { ...cp?.clocksAt },
        clocksWrittenAt: -Infinity,
        lastBatchAt: wallNow(),
        partition: 0,
        models: cp?.models ?? {},
        features: cp?.features ?? {},
        contexts: cp?.contexts ?? {},
        rules: cp?.rules ?? {},
        processed: cp?.processed ?? {},
        op: WindowOperator.restore(cfg.align, cp?.align ?? null, now),
        committed: {},
        replayingUntil: cp?.processed.sensors ?? null,
      };
      states.set(key, s);
      if (cp) logger.info({ partition: key, processed: s.processed }, 'restored checkpoint; replaying open windows');
    }
    return s;
  }

  function keyOf(s: PartitionState, asset: string, key: string): string {
    let ks = s.keys.get(asset);
    if (!ks) s.keys.set(asset, (ks = new Set()));
    ks.add(key);
    return key;
  }

  /**
   * The rows of the parts changed since the last write (all of them after an old-style restore): core and
   * frames as they change, rule state for the assets whose windows fired, model state for those whose model
   * state changed (`models`: a baseline's reference period, a fusion model's feature state; a fitted
   * baseline's parameters stay as they are), clocks when `clocks`.
   */
  function assetRows(s: PartitionState, tuples: WindowTuple[], models: Set<string>, clocks: boolean): Record<string, Record<string, unknown>> {
    const changed = s.op.takeChanged(clocks);
    const all = s.writeAll ? new Set(s.op.assetIds()) : null;
    const out: Record<string, Record<string, unknown>> = {};
    const put = (part: string, asset: string, v: unknown) => { (out[part] ??= {})[asset] = v; };
    for (const asset of all ?? changed.core) {
      const core = s.op.snapshotAsset(asset, { images: false, clocks: false });
      if (core) put('core', asset, core);
    }
    for (const asset of all ?? changed.images) put('images', asset, s.op.imagesOf(asset));
    for (const asset of all ?? changed.clocks ?? []) put('clocks', asset, s.op.clocksOf(asset));
    for (const asset of all ?? models) {
      const sc: NonNullable<AssetParts['scoring']> = {};
      for (const k of s.keys.get(asset) ?? []) {
        if (s.models[k]) (sc.models ??= {})[k] = s.models[k];
        if (s.features?.[k]) (sc.features ??= {})[k] = s.features[k];
        const ctx = s.contexts?.[k];
        if (ctx) {
          const { head, chunks } = contextCheckpoint(ctx, !!all);
          (sc.contexts ??= {})[k] = head;
          for (const [c, chunk] of Object.entries(chunks)) put(`ctx:${k}:${c}`, asset, chunk);
        }
      }
      put('scoring', asset, sc);
    }
    for (const asset of all ?? new Set(tuples.map((t) => t.asset))) if (s.rules[asset]) put('rules', asset, s.rules[asset]);
    return out;
  }

  /** Retries a durable write until it succeeds (back-pressure: the consumer waits) or the service stops. */
  async function durably<T>(what: string, fn: () => Promise<T>, b: Pick<BatchInput, 'heartbeat' | 'pause' | 'resume' | 'partitionKey'>): Promise<T> {
    const heartbeat = b.heartbeat;
    let paused = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn();
        if (paused) { b.resume?.(); logger.info({ partition: b.partitionKey, attempts: attempt }, `${what} through: partition resumed`); }
        return result;
      } catch (e) {
        if (!isRetriable(e) || deps.isStopping?.() || attempt >= 1000) {
          if (paused) b.resume?.();
          throw e;
        }
        // Back-pressure: nothing more is fetched for this partition while its batch waits.
        if (!paused && b.pause) { b.pause(); paused = true; logger.warn({ partition: b.partitionKey }, `${what} failing: partition paused`); }
        const wait = Math.min(10_000, 200 * 2 ** Math.min(attempt, 6));
        logger.warn({ err: (e as Error).message, attempt, wait }, `${what} failed; retrying`);
        // Wait in slices, heartbeating, so a long outage does not cost the partitions (session time-out).
        if (waiting++ === 0) waitingSince = wallNow();
        try {
          for (let left = wait; left > 0; left -= 1000) {
            await new Promise((r) => setTimeout(r, Math.min(1000, left)));
            await heartbeat?.().catch((err: Error) => logger.warn({ err: err.message }, 'heartbeat while waiting failed'));
          }
        } finally {
          if (--waiting === 0) stalledMs += wallNow() - waitingSince;
        }
      }
    }
  }

  /** Frames sent as a URI: fetched when hosts are allowed (frames.fetch.allowHosts). */
  const fetcher = cfg.frames.fetch.allowHosts.length ? new FrameFetcher(cfg.frames.fetch) : null;
  /** Fetches a URI frame; its outcome reaches the partition as a batch of its own, in turn with the others. */
  function requestFrame(b: Pick<BatchInput, 'partitionKey' | 'partition'>, frame: FetchedFrame['frame']): void {
    fetcher!.request(`${frame.asset}\u0000${frame.camera}\u0000${frame.uri}`, frame.uri, (outcome) => {
      if (deps.isStopping?.()) return;
      handle({ partitionKey: b.partitionKey, partition: b.partition, modality: 'images', topic: deps.topics.images, messages: [], fetched: [{ frame, outcome }] })
        .catch((e) => logger.warn({ partition: b.partitionKey, uri: frame.uri, err: (e as Error).message }, 'fetched frame not applied'));
    });
  }

  /** Asset id → the plant that owns it (claimed in the store on first sight; an owner never changes). */
  const owners = new Map<string, string>();
  /** The plants accepted (the configuration's `plants`), or null: any. */
  const plants = cfg.plants ? new Set(cfg.plants) : null;
  const EVENT: Record<string, AlertEventType | null> = { opened: 'alert.opened', escalated: 'alert.escalated', resolved: 'alert.resolved', updated: null };
  const rules = (): AlertRule[] => deps.rules?.() ?? configuredRules(cfg.alerts);
  /** Every name operators use for the plant's assets (the note encoder's asset vocabulary). */
  const assetNames = (plant: string): string[] => Object.keys(cfg.align.aliases[plant] ?? {});

  // Batches of one partition number (from any of the three topics) share state: one at a time, in order.
  const locks = new Map<string, Promise<unknown>>();
  function handle(b: BatchInput, commit?: (c: CommitRequest[]) => Promise<void>): Promise<CommitRequest[]> {
    const prev = locks.get(b.partitionKey) ?? Promise.resolve();
    // `commit`: offsets committed before the partition's next batch starts (the idle tick's).
    const once = async () => { const c = await handleGuarded(b); if (commit && c.length) await commit(c); return c; };
    const run = prev.then(once, once);
    const tail = run.catch(() => {});
    locks.set(b.partitionKey, tail);
    void tail.then(() => { if (locks.get(b.partitionKey) === tail) locks.delete(b.partitionKey); });
    return run;
  }

  async function handleGuarded(b: BatchInput): Promise<CommitRequest[]> {
    try {
      return await handleOnce(b);
    } catch (e) {
      // The in-memory state may be ahead of the store: forget it; the caller rewinds to the committed offsets.
      states.delete(b.partitionKey);
      if (e instanceof FencedError) logger.warn({ partition: b.partitionKey, epoch: e.epoch, current: e.current }, 'fenced: another instance took this partition; its batch was not written');
      throw e;
    }
  }

  async function handleOnce(b: BatchInput): Promise<CommitRequest[]> {
    // A fetch that ends after its partition went elsewhere is dropped (claiming the partition here would
    // fence its new owner); the new owner fetches the frame again when it replays the record.
    if (b.fetched && !b.messages.length && !states.has(b.partitionKey)) return [];
    const s = await stateOf(b.partitionKey);
    s.lastBatchAt = wallNow();
    s.partition = b.partition;
    const out = emptyBatch();
    const dead: DeadLetter[] = [];
    const rekeyed: Array<{ key: string; value: string }> = [];
    const mark = s.processed[b.modality] ?? -1;
    let late = 0;

    // URI frames fetched meanwhile: their temperatures join the frames held, and the windows waiting on them fire.
    for (const { frame: f, outcome: o } of b.fetched ?? []) {
      let result: { pixels: ThermalPixels; encoding: 'png' | 'jpeg' } | { missing: string };
      if (!o.ok) result = { missing: `frame not fetched: ${o.reason}` };
      else {
        const encoding = f.encoding ?? sniffEncoding(o.bytes, o.contentType);
        const px = encoding ? decodeThermal(o.bytes, { ...f, kind: 'thermal', encoding }, cfg.limits.maxImagePixels) : { code: 'invalid_image', reason: `neither PNG nor JPEG (${o.contentType ?? 'no content type'})` };
        result = 'code' in px ? { missing: `fetched frame unreadable: ${px.reason}` } : { pixels: px, encoding: encoding! };
      }
      if (!s.op.attachFetched(f.asset, f.camera, f.uri, result)) continue;
      if ('pixels' in result && o.ok) {
        (out.fetchedFrames ??= []).push({ asset: f.asset, camera: f.camera, uri: f.uri, encoding: result.encoding, base64: o.bytes.toString('base64'), width: result.pixels.width, height: result.pixels.height });
      } else if ('missing' in result) logger.warn({ asset: f.asset, camera: f.camera, uri: f.uri, reason: result.missing }, 'URI frame without temperatures');
    }

    let sliceStart = performance.now();
    for (let i = 0; i < b.messages.length; i++) {
      const m = b.messages[i];
      // A large batch is decoded in slices of a few milliseconds: between them the event loop answers the
      // database for the other partitions' transactions (each statement of theirs would otherwise wait out
      // this whole batch).
      if ((i & 63) === 63 && performance.now() - sliceStart > YIELD_AFTER_MS) {
        await new Promise((r) => setImmediate(r));
        sliceStart = performance.now();
      }
      const replay = m.offset <= mark;
      const d = decodeRecord(b.modality, m.value, cfg.limits);
      const key = m.key?.toString('utf8') ?? null;
      const reject = d.ok ? screenRecord(d.record, key, plants) : d;
      if (reject) {
        if (!replay) dead.push({ key: m.key, value: m.value, code: reject.code, reason: reject.reason, headers: m.headers, source: { topic: b.topic, partition: b.partition, offset: m.offset, timestamp: m.timestamp } });
        continue;
      }
      if (!d.ok) continue;
      let rec = d.record;
      if (rec.modality === 'notes' && !rec.value.asset) {
        const asset = resolveNoteAsset(rec.value.plant, rec.value.text, cfg.align.aliases);
        if (asset) {
          rec = { modality: 'notes', value: { ...rec.value, asset } };
          if (deps.republish) {
            if (!replay) rekeyed.push({ key: asset, value: JSON.stringify(rec.value) });
            continue;
          }
        }
      }
      // An asset id belongs to the first plant that sent it (every table keys assets by id alone).
      const asset = rec.value.asset;
      if (asset) {
        const owner = owners.get(asset) ?? await durably('asset claim', () => claimAsset(db, rec.value.plant, asset), b);
        owners.set(asset, owner);
        if (owner !== rec.value.plant) {
          if (!replay) {
            dead.push({
              key: m.key, value: m.value, code: 'asset_of_other_plant', headers: m.headers, source: { topic: b.topic, partition: b.partition, offset: m.offset, timestamp: m.timestamp },
              reason: `asset ${JSON.stringify(asset)} belongs to plant ${JSON.stringify(owner)}, not ${JSON.stringify(rec.value.plant)}: asset ids are unique across plants (give this plant's asset an id of its own, e.g. ${JSON.stringify(`${rec.value.plant}.${asset}`)})`,
            });
          }
          continue;
        }
      }
      // A replayed record the stored clocks have not seen is observed again (see align.clock.checkpointEveryMs).
      const r = s.op.add(rec, m.offset, replay, m.timestamp, !replay || m.offset > (s.clocksAt[b.modality] ?? -1));
      // A thermal frame sent as a URI is fetched off this path (again after a restore, if it had not been).
      if (rec.modality === 'images' && 'uri' in rec.value && rec.value.kind === 'thermal' && fetcher) {
        const f = rec.value;
        if (!replay || s.op.unfetched(f.asset).some((x) => x.uri === f.uri && x.camera === f.camera)) {
          s.op.fetching(f.asset, f.camera, f.uri);
          requestFrame(b, f);
        }
      }
      if (replay) continue;
      if (rec.modality === 'images') out.images.push(rec.value);
      else if (rec.modality === 'notes') out.notes.push(rec.value);
      if (r.late > 0) {
        late++;
        out.late.push({
          key: `${b.topic}:${b.partition}:${m.offset}`, modality: b.modality, plant: rec.value.plant, asset: rec.value.asset ?? null,
          reason: r.result === 'quarantined' ? `quarantined: ${r.reason}`
            : r.result === 'late' ? 'window already closed' : `${r.late} of its samples fell in windows already closed`,
          value: rec.value,
        });
      }
    }

    const last = b.messages.length ? b.messages[b.messages.length - 1].offset : mark;
    if (b.modality === 'sensors' && s.replayingUntil !== null && last >= s.replayingUntil) s.replayingUntil = null;
    const tuples: WindowTuple[] = s.replayingUntil === null ? s.op.fire() : [];
    let alertsOpened = 0;
    const firedAt = Date.now();
    const running = deps.models?.() ?? [configured];
    const scoreStart = performance.now();
    // Fusion models score the batch's tuples in one pass (their rows come back in tuple order).
    const fusionRows = new Map<string, ScoreRow[]>();
    // The assets whose model state this batch changed (their scoring rows are rewritten).
    const modelsChanged = new Set<string>();
    for (const m of running) {
      if (!m.fusion || !tuples.length) continue;
      for (const t of tuples) modelsChanged.add(t.asset);
      const { rows, inputs } = scoreFusionBatch(tuples, m.fusion, (s.features ??= {}), assetNames);
      fusionRows.set(m.version, rows);
      for (const t of tuples) keyOf(s, t.asset, `${m.version}/${t.asset}`);
      deps.report?.fusion?.(m.fusion, inputs);
    }
    const inMaintenance = deps.maintenance?.() ?? [];
    for (const [ti, t] of tuples.entries()) {
      const maintenance = inMaintenance.length ? maintenanceOf(inMaintenance, t.plant, t.asset, t.windowStart, t.windowEnd) : null;
      const scoresFrom = out.scores.length;
      let activeRow: ScoreRow | null = null;
      let activeFusion: FusionModel | undefined;
      for (const m of running) {
        const fr = fusionRows.get(m.version);
        if (fr) {
          out.scores.push(fr[ti]);
          if (m.active) { activeRow = fr[ti]; activeFusion = m.fusion; }
          continue;
        }
        if (m.context) {
          const key = keyOf(s, t.asset, `${m.version}/${t.asset}`);
          const r = scoreContext(t, (s.contexts![key] ??= newContextState()), m.context);
          modelsChanged.add(t.asset);
          const row: ScoreRow = {
            plant: t.plant, asset: t.asset, windowStart: t.windowStart, windowEnd: t.windowEnd, revision: t.revision, modelVersion: m.version,
            status: r.score === null ? 'reference' : 'scored', score: r.score, contributions: r.contributions, quality: t.quality,
            imageTs: t.image?.ts ?? null, noteCount: t.notes.length, explanation: { basis: r.basis, memory: r.memory },
          };
          out.scores.push(row);
          if (m.active) activeRow = row;
          continue;
        }
        // The configured baseline keeps its state under the asset (checkpoints from before the registry);
        // other versions under version + asset.
        const key = keyOf(s, t.asset, m.version === assetKeyed ? t.asset : `${m.version}/${t.asset}`);
        const model = (s.models[key] ??= { reference: [], params: null });
        const { row, fitted } = scoreBaseline(t, model, { referenceWindows: m.referenceWindows, modelVersion: m.version });
        // Only a window of the reference period changes a baseline's state (its reference, then its fit).
        if (row.status === 'reference') modelsChanged.add(t.asset);
        out.scores.push(row);
        if (fitted) out.modelParams.push({ modelVersion: row.modelVersion, asset: t.asset, kind: 'robust-z', params: fitted, referenceTo: t.windowEnd });
        if (m.active) activeRow = row;
      }
      // A window in maintenance: its rows say so, and the alert rules do not see it.
      if (maintenance) {
        for (let i = scoresFrom; i < out.scores.length; i++) out.scores[i] = { ...out.scores[i], explanation: { ...out.scores[i].explanation, maintenance: maintenance.id } };
        continue;
      }
      // Alert rules count windows as they first fire; an amended revision corrects the stored score only.
      if (t.revision !== 0 || !activeRow) continue;
      const row = activeRow;
      // A checkpoint from before rule sets (one state per asset) starts the asset's rules afresh.
      let states = s.rules[t.asset];
      if (!states || 'above' in states) states = s.rules[t.asset] = {};
      if (row.status === 'unscorable') continue;
      for (const d of evaluateRules(row, states, activeFusion ? rulesForModel(rules(), activeFusion) : rules(), { publicUrl: cfg.alerts.publicUrl, notes: t.notes })) {
        const type = EVENT[d.kind];
        if (d.kind === 'opened') alertsOpened++;
        // Event ids and times come from the decision and its window, so a replay writes nothing new.
        out.alerts.push({
          alert: d.alert, type, by: `rule:${d.alert.rule}`,
          eventId: type ? eventIdOf(d.alert.id, type, type === 'alert.escalated' ? d.alert.severity : '') : null,
          at: (d.kind === 'resolved' ? d.alert.resolvedWindow ?? d.alert.lastWindow : d.alert.lastWindow) + t.slideMs,
        });
      }
    }
    const scoringMs = performance.now() - scoreStart;
    out.activeModel = running.find((m) => m.active)?.version;
    out.tuples = tuples;

    const processed = { ...s.processed, [b.modality]: Math.max(mark, last) };
    out.threshold = cfg.alerts.threshold;
    if (b.messages.length) s.observed[b.modality] = Math.max(s.observed[b.modality] ?? -1, last);
    const clocksDue = s.writeAll || wallNow() - s.clocksWrittenAt >= cfg.align.clock.checkpointEveryMs;
    const clocksAt = clocksDue ? { ...s.observed } : s.clocksAt;
    out.checkpoint = { partitionKey: b.partitionKey, epoch: s.epoch, state: { processed, clocksAt } satisfies PartitionRow, assets: assetRows(s, tuples, modelsChanged, clocksDue) };

    if (rekeyed.length) await durably('note re-keying', () => deps.republish!('notes', rekeyed), b);
    if (dead.length) {
      const row = (x: DeadLetter) => ({ key: deadLetterKey(x), source: x.source.topic, code: x.code, reason: x.reason, value: x.value });
      if (deps.deadLetter) {
        // A copy cut to fit the dead-letter topic: the whole original is kept here.
        const cut = await durably('dead-letter send', () => deps.deadLetter!(dead), b);
        if (cut?.length) out.deadLetters = cut.map(row);
      } else out.deadLetters = dead.map(row);
    }
    await durably('store write', () => db.transaction((tx) => writeBatch(tx, out)), b);
    s.processed = processed;
    s.writeAll = false;
    if (clocksDue) { s.clocksAt = clocksAt; s.clocksWrittenAt = wallNow(); }

    const summary = { partitionKey: b.partitionKey, records: b.messages.length, rejected: dead.length, late, windows: tuples.length, alertsOpened };
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ ...summary, modality: b.modality, first: b.messages[0]?.offset, last, mark, open: s.op.openWindows() }, 'batch durable');
    }
    deps.onDurable?.(summary);
    deps.report?.batch({ ...summary, modality: b.modality });
    if (tuples.length) {
      deps.report?.scored?.({ closeToCommitMs: Date.now() - firedAt, scored: tuples.length, scoringMs });
    }
    return commitsFor(s, b.partition);
  }

  /** Offsets safe to commit: the sensors topic is held back to the oldest sample still in an open window. */
  function commitsFor(s: PartitionState, partition: number): CommitRequest[] {
    const out: CommitRequest[] = [];
    for (const m of MODALITIES) {
      const p = s.processed[m];
      if (p === undefined) continue;
      // While the sensor replay after a restore is under way, windows whose samples are not replayed yet
      // are not in the operator, so it cannot say what to hold: the commit stays where it was (moving it
      // would lose those windows if this instance died before the replay finished).
      if (m === 'sensors' && s.replayingUntil !== null) continue;
      const held = m === 'sensors' ? s.op.heldSensorOffset() : null;
      // Device clocks are rebuilt from their checkpoint by observing the records after it again.
      const clocks = m === 'notes' ? Infinity : (s.clocksAt[m] ?? -1) + 1;
      const offset = Math.min(held ?? Infinity, p + 1, clocks);
      if (s.committed[m] === offset) continue;
      s.committed[m] = offset;
      out.push({ topic: deps.topics[m], partition, offset });
    }
    return out;
  }

  return {
    handle,
    async nextOffset(key, modality) { return ((await stateOf(key)).processed[modality] ?? -1) + 1; },
    forget(partitions) { for (const p of partitions) states.delete(`p${p}`); },
    async tick(commit) {
      for (const [key, s] of [...states]) {
        if (s.replayingUntil !== null || wallNow() - s.lastBatchAt <= cfg.align.idleTimeoutMs) continue;
        // Nothing to fire, and every offset committed as far as it can go: nothing to do.
        if (s.op.openWindows() === 0 && MODALITIES.every((m) => s.processed[m] === undefined || s.committed[m] === s.processed[m]! + 1)) continue;
        await handle({ partitionKey: key, partition: s.partition, modality: 'sensors', topic: deps.topics.sensors, messages: [] }, commit)
          .catch((e) => logger.debug({ partition: key, err: (e as Error).message }, 'idle tick failed'));
      }
    },
    clockStates() { return [...states.values()].flatMap((s) => s.op.clockStates()); },
    streamStates() { return [...states.values()].flatMap((s) => s.op.streamStates()); },
    cameraStates() { return [...states.values()].flatMap((s) => s.op.cameraStates()); },
    processedThrough(key) {
      const s = states.get(key);
      return s ? Object.fromEntries(Object.entries(s.processed).map(([m, o]) => [m, o + 1])) : null;
    },
    checkpoint(key) {
      const s = states.get(key);
      return s ? { align: s.op.snapshot(), models: s.models, features: s.features, contexts: s.contexts, rules: s.rules, processed: s.processed, clocksAt: s.clocksAt } : null;
    },
  };
}
