/**
 * Alert rule "consecutive": per asset, an alert opens when `openAfter` consecutive scored windows are at or
 * above `threshold`, and resolves after `resolveAfter` consecutive windows below it (hysteresis in time).
 * One open alert per asset and rule.
 *
 *   idle ──(openAfter windows ≥ threshold)──▶ open ──(resolveAfter windows < threshold)──▶ idle
 *
 * The state is plain data, checkpointed with the window state, so a replay decides the same. Alert ids are
 * derived from (asset, rule, first window of the run), so re-writing a decision after a crash is a no-op.
 */
import { createHash } from 'node:crypto';
import type { Alert, Config, ScoreRow } from '../schemas/index.js';

export const RULE = 'score-consecutive';

export interface RuleState {
  above: number;
  below: number;
  /** Start of the current run of anomalous windows. */
  runStart: number | null;
  open: Alert | null;
}

export const initialRuleState = (): RuleState => ({ above: 0, below: 0, runStart: null, open: null });

export type AlertDecision = { kind: 'opened' | 'updated' | 'resolved'; alert: Alert } | null;

export function alertId(asset: string, rule: string, openedWindow: number): string {
  return createHash('sha256').update(`${asset}\u0000${rule}\u0000${openedWindow}`).digest('hex').slice(0, 32);
}

export function evaluate(row: ScoreRow, s: RuleState, cfg: Config['alerts']): AlertDecision {
  if (row.status !== 'scored' || row.score === null) return null;
  const anomalous = row.score >= cfg.threshold;
  if (anomalous) {
    s.below = 0;
    s.above++;
    if (s.runStart === null) s.runStart = row.windowStart;
  } else {
    s.above = 0;
    s.runStart = null;
    s.below++;
  }
  if (!s.open) {
    if (s.above >= cfg.openAfter && s.runStart !== null) {
      s.open = {
        id: alertId(row.asset, RULE, s.runStart), plant: row.plant, asset: row.asset, rule: RULE, state: 'open',
        openedWindow: s.runStart, lastWindow: row.windowStart, resolvedWindow: null, peakScore: row.score,
        modelVersion: row.modelVersion, contributions: row.contributions,
      };
      return { kind: 'opened', alert: { ...s.open } };
    }
    return null;
  }
  if (anomalous) {
    s.open.lastWindow = row.windowStart;
    if (row.score > s.open.peakScore) { s.open.peakScore = row.score; s.open.contributions = row.contributions; }
    return { kind: 'updated', alert: { ...s.open } };
  }
  if (s.below >= cfg.resolveAfter) {
    const resolved: Alert = { ...s.open, state: 'resolved', resolvedWindow: row.windowStart };
    s.open = null;
    return { kind: 'resolved', alert: resolved };
  }
  return null;
}
