/** Terminal tables and a progress bar for the evaluation harness. */
import type { DetectorMetrics } from './harness.js';
import { SKAB_LEADERBOARD, type SkabResult } from './skab.js';

export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '─'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join(
    '\n',
  );
}

const f = (x: number | null, d = 3) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(d));

export function ablationTable(ms: DetectorMetrics[]): string {
  return table(
    [
      'detector',
      'AUC-ROC',
      'AUC-PR',
      'best F1',
      'F1@thr',
      'FAR %',
      'MAR %',
      'detected',
      'lead h',
      'false/asset-wk',
      'explained',
      'DQ flagged',
    ],
    ms.map((m) => [
      m.detector,
      f(m.aucRoc),
      f(m.aucPr),
      f(m.bestF1),
      f(m.f1),
      f(100 * m.far, 2),
      f(100 * m.mar, 2),
      `${m.faultsDetected}/${m.faults}`,
      f(m.leadTimeH, 1),
      f(m.falseAlertsPerAssetWeek, 1),
      m.explanationChecked ? `${Math.round((100 * m.explanationHits) / m.explanationChecked)} %` : '–',
      m.dataQualityWindows ? `${Math.round((100 * m.dataQualityFlagged) / m.dataQualityWindows)} %` : '–',
    ]),
  );
}

export function skabTable(ours: SkabResult, name: string): string {
  const rows: Array<Array<string | number>> = SKAB_LEADERBOARD.map((r) => [
    r.algorithm,
    r.f1.toFixed(2),
    r.far.toFixed(2),
    r.mar.toFixed(2),
    r.nab ? r.nab.map((x) => x.toFixed(2)).join(' / ') : '–',
  ]);
  const mine = [
    `▶ ${name}`,
    ours.f1.toFixed(2),
    ours.far.toFixed(2),
    ours.mar.toFixed(2),
    `${ours.nab.Standard.toFixed(2)} / ${ours.nab.LowFP.toFixed(2)} / ${ours.nab.LowFN.toFixed(2)}`,
  ];
  const at = rows.findIndex((r) => Number(r[1]) < ours.f1);
  rows.splice(at < 0 ? rows.length : at, 0, mine);
  return table(['algorithm', 'F1', 'FAR %', 'MAR %', 'NAB standard / lowFP / lowFN'], rows);
}

/** A progress bar on a terminal; plain lines elsewhere (CI logs). */
export function progress(label: string, stream: NodeJS.WriteStream = process.stderr) {
  const tty = stream.isTTY;
  let lastPct = -1;
  return {
    update(done: number, what = '') {
      const pct = Math.floor(done * 100);
      if (tty) {
        const n = Math.round(done * 30);
        stream.write(
          `\r${label} [${'█'.repeat(n)}${'░'.repeat(30 - n)}] ${String(pct).padStart(3)} % ${what}`
            .padEnd(100)
            .slice(0, 120),
        );
      } else if (pct >= lastPct + 10 || done === 1) {
        stream.write(`${label} ${pct} % ${what}\n`);
        lastPct = pct;
      }
    },
    done() {
      if (tty) stream.write('\n');
    },
  };
}
