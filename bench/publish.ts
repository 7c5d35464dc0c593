/** Publishing simulated records for the benches (in the bench's process, or the live phase's own). */
import type { RecordProducer } from '../ingest/index.js';
import type { Modality } from '../schemas/index.js';
import type { SimRecords } from '../sim/index.js';

/**
 * Sends every record of `recs` to its topic, keyed by asset, in sends of 1 000; returns how many.
 * `delayMs`: the record timestamp is the record's time plus this (what a plant publishing in real time
 * would have given a backlog); null: the producer's own time (a live plant).
 */
export async function publish(producer: RecordProducer, topics: Record<Modality, string>, recs: SimRecords, delayMs: number | null = 40): Promise<number> {
  let n = 0;
  for (const m of ['sensors', 'images', 'notes'] as const) {
    const msgs = (recs[m] as Array<{ asset?: string; ts: number }>).map((r) => ({
      key: r.asset ?? null, value: JSON.stringify(r), ...(delayMs === null ? {} : { timestamp: r.ts + delayMs }),
    }));
    for (let i = 0; i < msgs.length; i += 1000) await producer.send(topics[m], msgs.slice(i, i + 1000));
    n += msgs.length;
  }
  return n;
}
