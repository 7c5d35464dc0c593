/**
 * Consumer lag as an operator reads it: per partition, the log-end offset minus the group's committed
 * offset (not the fetch position: a partition whose batches fail, or whose commit is held back, has read
 * far ahead of what is safe). The commit is held back on purpose to the oldest sample of a window still
 * open for amendments, so a quiet partition keeps some lag; what matters is whether the partition moves.
 * It is stuck when it has records not yet processed and neither its committed offset nor its processed
 * position has moved for `stuckAfterMs`; the service logs it at warn, exposes it as a metric and raises a
 * data-quality alert (`dq:partition-stuck`).
 */

/** One partition's offsets as the broker reports them, and how far this instance has processed it. */
export interface PartitionOffsets {
  topic: string;
  partition: number;
  /** The log-end offset (high watermark). */
  end: number;
  /** The group's committed offset; null: none yet (then the log start counts). */
  committed: number | null;
  /** The log-start offset (low watermark). */
  start: number;
  /** The next offset this instance will process (its effects durable before it); null: not known here. */
  processed?: number | null;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** Records after the committed offset. */
  lag: number;
  committed: number;
  /** Records not processed yet (after the processed position, else after the committed offset). */
  pending: number;
  /** How long the partition has had pending records with neither offset moving (0: moving, or none pending). */
  stillMs: number;
  stuck: boolean;
}

export class LagTracker {
  /** Per topic-partition: the offsets last seen, the records then pending, and since when they stand still. */
  private readonly seen = new Map<
    string,
    { committed: number; processed: number | null; pending: number; since: number }
  >();
  constructor(private readonly stuckAfterMs: number) {}

  /** The partitions' lag at `now`; partitions not in `rows` (no longer held) are forgotten. */
  update(rows: PartitionOffsets[], now: number): PartitionLag[] {
    const out: PartitionLag[] = [];
    const keep = new Set<string>();
    for (const r of rows) {
      const key = `${r.topic}\u0000${r.partition}`;
      keep.add(key);
      const committed = r.committed ?? r.start;
      const processed = r.processed ?? null;
      const lag = Math.max(0, r.end - committed);
      const pending = Math.max(0, r.end - Math.max(committed, processed ?? committed));
      let s = this.seen.get(key);
      // The clock runs from the first check that saw records pending with both offsets where they are now.
      if (!s || s.committed !== committed || s.processed !== processed || s.pending === 0)
        this.seen.set(key, (s = { committed, processed, pending, since: now }));
      s.pending = pending;
      const stillMs = pending > 0 ? now - s.since : 0;
      out.push({
        topic: r.topic,
        partition: r.partition,
        lag,
        committed,
        pending,
        stillMs,
        stuck: pending > 0 && stillMs >= this.stuckAfterMs,
      });
    }
    for (const k of [...this.seen.keys()]) if (!keep.has(k)) this.seen.delete(k);
    return out;
  }
}

/** The pseudo-asset a partition's data-quality alert is raised on (plant `_service`). */
export const partitionAsset = (topic: string, partition: number): string => `kafka:${topic}:${partition}`;
