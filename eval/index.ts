export * from './metrics.js';
export * from './detectors.js';
export * from './harness.js';
export * from './skab.js';
export * from './report.js';
import { loadSuite, type SuiteRun } from '../sim/index.js';
import { baselineAblation, contextDetector, type Detector } from './detectors.js';
import { runScenario, summarise, type DetectorMetrics, type RunResult } from './harness.js';

export interface SuiteReport {
  suite: string;
  runs: Array<{ run: string; windows: number; deliveries: number; tuples: number }>;
  metrics: DetectorMetrics[];
}

/** Runs every scenario × seed of a suite with fresh detectors per run and summarises over all runs. */
export function runSuite(
  suite: string | SuiteRun[],
  makeDetectors: () => Detector[],
  onProgress?: (done: number, what: string) => void,
): SuiteReport {
  const runs = typeof suite === 'string' ? loadSuite(suite) : suite;
  const results: RunResult[] = [];
  let detectors: Detector[] = [];
  runs.forEach((r, i) => {
    detectors = makeDetectors();
    const what = `${r.scenario.name} seed ${r.seed}`;
    results.push(runScenario(r, detectors, { onProgress: (d) => onProgress?.((i + d) / runs.length, what) }));
  });
  onProgress?.(1, 'done');
  return {
    suite: typeof suite === 'string' ? suite : 'custom',
    runs: results.map((r) => ({
      run: r.run,
      windows: r.windows.length,
      deliveries: r.deliveries,
      tuples: r.tuples,
    })),
    metrics: summarise(results, detectors),
  };
}

/**
 * The baseline's ablation as the harness runs it (4 h reference per asset: 240 one-minute windows), and
 * the service's default scorer beside it (its defaults, the same threshold).
 */
export const baselineDetectors =
  (threshold = 6, referenceWindows = 240) =>
  () => [
    ...baselineAblation(referenceWindows, threshold),
    contextDetector('context k-NN (default)', { threshold }),
  ];
export * from './e2e.js';
export * from './fusion.js';
export * from './unseen.js';
export * from './unseen-e2e.js';
