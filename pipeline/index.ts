/**
 * One consumed batch, start to finish: decode → window → score → decide → one transaction → commit offsets.
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
 *
 * Files: decode.ts (records → windows), score.ts (windows → score rows), decide.ts (rows → alerts),
 * commit.ts (one transaction, then offsets), checkpoint.ts (the stored format), state.ts (a partition in
 * memory), retry.ts (durable writes), types.ts (the interface).
 */
import { configuredRules } from '../alerts/index.js';
import type { CommitRequest } from '../ingest/index.js';
import { FrameFetcher } from '../ingest/fetch.js';
import { MODALITIES, type WindowTuple } from '../schemas/index.js';
import { claimAsset, emptyBatch, FencedError, plantAssets } from '../store/index.js';
import { assetRows, partitionRow } from './checkpoint.js';
import { commitsFor, persist } from './commit.js';
import { decide } from './decide.js';
import { applyFetched, decodeBatch, decodeFramesAhead, type Decoder } from './decode.js';
import { TypedEvents, type PipelineEventMap } from './events.js';
import { FramePool } from './frame-pool.js';
import { createRetrier } from './retry.js';
import { configuredScorer, scoreWindows } from './score.js';
import { asCheckpoint, openPartition, type PartitionState } from './state.js';
import type { BatchInput, FetchedFrame, Pipeline, PipelineDeps } from './types.js';

export { readCheckpoint, type Checkpoint } from './checkpoint.js';
export { configuredScorer } from './score.js';
export { isRetriable } from '../schemas/errors.js';
export type * from './types.js';
export { TypedEvents } from './events.js';

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { cfg, db, logger } = deps;
  const configured = configuredScorer(cfg).running;
  // The baseline whose state is kept under the bare asset id (checkpoints from before the registry).
  const baselineKey = cfg.scorer.kind === 'baseline' ? configured.version : 'baseline-robustz-1';
  const wallNow = deps.now ?? Date.now;
  const { durably, now } = createRetrier(wallNow, logger, deps.isStopping);
  const states = new Map<string, PartitionState>();
  const events = new TypedEvents<PipelineEventMap>(logger);
  const rules = () => deps.rules?.() ?? configuredRules(cfg.alerts);
  /** Every name operators use for the plant's assets (the note encoder's asset vocabulary). */
  const assetNames = (plant: string): string[] => Object.keys(cfg.align.aliases[plant] ?? {});

  /** Frames sent as a URI: fetched when hosts are allowed (frames.fetch.allowHosts). */
  const fetcher = cfg.frames.fetch.allowHosts.length ? new FrameFetcher(cfg.frames.fetch) : null;
  /** Fetches a URI frame; its outcome reaches the partition as a batch of its own, in turn with the others. */
  function requestFrame(batch: BatchInput, frame: FetchedFrame['frame']): void {
    fetcher!.request(`${frame.asset}\u0000${frame.camera}\u0000${frame.uri}`, frame.uri, (outcome) => {
      if (deps.isStopping?.()) return;
      const fetched: BatchInput = {
        partitionKey: batch.partitionKey,
        partition: batch.partition,
        modality: 'images',
        topic: deps.topics.images,
        messages: [],
        fetched: [{ frame, outcome }],
      };
      handle(fetched).catch((e) =>
        logger.warn(
          { partition: batch.partitionKey, uri: frame.uri, err: (e as Error).message },
          'fetched frame not applied',
        ),
      );
    });
  }

  /** Asset id → the plant that owns it (claimed in the store on first sight; an owner never changes). */
  const owners = new Map<string, string>();
  const frames = cfg.frames.decodeThreads > 0 ? FramePool.shared(cfg.frames.decodeThreads, cfg.limits) : null;
  const decoder: Decoder = {
    cfg,
    frames,
    plants: cfg.plants ? new Set(cfg.plants) : null,
    republishes: !!deps.republish,
    requestFrame: fetcher ? requestFrame : null,
    assetsOf(plant, batch) {
      return durably('plant assets', () => plantAssets(db, plant), batch);
    },
    async ownerOf(plant, asset, batch) {
      const owner =
        owners.get(asset) ?? (await durably('asset claim', () => claimAsset(db, plant, asset), batch));
      owners.set(asset, owner);
      return owner;
    },
  };

  async function stateOf(key: string): Promise<PartitionState> {
    let state = states.get(key);
    if (!state) states.set(key, (state = await openPartition(db, key, cfg, now, wallNow, logger)));
    return state;
  }

  // Batches of one partition number (from any of the three topics) share state: one at a time, in order.
  const locks = new Map<string, Promise<unknown>>();
  function handle(
    batch: BatchInput,
    commit?: (c: CommitRequest[]) => Promise<void>,
  ): Promise<CommitRequest[]> {
    const prev = locks.get(batch.partitionKey) ?? Promise.resolve();
    decodeFramesAhead(decoder, batch);
    // `commit`: offsets committed before the partition's next batch starts (the idle tick's).
    const once = async () => {
      const commits = await handleGuarded(batch);
      if (commit && commits.length) await commit(commits);
      return commits;
    };
    const run = prev.then(once, once);
    const tail = run.catch(() => {});
    locks.set(batch.partitionKey, tail);
    void tail.then(() => {
      if (locks.get(batch.partitionKey) === tail) locks.delete(batch.partitionKey);
    });
    return run;
  }

  async function handleGuarded(batch: BatchInput): Promise<CommitRequest[]> {
    try {
      return await handleOnce(batch);
    } catch (e) {
      // The in-memory state may be ahead of the store: forget it; the caller rewinds to the committed offsets.
      states.delete(batch.partitionKey);
      if (e instanceof FencedError) {
        logger.warn(
          { partition: batch.partitionKey, epoch: e.epoch, current: e.current },
          'fenced: another instance took this partition; its batch was not written',
        );
      }
      throw e;
    }
  }

  async function handleOnce(batch: BatchInput): Promise<CommitRequest[]> {
    // A fetch that ends after its partition went elsewhere is dropped (claiming the partition here would
    // fence its new owner); the new owner fetches the frame again when it replays the record.
    if (batch.fetched && !batch.messages.length && !states.has(batch.partitionKey)) return [];
    const state = await stateOf(batch.partitionKey);
    state.lastBatchAt = wallNow();
    state.partition = batch.partition;
    const out = emptyBatch();

    applyFetched(state, batch.fetched ?? [], out, cfg, logger);
    const decoded = await decodeBatch(decoder, state, batch, out);
    const tuples = fire(state, batch, decoded.last);
    const running = deps.models?.() ?? [configured];
    const firedAt = Date.now();
    const scoreStart = performance.now();
    const scored = scoreWindows(state, tuples, running, baselineKey, assetNames, events);
    const decided = decide(state, tuples, scored.windows, rules(), deps.maintenance?.() ?? [], cfg);
    const scoringMs = performance.now() - scoreStart;
    Object.assign(out, {
      tuples,
      scores: decided.scores,
      alerts: decided.alerts,
      modelParams: scored.modelParams,
      activeModel: running.find((m) => m.active)?.version,
      threshold: cfg.alerts.threshold,
    });
    const checkpointed = checkpoint(state, batch, decoded.last, tuples, scored.modelsChanged);
    out.checkpoint = checkpointed.row;

    await persist(deps, db, durably, batch, decoded, out);
    checkpointed.written();

    const summary = {
      partitionKey: batch.partitionKey,
      records: batch.messages.length,
      rejected: decoded.dead.length,
      late: decoded.late,
      windows: tuples.length,
      alertsOpened: decided.alertsOpened,
    };
    if (logger.isLevelEnabled('debug')) {
      const first = batch.messages[0]?.offset;
      logger.debug(
        { ...summary, modality: batch.modality, first, last: decoded.last, open: state.op.openWindows() },
        'batch durable',
      );
    }
    events.emit('durable', { ...summary, modality: batch.modality });
    if (tuples.length) {
      events.emit('scored', { closeToCommitMs: Date.now() - firedAt, scored: tuples.length, scoringMs });
    }
    return commitsFor(state, batch.partition, deps.topics);
  }

  /** The windows the batch closes (none while a restored partition's sensor replay is under way). */
  function fire(state: PartitionState, batch: BatchInput, last: number): WindowTuple[] {
    if (batch.modality === 'sensors' && state.replayingUntil !== null && last >= state.replayingUntil)
      state.replayingUntil = null;
    return state.replayingUntil === null ? state.op.fire() : [];
  }

  /** The batch's checkpoint rows, and what to note in memory once they are written. */
  function checkpoint(
    state: PartitionState,
    batch: BatchInput,
    last: number,
    tuples: WindowTuple[],
    modelsChanged: Set<string>,
  ) {
    const mark = state.processed[batch.modality] ?? -1;
    const processed = { ...state.processed, [batch.modality]: Math.max(mark, last) };
    if (batch.messages.length)
      state.observed[batch.modality] = Math.max(state.observed[batch.modality] ?? -1, last);
    const clocksDue =
      state.writeAll || wallNow() - state.clocksWrittenAt >= cfg.align.clock.checkpointEveryMs;
    const clocksAt = clocksDue ? { ...state.observed } : state.clocksAt;
    const row = {
      partitionKey: batch.partitionKey,
      epoch: state.epoch,
      state: partitionRow(processed, clocksAt),
      assets: assetRows(state.op, state, tuples, modelsChanged, clocksDue),
    };
    const written = () => {
      state.processed = processed;
      state.writeAll = false;
      if (clocksDue) {
        state.clocksAt = clocksAt;
        state.clocksWrittenAt = wallNow();
      }
    };
    return { row, written };
  }

  return {
    events,
    handle,
    async nextOffset(key, modality) {
      return ((await stateOf(key)).processed[modality] ?? -1) + 1;
    },
    forget(partitions) {
      for (const p of partitions) states.delete(`p${p}`);
    },
    async tick(commit) {
      for (const [key, state] of [...states]) {
        if (state.replayingUntil !== null || wallNow() - state.lastBatchAt <= cfg.align.idleTimeoutMs)
          continue;
        // Nothing to fire, and every offset committed as far as it can go: nothing to do.
        const allCommitted = MODALITIES.every(
          (m) => state.processed[m] === undefined || state.committed[m] === state.processed[m]! + 1,
        );
        if (state.op.openWindows() === 0 && allCommitted) continue;
        await handle(
          {
            partitionKey: key,
            partition: state.partition,
            modality: 'sensors',
            topic: deps.topics.sensors,
            messages: [],
          },
          commit,
        ).catch((e) => logger.debug({ partition: key, err: (e as Error).message }, 'idle tick failed'));
      }
    },
    clockStates: () => [...states.values()].flatMap((s) => s.op.clockStates()),
    streamStates: () => [...states.values()].flatMap((s) => s.op.streamStates()),
    cameraStates: () => [...states.values()].flatMap((s) => s.op.cameraStates()),
    processedThrough(key) {
      const state = states.get(key);
      return state ? Object.fromEntries(Object.entries(state.processed).map(([m, o]) => [m, o + 1])) : null;
    },
    checkpoint(key) {
      const state = states.get(key);
      return state ? asCheckpoint(state) : null;
    },
  };
}
