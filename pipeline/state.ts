/** A partition's state in memory, and how it is opened: claim, then restore from the checkpoint. */
import type { Logger } from 'pino';
import { WindowOperator } from '../align/index.js';
import type { Config, Modality } from '../schemas/index.js';
import { claimPartition, type Db } from '../store/index.js';
import { restoreCheckpoint, type Checkpoint, type ScoringState } from './checkpoint.js';

export interface PartitionState extends Omit<Checkpoint, 'align' | 'rules' | 'models'>, ScoringState {
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
  /** Per topic, the offset through which the stored clocks have observed records, and the clocks in memory have. */
  clocksAt: Partial<Record<Modality, number>>;
  observed: Partial<Record<Modality, number>>;
  /** When the clocks were last written (processing time; −∞: with the next batch). */
  clocksWrittenAt: number;
  /** When this partition's last batch was handled (processing time), and its partition number (see `tick`). */
  lastBatchAt: number;
  partition: number;
}

/** Claims the partition, then reads its checkpoint: a checkpoint written by an older owner after this claim is refused. */
export async function openPartition(
  db: Db,
  partitionKey: string,
  cfg: Config,
  now: () => number,
  wallNow: () => number,
  logger: Logger,
): Promise<PartitionState> {
  const epoch = await claimPartition(db, partitionKey);
  const { cp, keys, rewrite } = await restoreCheckpoint(db, partitionKey);
  const state: PartitionState = {
    epoch,
    keys,
    writeAll: rewrite,
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
  if (cp)
    logger.info(
      { partition: partitionKey, processed: state.processed },
      'restored checkpoint; replaying open windows',
    );
  return state;
}

/** Records `key` as one of the asset's model keys (its scoring row holds them) and returns it. */
export function keyOf(state: PartitionState, asset: string, key: string): string {
  let keys = state.keys.get(asset);
  if (!keys) state.keys.set(asset, (keys = new Set()));
  keys.add(key);
  return key;
}

/** The partition's state in the checkpoint's shape. */
export function asCheckpoint(state: PartitionState): Checkpoint {
  const { models, features, contexts, rules, processed, clocksAt } = state;
  return { align: state.op.snapshot(), models, features, contexts, rules, processed, clocksAt };
}
