/** `tributary clocks`: what the align stage makes of each device's clock in a capture. */
import { fileLines, runClocks } from '../align/index.js';
import { table } from '../eval/index.js';
import { USAGE, UsageError, type Values, configOr2 } from './args.js';
import { createWriteStream, writeFileSync } from 'node:fs';

export async function clocks(values: Values): Promise<number> {
  if (!values.records) throw new UsageError(`clocks: --records is required\n${USAGE}`);
  const cfg = configOr2(values);
  if (!cfg) return 2;
  const out = values.out ? createWriteStream(values.out) : null;
  const report = await runClocks(
    fileLines(values.records),
    cfg,
    out ? { onSample: (l) => out.write(`${l}\n`) } : {},
  );
  if (out)
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  const f = (x: number | null, d = 0) => (x === null ? '–' : x.toFixed(d));
  process.stdout.write(
    `${report.records} records, ${report.windows} windows fired; rejected: ${JSON.stringify(report.rejected)}\n`,
  );
  process.stdout.write(
    `${table(
      [
        'asset',
        'device',
        'offset ms',
        'drift ppm',
        '± ms',
        'stamp jitter ms',
        'corrected',
        'steps (record time: size ms)',
        'samples',
        'windowed',
        'late',
        'quarantined',
        'duplicates',
      ],
      report.devices.map((d) => [
        d.asset,
        d.device,
        f(d.offsetMs),
        f(d.driftPpm, 1),
        f(d.uncertaintyMs, 1),
        f(d.stampJitterMs, 1),
        d.corrected ? 'yes' : 'as stamped',
        d.steps
          .map(
            (x) =>
              `${new Date(x.atMs).toISOString().slice(11, 23)}: ${x.sizeMs > 0 ? '+' : ''}${Math.round(x.sizeMs)}`,
          )
          .join(', ') || '–',
        d.samples,
        d.windowed,
        d.late,
        d.quarantined,
        d.duplicates,
      ]),
    )}\n`,
  );
  for (const d of report.devices) {
    for (const [why, n] of Object.entries(d.reasons)) process.stdout.write(`  ${d.device}: ${n} × ${why}\n`);
  }
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
  return 0;
}
