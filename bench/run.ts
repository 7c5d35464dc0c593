/**
 * `npm run bench [-- align|fusion|store|pipeline …]`: each scenario against its baseline, in the same process.
 * store and pipeline use the PostgreSQL server on 127.0.0.1:5432; pipeline uses the broker named by
 * TRIBUTARY_TEST_KAFKA or starts one. `query` (not in the default set: its first run loads 26 M rows,
 * about ten minutes) times the history queries on the PostgreSQL server.
 */
import { useKafka } from '../tests/helpers/kafka.js';
import { runAlignBench } from './align.js';
import { runFusionBench } from './fusion.js';
import { runPipelineBench } from './pipeline.js';
import { runQueryBench } from './query.js';
import { runStoreBench } from './store-write.js';

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const wanted = new Set(process.argv.slice(2).length ? process.argv.slice(2) : ['align', 'fusion', 'store', 'pipeline']);

if (wanted.has('align')) {
  const a = runAlignBench();
  console.log('align (window operator alone, one core)');
  for (const t of a.throughput) {
    console.log(`  ${t.name.padEnd(22)} ${fmt(t.perS)} samples/s   baseline copy ${fmt(t.baselinePerS)} samples/s   ratio ${(t.perS / t.baselinePerS).toFixed(2)}`);
  }
  console.log(`  heap with 10 000 assets after 30/60/90/120 s of event time: ${a.heapMiB.map((h) => h.toFixed(1)).join(' / ')} MiB${a.gcExposed ? '' : ' (run with --expose-gc for exact figures)'}`);
}

if (wanted.has('fusion')) {
  const f = await runFusionBench();
  console.log(`fusion model on ${f.backend} (${fmt(f.params)} parameters, ${f.weightsMiB.toFixed(2)} MiB of weights; tensors held ${f.tensorMiB.toFixed(2)} MiB; heap +${f.heapDeltaMiB.toFixed(1)} MiB)`);
  console.log(`  batched (${f.batch})   ${fmt(f.rawPerS)} windows/s raw scores   ${fmt(f.explainedPerS)} windows/s with explanations`);
  console.log(`  one at a time   ${fmt(f.singlePerS)} windows/s raw scores   ${fmt(f.singleExplainedPerS)} windows/s with explanations`);
  console.log(`  encoder         ${fmt(f.encodePerS)} windows/s (tuples → model inputs)`);
  console.log(`  baseline robust-z scorer ${fmt(f.baselinePerS)} windows/s   ratio fusion batched (explained)/baseline = ${(f.explainedPerS / f.baselinePerS).toFixed(2)}`);
}

if (wanted.has('store')) {
  const s = await runStoreBench();
  console.log(`store writes   ${fmt(s.rows)} reading rows (${fmt(s.samples)} samples)`);
  console.log(`  writeBatch   ${fmt(s.storeRowsPerS)} rows/s = ${fmt(s.storeRowsPerS * s.samples / s.rows)} samples/s`);
  console.log(`  raw COPY     ${fmt(s.copyRowsPerS)} rows/s            ratio store/COPY = ${s.ratio.toFixed(2)}`);
  console.log(`  COPY, a row per sample: ${fmt(s.samplePerRowCopySamplesPerS)} samples/s`);
}

if (wanted.has('pipeline')) {
  const kafka = await useKafka();
  try {
    const p = await runPipelineBench(kafka);
    console.log(`pipeline       ${fmt(p.records)} records (${fmt(p.samples)} samples) through the broker`);
    console.log(`  raw kafkajs  ${fmt(p.rawRecordsPerS)} records/s`);
    console.log(`  pipeline     ${fmt(p.pipelineRecordsPerS)} records/s = ${fmt(p.pipelineSamplesPerS)} samples/s   ratio pipeline/raw = ${p.ratio.toFixed(2)}`);
  } finally {
    await kafka.stop();
  }
}

if (wanted.has('query')) {
  const q = await runQueryBench((s) => console.log(s));
  console.log(`history queries on the PostgreSQL server: ${fmt(q.rows)} score rows${q.loadS !== null ? ` (generated in ${q.loadS.toFixed(0)} s, roll-ups built in ${q.rollupS!.toFixed(0)} s)` : ' (loaded earlier)'}`);
  for (const c of q.cases) {
    console.log(`  ${c.name.padEnd(50)} ${String(c.buckets).padStart(6)} buckets   roll-ups p50 ${c.rollup.p50.toFixed(1)} ms p95 ${c.rollup.p95.toFixed(1)} ms (${c.rollup.runs} runs)   score rows p50 ${c.raw.p50.toFixed(0)} ms p95 ${c.raw.p95.toFixed(0)} ms (${c.raw.runs} runs)   speed-up ×${(c.raw.p50 / c.rollup.p50).toFixed(0)}`);
  }
}
