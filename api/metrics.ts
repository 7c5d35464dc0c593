/**
 * Prometheus metrics (prom-client), served at /metrics. The pipeline reports through the `Metrics`
 * interface; nothing else imports prom-client.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface ClockReading {
  plant: string; asset: string; device: string;
  offsetMs: number | null; driftPpm: number | null; uncertaintyMs: number | null; steps: number; corrected: boolean;
}

export interface Metrics {
  registry: Registry;
  batch(s: { modality: string; records: number; rejected: number; late: number; windows: number; alertsOpened: number }): void;
  clocks(readings: ClockReading[]): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tributary_process_' });
  const records = new Counter({ name: 'tributary_records_total', help: 'Input records handled, by modality', labelNames: ['modality'], registers: [registry] });
  const rejected = new Counter({ name: 'tributary_dead_letters_total', help: 'Records sent to the dead-letter topic or table', labelNames: ['modality'], registers: [registry] });
  const late = new Counter({ name: 'tributary_late_records_total', help: 'Records written to the late log (late or quarantined)', labelNames: ['modality'], registers: [registry] });
  const windows = new Counter({ name: 'tributary_windows_total', help: 'Window tuples emitted (revisions included)', registers: [registry] });
  const alerts = new Counter({ name: 'tributary_alerts_opened_total', help: 'Alerts opened', registers: [registry] });
  const labels = ['plant', 'asset', 'device'];
  const offset = new Gauge({ name: 'tributary_clock_offset_ms', help: 'Correction applied to a device clock (corrected − device time)', labelNames: labels, registers: [registry] });
  const drift = new Gauge({ name: 'tributary_clock_drift_ppm', help: 'Estimated drift of a device clock', labelNames: labels, registers: [registry] });
  const uncertainty = new Gauge({ name: 'tributary_clock_uncertainty_ms', help: 'Uncertainty of a device clock estimate', labelNames: labels, registers: [registry] });
  const steps = new Gauge({ name: 'tributary_clock_steps', help: 'Clock steps detected on a device', labelNames: labels, registers: [registry] });
  const corrected = new Gauge({ name: 'tributary_clock_corrected', help: '1 while a device clock correction is applied', labelNames: labels, registers: [registry] });
  return {
    registry,
    batch(s) {
      records.inc({ modality: s.modality }, s.records);
      if (s.rejected) rejected.inc({ modality: s.modality }, s.rejected);
      if (s.late) late.inc({ modality: s.modality }, s.late);
      if (s.windows) windows.inc(s.windows);
      if (s.alertsOpened) alerts.inc(s.alertsOpened);
    },
    clocks(readings) {
      for (const r of readings) {
        const l = { plant: r.plant, asset: r.asset, device: r.device };
        if (r.offsetMs !== null) offset.set(l, r.offsetMs);
        if (r.driftPpm !== null) drift.set(l, r.driftPpm);
        if (r.uncertaintyMs !== null) uncertainty.set(l, r.uncertaintyMs);
        steps.set(l, r.steps);
        corrected.set(l, r.corrected ? 1 : 0);
      }
    },
  };
}
