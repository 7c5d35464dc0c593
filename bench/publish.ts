/** Publishing a simulated backlog for the benches. */
import type { RecordProducer } from '../ingest/index.js';
import type { Modality } from '../schemas/index.js';
import type { SimRecords } from '../sim/index.js';

/**
 * Sends every record of `recs` to its topic, keyed by asset, in sends of up to 1 000; returns how many. The
 * broker timestamp is the record's time plus `delayMs`: what a plant publishing in real time would have
 * given the backlog.
 */
export async function publish(
  producer: RecordProducer,
  topics: Record<Modality, string>,
  recs: SimRecords,
  delayMs = 40,
): Promise<number> {
  let n = 0;
  for (const m of ['sensors', 'images', 'notes'] as const) {
    const msgs = (recs[m] as Array<{ asset?: string; ts: number }>).map((r) => ({
      key: r.asset ?? null,
      value: JSON.stringify(r),
      timestamp: r.ts + delayMs,
    }));
    // Sends of at most 1 000 records and about 512 KiB (frames are tens of KiB; the broker's request limit is 1 MiB).
    for (let i = 0; i < msgs.length;) {
      let j = i,
        bytes = 0;
      while (j < msgs.length && j - i < 1000 && (j === i || bytes + msgs[j].value.length <= 512 * 1024))
        bytes += msgs[j++].value.length;
      await producer.send(topics[m], msgs.slice(i, j));
      i = j;
    }
    n += msgs.length;
  }
  return n;
}
