/** Scenario files, suites split by seed, and the plan the embedded service simulates. */
import { TributaryError } from '../schemas/errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Scenario, Suite, type ScenarioInput } from '../schemas/scenario.js';
import { planOf, type SimPlan } from './plant.js';

/** sim/scenarios in the source tree, also when running from dist/. */
export function scenarioDir(): string {
  for (const rel of ['./scenarios/', '../../sim/scenarios/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'suite.json'))) return dir;
  }
  throw new Error('sim/scenarios not found');
}

export class ScenarioError extends TributaryError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}

/** Reads and validates a scenario: a path, or the name of a file in sim/scenarios. Every problem is listed. */
export function loadScenario(nameOrPath: string): Scenario {
  const file = nameOrPath.endsWith('.json') ? nameOrPath : join(scenarioDir(), `${nameOrPath}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ScenarioError(`${file}: ${(e as Error).message}`);
  }
  return parseScenario(raw, file);
}

export function parseScenario(raw: unknown, where = 'scenario'): Scenario {
  const r = Scenario.safeParse(raw);
  if (!r.success)
    throw new ScenarioError(
      `${where}:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`,
    );
  const ids = new Set(r.data.plants.flatMap((p) => p.assets.map((a) => a.id)));
  const bad = [...r.data.faults, ...r.data.cameraOutages]
    .filter((f) => !ids.has(f.asset))
    .map((f) => `  unknown asset ${f.asset}`);
  if (bad.length) throw new ScenarioError(`${where}:\n${bad.join('\n')}`);
  return r.data;
}

export type SplitName = 'train' | 'validation' | 'test';
export interface SuiteRun {
  scenario: Scenario;
  seed: number;
  split: SplitName;
}

/** `sim-train`, `sim-validation`, `sim-test`: every scenario of sim/scenarios/suite.json with the split's seeds. */
export function loadSuite(name: string): SuiteRun[] {
  const m = /^sim-(train|validation|test)$/.exec(name);
  if (!m) throw new ScenarioError(`unknown suite ${name} (sim-train, sim-validation, sim-test)`);
  const split = m[1] as SplitName;
  const suite = Suite.parse(JSON.parse(readFileSync(join(scenarioDir(), 'suite.json'), 'utf8')));
  return suite.scenarios.flatMap((s) => {
    const scenario = loadScenario(s);
    return suite.splits[split].map((seed) => ({ scenario, seed, split }));
  });
}

export interface SimplePlantOptions {
  seed: number;
  assets: number;
  sampleMs: number;
  imageMs?: number;
  /** One operator round per this many ms per asset. */
  noteMs?: number;
  /** Bearing wear on asset index `asset` from onsetMs to fullMs (epoch ms). */
  fault?: { asset: number; onsetMs: number; fullMs: number } | null;
  /** Day/night load cycle amplitude (default 0: stationary). */
  loadCycle?: number;
  /** Irrelevant and misleading notes, typos, notes naming their asset only in the text (default off). */
  noisyNotes?: boolean;
  /** Cameras on their own schedules (default: all at the same instants). */
  spreadCameras?: boolean;
}

/**
 * An endless plant of pumps `pump-01`… on plant `p1` (the embedded service's and the tests'), with at
 * most one bearing-wear fault, no set-point changes and no camera dropouts unless asked.
 */
export function simplePlan(o: SimplePlantOptions): SimPlan {
  const ids = Array.from({ length: o.assets }, (_, i) => `pump-${String(i + 1).padStart(2, '0')}`);
  const hour = 3_600_000;
  const noisy = o.noisyNotes ?? false;
  const input: ScenarioInput = {
    name: 'plant',
    seed: o.seed,
    start: new Date(0).toISOString(),
    durationH: 1,
    sampleMs: o.sampleMs,
    imageMs: o.imageMs ?? 10_000,
    thermal: { width: 16, height: 12 },
    plants: [{ id: 'p1', assets: ids.map((id, i) => ({ id, aliases: [`P${i + 1}`] })) }],
    faults: o.fault
      ? [
          {
            asset: ids[o.fault.asset],
            type: 'bearing_wear',
            onsetH: o.fault.onsetMs / hour,
            failureH: o.fault.fullMs / hour,
          },
        ]
      : [],
    cycles: { loadDaily: o.loadCycle ?? 0, setpointEveryH: 0 },
    notes: {
      roundsPerDay: 86_400_000 / (o.noteMs ?? 600_000),
      routineRate: 1,
      irrelevantPerDay: noisy ? 2 : 0,
      misleadingPerDay: noisy ? 0.5 : 0,
      typoRate: noisy ? 0.03 : 0,
      textOnlyRate: noisy ? 0.2 : 0,
    },
    cameraDropoutsPerDay: 0,
    occlusionRate: 0,
  };
  return {
    ...planOf(parseScenario(input, 'plant'), o.seed),
    endMs: Infinity,
    spreadCameras: o.spreadCameras ?? false,
  };
}
