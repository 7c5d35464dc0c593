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
  /** Where the device clocks are read from at scrape time. */
  watchClocks(read: () => ClockReading[]): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tributary_process_' });
  const records = new Counter({ name: 'tributary_records_total', help: 'Input records handled, by modality', labelNames: ['modality'], registers: [registry] });
  const rejected = new Counter({ name: 'tributary_dead_letters_total', help: 'Records sent to the dead-letter topic or table', labelNames: ['modality'], registers: [registry] });
  const late = new Counter({ name: 'tributary_late_records_total', help: 'Records written to the late log (late or quarantined)', labelNames: ['modality'], registers: [registry] });
  const windows = new Counter({ name: 'tributary_windows_total', help: 'Window tuples emitted (revisions included)', registers: [registry] });
  const alerts = new Counter({ name: 'tributary_alerts_opened_total', help: 'Alerts opened', registers: [registry] });
  // Device clocks are read when Prometheus scrapes, not on every batch.
  let readClocks: () => ClockReading[] = () => [];
  const clockGauge = (name: string, help: string, value: (r: ClockReading) => number | null) => new Gauge({
    name, help, labelNames: ['plant', 'asset', 'device'], registers: [registry],
    collect() {
      this.reset();
      for (const r of readClocks()) {
        const v = value(r);
        if (v !== null) this.set({ plant: r.plant, asset: r.asset, device: r.device }, v);
      }
    },
  });
  clockGauge('tributary_clock_offset_ms', 'Correction applied to a device clock (corrected − device time)', (r) => r.offsetMs);
  clockGauge('tributary_clock_drift_ppm', 'Estimated drift of a device clock', (r) => r.driftPpm);
  clockGauge('tributary_clock_uncertainty_ms', 'Uncertainty of a device clock estimate', (r) => r.uncertaintyMs);
  clockGauge('tributary_clock_steps', 'Clock steps detected on a device', (r) => r.steps);
  clockGauge('tributary_clock_corrected', '1 while a device clock correction is applied', (r) => (r.corrected ? 1 : 0));
  return {
    registry,
    batch(s) {
      records.inc({ modality: s.modality }, s.records);
      if (s.rejected) rejected.inc({ modality: s.modality }, s.rejected);
      if (s.late) late.inc({ modality: s.modality }, s.late);
      if (s.windows) windows.inc(s.windows);
      if (s.alertsOpened) alerts.inc(s.alertsOpened);
    },
    watchClocks(read) { readClocks = read; },
  };
}
