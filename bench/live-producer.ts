/**
 * The plant of the e2e bench's live phase, in its own processes (as a plant publishes from elsewhere): one
 * second of records per second, in real time, for `seconds`. Prints the number of records published.
 *
 * A plant's own work is done on its own machines; here it shares the two cores with the pipeline, so it is
 * kept small: every second's records are generated and serialised before the first is sent, and the
 * sensor and camera records go through Kafka's own console producer (the Java client, from the broker's
 * jars; kafkajs took half a core to send 23 000 records/s). Records go out as a plant's devices send them:
 * in slices of 50 ms by their time stamps (a second's records sent at once would close every window of the
 * second in one batch, though the cameras run on their own schedules). The few notes go through kafkajs (a
 * note may have no key).
 * Argument: JSON { brokers, topics, seed, assets, sampleMs, seconds, spreadCameras }.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { pino } from 'pino';
import { createRecordProducer } from '../ingest/index.js';
import type { Modality } from '../schemas/index.js';
import { generate, simplePlan } from '../sim/index.js';

const o = JSON.parse(process.argv[2]) as {
  brokers: string[];
  topics: Record<Modality, string>;
  seed: number;
  assets: number;
  sampleMs: number;
  seconds: number;
  spreadCameras: boolean;
};
const plan = simplePlan({
  seed: o.seed,
  assets: o.assets,
  sampleMs: o.sampleMs,
  imageMs: 10_000,
  noteMs: 600_000,
  spreadCameras: o.spreadCameras,
});

const kafkaDir = fileURLToPath(new URL('../infra/kafka/', import.meta.url));
function consoleProducer(topic: string): ChildProcessByStdio<Writable, null, null> {
  return spawn(
    'java',
    [
      `-Dlog4j.configuration=file:${kafkaDir}log4j.properties`,
      `-Dkafka.logs.dir=${process.env.TMPDIR ?? '/tmp'}`,
      '-cp',
      `${kafkaDir}lib/*`,
      'kafka.tools.ConsoleProducer',
      '--bootstrap-server',
      o.brokers.join(','),
      '--topic',
      topic,
      '--property',
      'parse.key=true',
      '--property',
      'key.separator=\t',
      '--request-required-acks',
      '-1',
      '--timeout',
      '5',
      '--batch-size',
      '262144',
      '--compression-codec',
      'none',
    ],
    { stdio: ['pipe', 'inherit', 'inherit'] },
  );
}
const java = { sensors: consoleProducer(o.topics.sensors), images: consoleProducer(o.topics.images) };
const notes = await createRecordProducer(o.brokers, pino({ level: 'warn' }));

const SLICE_MS = 50,
  SLICES = 1000 / SLICE_MS;
/**
 * One second of the plant, by 50-ms slice of record time: sensor and camera records as the console
 * producer's lines (key, tab, value).
 */
interface Second {
  sensors: string[];
  images: string[];
  count: number;
  notes: Array<{ key: string | null; value: string }>;
}
const serialise = (from: number): Second => {
  const recs = generate(plan, from, from + 1000);
  const lines = (rs: Array<{ asset: string; ts: number }>) => {
    const out: string[] = Array.from({ length: SLICES }, () => '');
    for (const r of rs)
      out[Math.min(SLICES - 1, Math.floor((r.ts - from) / SLICE_MS))] += `${r.asset}\t${JSON.stringify(r)}\n`;
    return out;
  };
  return {
    sensors: lines(recs.sensors),
    images: lines(recs.images),
    count: recs.sensors.length + recs.images.length + recs.notes.length,
    notes: recs.notes.map((r) => ({ key: r.asset ?? null, value: JSON.stringify(r) })),
  };
};
const write = (w: Writable, s: string) =>
  new Promise<void>((r) => {
    if (w.write(s)) r();
    else w.once('drain', () => r());
  });

// How long generating takes, from one second of it; the first second sent starts after all are made.
const t = performance.now();
serialise(Math.floor(Date.now() / 1000) * 1000);
const start = Math.ceil((Date.now() + (performance.now() - t) * o.seconds * 1.5 + 3000) / 1000) * 1000;
const seconds: Second[] = [];
for (let k = 0; k < o.seconds; k++) seconds.push(serialise(start + k * 1000));
let n = 0;
for (let k = 0; k < o.seconds; k++) {
  const s = seconds[k];
  for (let j = 0; j < SLICES; j++) {
    // A slice goes out once its time has passed.
    const wait = start + k * 1000 + (j + 1) * SLICE_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await Promise.all([write(java.sensors.stdin, s.sensors[j]), write(java.images.stdin, s.images[j])]);
  }
  if (s.notes.length) await notes.send(o.topics.notes, s.notes);
  n += s.count;
  seconds[k] = { sensors: [], images: [], count: 0, notes: [] };
}
await notes.close();
for (const p of Object.values(java)) {
  const exited = new Promise<number | null>((r) => p.on('exit', r));
  p.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`the console producer exited with ${code}`);
}
process.stdout.write(`${n}\n`);
