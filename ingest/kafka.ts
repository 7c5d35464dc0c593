/**
 * The one file that imports kafkajs: topic set-up, the consumer group runner, the dead-letter producer and
 * a plain producer for the simulator and tests. Swapping the client touches this file only.
 *
 * Consumer runner states: created → connected → running (eachBatch loop) → stopped.
 * Ordering: batches of one topic-partition are handled one at a time and in offset order; up to
 * `concurrency` topic-partitions at once (the handler serialises one partition number). The fetch position advances when a batch handler returns;
 * committed offsets move only when the handler says so (`commit`), after its effects are durable.
 * When a handler throws, kafkajs fetches the same batch again; the handler rolls its state back first.
 */
import {
  AssignerProtocol,
  Kafka,
  Partitioners,
  logLevel,
  type Consumer,
  type Producer,
  type Admin,
  type IHeaders,
  type PartitionAssigner,
} from 'kafkajs';
import type { Logger } from 'pino';
import type { Config, Modality } from '../schemas/index.js';
import { coPartition } from './copartition.js';
import type { PartitionOffsets } from './lag.js';

export interface IncomingMessage {
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  headers: Record<string, string>;
}

export interface IncomingBatch {
  topic: string;
  modality: Modality;
  partition: number;
  messages: IncomingMessage[];
  /** Keeps the group membership alive while the batch waits (a database outage must not cost the partition). */
  heartbeat?: () => Promise<void>;
  /**
   * Back-pressure: stop fetching this partition number on all three topics while the batch waits out a
   * failure (nothing more is buffered for it), and fetch again once it is through.
   */
  pause?: () => void;
  resume?: () => void;
}
export interface CommitRequest {
  topic: string;
  partition: number;
  offset: number;
}

export interface DeadLetter {
  key: Buffer | null;
  value: Buffer | null;
  code: string;
  reason: string;
  source: { topic: string; partition: number; offset: number; timestamp: number };
  /** The producer's own headers (kept on the dead-letter copy). */
  headers?: Record<string, string>;
}

/** The dead-letter topic's largest record less room for the key, the headers and the record's framing. */
const DEAD_LETTER_MARGIN = 16 * 1024;
/** The broker's default max.message.bytes (a topic without its own setting). */
const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** kafkajs's ConfigResourceTypes.TOPIC (not a named export its ES module interface can see). */
const TOPIC_RESOURCE = 2;
/** Reasons are cut to this many characters in headers. */
const MAX_REASON = 1_000;

/** The key under which the dead_letters table keeps a record's full original bytes. */
export const deadLetterKey = (x: DeadLetter): string =>
  `${x.source.topic}:${x.source.partition}:${x.source.offset}`;

export interface KafkaIngest {
  /** Creates missing topics (when allowed), checks co-partitioning; returns each topic's max.message.bytes. */
  ensureTopics(): Promise<Record<string, number>>;
  /**
   * Consumes. `onFatal`: the consumer crashed and kafkajs will not restart it (the process should end
   * with a non-zero status, so that a supervisor starts it again).
   */
  run(
    handle: (b: IncomingBatch) => Promise<CommitRequest[]>,
    onRebalance?: (heldBefore: number[]) => void,
    onFatal?: (err: Error) => void,
  ): Promise<void>;
  /** Rewinds one partition number of all three input topics to the given offsets. */
  seek(partition: number, offsets: Partial<Record<Modality, number>>): void;
  committedOffsets(partition: number): Promise<Partial<Record<Modality, number>>>;
  /** Commits offsets outside a batch (the idle tick's), for partitions this member holds. */
  commit(commits: CommitRequest[]): Promise<void>;
  /** Log-end, log-start and the group's committed offsets of the input partitions this member holds. */
  partitionOffsets(): Promise<PartitionOffsets[]>;
  /**
   * Sends the records to the dead-letter topic. A value longer than the topic takes (its max.message.bytes,
   * read by `ensureTopics`, less a margin) is cut to fit, with headers saying so and where the whole
   * original is kept; returns those records, whose originals the caller keeps (the dead_letters table).
   */
  deadLetter(records: DeadLetter[]): Promise<DeadLetter[]>;
  /** Publishes records to an input topic again, keyed by asset (a note whose asset was resolved from its text). */
  republish(modality: Modality, records: Array<{ key: string; value: string }>): Promise<void>;
  isJoined(): boolean;
  stop(): Promise<void>;
}

function client(brokers: string[], clientId: string, logger: Logger): Kafka {
  return new Kafka({
    clientId,
    brokers,
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, ...extra } = log;
        const fn = level <= logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : 'debug';
        logger[fn]({ kafka: extra }, message);
      },
  });
}

/** Records without headers (nearly all) share one frozen empty object: none is allocated per record. */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const headerText = (h: IHeaders | undefined): Record<string, string> => {
  let out = NO_HEADERS;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (out === NO_HEADERS) out = {};
    out[k] = Array.isArray(v) ? String(v[0]) : String(v);
  }
  return out;
};

/**
 * Splits records into produce requests well under the broker's default 1 MiB limit: one request of many
 * dead letters (each up to the record size limit, plus headers) must not be refused as a whole, which
 * kafkajs reports as non-retriable and would stall the partition.
 */
export function requestSized<T>(
  records: T[],
  bytesOf: (r: T) => Buffer | string | null,
  maxBytes = 512 * 1024,
): T[][] {
  const out: T[][] = [];
  let cur: T[] = [],
    size = 0;
  for (const r of records) {
    const v = bytesOf(r);
    const n = (v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length) + 512;
    if (cur.length && size + n > maxBytes) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(r);
    size += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Throws unless the input topics have equal partition counts (one member owns partition p of all three). */
async function coPartitioned(admin: Admin, inputs: string[]): Promise<void> {
  const meta = await admin.fetchTopicMetadata({ topics: inputs });
  if (new Set(meta.topics.map((t) => t.partitions.length)).size > 1) {
    throw new Error(
      `input topics must be co-partitioned (equal partition counts); found ${meta.topics.map((t) => `${t.name}=${t.partitions.length}`).join(', ')}`,
    );
  }
}

/**
 * `tributary topics create`: the three input topics and the dead-letter topic, with `partitions` each
 * (input topics must be co-partitioned) and, when given, `retentionMs` (−1: kept for ever, what a replay
 * of history with its own record times needs, or the broker deletes it as it arrives). Topics that exist
 * keep their partitions (a count unlike the others' is an error) and get the retention set.
 */
export async function createTopics(
  cfg: Config['kafka'],
  o: { partitions: number; retentionMs?: number },
  logger: Logger,
): Promise<Array<{ topic: string; partitions: number; created: boolean }>> {
  const admin = client(cfg.brokers, cfg.clientId, logger).admin();
  await admin.connect();
  try {
    const all = [cfg.topics.sensors, cfg.topics.images, cfg.topics.notes, cfg.topics.deadLetter];
    const existing = new Set(await admin.listTopics());
    const configEntries =
      o.retentionMs === undefined ? [] : [{ name: 'retention.ms', value: String(o.retentionMs) }];
    const missing = all.filter((t) => !existing.has(t));
    if (missing.length) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: o.partitions,
          replicationFactor: -1,
          configEntries,
        })),
      });
    }
    const kept = all.filter((t) => existing.has(t));
    if (kept.length && configEntries.length) {
      await admin.alterConfigs({
        validateOnly: false,
        resources: kept.map((name) => ({ type: TOPIC_RESOURCE, name, configEntries })),
      });
    }
    await coPartitioned(admin, all.slice(0, 3));
    const meta = await admin.fetchTopicMetadata({ topics: all });
    return all.map((topic) => ({
      topic,
      partitions: meta.topics.find((x) => x.name === topic)!.partitions.length,
      created: missing.includes(topic),
    }));
  } finally {
    await admin.disconnect();
  }
}

/** The kafkajs assigner around `coPartition`: one member owns partition p of all three input topics. */
const CoPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'TributaryCoPartitioned',
  version: 1,
  async assign({ members, topics }) {
    const parts = Object.fromEntries(
      topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((m) => m.partitionId)]),
    );
    const plan = coPartition(
      members.map((m) => m.memberId),
      parts,
    );
    return Object.entries(plan).map(([memberId, assignment]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 1,
        assignment,
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: 'TributaryCoPartitioned',
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
    };
  },
});

export function createKafkaIngest(cfg: Config['kafka'], logger: Logger): KafkaIngest {
  const kafka = client(cfg.brokers, cfg.clientId, logger);
  const modalityOf = new Map<string, Modality>([
    [cfg.topics.sensors, 'sensors'],
    [cfg.topics.images, 'images'],
    [cfg.topics.notes, 'notes'],
  ]);
  const topicOf: Record<Modality, string> = {
    sensors: cfg.topics.sensors,
    images: cfg.topics.images,
    notes: cfg.topics.notes,
  };
  let consumer: Consumer | null = null;
  let producer: Promise<Producer> | null = null;
  let admin: Admin | null = null;
  let joined = false;
  /** The partition numbers this member holds (of all three input topics). */
  let assigned = new Set<number>();
  let deadLetterBudget = BROKER_DEFAULT_MAX_MESSAGE_BYTES - DEAD_LETTER_MARGIN;
  // One connection for every caller: partitions' batches run concurrently, and a caller that found the
  // producer made but not yet connected sent on it and got "The producer is disconnected".
  const getProducer = (): Promise<Producer> => {
    producer ??= (async () => {
      const p = kafka.producer({
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await p.connect();
      return p;
    })().catch((e: unknown) => {
      producer = null;
      throw e;
    });
    return producer;
  };

  return {
    async ensureTopics() {
      const admin: Admin = kafka.admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const inputs = Object.values(topicOf);
        const missing = [...inputs, cfg.topics.deadLetter].filter((t) => !existing.has(t));
        if (missing.length && cfg.createTopics) {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((topic) => ({ topic, numPartitions: cfg.partitions, replicationFactor: -1 })),
          });
        } else if (missing.length) {
          throw new Error(`missing Kafka topics: ${missing.join(', ')} (kafka.createTopics is false)`);
        }
        const limits: Record<string, number> = {};
        const described = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [...inputs, cfg.topics.deadLetter].map((name) => ({
            type: TOPIC_RESOURCE,
            name,
            configNames: ['max.message.bytes'],
          })),
        });
        for (const r of described.resources) {
          const v = Number(r.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
          limits[r.resourceName] = Number.isFinite(v) && v > 0 ? v : BROKER_DEFAULT_MAX_MESSAGE_BYTES;
        }
        deadLetterBudget = Math.max(
          1024,
          (limits[cfg.topics.deadLetter] ?? BROKER_DEFAULT_MAX_MESSAGE_BYTES) - DEAD_LETTER_MARGIN,
        );
        await coPartitioned(admin, inputs);
        return limits;
      } finally {
        await admin.disconnect();
      }
    },

    async run(handle, onRebalance, onFatal) {
      const c = kafka.consumer({
        groupId: cfg.groupId,
        allowAutoTopicCreation: false,
        partitionAssigners: [CoPartitionedAssigner],
        sessionTimeout: cfg.sessionTimeoutMs,
        heartbeatInterval: Math.min(3_000, Math.floor(cfg.sessionTimeoutMs / 3)),
      });
      consumer = c;
      c.on(c.events.GROUP_JOIN, (e) => {
        joined = true;
        const now = new Set<number>();
        for (const parts of Object.values(e.payload.memberAssignment)) for (const p of parts) now.add(p);
        // After a rebalance the consumer resumes every assigned partition from its committed offset, which
        // is held back behind the in-memory state: the state of every partition held before (kept or not)
        // is dropped, to be restored from its checkpoint. Keeping a partition's state would replay records
        // into windows that already hold them.
        const before = [...assigned];
        assigned = now;
        if (before.length) onRebalance?.(before);
      });
      c.on(c.events.CRASH, (e) => {
        joined = false;
        const restart = (e.payload as { restart?: boolean }).restart !== false;
        logger.error(
          { err: e.payload.error?.message, restart },
          restart ? 'consumer crashed; kafkajs restarts it' : 'consumer crashed and will not be restarted',
        );
        if (!restart) onFatal?.(e.payload.error);
      });
      c.on(c.events.STOP, () => {
        joined = false;
      });
      await c.connect();
      await c.subscribe({ topics: Object.values(topicOf), fromBeginning: cfg.fromBeginning });
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        partitionsConsumedConcurrently: cfg.concurrency,
        eachBatch: async ({ batch, heartbeat }) => {
          const modality = modalityOf.get(batch.topic)!;
          const all = Object.values(topicOf).map((topic) => ({ topic, partitions: [batch.partition] }));
          const commits = await handle({
            topic: batch.topic,
            modality,
            partition: batch.partition,
            heartbeat,
            pause: () => c.pause(all),
            resume: () => c.resume(all),
            messages: batch.messages.map((m) => ({
              offset: Number(m.offset),
              key: m.key,
              value: m.value,
              timestamp: Number(m.timestamp),
              headers: headerText(m.headers),
            })),
          }).catch((e: unknown) => {
            // A failed batch is fetched again and retried, never the end of the consumer: kafkajs gives up
            // on errors it takes for bugs (TypeError…), and a process that exits on them would start again
            // on the same batch, in a crash loop that stops every partition. A batch that keeps failing
            // shows as a stuck partition (kafka.stuckAfterMs).
            throw Object.assign(
              new Error(
                `batch of ${batch.topic}[${batch.partition}] failed: ${(e as Error)?.message ?? String(e)}`,
                { cause: e },
              ),
              { name: 'TributaryBatchError', retriable: true },
            );
          });
          if (commits.length)
            await c.commitOffsets(
              commits.map((x) => ({ topic: x.topic, partition: x.partition, offset: String(x.offset) })),
            );
          await heartbeat();
        },
      });
    },

    seek(partition, offsets) {
      for (const [m, offset] of Object.entries(offsets) as Array<[Modality, number]>) {
        consumer?.seek({ topic: topicOf[m], partition, offset: String(offset) });
      }
    },

    async committedOffsets(partition) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const out: Partial<Record<Modality, number>> = {};
        const res = await admin.fetchOffsets({ groupId: cfg.groupId, topics: Object.values(topicOf) });
        for (const t of res) {
          const p = t.partitions.find((x) => x.partition === partition);
          if (p && Number(p.offset) >= 0) out[modalityOf.get(t.topic)!] = Number(p.offset);
        }
        return out;
      } finally {
        await admin.disconnect();
      }
    },

    async commit(commits) {
      const held = commits.filter((x) => assigned.has(x.partition));
      if (consumer && joined && held.length)
        await consumer.commitOffsets(
          held.map((x) => ({ topic: x.topic, partition: x.partition, offset: String(x.offset) })),
        );
    },

    async partitionOffsets() {
      if (!joined || !assigned.size) return [];
      if (!admin) {
        admin = kafka.admin();
        await admin.connect();
      }
      const a = admin;
      const held = [...assigned];
      const committed = new Map<string, number>();
      for (const t of await a.fetchOffsets({ groupId: cfg.groupId, topics: Object.values(topicOf) })) {
        for (const p of t.partitions)
          if (Number(p.offset) >= 0) committed.set(`${t.topic}:${p.partition}`, Number(p.offset));
      }
      const out: PartitionOffsets[] = [];
      for (const topic of Object.values(topicOf)) {
        for (const p of await a.fetchTopicOffsets(topic)) {
          if (!held.includes(p.partition)) continue;
          out.push({
            topic,
            partition: p.partition,
            end: Number(p.high),
            start: Number(p.low),
            committed: committed.get(`${topic}:${p.partition}`) ?? null,
          });
        }
      }
      return out;
    },

    async republish(modality, records) {
      const producer = await getProducer();
      for (const part of requestSized(records, (r) => r.value))
        await producer.send({ topic: topicOf[modality], acks: -1, messages: part });
    },

    async deadLetter(records) {
      if (!records.length) return [];
      const producer = await getProducer();
      const budget = deadLetterBudget;
      const copies = records.map((r) => {
        const cut = r.value !== null && r.value.length > budget;
        return {
          key: r.key,
          value: cut ? r.value!.subarray(0, budget) : r.value,
          headers: {
            ...r.headers,
            'tributary-error-code': r.code,
            'tributary-reason': r.reason.length > MAX_REASON ? `${r.reason.slice(0, MAX_REASON)}…` : r.reason,
            'tributary-source-topic': r.source.topic,
            'tributary-source-partition': String(r.source.partition),
            'tributary-source-offset': String(r.source.offset),
            'tributary-source-timestamp': String(r.source.timestamp),
            // A value cut to fit: its first bytes here, the whole original in the dead_letters table.
            ...(cut
              ? {
                  'tributary-truncated': `${r.value!.length} bytes, the first ${budget} kept`,
                  'tributary-original': `dead_letters:${deadLetterKey(r)}`,
                }
              : {}),
          },
        };
      });
      // The topic's limit holds for a whole record batch: requests no larger than one record may be.
      for (const part of requestSized(copies, (r) => r.value, Math.min(512 * 1024, budget)))
        await producer.send({ topic: cfg.topics.deadLetter, acks: -1, messages: part });
      return records.filter((r) => r.value !== null && r.value.length > budget);
    },

    isJoined: () => joined,

    async stop() {
      await consumer?.disconnect().catch(() => {});
      const p = await producer?.catch(() => null);
      await p?.disconnect().catch(() => {});
      await admin?.disconnect().catch(() => {});
      joined = false;
    },
  };
}

/** A plain producer keyed by asset id: used by the simulator's Kafka output and by tests. */
export interface RecordProducer {
  /** `timestamp` (epoch ms) sets the record's CreateTime; by default the client's clock. */
  send(
    topic: string,
    records: Array<{
      key: string | null;
      value: string | Buffer;
      headers?: Record<string, string>;
      timestamp?: number;
    }>,
  ): Promise<void>;
  close(): Promise<void>;
}

export async function createRecordProducer(
  brokers: string[],
  logger: Logger,
  clientId = 'tributary-producer',
): Promise<RecordProducer> {
  // The default (murmur2) partitioner is the Java client's: one asset lands in the same partition number
  // whichever client publishes it, which co-partitioning needs.
  const p = client(brokers, clientId, logger).producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await p.connect();
  return {
    async send(topic, records) {
      if (records.length) {
        await p.send({
          topic,
          acks: -1,
          messages: records.map(({ timestamp, ...m }) =>
            timestamp === undefined ? m : { ...m, timestamp: String(timestamp) },
          ),
        });
      }
    },
    close: () => p.disconnect(),
  };
}

/** Reads a topic from the beginning until `enough(records so far)` or `timeoutMs` passed (tests, tools). */
export async function readTopic(
  brokers: string[],
  topic: string,
  enough: (read: IncomingMessage[]) => boolean,
  timeoutMs: number,
  logger: Logger,
): Promise<IncomingMessage[]> {
  const c = client(brokers, 'tributary-reader', logger).consumer({
    groupId: `reader-${process.pid}-${Date.now()}`,
  });
  const out: IncomingMessage[] = [];
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    void c.run({
      eachMessage: async ({ message }) => {
        out.push({
          offset: Number(message.offset),
          key: message.key,
          value: message.value,
          timestamp: Number(message.timestamp),
          headers: headerText(message.headers),
        });
        if (enough(out)) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await c.disconnect();
  return out;
}

/**
 * Raw consumption with no work (the benchmark baseline): a fresh group reads `count` records of `topics`
 * with eachBatch. `each`, when given, sees every record's value (the benchmark's floor: parsing them).
 */
export async function drainTopics(
  brokers: string[],
  topics: string[],
  count: number,
  logger: Logger,
  each?: (value: Buffer | null) => void,
): Promise<number> {
  const c = client(brokers, 'tributary-drain', logger).consumer({
    groupId: `drain-${process.pid}-${Date.now()}`,
  });
  let n = 0;
  await c.connect();
  await c.subscribe({ topics, fromBeginning: true });
  await new Promise<void>((resolve) => {
    void c.run({
      eachBatch: async ({ batch }) => {
        if (each) for (const m of batch.messages) each(m.value);
        n += batch.messages.length;
        if (n >= count) resolve();
      },
    });
  });
  await c.disconnect();
  return n;
}
