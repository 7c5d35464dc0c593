/**
 * The evaluation harness on the embedded pipeline: a scenario's deliveries (clocks, network and all) go
 * through the real window operator in arrival order, every tuple is scored by each detector, and the
 * windows are labelled from the scenario's ground truth.
 *
 * Labels of a window of an asset: 1 when an equipment fault of the asset has begun by the window's end;
 * unknown (left out of the metrics) while a sensor fault of the asset overlaps it (a data-quality issue,
 * reported apart); 0 otherwise. Windows of an asset's reference period have no score and are left out.
 */
import { WindowOperator, resolveNoteAsset } from '../align/index.js';
import {
  Config,
  modalityOfChannel,
  SENSOR_FAULTS,
  type ConfigInput,
  type InputRecord,
  type Modality,
  type WindowTuple,
} from '../schemas/index.js';
import { aliasTable, labelsOf, planOf, stream, type SimPlan } from '../sim/index.js';
import type { SuiteRun } from '../sim/index.js';
import type { Detector } from './detectors.js';
import { alertIntervals, aucPr, aucRoc, bestF1, confusion, rates } from './metrics.js';

export interface EvalWindow {
  run: string;
  asset: string;
  windowStart: number;
  windowEnd: number;
  /** 1 fault, 0 normal, null unknown (sensor fault). */
  label: 0 | 1 | null;
  fault: string | null;
  scores: Array<number | null>;
  /** The top contribution of each detector's score: a modality (and channel for sensors). */
  top: Array<{ modality: Modality; channel: string } | null>;
}

export interface RunResult {
  run: string;
  plan: SimPlan;
  windows: EvalWindow[];
  deliveries: number;
  tuples: number;
}

export const EVAL_ALIGN: ConfigInput['align'] = {
  windowMs: 60_000,
  outOfOrdernessMs: 3_000,
  allowedLatenessMs: 10_000,
  idleTimeoutMs: 30_000,
  imageMaxAgeMs: 120_000,
};

/** Runs one scenario with one seed through align and the detectors. `onProgress` gets the share done. */
export function runScenario(
  r: SuiteRun,
  detectors: Detector[],
  o: { align?: ConfigInput['align']; onProgress?: (done: number) => void } = {},
): RunResult {
  const plan = planOf(r.scenario, r.seed);
  const run = `${r.scenario.name}#${r.seed}`;
  const align = Config.parse({ align: o.align ?? EVAL_ALIGN }).align;
  let now = plan.startMs;
  const op = new WindowOperator(align, () => now);
  const aliases = aliasTable(plan);
  const byKey = new Map<string, EvalWindow>();
  const labels = labelsOf(plan);
  let deliveries = 0,
    tuples = 0,
    offset = 0;

  const take = (ts: WindowTuple[]) => {
    for (const t of ts) {
      tuples++;
      const results = detectors.map((d) => d.score(t));
      const key = `${t.asset}@${t.windowStart}`;
      const prev = byKey.get(key);
      // The latest revision is the window's final score; a detector still in its reference period on
      // revision 0 keeps its null.
      const w: EvalWindow = prev ?? {
        run,
        asset: t.asset,
        windowStart: t.windowStart,
        windowEnd: t.windowEnd,
        label: 0,
        fault: null,
        scores: [],
        top: [],
      };
      results.forEach((res, i) => {
        if (prev && prev.scores[i] === null) return;
        w.scores[i] = res.score;
        const top = Object.entries(res.contributions).sort((a, b) => b[1] - a[1])[0];
        w.top[i] =
          top && res.score !== null ? { modality: modalityOfChannel(top[0]), channel: top[0] } : null;
      });
      byKey.set(key, w);
    }
  };

  let lastFire = -Infinity;
  for (const batch of stream(plan)) {
    for (const d of batch) {
      now = d.arrivalMs;
      deliveries++;
      let rec: InputRecord;
      if (d.topic === 'notes') {
        const n = d.record as InputRecord['value'] & { text: string; plant: string; asset?: string };
        const asset = n.asset ?? resolveNoteAsset(n.plant, n.text, aliases);
        if (!asset) continue; // a plant-level note: stored, not windowed
        rec = { modality: 'notes', value: { ...n, asset } } as InputRecord;
      } else rec = { modality: d.topic, value: d.record } as InputRecord;
      op.add(rec, offset++, { recordTime: d.arrivalMs });
      if (now - lastFire >= 1_000) {
        take(op.fire());
        lastFire = now;
      }
    }
    o.onProgress?.(Math.min(1, (now - plan.startMs) / (plan.endMs - plan.startMs)));
  }
  take(op.flush());

  // Edge windows made only of skewed stamps just outside the scenario's period are left out.
  const windows = [...byKey.values()]
    .filter((w) => w.windowStart < plan.endMs && w.windowEnd > plan.startMs)
    .sort((a, b) => (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : a.windowStart - b.windowStart));
  for (const w of windows) {
    for (const l of labels) {
      if (l.asset !== w.asset) continue;
      if (SENSOR_FAULTS.includes(l.fault)) {
        if (w.windowEnd > l.onsetMs && w.windowStart < l.failureMs) {
          w.label = null;
          w.fault = l.fault;
        }
      } else if (w.windowEnd > l.onsetMs && w.label !== null) {
        w.label = 1;
        w.fault = l.fault;
      }
    }
  }
  return { run, plan, windows, deliveries, tuples };
}

/** Which modality (and channel) should explain each fault type; null: no single one. */
export const EXPECTED_EXPLANATION: Record<string, { modality: Modality; channels?: string[] } | null> = {
  bearing_wear: { modality: 'sensors', channels: ['vib_hf', 'vib_rms'] },
  electrical_connection: { modality: 'images' },
  seal_leak: null,
  cavitation: { modality: 'sensors', channels: ['pressure_bar', 'vib_hf'] },
  misalignment: { modality: 'sensors', channels: ['vib_1x', 'vib_rms'] },
};

export interface DetectorMetrics {
  detector: string;
  threshold: number;
  windows: number;
  positives: number;
  aucRoc: number;
  aucPr: number;
  bestF1: number;
  f1: number;
  far: number;
  mar: number;
  /** Equipment faults alerted on before failure / all equipment faults. */
  faultsDetected: number;
  faults: number;
  /** Median hours between the alert and the failure, over detected faults. */
  leadTimeH: number | null;
  /** Alert openings on fault-free assets per asset-week of scored windows. */
  falseAlertsPerAssetWeek: number;
  assetWeeks: number;
  /** Detected fault windows whose top contribution names the expected modality (and channel). */
  explanationHits: number;
  explanationChecked: number;
  /** Data-quality windows (sensor faults) scored at or above the threshold / all of them. */
  dataQualityFlagged: number;
  dataQualityWindows: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length ? (s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2) : null;
};

/** Metrics of each detector over many runs. `rule`: the alert rule (k windows open, m close). */
export function summarise(
  results: RunResult[],
  detectors: Detector[],
  rule = { openAfter: 3, resolveAfter: 6 },
): DetectorMetrics[] {
  return detectors.map((d, i) => {
    const scores: number[] = [],
      labels: number[] = [];
    let faults = 0,
      detected = 0,
      hits = 0,
      checked = 0,
      dq = 0,
      dqFlagged = 0,
      falseAlerts = 0,
      normalMs = 0;
    const leads: number[] = [];
    for (const r of results) {
      const windowMs = r.windows.length ? r.windows[0].windowEnd - r.windows[0].windowStart : 60_000;
      const labelsOfRun = labelsOf(r.plan);
      const byAsset = new Map<string, EvalWindow[]>();
      for (const w of r.windows) {
        if (!byAsset.has(w.asset)) byAsset.set(w.asset, []);
        byAsset.get(w.asset)!.push(w);
        const s = w.scores[i];
        if (s === null || s === undefined) continue;
        if (w.label === null) {
          dq++;
          if (s >= d.threshold) dqFlagged++;
          continue;
        }
        scores.push(s);
        labels.push(w.label);
        const exp = w.fault ? EXPECTED_EXPLANATION[w.fault] : null;
        if (w.label === 1 && s >= d.threshold && exp && w.top[i]) {
          checked++;
          if (
            w.top[i]!.modality === exp.modality &&
            (!exp.channels || exp.channels.includes(w.top[i]!.channel))
          )
            hits++;
        }
      }
      for (const [asset, ws] of byAsset) {
        const faultsHere = labelsOfRun.filter((l) => l.asset === asset);
        const alerts = alertIntervals(
          ws.map((w) => w.scores[i] ?? null),
          d.threshold,
          rule.openAfter,
          rule.resolveAfter,
        );
        if (faultsHere.length === 0) {
          falseAlerts += alerts.length;
          normalMs += ws.filter((w) => w.scores[i] !== null && w.scores[i] !== undefined).length * windowMs;
        }
        for (const l of faultsHere) {
          if (SENSOR_FAULTS.includes(l.fault)) continue;
          faults++;
          // Detected: an alert is open at some window between the onset and the failure; the lead time is
          // counted from the first such window (an alert already open at the onset counts from the onset).
          let firstOpen: number | null = null;
          for (const [a, b] of alerts) {
            for (let k = a; k < (b ?? ws.length); k++) {
              if (ws[k].windowEnd > l.onsetMs && ws[k].windowEnd <= l.failureMs) {
                firstOpen = Math.min(firstOpen ?? Infinity, Math.max(ws[k].windowEnd, l.onsetMs));
                break;
              }
            }
          }
          if (firstOpen !== null) {
            detected++;
            leads.push((l.failureMs - firstOpen) / 3_600_000);
          }
        }
      }
    }
    const c = confusion(
      scores.map((s) => s >= d.threshold),
      labels,
    );
    const rt = rates(c);
    const assetWeeks = normalMs / (7 * 86_400_000);
    return {
      detector: d.name,
      threshold: d.threshold,
      windows: scores.length,
      positives: labels.filter((l) => l === 1).length,
      aucRoc: aucRoc(scores, labels),
      aucPr: aucPr(scores, labels),
      bestF1: bestF1(scores, labels).f1,
      f1: rt.f1,
      far: rt.far,
      mar: rt.mar,
      faultsDetected: detected,
      faults,
      leadTimeH: median(leads),
      falseAlertsPerAssetWeek: assetWeeks > 0 ? falseAlerts / assetWeeks : NaN,
      assetWeeks,
      explanationHits: hits,
      explanationChecked: checked,
      dataQualityFlagged: dqFlagged,
      dataQualityWindows: dq,
    };
  });
}
