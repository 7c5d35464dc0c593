export { decodeRecord, screenRecord } from './decode.js';
export type { Decoded, RejectCode } from './decode.js';
export {
  createKafkaIngest,
  createRecordProducer,
  createTopics,
  deadLetterKey,
  readTopic,
  drainTopics,
} from './kafka.js';
export type {
  KafkaIngest,
  IncomingBatch,
  IncomingMessage,
  CommitRequest,
  DeadLetter,
  RecordProducer,
} from './kafka.js';
export { coPartition } from './copartition.js';
export { LagTracker, partitionAsset } from './lag.js';
export type { PartitionLag, PartitionOffsets } from './lag.js';
