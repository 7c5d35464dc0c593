/** The pipeline's interface: what a batch brings, what the pipeline needs, and what it reports. */
import type { Logger } from 'pino';
import type { WindowOperator } from '../align/index.js';
import type { ContextOptions, FusionModel } from '../fusion/index.js';
import type { FetchOutcome } from '../ingest/fetch.js';
import type { CommitRequest, DeadLetter, IncomingMessage } from '../ingest/index.js';
import type { AlertRule, Config, ImageFrame, Modality } from '../schemas/index.js';
import type { Db, MaintenanceWindow } from '../store/index.js';
import type { Checkpoint } from './checkpoint.js';
import type { PipelineEventMap, TypedEvents } from './events.js';

export type { BatchSummary, PipelineEventMap, ScoredSummary } from './events.js';

/** A URI frame's fetch outcome, with how its pixels give temperatures (from its record). */
export interface FetchedFrame {
  frame: Extract<ImageFrame, { uri: string }>;
  outcome: FetchOutcome;
}

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
  /** Stops retries of a failing write when the service shuts down. */
  isStopping?: () => boolean;
  /** The alert rules in force (configuration and API); default: the configured ones. */
  rules?: () => AlertRule[];
  /**
   * The models to score with (the registry's active one and those in shadow); default: the configured
   * scorer, active. Only the active model's scores reach the alert rules.
   */
  models?: () => RunningModel[];
  /** Maintenance windows (store/maintenance.ts): an asset's windows in one are scored, flagged, and kept from its alert rules. */
  maintenance?: () => readonly MaintenanceWindow[];
}

export interface RunningModel {
  version: string;
  active: boolean;
  referenceWindows: number;
  /** A fusion model (kind `fusion`); absent, and no `context`: the baseline scorer. */
  fusion?: FusionModel;
  /** A context scorer (kind `context-knn`) with its options. */
  context?: ContextOptions;
}

export interface Pipeline {
  /** What happened: batches made durable, windows scored, fusion inputs (see events.ts). */
  readonly events: TypedEvents<PipelineEventMap>;
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
