/** `tributary eval`: detection quality (SKAB's protocol, the simulator's suites, end to end through Kafka). */
import {
  ablationTable,
  baselineDetectors,
  evaluateSkab,
  SKAB_WINDOW_MS,
  SKAB_HELD_OUT,
  skabSubset,
  scoreSkabContext,
  writeSkabPredictions,
  progress,
  runEndToEnd,
  runSuite,
  scoreSkabFusion,
  skabTable,
  table,
  type DetectorMetrics,
} from '../eval/index.js';
import { initBackend } from '../fusion/index.js';
import { Config } from '../schemas/index.js';
import { loadScenario, loadSuite, type ReplaySeries } from '../sim/index.js';
import { USAGE, UsageError, type Values, num } from './args.js';
import { writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { evalPlantB } from './eval-plant-b.js';

export async function evaluate(values: Values): Promise<number> {
  if (values.suite === 'plant-b') return evalPlantB(values);
  const suite = values.suite;
  const threshold = num(values.threshold, 'threshold', 6);
  let report: unknown;
  if (values.e2e) {
    if (!values.brokers) throw new UsageError(`--e2e needs --brokers\n${USAGE}`);
    if (!suite === !values.scenario || suite === 'skab')
      throw new UsageError(`--e2e needs one of --suite sim-… and --scenario\n${USAGE}`);
    const runs = suite
      ? loadSuite(suite)
      : [
          {
            scenario: loadScenario(values.scenario!),
            seed: num(values.seed, 'seed', 101),
            split: 'test' as const,
          },
        ];
    const logger = pino({ level: 'warn' });
    const rows: Array<Array<string | number>> = [];
    const results = [];
    for (const r of runs) {
      const res = await runEndToEnd(
        r,
        {
          brokers: values.brokers.split(','),
          databaseUrl: values['database-url'],
          threshold,
          onProgress: (w) => process.stderr.write(`${r.scenario.name}#${r.seed}: ${w}\n`),
        },
        logger,
      );
      results.push({ run: `${r.scenario.name}#${r.seed}`, ...res });
      const row = (how: string, m: DetectorMetrics) => [
        `${r.scenario.name}#${r.seed}`,
        how,
        m.windows,
        m.aucRoc.toFixed(3),
        m.aucPr.toFixed(3),
        (100 * m.far).toFixed(2),
        (100 * m.mar).toFixed(2),
        `${m.faultsDetected}/${m.faults}`,
      ];
      rows.push(row('in-process', res.inProcess), row('Kafka + database', res.endToEnd));
      process.stdout.write(
        `${r.scenario.name}#${r.seed}: ${res.published} records published; ${res.identical}/${res.compared} windows scored identically\n`,
      );
    }
    process.stdout.write(
      `${table(['run', 'path', 'windows', 'AUC-ROC', 'AUC-PR', 'FAR %', 'MAR %', 'detected'], rows)}\n`,
    );
    if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
    return 0;
  }
  if (!suite) throw new UsageError(`--suite is required\n${USAGE}`);
  if (suite === 'skab') {
    const dir = values['skab-dir'] ?? process.env.SKAB_DIR ?? '../shared/data/skab';
    const bar = progress('skab');
    const windowMs = num(values['window-ms'], 'window-ms', SKAB_WINDOW_MS);
    const alertRule = Config.parse({}).alerts;
    const detector = values.detector ?? 'context';
    if (!['fusion', 'baseline', 'context'].includes(detector))
      throw new UsageError(`--detector: context, baseline or fusion\n${USAGE}`);
    const fusion = detector === 'fusion';
    if (fusion) await initBackend();
    // The fusion model's operating point is a calibrated probability (default 0.99); the baseline's and the context scorer's the alert threshold.
    const thr = fusion ? num(values.threshold, 'threshold', 0.99) : threshold;
    const scoreRows = fusion
      ? (s: ReplaySeries) => scoreSkabFusion(s, windowMs)
      : detector === 'context'
        ? (s: ReplaySeries) => scoreSkabContext(s, windowMs, thr)
        : undefined;
    const r = evaluateSkab(
      dir,
      {
        threshold: thr,
        windowMs,
        ...(values['point-wise']
          ? {}
          : { alert: { openAfter: alertRule.openAfter, resolveAfter: alertRule.resolveAfter } }),
      },
      (i, n, name) => bar.update(i / n, name),
      scoreRows,
    );
    bar.update(1, 'done');
    bar.done();
    const name = fusion
      ? `Tributary fusion, sensors (p ≥ ${thr})`
      : detector === 'context'
        ? `Tributary context k-NN (score ≥ ${thr}${values['point-wise'] ? '' : ', alert rule'})`
        : `Tributary baseline (robust z ≥ ${thr})`;
    const what = fusion
      ? 'fusion model (sensor modality, trained per file)'
      : detector === 'context'
        ? 'context-knn-1 (the default scorer)'
        : 'baseline-robustz-1';
    process.stdout.write(
      `SKAB outlier detection, ${what} at threshold ${thr}: ${r.files.length} files, ${r.testRows} test rows (${r.anomalous} anomalous), ${r.changepoints} changepoints\n`,
    );
    process.stdout.write(`${skabTable(r, name)}\n`);
    const held = skabSubset(r, SKAB_HELD_OUT),
      dev = skabSubset(r, ['valve1/']);
    const fmt = (x: typeof held) =>
      `F1 ${x.f1.toFixed(2)}, FAR ${x.far.toFixed(2)} %, MAR ${x.mar.toFixed(2)} %`;
    process.stdout.write(
      `held out from every choice (${SKAB_HELD_OUT.join(', ')}: ${held.files} files): ${fmt(held)}; valve1 (${dev.files} files, where the window was chosen): ${fmt(dev)}\n`,
    );
    report = {
      suite,
      detector: fusion ? 'fusion-sensors' : detector === 'context' ? 'context-knn-1' : 'baseline-robustz-1',
      windowMs,
      ...r,
    };
    if (values.predictions) {
      const written = writeSkabPredictions(values.predictions, r);
      process.stdout.write(
        `predictions in SKAB's layout: ${written.length} files under ${values.predictions}\n`,
      );
    }
  } else {
    const bar = progress(suite);
    const rep = runSuite(suite, baselineDetectors(threshold), (d, what) => bar.update(d, what));
    bar.done();
    const windows = rep.runs.reduce((a, r) => a + r.windows, 0);
    process.stdout.write(
      `${suite}: ${rep.runs.length} runs, ${windows} windows; the baseline-robustz-1 ablation and the default context scorer at threshold ${threshold}, alert rule 3 windows\n`,
    );
    process.stdout.write(`${ablationTable(rep.metrics)}\n`);
    report = rep;
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  return 0;
}
