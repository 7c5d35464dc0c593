/** `tributary topics create`: the input and dead-letter topics, co-partitioned, with a retention. */
import { createTopics } from '../ingest/index.js';
import { configOr2, num, topicsOf, USAGE, UsageError, type Values } from './args.js';
import { pino } from 'pino';

export async function topics(sub: string | undefined, values: Values): Promise<number> {
  if (sub !== 'create') throw new UsageError(`topics: give create\n${USAGE}`);
  const cfg = configOr2(values);
  if (!cfg) return 2;
  const kafka = {
    ...cfg.kafka,
    ...(values.brokers ? { brokers: values.brokers.split(',') } : {}),
    ...(values.prefix
      ? { topics: { ...topicsOf(values.prefix), deadLetter: `${values.prefix}.dead-letter` } }
      : {}),
  };
  const partitions = num(values.partitions, 'partitions', cfg.kafka.partitions);
  const r = values['retention-ms'];
  const retentionMs = r === undefined ? undefined : r === 'forever' ? -1 : num(r, 'retention-ms', -1);
  const made = await createTopics(kafka, { partitions, retentionMs }, pino({ level: 'warn' }));
  for (const t of made)
    process.stdout.write(
      `${t.topic}: ${t.partitions} partitions${t.created ? ', created' : ', existed'}${retentionMs === undefined ? '' : `, retention.ms ${retentionMs}`}\n`,
    );
  return 0;
}
