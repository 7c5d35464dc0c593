/**
 * The unseen-plant protocol's guard: nothing the service ships with (its stages, schemas, API, defaults)
 * reads plant family B, and its test seeds are refused to everything but the final measurement.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { assertMayUse } from '../../eval/unseen.js';
import { PLANT_B_SPLITS, plantBRun, splitOfSeed } from '../../sim/plant-b.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules' || f.startsWith('.')) return [];
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });

test("no shipped module reads plant family B: only sim/, eval/, the CLI's eval command and tests do", () => {
  const readers = sources(ROOT)
    .filter((p) => /plant-b(\.js)?['"]/.test(readFileSync(p, 'utf8')))
    .map((p) => relative(ROOT, p));
  const shipped = readers.filter((p) => !/^(sim|eval|tests|bench)\//.test(p) && !p.startsWith('cli/eval'));
  assert.deepEqual(shipped, []);
  assert.ok(readers.includes('eval/unseen.ts'));
});

test('plant B test seeds are refused unless the final measurement asks for them', () => {
  const splits = Object.values(PLANT_B_SPLITS).flat();
  assert.equal(new Set(splits).size, splits.length, 'no seed in two splits');
  for (const s of PLANT_B_SPLITS.test) assert.equal(splitOfSeed(s), 'test');
  const run = plantBRun({ preset: 'short', seed: PLANT_B_SPLITS.test[0] });
  assert.throws(() => assertMayUse(run, false), /test seed/);
  assert.doesNotThrow(() => assertMayUse(run, true));
  assert.doesNotThrow(() =>
    assertMayUse(plantBRun({ preset: 'short', seed: PLANT_B_SPLITS.validation[0] }), false),
  );
});
