/** `tributary eval --suite plant-b`: the unseen-plant protocol. */
import {
  progress,
  runUnseen,
  runUnseenEndToEnd,
  unseenMetrics,
  unseenTables,
  type UnseenMetrics,
  type UnseenRun,
} from '../eval/index.js';
import { FusionModel, initBackend } from '../fusion/index.js';
import {
  PLANT_B_PRESETS,
  PLANT_B_SPLITS,
  plantBRun,
  splitOfSeed,
  type PlantBSplit,
  type PresetName,
} from '../sim/plant-b.js';
import { USAGE, UsageError, type Values, num } from './args.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';

/**
 * `eval --suite plant-b`: the unseen-plant protocol (eval/unseen.ts) on family B. Test seeds only with
 * `--split test`, never with `--seeds`: they are for the final measurement, not for choosing.
 */
export async function evalPlantB(values: Values): Promise<number> {
  const preset = (values.preset ?? 'short') as PresetName;
  if (!(preset in PLANT_B_PRESETS))
    throw new UsageError(`--preset: short or week, not ${JSON.stringify(values.preset)}\n${USAGE}`);
  const split = (values.split ?? 'validation') as PlantBSplit;
  if (!(split in PLANT_B_SPLITS)) throw new UsageError(`--split: train, validation or test\n${USAGE}`);
  const seeds = values.seeds
    ? values.seeds.split(',').map((x) => num(x, 'seeds', 0))
    : [...PLANT_B_SPLITS[split]];
  const bad = values.seeds ? seeds.filter((x) => splitOfSeed(x) === 'test' && split !== 'test') : [];
  if (bad.length)
    throw new UsageError(
      `--seeds: ${bad.join(', ')} are plant B test seeds; they are measured only with --split test`,
    );
  const windowMs = num(values['window-ms'], 'window-ms', 60_000);
  const backend = await initBackend();
  const shippedModel = values['shipped-model']
    ? FusionModel.fromJSON(JSON.parse(readFileSync(values['shipped-model'], 'utf8')))
    : null;
  process.stderr.write(
    `TensorFlow.js backend: ${backend}; plant B ${preset}${values.healthy ? ' (no faults)' : ''}, ${split} seeds ${seeds.join(', ')}\n`,
  );
  const bar = progress('plant-b');
  const runs: UnseenRun[] = [];
  const logger = pino({ level: 'warn' });
  const e2e: Array<{
    run: string;
    metrics: UnseenMetrics;
    published: number;
    compared: number;
    identical: number;
    sameSide: number;
  }> = [];
  for (const [k, seed] of seeds.entries()) {
    const run = plantBRun({
      preset,
      seed,
      faults: !values.healthy,
      ...(values.e2e ? { endBefore: Date.now() } : {}),
    });
    const opts = {
      windowMs,
      shippedModel,
      allowTestSeeds: split === 'test',
      trainOnHistory: !values['no-history-model'],
    };
    const measured = runUnseen(run, {
      ...opts,
      onProgress: (d, w) => bar.update((k + d / 2) / seeds.length, w),
    });
    // The healthy twin: the same plant and period without the faults, for the per-fault figures.
    if (run.faults.length)
      measured.twin = runUnseen(
        plantBRun({ preset, seed, faults: false, ...(values.e2e ? { endBefore: Date.now() } : {}) }),
        {
          ...opts,
          onProgress: (d, w) => bar.update((k + 0.5 + d / 2) / seeds.length, `${w} (healthy twin)`),
        },
      );
    runs.push(measured);
    if (values.e2e) {
      if (!values.brokers) throw new UsageError(`--e2e needs --brokers\n${USAGE}`);
      const res = await runUnseenEndToEnd(
        runs[runs.length - 1],
        {
          brokers: values.brokers.split(','),
          databaseUrl: values['database-url'],
          onProgress: (w) => bar.update((k + 1) / seeds.length, w),
        },
        logger,
      );
      e2e.push({ run: run.name, ...res });
    }
  }
  bar.done();
  const metrics = runs[0].detectors.map((_, i) => unseenMetrics(runs, i));
  const windows = runs.reduce((a, r) => a + r.windows.length, 0);
  process.stdout.write(
    `plant B ${preset}${values.healthy ? ' (no faults)' : ''}, ${split} seeds ${seeds.join(', ')}: ${runs.length} runs, ${windows} windows of ${windowMs / 1000} s; default alert rule (open after ${runs[0].rule.openAfter}, resolve after ${runs[0].rule.resolveAfter})\n`,
  );
  process.stdout.write(`${unseenTables(metrics)}\n`);
  const twins = runs.flatMap((r) => (r.twin ? [r.twin] : []));
  const twinMetrics = twins.length ? twins[0].detectors.map((_, i) => unseenMetrics(twins, i)) : [];
  if (twins.length)
    process.stdout.write(
      `\nThe healthy twins alone (the same ${twins.length} runs without faults):\n${unseenTables(twinMetrics)}\n`,
    );
  for (const x of e2e) {
    process.stdout.write(
      `${x.run} through Kafka and the database: ${x.published} records published; ${x.identical}/${x.compared} windows scored as in-process (${x.sameSide} on the same side of the threshold); the service's own alerts: ${x.metrics.faultsAlerted}/${x.metrics.faults.length} faults alerted, ${x.metrics.falseAlerts.length} false (${x.metrics.falseAlertsPerAssetWeek.toFixed(1)} per asset-week), AUC-ROC ${x.metrics.aucRoc.toFixed(3)}\n`,
    );
  }
  if (values.json) {
    writeFileSync(
      values.json,
      `${JSON.stringify({
        suite: 'plant-b',
        preset,
        split,
        seeds,
        healthy: !!values.healthy,
        windowMs,
        rule: runs[0].rule,
        detectors: metrics,
        healthyTwins: twinMetrics,
        endToEnd: e2e,
        runs: runs.map((r) => ({
          run: r.run.name,
          seed: r.run.seed,
          startMs: r.run.startMs,
          endMs: r.run.endMs,
          deliveries: r.deliveries,
          rejected: r.rejected,
          faults: r.run.faults,
          benign: r.run.benign,
          detectors: r.detectors,
          windows: r.windows,
          ...(r.twin ? { twin: { run: r.twin.run.name, windows: r.twin.windows } } : {}),
        })),
      })}\n`,
    );
  }
  return 0;
}
