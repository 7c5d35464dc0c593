/**
 * A real Kafka broker for a test file: the one named by TRIBUTARY_TEST_KAFKA (host:port), or a fresh
 * single-node KRaft broker started from infra/kafka on free ports and stopped at the end.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pino } from 'pino';
import { createRecordProducer } from '../../ingest/index.js';
import { generate, type SimPlan } from '../../sim/index.js';

const ROOT = new URL('../..', import.meta.url).pathname;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestKafka {
  brokers: string[];
  stop(): Promise<void>;
}

/** Starts a single-node broker from infra/kafka on free ports; `env` names it for stop.sh and restarts. */
async function startBroker(): Promise<{ env: NodeJS.ProcessEnv; brokers: string[] }> {
  const env = {
    ...process.env,
    KAFKA_PORT: String(await freePort()),
    KAFKA_CONTROLLER_PORT: String(await freePort()),
    KAFKA_WORK: mkdtempSync(join(tmpdir(), 'tributary-kafka-')),
  };
  execFileSync(join(ROOT, 'infra/kafka/start.sh'), { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return { env, brokers: [`127.0.0.1:${env.KAFKA_PORT}`] };
}
const script = (name: string, env: NodeJS.ProcessEnv) =>
  execFileSync(join(ROOT, 'infra/kafka', name), { env, stdio: ['ignore', 'ignore', 'inherit'] });

export async function useKafka(): Promise<TestKafka> {
  const given = process.env.TRIBUTARY_TEST_KAFKA;
  if (given) return { brokers: given.split(','), stop: async () => {} };
  const { env, brokers } = await startBroker();
  return {
    brokers,
    stop: async () => {
      script('stop.sh', env);
    },
  };
}

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A broker of this test's own (whatever TRIBUTARY_TEST_KAFKA says), which it may stop and restart on its kept state. */
export async function ownKafka(): Promise<TestKafka & { halt(): void; resume(): void }> {
  const { env, brokers } = await startBroker();
  return {
    brokers,
    stop: async () => {
      script('stop.sh', env);
    },
    halt: () => script('stop.sh', { ...env, KAFKA_KEEP: '1' }),
    resume: () => script('start.sh', { ...env, KAFKA_RESUME: '1' }),
  };
}

/** Publishes a simulated plan's records for [from, to) to the three topics (frames and notes first). */
export async function publishPlan(
  brokers: string[],
  topics: { sensors: string; images: string; notes: string },
  plan: SimPlan,
  from: number,
  to: number,
): Promise<void> {
  const recs = generate(plan, from, to);
  const p = await createRecordProducer(brokers, pino({ level: 'silent' }));
  const msgs = (xs: Array<{ asset?: string }>) =>
    xs.map((r) => ({ key: r.asset ?? null, value: JSON.stringify(r) }));
  await p.send(topics.images, msgs(recs.images));
  await p.send(topics.notes, msgs(recs.notes));
  await p.send(topics.sensors, msgs(recs.sensors));
  await p.close();
}
