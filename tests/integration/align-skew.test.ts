/**
 * The align stage on data shaped by someone else: ../shared/skew's generator (device clocks with offset,
 * drift and steps; stamp jitter; delay with head-of-line blocking, reordering, duplicates, loss; camera
 * outages), run through `tributary clocks` exactly as an engineer would, scored by the generator's own
 * checker. The targets (issue 18): p99 |corrected − true| ≤ 50 ms after 60 s of warm-up, ≥ 99.5 % of
 * sensor samples in their true 10-s window, on every seed, for sample and for block records.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileLines, runClocks } from '../../align/index.js';
import { Config } from '../../schemas/index.js';
import { check, generate, REPO } from '../helpers/skew.js';

function clocks(dir: string): string {
  const out = join(dir, 'corrected.jsonl');
  execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO, 'cli.ts'),
      'clocks',
      '--records',
      join(dir, 'records.jsonl'),
      '--out',
      out,
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 },
  );
  return out;
}

for (const mode of ['sample', 'block'] as const) {
  for (const seed of [41, 42]) {
    test(`skew --assets 8 --duration-s 600 --mode ${mode} --seed ${seed}: both targets, through tributary clocks`, (t) => {
      const dir = generate({ assets: 8, 'duration-s': 600, mode, seed });
      const { sensor, pass } = check(dir, clocks(dir));
      t.diagnostic(
        `p50 ${sensor.p50.toFixed(1)} ms, p99 ${sensor.p99.toFixed(1)} ms, max ${sensor.max.toFixed(0)} ms, right window ${(100 * sensor.rightWindow).toFixed(2)} %, missing ${sensor.missing}`,
      );
      assert.equal(sensor.missing, 0, 'every delivered sample reported');
      assert.ok(sensor.p99 <= 50, `p99 ${sensor.p99} ms`);
      assert.ok(sensor.rightWindow >= 0.995, `right window ${sensor.rightWindow}`);
      assert.ok(pass);
    });
  }
}

// Heavy-tailed stamp jitter (Laplace, b = 200 ms: the stamps' own p99 error is about 920 ms), fast drift,
// three steps per device and twice the reordering: read along the sequence numbers, still both targets.
for (const mode of ['sample', 'block'] as const)
  test(`skew --jitter-ms 200 --jitter-dist laplace --drift-ppm 500 --steps 3 --reorder 0.1 --mode ${mode} --seed 43: both targets`, async (t) => {
    const dir = generate({
      assets: 8,
      'duration-s': 600,
      mode,
      seed: 43,
      'jitter-ms': 200,
      'jitter-dist': 'laplace',
      'drift-ppm': 500,
      steps: 3,
      reorder: 0.1,
    });
    const lines: string[] = [];
    await runClocks(fileLines(join(dir, 'records.jsonl')), Config.parse({}), {
      onSample: (l) => lines.push(l),
    });
    const file = join(dir, 'corrected.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const { sensor, pass } = check(dir, file);
    t.diagnostic(
      `p50 ${sensor.p50.toFixed(1)} ms, p99 ${sensor.p99.toFixed(1)} ms, max ${sensor.max.toFixed(0)} ms, right window ${(100 * sensor.rightWindow).toFixed(2)} %`,
    );
    assert.equal(sensor.missing, 0);
    assert.ok(sensor.p99 <= 50, `p99 ${sensor.p99} ms`);
    assert.ok(sensor.rightWindow >= 0.995, `right window ${sensor.rightWindow}`);
    assert.ok(pass);
  });

test('harder settings (laplace jitter 200 ms, two steps, half of them to 1970, loss 2 %, reorder 10 %): nothing dropped silently', async (t) => {
  const dir = generate({
    assets: 4,
    'duration-s': 600,
    seed: 5,
    'jitter-ms': 200,
    'jitter-dist': 'laplace',
    steps: 2,
    'step-epoch-frac': 0.5,
    loss: 0.02,
    reorder: 0.1,
    'ts-format': 'mixed',
  });
  const lines: string[] = [];
  const report = await runClocks(fileLines(join(dir, 'records.jsonl')), Config.parse({}), {
    onSample: (l) => lines.push(l),
  });
  // Every sensor sample delivered is accounted for: windowed, late or quarantined (with a reason), or a
  // duplicate of one that was (recognised by device and sequence number).
  let delivered = 0;
  for await (const l of fileLines(join(dir, 'records.jsonl'))) {
    const r = JSON.parse(l);
    if (!r.topic.endsWith('.sensors')) continue;
    delivered += r.value.values ? 1 : (Object.values(r.value.channels)[0] as number[]).length;
  }
  const sum = (f: (d: (typeof report.devices)[number]) => number) =>
    report.devices.reduce((m, d) => m + f(d), 0);
  assert.equal(
    sum((d) => d.samples),
    delivered,
  );
  assert.equal(
    sum((d) => d.windowed + d.late + d.quarantined + d.duplicates),
    delivered,
  );
  for (const d of report.devices) {
    const withReason = Object.values(d.reasons).reduce((m, n) => m + n, 0);
    assert.equal(withReason, d.late + d.quarantined, `${d.device}: every sample not windowed has a reason`);
  }
  const file = join(dir, 'corrected.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const { sensor } = check(dir, file);
  t.diagnostic(
    `reported, not asserted: p50 ${sensor.p50.toFixed(1)} ms, p99 ${sensor.p99.toFixed(1)} ms, right window ${(100 * sensor.rightWindow).toFixed(2)} %; ` +
      `late ${sum((d) => d.late)}, quarantined ${sum((d) => d.quarantined)}, duplicates ${sum((d) => d.duplicates)}`,
  );
  assert.equal(sensor.missing, 0);
});
