/**
 * `npm run bench`: each scenario against its baseline, run in the same process on this machine.
 * Uses the PostgreSQL server on 127.0.0.1:5432 and a broker from TRIBUTARY_TEST_KAFKA or a fresh one.
 */
import { useKafka } from '../tests/helpers/kafka.js';
import { runPipelineBench } from './pipeline.js';
import { runStoreBench } from './store-write.js';

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

const s = await runStoreBench();
console.log(`store writes   ${fmt(s.rows)} reading rows (${fmt(s.samples)} samples)`);
console.log(`  writeBatch   ${fmt(s.storeRowsPerS)} rows/s = ${fmt(s.storeRowsPerS * s.samples / s.rows)} samples/s`);
console.log(`  raw COPY     ${fmt(s.copyRowsPerS)} rows/s            ratio store/COPY = ${s.ratio.toFixed(2)}`);
console.log(`  COPY, a row per sample: ${fmt(s.samplePerRowCopySamplesPerS)} samples/s`);

const kafka = await useKafka();
try {
  const p = await runPipelineBench(kafka);
  console.log(`pipeline       ${fmt(p.records)} records (${fmt(p.samples)} samples) through the broker`);
  console.log(`  raw kafkajs  ${fmt(p.rawRecordsPerS)} records/s`);
  console.log(`  pipeline     ${fmt(p.pipelineRecordsPerS)} records/s = ${fmt(p.pipelineSamplesPerS)} samples/s   ratio pipeline/raw = ${p.ratio.toFixed(2)}`);
} finally {
  await kafka.stop();
}
