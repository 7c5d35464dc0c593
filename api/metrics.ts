/**
 * Prometheus metrics (prom-client), served at /metrics. The pipeline, the consumer, the webhook sender
 * and the API report through the `Metrics` interface; nothing else imports prom-client.
 */
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ClockReading {
  plant: string;
  asset: string;
  device: string;
  offsetMs: number | null;
  driftPpm: number | null;
  uncertaintyMs: number | null;
  /** Median distance of the device's stamps from its stamp-per-sequence line (null: no sequence numbers). */
  stampJitterMs: number | null;
  steps: number;
  corrected: boolean;
}

export interface Metrics {
  registry: Registry;
  batch(s: {
    modality: string;
    records: number;
    rejected: number;
    late: number;
    windows: number;
    alertsOpened: number;
  }): void;
  /** Windows scored in one batch: close → committed latency (one per window), batch size, scoring time. */
  scored(s: { closeToCommitMs: number; scored: number; scoringMs: number }): void;
  /** Input drift of the fusion models (the largest PSI over the sensor features), per model and plant. */
  drift(rows: Array<{ modelVersion: string; plant: string; maxPsi: number }>): void;
  /** Per input partition held here: records after the committed offset, and whether it is stuck. */
  partitions(
    rows: Array<{ topic: string; partition: number; lag: number; stillMs: number; stuck: boolean }>,
  ): void;
  delivery(outcome: string): void;
  /** Where the device clocks are read from at scrape time. */
  watchClocks(read: () => ClockReading[]): void;
  /** Where the cameras' cadence and frame shares are read from at scrape time. */
  watchCameras(
    read: () => Array<{
      plant: string;
      asset: string;
      camera: string;
      periodMs: number | null;
      windows: number;
      withFrame: number;
    }>,
  ): void;
  /** Where alert counts by state and severity are read from at scrape time (the store). */
  watchAlerts(read: () => Promise<Array<{ state: string; severity: string; n: number }>>): void;
}

export function createMetrics(topics: Record<string, string> = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tributary_process_' });
  const records = new Counter({
    name: 'tributary_records_total',
    help: 'Input records handled, by modality and topic (rate() gives records per second)',
    labelNames: ['modality', 'topic'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'tributary_dead_letters_total',
    help: 'Records sent to the dead-letter topic or table',
    labelNames: ['modality'],
    registers: [registry],
  });
  const late = new Counter({
    name: 'tributary_late_records_total',
    help: 'Records written to the late log (late or quarantined)',
    labelNames: ['modality'],
    registers: [registry],
  });
  const windows = new Counter({
    name: 'tributary_windows_total',
    help: 'Window tuples emitted (revisions included)',
    registers: [registry],
  });
  const alerts = new Counter({
    name: 'tributary_alerts_opened_total',
    help: 'Alerts opened',
    registers: [registry],
  });
  const lagGauge = new Gauge({
    name: 'tributary_consumer_lag_records',
    help: "Records on a partition after the group's committed offset (log-end − committed)",
    labelNames: ['topic', 'partition'],
    registers: [registry],
  });
  const stillGauge = new Gauge({
    name: 'tributary_consumer_commit_still_seconds',
    help: "How long a partition's committed offset has not moved while it has lag",
    labelNames: ['topic', 'partition'],
    registers: [registry],
  });
  const stuckGauge = new Gauge({
    name: 'tributary_partition_stuck',
    help: '1 while a partition has lag and its committed offset has not moved for kafka.stuckAfterMs',
    labelNames: ['topic', 'partition'],
    registers: [registry],
  });
  const closeToCommit = new Histogram({
    name: 'tributary_window_close_to_commit_seconds',
    help: 'From a window closing to its score committed in the store',
    registers: [registry],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
  });
  const batchSize = new Histogram({
    name: 'tributary_scoring_batch_windows',
    help: 'Windows scored together in one batch',
    registers: [registry],
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
  });
  const scoringTime = new Histogram({
    name: 'tributary_scoring_seconds',
    help: 'Time to score one batch of windows',
    registers: [registry],
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  });
  const driftGauge = new Gauge({
    name: 'tributary_model_input_drift_psi',
    help: "Largest population stability index of a fusion model's sensor features over recent windows against its training inputs (> 0.25: shifted)",
    labelNames: ['model', 'plant'],
    registers: [registry],
  });
  const deliveries = new Counter({
    name: 'tributary_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (delivered, retry, failed, disabled)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  let elu = performance.eventLoopUtilization();
  new Gauge({
    name: 'tributary_event_loop_utilization',
    help: 'Share of time the event loop was busy since the previous scrape',
    registers: [registry],
    collect() {
      const now = performance.eventLoopUtilization();
      this.set(performance.eventLoopUtilization(now, elu).utilization);
      elu = now;
    },
  });
  let readAlerts: () => Promise<Array<{ state: string; severity: string; n: number }>> = async () => [];
  new Gauge({
    name: 'tributary_alerts',
    help: 'Alerts by state and severity',
    labelNames: ['state', 'severity'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await readAlerts().catch(() => []))
        this.set({ state: r.state, severity: r.severity }, r.n);
    },
  });
  // Device clocks are read when Prometheus scrapes, not on every batch; once per scrape for the five
  // gauges (a plant of 10 000 assets has 20 000 device clocks).
  let readClocksNow: () => ClockReading[] = () => [];
  let cached: { at: number; rows: ClockReading[] } | null = null;
  const readClocks = () => {
    if (!cached || performance.now() - cached.at > 1000)
      cached = { at: performance.now(), rows: readClocksNow() };
    return cached.rows;
  };
  /** A gauge set at scrape time from rows read then: one series per row, labelled by `key`. */
  const scraped =
    <R, K extends string>(rows: () => R[], key: readonly K[], labelOf: (r: R) => Record<K, string>) =>
    (name: string, help: string, value: (r: R) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: key,
        registers: [registry],
        collect() {
          this.reset();
          for (const r of rows()) {
            const v = value(r);
            if (v !== null) this.set(labelOf(r), v);
          }
        },
      });
  const clockGauge = scraped(readClocks, ['plant', 'asset', 'device'] as const, (r) => ({
    plant: r.plant,
    asset: r.asset,
    device: r.device,
  }));
  clockGauge(
    'tributary_clock_offset_ms',
    'Correction applied to a device clock (corrected − device time)',
    (r) => r.offsetMs,
  );
  clockGauge('tributary_clock_drift_ppm', 'Estimated drift of a device clock', (r) => r.driftPpm);
  clockGauge(
    'tributary_clock_uncertainty_ms',
    'Uncertainty of a device clock estimate',
    (r) => r.uncertaintyMs,
  );
  clockGauge(
    'tributary_clock_stamp_jitter_ms',
    "Median distance of a device's stamps from its stamp-per-sequence-number line",
    (r) => r.stampJitterMs,
  );
  clockGauge('tributary_clock_steps', 'Clock steps detected on a device', (r) => r.steps);
  clockGauge('tributary_clock_corrected', '1 while a device clock correction is applied', (r) =>
    r.corrected ? 1 : 0,
  );
  let readCameras: Parameters<Metrics['watchCameras']>[0] = () => [];
  const cameraGauge = scraped(
    () => readCameras(),
    ['plant', 'asset', 'camera'] as const,
    (r) => ({ plant: r.plant, asset: r.asset, camera: r.camera }),
  );
  cameraGauge(
    'tributary_camera_period_seconds',
    "A camera's frame period (configured, or the median gap between its frames)",
    (r) => (r.periodMs === null ? null : r.periodMs / 1000),
  );
  cameraGauge(
    'tributary_camera_window_frame_ratio',
    "Share of its asset's windows that had a usable frame of this camera",
    (r) => (r.windows ? r.withFrame / r.windows : null),
  );
  return {
    registry,
    watchCameras(read) {
      readCameras = read;
    },
    batch(s) {
      records.inc({ modality: s.modality, topic: topics[s.modality] ?? s.modality }, s.records);
      if (s.rejected) rejected.inc({ modality: s.modality }, s.rejected);
      if (s.late) late.inc({ modality: s.modality }, s.late);
      if (s.windows) windows.inc(s.windows);
      if (s.alertsOpened) alerts.inc(s.alertsOpened);
    },
    scored(s) {
      for (let i = 0; i < s.scored; i++) closeToCommit.observe(s.closeToCommitMs / 1000);
      batchSize.observe(s.scored);
      scoringTime.observe(s.scoringMs / 1000);
    },
    partitions(rows) {
      for (const g of [lagGauge, stillGauge, stuckGauge]) g.reset();
      for (const r of rows) {
        const labels = { topic: r.topic, partition: String(r.partition) };
        lagGauge.set(labels, r.lag);
        stillGauge.set(labels, r.stillMs / 1000);
        stuckGauge.set(labels, r.stuck ? 1 : 0);
      }
    },
    delivery(outcome) {
      deliveries.inc({ outcome });
    },
    drift(rows) {
      for (const r of rows) driftGauge.set({ model: r.modelVersion, plant: r.plant }, r.maxPsi);
    },
    watchClocks(read) {
      readClocksNow = read;
      cached = null;
    },
    watchAlerts(read) {
      readAlerts = read;
    },
  };
}
