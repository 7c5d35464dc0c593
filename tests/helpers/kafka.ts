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

export interface TestKafka { brokers: string[]; stop(): Promise<void> }

export async function useKafka(): Promise<TestKafka> {
  const given = process.env.TRIBUTARY_TEST_KAFKA;
  if (given) return { brokers: given.split(','), stop: async () => {} };
  const env = {
    ...process.env,
    KAFKA_PORT: String(await freePort()),
    KAFKA_CONTROLLER_PORT: String(await freePort()),
    KAFKA_WORK: mkdtempSync(join(tmpdir(), 'tributary-kafka-')),
  };
  execFileSync(join(ROOT, 'infra/kafka/start.sh'), { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    brokers: [`127.0.0.1:${env.KAFKA_PORT}`],
    stop: async () => { execFileSync(join(ROOT, 'infra/kafka/stop.sh'), { env, stdio: 'ignore' }); },
  };
}

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A broker of this test's own (whatever TRIBUTARY_TEST_KAFKA says), which it may stop and restart on its kept state. */
export async function ownKafka(): Promise<TestKafka & { halt(): void; resume(): void }> {
  const env = {
    ...process.env,
    KAFKA_PORT: String(await freePort()),
    KAFKA_CONTROLLER_PORT: String(await freePort()),
    KAFKA_WORK: mkdtempSync(join(tmpdir(), 'tributary-kafka-')),
  };
  execFileSync(join(ROOT, 'infra/kafka/start.sh'), { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = () => execFileSync(join(ROOT, 'infra/kafka/stop.sh'), { env, stdio: 'ignore' });
  return {
    brokers: [`127.0.0.1:${env.KAFKA_PORT}`],
    stop: async () => { stop(); },
    halt: () => execFileSync(join(ROOT, 'infra/kafka/stop.sh'), { env: { ...env, KAFKA_KEEP: '1' }, stdio: 'ignore' }),
    resume: () => { execFileSync(join(ROOT, 'infra/kafka/start.sh'), { env: { ...env, KAFKA_RESUME: '1' }, stdio: ['ignore', 'ignore', 'inherit'] }); },
  };
}
