/**
 * `npm run bench [-- align|skew|images|frames|fusion|store|pipeline|live|e2e|query …]`: each scenario against its baseline, in the same process.
 * `frames` (not in the default set): the pipeline with one camera frame per asset per minute of each encoding.
 * `skew` (not in the default set) runs ../shared/skew's seeds through the align stage and its checker.
 * store and pipeline use the PostgreSQL server on 127.0.0.1:5432; pipeline uses the broker named by
 * TRIBUTARY_TEST_KAFKA or starts one. `query` (not in the default set: its first run loads 26 M rows,
 * about ten minutes) times the history queries on the PostgreSQL server.
 */
import { useKafka } from '../tests/helpers/kafka.js';
import { runAlignBench } from './align.js';
import { runSkewBench } from './skew.js';
import { runE2eBench } from './e2e.js';
import { runFusionBench } from './fusion.js';
import { runImagesBench } from './images.js';
import { runFramesPipelineBench } from './pipeline-frames.js';
import { runQueryBench } from './query.js';
import { runStoreBench } from './store-write.js';

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const wanted = new Set(
  process.argv.slice(2).length ? process.argv.slice(2) : ['align', 'fusion', 'store', 'pipeline'],
);

if (wanted.has('align')) {
  const a = runAlignBench();
  console.log('align (window operator alone, one core; clocks corrected against record times)');
  for (const t of a.throughput) {
    console.log(
      `  ${t.name.padEnd(22)} ${fmt(t.perS)} samples/s (target ≥ ${fmt(t.target)})   without correction ${fmt(t.uncorrectedPerS)} samples/s   ` +
        `baseline copy ${fmt(t.baselinePerS)} samples/s   ratio ${(t.perS / t.baselinePerS).toFixed(2)}`,
    );
  }
  console.log(
    `  heap with 10 000 assets after 30/60/90/120 s of event time: ${a.heapMiB.map((h) => h.toFixed(1)).join(' / ')} MiB${a.gcExposed ? '' : ' (run with --expose-gc for exact figures)'}`,
  );
}

if (wanted.has('skew')) {
  console.log(
    `align on ../shared/skew (8 assets, 600 s${process.env.SKEW_ARGS ? `, ${process.env.SKEW_ARGS}` : ''}), its own checker; targets p99 ≤ 50 ms, ≥ 99.5 % right window`,
  );
  console.log(
    '  mode    seed   p50 ms   p99 ms   max ms   right window   steps true/found   late   quarantined   duplicates',
  );
  const rows = await runSkewBench((r) =>
    console.log(
      `  ${r.mode.padEnd(7)} ${String(r.seed).padStart(4)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.max.toFixed(0).padStart(8)} ` +
        `${(100 * r.rightWindow).toFixed(2).padStart(12)} % ${`${r.trueSteps}/${r.foundSteps}`.padStart(18)} ${String(r.late).padStart(6)} ${String(r.quarantined).padStart(13)} ${String(r.duplicates).padStart(12)}   ${r.pass ? 'pass' : 'FAIL'}`,
    ),
  );
  console.log(`  ${rows.filter((r) => r.pass).length} of ${rows.length} runs meet both targets`);
}

if (wanted.has('images')) {
  const r = runImagesBench();
  console.log(
    'camera frames through the record decoder (one core): parse, header check, decode to °C, patch means',
  );
  for (const x of r.rows) {
    console.log(
      `  ${x.name.padEnd(24)} ${fmt(x.perS).padStart(8)} frames/s   ${(x.bytes / 1024).toFixed(1).padStart(6)} KiB each   ratio to inline ${(x.perS / r.baselinePerS).toFixed(2)}` +
        `${x.target ? `   target ≥ ${fmt(x.target)} ${x.perS >= x.target ? 'met' : 'MISSED'}` : '   (baseline)'}`,
    );
  }
}

if (wanted.has('fusion')) {
  const f = await runFusionBench();
  console.log(
    `fusion model on ${f.backend} (${fmt(f.params)} parameters, ${f.weightsMiB.toFixed(2)} MiB of weights; tensors held ${f.tensorMiB.toFixed(2)} MiB; heap +${f.heapDeltaMiB.toFixed(1)} MiB)`,
  );
  console.log(
    `  batched (${f.batch})   ${fmt(f.rawPerS)} windows/s raw scores   ${fmt(f.explainedPerS)} windows/s with explanations`,
  );
  console.log(
    `  one at a time   ${fmt(f.singlePerS)} windows/s raw scores   ${fmt(f.singleExplainedPerS)} windows/s with explanations`,
  );
  console.log(`  encoder         ${fmt(f.encodePerS)} windows/s (tuples → model inputs)`);
  console.log(
    `  baseline robust-z scorer ${fmt(f.baselinePerS)} windows/s   ratio fusion batched (explained)/baseline = ${(f.explainedPerS / f.baselinePerS).toFixed(2)}`,
  );
  console.log(
    `  context scorer (the default) ${fmt(f.contextPerS)} windows/s with ${fmt(f.contextMemory)} windows remembered   ratio to baseline ${(f.contextPerS / f.baselinePerS).toFixed(2)}   ` +
      `memory ${fmt(f.contextKiBPerAsset)} KiB of heap per asset (${f.contextFeatures} features)`,
  );
}

if (wanted.has('store')) {
  const s = await runStoreBench();
  console.log(`store writes   ${fmt(s.rows)} reading rows (${fmt(s.samples)} samples)`);
  console.log(
    `  writeBatch   ${fmt(s.storeRowsPerS)} rows/s = ${fmt((s.storeRowsPerS * s.samples) / s.rows)} samples/s`,
  );
  console.log(
    `  raw COPY     ${fmt(s.copyRowsPerS)} rows/s            ratio store/COPY = ${s.ratio.toFixed(2)}`,
  );
  console.log(`  COPY, a row per sample: ${fmt(s.samplePerRowCopySamplesPerS)} samples/s`);
}

// `pipeline` is the e2e bench's backlog phase alone (ingest → align → score → store against raw kafkajs and
// raw COPY); `e2e` adds the live phase and 10 000 assets.
for (const which of ['pipeline', 'live', 'e2e'] as const) {
  if (!wanted.has(which)) continue;
  const kafka = await useKafka();
  try {
    const small = process.env.BENCH_E2E_SMALL === '1';
    const sizes =
      which === 'pipeline'
        ? { assets: 20, minutes: 30, sampleMs: 250, liveSeconds: 0, bigAssets: 0, bigMinutes: 0 }
        : // `live`: a short backlog, then the live phase (at BENCH_LIVE_RATE, or half the live plant's maximum, found by a ramp).
          which === 'live'
          ? { assets: 10, minutes: 5, sampleMs: 200, liveSeconds: 60, bigAssets: 0, bigMinutes: 0 }
          : small
            ? { assets: 10, minutes: 5, sampleMs: 200, liveSeconds: 20, bigAssets: 500, bigMinutes: 1 }
            : { assets: 40, minutes: 20, sampleMs: 200, liveSeconds: 60, bigAssets: 10_000, bigMinutes: 2 };
    // BENCH_LIVE_RATE=records/s (and BENCH_LIVE_CAMERAS=spread|synchronised): the live phase at that rate.
    const liveRate = process.env.BENCH_LIVE_RATE ? Number(process.env.BENCH_LIVE_RATE) : undefined;
    const cameras = process.env.BENCH_LIVE_CAMERAS
      ? [process.env.BENCH_LIVE_CAMERAS as 'spread' | 'synchronised']
      : undefined;
    const r = await runE2eBench(kafka, { ...sizes, liveRate, cameras }, (s) => console.error(`  … ${s}`));
    const b = r.backlog;
    const ms = (x: number) => `${Math.round(x)} ms`;
    console.log(
      `${which === 'pipeline' ? 'pipeline (backlog)' : 'end to end'} through the broker and the PostgreSQL server`,
    );
    console.log(`  backlog        ${fmt(b.records)} records (${fmt(b.samples)} samples)`);
    console.log(`    raw kafkajs  ${fmt(b.rawPerS)} records/s`);
    console.log(
      `    raw + JSON   ${fmt(b.parsePerS)} records/s (raw kafkajs, then UTF-8 decoding and JSON.parse of every record: the floor of any pipeline)   ratio floor/raw = ${(b.parsePerS / b.rawPerS).toFixed(2)}`,
    );
    console.log(
      `    pipeline     ${fmt(b.pipelinePerS)} records/s = ${fmt(b.samplesPerS)} samples/s   ratio pipeline/raw = ${b.ratio.toFixed(2)}   (targets: ≥ 100,000 samples/s, ratio ≥ 0.5)`,
    );
    if (b.cpu) {
      const { raw, pipeline, cores } = b.cpu;
      const sum = (c: typeof raw) => c.self + c.broker + c.postgres;
      const parts = (c: typeof raw) =>
        `this process ${c.self.toFixed(1)}, broker ${c.broker.toFixed(1)}, PostgreSQL ${c.postgres.toFixed(1)}`;
      // The most any arrangement of the pipeline (worker threads, more instances) could reach here: every
      // core busy with its CPU per record, nothing idle, nothing else running.
      const bound = (cores * 1e6) / sum(pipeline);
      console.log(
        `    CPU per record: raw ${sum(raw).toFixed(1)} µs (${parts(raw)}); pipeline ${sum(pipeline).toFixed(1)} µs (${parts(pipeline)})`,
      );
      console.log(
        `                 with all ${cores} cores busy on the pipeline's CPU per record: at most ${fmt(bound)} records/s, ratio pipeline/raw ≤ ${(bound / b.rawPerS).toFixed(2)}`,
      );
    }
    console.log(
      `    lag (records behind, by second): ${b.lag
        .filter((_, i) => i % Math.max(1, Math.floor(b.lag.length / 12)) === 0 || i === b.lag.length - 1)
        .map((x) => `${x.s}s ${fmt(x.lag)}`)
        .join(', ')}`,
    );
    console.log(
      `    store        ${fmt(b.store.readingRows)} reading rows + ${fmt(b.store.scoreRows)} score rows, the pipeline's write transactions replayed into a fresh database:`,
    );
    console.log(
      `                 their writes ${b.store.rowsS.toFixed(2)} s, raw COPY of the same rows (the faster of text and binary) ${b.store.copyS.toFixed(2)} s   ratio store/COPY = ${b.store.ratio.toFixed(2)}   (target ≥ 0.8)`,
    );
    console.log(
      `                 whole transactions (with checkpoints, roll-ups, catalogue, fencing) ${b.store.transactionsS.toFixed(2)} s (inside the busy pipeline: ${b.store.inPipelineS.toFixed(2)} s); by statement:`,
    );
    for (const x of b.store.byStatement.slice(0, 8))
      console.log(`                   ${x.what.padEnd(36)} ${(x.ms / 1000).toFixed(2)} s (${fmt(x.n)})`);
    console.log(
      `    window close → score committed while catching up: p50 ${ms(b.closeToCommitMs.p50)}, p99 ${ms(b.closeToCommitMs.p99)}`,
    );
    if (r.liveMax) {
      console.log(
        `  the live plant's maximum, the highest rate it kept up with (ended ≤ 2 s behind) in a ramp: ${fmt(r.liveMax.perS)} records/s`,
      );
      for (const x of r.liveMax.steps)
        console.log(
          `    ${fmt(x.ratePerS).padStart(7)} records/s, ${fmt(x.assets).padStart(6)} assets: ${x.keptUp ? 'kept up    ' : 'fell behind'} ${Number.isFinite(x.drainMs) ? `${fmt(x.drainMs)} ms` : 'over 60 s'} behind at the end; close → commit p99 ${ms(x.p99)}`,
        );
    }
    for (const l of r.live) {
      console.log(
        `  live at ${process.env.BENCH_LIVE_RATE ? 'the given rate' : "half the live plant's maximum"}, cameras ${l.cameras === 'spread' ? 'on their own schedules' : 'all at the same instants (every window closes at once)'}: ${fmt(l.ratePerS)} records/s for ${l.seconds} s`,
      );
      console.log(
        `    ${fmt(l.assets)} assets; ${Number.isFinite(l.drainMs) ? `${fmt(l.drainMs)} ms` : 'over 60 s'} behind when the plant stopped`,
      );
      console.log(
        `    window close → score committed: p50 ${ms(l.closeToCommitMs.p50)}, p99 ${ms(l.closeToCommitMs.p99)} (${l.closeToCommitMs.n} batches; target p99 ≤ 200 ms)`,
      );
      console.log(
        `    record → webhook received: p50 ${ms(l.recordToWebhookMs.p50)}, p99 ${ms(l.recordToWebhookMs.p99)} (${l.recordToWebhookMs.n} deliveries)`,
      );
    }
    if (r.big)
      console.log(
        `  ${fmt(r.big.assets)} assets, service process: ${fmt(r.big.records)} records in ${r.big.seconds.toFixed(0)} s; resident memory max ${r.big.maxRssMiB.toFixed(0)} MiB, at the end ${r.big.endRssMiB.toFixed(0)} MiB (target ≤ 1024 MiB)`,
      );
  } finally {
    await kafka.stop();
  }
}

if (wanted.has('frames')) {
  // The pipeline with one frame per asset per minute of each encoding, beside the same plant without frames.
  const kafka = await useKafka();
  try {
    const runs = await runFramesPipelineBench(kafka, undefined, (s) => console.error(`  … ${s}`));
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    };
    const baseOf = (r: (typeof runs)[number]) =>
      runs.find((b) => b.round === r.round && b.name === runs[0].name)!;
    const rounds = new Set(runs.map((r) => r.round)).size;
    console.log(
      `pipeline with camera frames (backlog through the broker and the PostgreSQL server; ${fmt(runs[0].samples)} samples, one frame per asset per minute; median of ${rounds} rounds, each encoding's ratio to its round's run without frames)`,
    );
    for (const name of [...new Set(runs.map((r) => r.name))]) {
      const rs = runs.filter((r) => r.name === name);
      const ratios = rs.map((r) => r.samplesPerS / baseOf(r).samplesPerS);
      const ratio = median(ratios);
      // This machine's speed drifts between runs by tens of per cent; CPU seconds drift much less. The
      // ratio of CPU per sample (all three processes) is what the throughput ratio would be if the
      // pipeline were bound by CPU alone.
      const total = (r: (typeof runs)[number]) => r.cpu!.self + r.cpu!.broker + r.cpu!.postgres;
      const cpuRatio = rs.every((r) => r.cpu && baseOf(r).cpu)
        ? `   CPU ratio ${median(rs.map((r) => total(baseOf(r)) / total(r))).toFixed(2)}`
        : '';
      const cpu = rs.every((r) => r.cpu)
        ? `   CPU s (median): this process ${median(rs.map((r) => r.cpu!.self)).toFixed(1)}, broker ${median(rs.map((r) => r.cpu!.broker)).toFixed(1)}, PostgreSQL ${median(rs.map((r) => r.cpu!.postgres)).toFixed(1)} in ${median(rs.map((r) => r.seconds)).toFixed(1)} s`
        : '';
      console.log(
        `  ${name.padEnd(24)} ${fmt(rs[0].frames).padStart(6)} frames   ${fmt(median(rs.map((r) => r.samplesPerS))).padStart(8)} samples/s` +
          (name === runs[0].name
            ? `   (baseline)`
            : `   ratio to no frames ${ratio.toFixed(2)} (rounds ${ratios.map((x) => x.toFixed(2)).join(', ')})   target ≥ 0.90 ${ratio >= 0.9 ? 'met' : 'MISSED'}${cpuRatio}`) +
          cpu,
      );
    }
  } finally {
    await kafka.stop();
  }
}

if (wanted.has('query')) {
  const q = await runQueryBench((s) => console.log(s));
  console.log(
    `history queries on the PostgreSQL server: ${fmt(q.rows)} score rows${q.loadS !== null ? ` (generated in ${q.loadS.toFixed(0)} s, roll-ups built in ${q.rollupS!.toFixed(0)} s)` : ' (loaded earlier)'}`,
  );
  for (const c of q.cases) {
    console.log(
      `  ${c.name.padEnd(50)} ${String(c.buckets).padStart(6)} buckets   roll-ups p50 ${c.rollup.p50.toFixed(1)} ms p95 ${c.rollup.p95.toFixed(1)} ms (${c.rollup.runs} runs)   score rows p50 ${c.raw.p50.toFixed(0)} ms p95 ${c.raw.p95.toFixed(0)} ms (${c.raw.runs} runs)   speed-up ×${(c.raw.p50 / c.rollup.p50).toFixed(0)}`,
    );
  }
}
