/**
 * Consumer lag as an operator reads it: per partition, the log-end offset minus the group's committed
 * offset (not the fetch position: a partition whose batches fail, or whose commit is held back, has read
 * far ahead of what is safe). A partition with lag whose committed offset has not moved for
 * `stuckAfterMs` is stuck; the service logs it at warn, exposes it as a metric and raises a data-quality
 * alert (`dq:partition-stuck`).
 */

/** One partition's offsets as the broker reports them. */
export interface PartitionOffsets {
  topic: string; partition: number;
  /** The log-end offset (high watermark). */
  end: number;
  /** The group's committed offset; null: none yet (then the log start counts). */
  committed: number | null;
  /** The log-start offset (low watermark). */
  start: number;
}

export interface PartitionLag {
  topic: string; partition: number;
  /** Records after the committed offset. */
  lag: number;
  committed: number;
  /** How long the committed offset has stood still while there was lag (0: moving, or nothing to read). */
  stillMs: number;
  stuck: boolean;
}

export class LagTracker {
  /** Per topic-partition: the committed offset last seen and since when it has stood still with lag. */
  private readonly seen = new Map<string, { committed: number; lag: number; since: number }>();
  constructor(private readonly stuckAfterMs: number) {}

  /** The partitions' lag at `now`; partitions not in `rows` (no longer held) are forgotten. */
  update(rows: PartitionOffsets[], now: number): PartitionLag[] {
    const out: PartitionLag[] = [];
    const keep = new Set<string>();
    for (const r of rows) {
      const key = `${r.topic}\u0000${r.partition}`;
      keep.add(key);
      const committed = r.committed ?? r.start;
      const lag = Math.max(0, r.end - committed);
      let s = this.seen.get(key);
      // The clock runs from the first check that saw lag with the committed offset where it is now.
      if (!s || s.committed !== committed || s.lag === 0) this.seen.set(key, s = { committed, lag, since: now });
      s.lag = lag;
      const stillMs = lag > 0 ? now - s.since : 0;
      out.push({ topic: r.topic, partition: r.partition, lag, committed, stillMs, stuck: lag > 0 && stillMs >= this.stuckAfterMs });
    }
    for (const k of [...this.seen.keys()]) if (!keep.has(k)) this.seen.delete(k);
    return out;
  }
}

/** The pseudo-asset a partition's data-quality alert is raised on (plant `_service`). */
export const partitionAsset = (topic: string, partition: number): string => `kafka:${topic}:${partition}`;
