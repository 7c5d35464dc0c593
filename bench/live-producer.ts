/**
 * The plant of the e2e bench's live phase, in its own process (as a plant publishes from elsewhere): one
 * second of records per second, in real time, for `seconds`. Prints the number of records published.
 * Argument: JSON { brokers, topics, seed, assets, sampleMs, seconds, spreadCameras }.
 */
import { pino } from 'pino';
import { createRecordProducer } from '../ingest/index.js';
import type { Modality } from '../schemas/index.js';
import { generate, simplePlan } from '../sim/index.js';
import { publish } from './publish.js';

const o = JSON.parse(process.argv[2]) as { brokers: string[]; topics: Record<Modality, string>; seed: number; assets: number; sampleMs: number; seconds: number; spreadCameras: boolean };
const producer = await createRecordProducer(o.brokers, pino({ level: 'warn' }));
const plan = simplePlan({ seed: o.seed, assets: o.assets, sampleMs: o.sampleMs, imageMs: 10_000, noteMs: 600_000, spreadCameras: o.spreadCameras });
const start = Math.floor(Date.now() / 1000) * 1000 + 1000;
let n = 0;
for (let k = 0; k < o.seconds; k++) {
  const from = start + k * 1000;
  const wait = from + 1000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  n += await publish(producer, o.topics, generate(plan, from, from + 1000), null);
}
await producer.close();
process.stdout.write(`${n}\n`);
