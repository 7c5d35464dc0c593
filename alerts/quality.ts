/**
 * Data-quality alerts, decided on processing time (a silent stream produces no windows to score):
 * - `dq:sensors-silent`: no sensor record for silentAfterMs;
 * - `dq:camera-silent`: an asset whose camera has delivered frames has sent none for silentAfterMs;
 * - `dq:clock-uncertain`: a device whose clock correction is in use has become less certain than
 *   clockUncertaintyMs;
 * - `dq:partition-stuck`: an input partition with records waiting whose offsets have not moved for
 *   kafka.stuckAfterMs (plant `_service`, asset `kafka:<topic>:<partition>`);
 * - `dq:model-drift`: the active fusion model's inputs in a plant have drifted from its training inputs
 *   (PSI at or above driftPsi; held until below 0.4 × driftPsi), plant-scoped: asset `model:<version>`.
 * Each opens once and resolves when the condition ends. Ids follow (asset, rule, opened at; for drift
 * the plant too).
 */
import type { Alert, Config } from '../schemas/index.js';
import { partitionAsset, type PartitionLag } from '../ingest/lag.js';
import { alertId, timelineLink } from './rules.js';

export interface StreamState {
  plant: string;
  asset: string;
  sensorsLastSeen: number | null;
  imagesLastSeen: number | null;
}
/** `corrected`: the correction is in use (a replay of history, whose stamps are kept as given, is not judged). */
export interface ClockState {
  plant: string;
  asset: string;
  device: string;
  uncertaintyMs: number | null;
  corrected?: boolean;
}
export type QualityDecision = { kind: 'opened' | 'resolved'; alert: Alert };
/** A plant's drift figure for the active model (see store activeModelDrift). */
export interface PlantDrift {
  modelVersion: string;
  plant: string;
  psi: number;
  feature: string | null;
}
/** The asset a plant-scoped drift alert is kept under. */
export const driftAsset = (modelVersion: string) => `model:${modelVersion}`;

export function qualityChecks(
  streams: StreamState[],
  clocks: ClockState[],
  open: Alert[],
  now: number,
  cfg: Config['alerts'],
  partitions: PartitionLag[] = [],
  drift: PlantDrift[] = [],
): QualityDecision[] {
  const want = new Map<
    string,
    { plant: string; asset: string; rule: string; since: number; reason: string }
  >();
  const put = (plant: string, asset: string, rule: string, since: number, reason: string) =>
    want.set(`${plant}\u0000${asset}\u0000${rule}`, { plant, asset, rule, since, reason });
  for (const s of streams) {
    if (s.sensorsLastSeen !== null && now - s.sensorsLastSeen >= cfg.silentAfterMs) {
      put(
        s.plant,
        s.asset,
        'dq:sensors-silent',
        s.sensorsLastSeen,
        `no sensor data for ${Math.round((now - s.sensorsLastSeen) / 60_000)} min`,
      );
    }
    if (s.imagesLastSeen !== null && now - s.imagesLastSeen >= cfg.silentAfterMs) {
      put(
        s.plant,
        s.asset,
        'dq:camera-silent',
        s.imagesLastSeen,
        `camera offline: no frame for ${Math.round((now - s.imagesLastSeen) / 60_000)} min`,
      );
    }
  }
  if (cfg.clockUncertaintyMs > 0) {
    for (const c of clocks) {
      if (
        c.corrected !== false &&
        c.uncertaintyMs !== null &&
        c.uncertaintyMs > cfg.clockUncertaintyMs &&
        !want.has(`${c.plant}\u0000${c.asset}\u0000dq:clock-uncertain`)
      ) {
        put(
          c.plant,
          c.asset,
          'dq:clock-uncertain',
          now,
          `clock of ${c.device} uncertain by ${Math.round(c.uncertaintyMs)} ms`,
        );
      }
    }
  }
  for (const p of partitions) {
    if (!p.stuck) continue;
    put(
      '_service',
      partitionAsset(p.topic, p.partition),
      'dq:partition-stuck',
      now - p.stillMs,
      `partition ${p.partition} of ${p.topic}: ${p.pending} records wait (${p.lag} after the committed offset ${p.committed}), no progress for ${Math.round(p.stillMs / 60_000)} min`,
    );
  }
  if (cfg.driftPsi > 0) {
    const held = new Set(
      open
        .filter((a) => a.rule === 'dq:model-drift' && a.state !== 'resolved')
        .map((a) => `${a.plant}\u0000${a.asset}`),
    );
    for (const d of drift) {
      const asset = driftAsset(d.modelVersion);
      const line = held.has(`${d.plant}\u0000${asset}`) ? 0.4 * cfg.driftPsi : cfg.driftPsi;
      if (d.psi >= line)
        put(
          d.plant,
          asset,
          'dq:model-drift',
          now,
          `inputs of ${d.modelVersion} in plant ${d.plant} drifted from its training data: PSI ${d.psi.toFixed(2)}${d.feature ? ` (most: ${d.feature})` : ''}`,
        );
    }
  }
  const out: QualityDecision[] = [];
  const openKeys = new Set<string>();
  for (const a of open) {
    if (a.kind !== 'data_quality' || a.state === 'resolved') continue;
    const key = `${a.plant}\u0000${a.asset}\u0000${a.rule}`;
    openKeys.add(key);
    if (!want.has(key))
      out.push({
        kind: 'resolved',
        alert: { ...a, state: 'resolved', resolvedWindow: now, lastWindow: now },
      });
  }
  for (const [key, w] of want) {
    if (openKeys.has(key)) continue;
    out.push({
      kind: 'opened',
      alert: {
        // A drift alert's asset names the model, the same in every plant: its id names the plant too.
        id: alertId(w.rule === 'dq:model-drift' ? `${w.plant}:${w.asset}` : w.asset, w.rule, w.since),
        plant: w.plant,
        asset: w.asset,
        rule: w.rule,
        kind: 'data_quality',
        state: 'open',
        severity: 'warning',
        openedWindow: w.since,
        lastWindow: now,
        resolvedWindow: null,
        peakScore: 0,
        modelVersion: '',
        contributions: {},
        topModality: w.rule === 'dq:camera-silent' ? 'images' : 'sensors',
        topChannel: null,
        notes: [],
        acknowledgedBy: null,
        acknowledgedAt: null,
        snoozedUntil: null,
        resolvedBy: null,
        reason: w.reason,
        links: { timeline: timelineLink(cfg.publicUrl, w.asset, w.since) },
      },
    });
  }
  return out;
}
