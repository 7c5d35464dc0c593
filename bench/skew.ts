/**
 * `npm run bench -- skew`: the align stage on ../shared/skew's data over many seeds, scored by its own
 * checker: per seed p50 / p99 / max |corrected − true| after the warm-up, the share of sensor samples in
 * their true window, clock steps true (from the generator's device lines) and found, and what went to the
 * late log, quarantine or duplicates. SKEW_SEEDS (default 1-10, a range or a list), SKEW_MODES (sample,block),
 * SKEW_ARGS (more generator flags, e.g. "--jitter-ms 200 --jitter-dist laplace"); 8 assets, 600 s.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileLines, runClocks } from '../align/index.js';
import { Config } from '../schemas/index.js';
import { check, generate } from '../tests/helpers/skew.js';

function seeds(spec: string): number[] {
  return spec.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

export interface SkewRow {
  mode: string;
  seed: number;
  p50: number;
  p99: number;
  max: number;
  rightWindow: number;
  trueSteps: number;
  foundSteps: number;
  late: number;
  quarantined: number;
  duplicates: number;
  pass: boolean;
}

export async function runSkewBench(onRow: (r: SkewRow) => void): Promise<SkewRow[]> {
  const extra = (process.env.SKEW_ARGS ?? '').split(/\s+/).filter(Boolean);
  const args: Record<string, string | number> = { assets: 8, 'duration-s': 600 };
  for (let i = 0; i + 1 < extra.length; i += 2) args[extra[i].replace(/^--/, '')] = extra[i + 1];
  const rows: SkewRow[] = [];
  for (const mode of (process.env.SKEW_MODES ?? 'sample,block').split(',')) {
    for (const seed of seeds(process.env.SKEW_SEEDS ?? '1-10')) {
      const dir = generate({ ...args, mode, seed });
      const lines: string[] = [];
      const report = await runClocks(fileLines(join(dir, 'records.jsonl')), Config.parse({}), {
        onSample: (l) => lines.push(l),
      });
      const file = join(dir, 'corrected.jsonl');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const { sensor, pass } = check(dir, file);
      // The true steps of the sensor devices, from the generator's device lines (evaluation only).
      const trueSteps = readFileSync(join(dir, 'truth.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"type":"device"') && l.includes('"kind":"sensor"'))
        .reduce((n, l) => n + (JSON.parse(l) as { steps: unknown[] }).steps.length, 0);
      const sensors = report.devices.filter((d) => d.samples > 0);
      const sum = (f: (d: (typeof sensors)[number]) => number) => sensors.reduce((n, d) => n + f(d), 0);
      const row = {
        mode,
        seed,
        p50: sensor.p50,
        p99: sensor.p99,
        max: sensor.max,
        rightWindow: sensor.rightWindow,
        trueSteps,
        foundSteps: sum((d) => d.steps.length),
        late: sum((d) => d.late),
        quarantined: sum((d) => d.quarantined),
        duplicates: sum((d) => d.duplicates),
        pass,
      };
      rows.push(row);
      onRow(row);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
