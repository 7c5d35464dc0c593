/**
 * Where simulated and replayed records go: Kafka (record timestamp = the simulated arrival), JSONL files
 * (one line per delivery, ground truth beside), paced in real time, accelerated, or as fast as possible.
 */
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Delivery, Topic } from './plant.js';

export interface Sink {
  send(batch: Delivery[]): Promise<void>;
  close(): Promise<void>;
}

/** Anything with the record producer's `send` (ingest's createRecordProducer). */
export interface ProducerLike {
  send(
    topic: string,
    records: Array<{ key: string | null; value: string; timestamp?: number }>,
  ): Promise<void>;
  close(): Promise<void>;
}

export function kafkaSink(
  p: ProducerLike,
  topics: Record<Topic, string>,
  o: { keepTimestamps?: boolean } = {},
): Sink {
  return {
    async send(batch) {
      const by = new Map<Topic, Array<{ key: string | null; value: string; timestamp?: number }>>();
      for (const d of batch) {
        if (!by.has(d.topic)) by.set(d.topic, []);
        const key = (d.record as { asset?: string }).asset ?? null;
        by.get(d.topic)!.push(
          o.keepTimestamps === false
            ? { key, value: JSON.stringify(d.record) }
            : { key, value: JSON.stringify(d.record), timestamp: d.arrivalMs },
        );
      }
      // Requests stay well under the broker's default 1 MiB message-batch limit (thermal frames are ~4 KB).
      for (const [topic, recs] of by) {
        let from = 0,
          bytes = 0;
        for (let i = 0; i < recs.length; i++) {
          bytes += recs[i].value.length + 64;
          if (bytes > 512 * 1024 || i - from >= 2000) {
            await p.send(topics[topic], recs.slice(from, i));
            from = i;
            bytes = recs[i].value.length + 64;
          }
        }
        if (from < recs.length) await p.send(topics[topic], recs.slice(from));
      }
    },
    close: () => p.close(),
  };
}

/** DIR/records.jsonl: {"topic","ts","key","value"} per line in arrival order; `extra` files (labels) beside. */
export function jsonlSink(dir: string, extra: Record<string, unknown> = {}): Sink {
  mkdirSync(dir, { recursive: true });
  for (const [name, v] of Object.entries(extra))
    writeFileSync(join(dir, name), `${JSON.stringify(v, null, 2)}\n`);
  const out: WriteStream = createWriteStream(join(dir, 'records.jsonl'));
  return {
    async send(batch) {
      const text = batch
        .map((d) =>
          JSON.stringify({
            topic: d.topic,
            ts: d.arrivalMs,
            key: (d.record as { asset?: string }).asset ?? null,
            value: d.record,
          }),
        )
        .join('\n');
      if (!text) return;
      if (!out.write(`${text}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
    },
    close: () =>
      new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve()))),
  };
}

/**
 * Sends deliveries, paced: `speed` 0 = as fast as possible, 1 = real time, N = N× faster, measured from
 * `startMs` of simulated time. Returns the number sent.
 */
export async function pump(
  chunks: Iterable<Delivery[]>,
  sink: Sink,
  o: { speed: number; startMs: number; onProgress?: (simMs: number, sent: number) => void },
): Promise<number> {
  const wall0 = Date.now();
  let sent = 0;
  for (const chunk of chunks) {
    if (o.speed <= 0) {
      await sink.send(chunk);
      sent += chunk.length;
      o.onProgress?.(chunk[chunk.length - 1]?.arrivalMs ?? o.startMs, sent);
      continue;
    }
    let i = 0;
    while (i < chunk.length) {
      const due = wall0 + (chunk[i].arrivalMs - o.startMs) / o.speed;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 1000)));
      // Everything due by now (at most a second's worth) goes in one send.
      let j = i;
      while (j < chunk.length && wall0 + (chunk[j].arrivalMs - o.startMs) / o.speed <= Date.now()) j++;
      if (j === i) continue;
      await sink.send(chunk.slice(i, j));
      sent += j - i;
      o.onProgress?.(chunk[j - 1].arrivalMs, sent);
      i = j;
    }
  }
  return sent;
}
