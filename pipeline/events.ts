/**
 * The pipeline's events, typed: what happened, for metrics, benches and tests to subscribe to
 * (`pipeline.events.on('durable', …)`), instead of callbacks passed in one by one. A listener that throws
 * is logged and never reaches the pipeline (as graphile-worker's safeEmit).
 */
import type { Logger } from 'pino';
import type { FusionModel, ModelInput } from '../fusion/index.js';
import type { Modality } from '../schemas/index.js';

export interface BatchSummary {
  partitionKey: string;
  records: number;
  rejected: number;
  late: number;
  windows: number;
  alertsOpened: number;
}

export interface ScoredSummary {
  /** The batch's windows closed (processing time when they fired) → their score rows committed, in ms. */
  closeToCommitMs: number;
  /** Windows scored in the batch and the time scoring took. */
  scored: number;
  scoringMs: number;
}

export interface PipelineEventMap {
  /** A batch's transaction committed: its effects (and alert events for the webhook sender) are durable. */
  durable: BatchSummary & { modality: Modality };
  /** A batch's windows were scored and their rows committed. */
  scored: ScoredSummary;
  /** The inputs a fusion model scored (the drift monitor's). */
  fusionInputs: { model: FusionModel; inputs: Array<{ plant: string; x: ModelInput }> };
}

export class TypedEvents<Map extends object> {
  private readonly listeners = new globalThis.Map<keyof Map, Array<(payload: never) => void>>();

  constructor(private readonly logger?: Pick<Logger, 'error'>) {}

  /** Subscribes; returns the function that unsubscribes. */
  on<K extends keyof Map>(event: K, listener: (payload: Map[K]) => void): () => void {
    const list = this.listeners.get(event) ?? [];
    list.push(listener as (payload: never) => void);
    this.listeners.set(event, list);
    return () => {
      const now = this.listeners.get(event) ?? [];
      this.listeners.set(
        event,
        now.filter((l) => l !== listener),
      );
    };
  }

  /** Whether anyone listens (to skip building a payload nobody reads). */
  has(event: keyof Map): boolean {
    return (this.listeners.get(event)?.length ?? 0) > 0;
  }

  /** Calls every listener; one that throws is logged, and neither the others nor the caller see it. */
  emit<K extends keyof Map>(event: K, payload: Map[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as (p: Map[K]) => void)(payload);
      } catch (e) {
        this.logger?.error({ event: String(event), err: (e as Error).message }, 'event listener failed');
      }
    }
  }
}
