/**
 * A model version's operating threshold: the score at or above which its windows count as anomalous, for
 * its alert rules, the score roll-ups and the history's "above threshold". A calibrated fusion model
 * scores an anomaly probability and carries its threshold in its card (0.999 when the card gives no
 * number); every other model scores on the alert threshold's scale (null here: `alerts.threshold` applies).
 * store/migrations.ts has the same rule in SQL (CALIBRATED_THRESHOLD_SQL) for models registered before it.
 */
export function operatingThreshold(m: { calibration?: unknown; card?: unknown }): number | null {
  if (!m.calibration || typeof m.calibration !== 'object') return null;
  const given =
    m.card && typeof m.card === 'object' ? (m.card as Record<string, unknown>).threshold : undefined;
  const t =
    typeof given === 'number' ? given : typeof given === 'string' && NUMBER.test(given) ? Number(given) : NaN;
  return Number.isFinite(t) ? t : DEFAULT_CALIBRATED_THRESHOLD;
}

/** A decimal number as text (what PostgreSQL's float8 input takes, and migration 10 tests for). */
const NUMBER = /^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$/;
const DEFAULT_CALIBRATED_THRESHOLD = 0.999;
