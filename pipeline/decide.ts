/**
 * Decide: the active model's score of each window through the alert rules. A window in a maintenance
 * window is flagged in every model's row and kept from the rules; an amended revision corrects the stored
 * score only (rules count windows as they first fire).
 */
import { evaluateRules } from '../alerts/index.js';
import { rulesForModel } from '../fusion/index.js';
import type { AlertEventType, AlertRule, Config, ScoreRow, WindowTuple } from '../schemas/index.js';
import { eventIdOf, maintenanceOf, type AlertChange, type MaintenanceWindow } from '../store/index.js';
import type { ScoredWindow } from './score.js';
import type { PartitionState } from './state.js';

const EVENT: Record<string, AlertEventType | null> = {
  opened: 'alert.opened',
  escalated: 'alert.escalated',
  resolved: 'alert.resolved',
  updated: null,
};

export interface Decided {
  /** Every model's rows, in window order, flagged where a maintenance window covers them. */
  scores: ScoreRow[];
  alerts: AlertChange[];
  alertsOpened: number;
}

export function decide(
  state: PartitionState,
  tuples: WindowTuple[],
  scored: ScoredWindow[],
  rules: AlertRule[],
  maintenance: readonly MaintenanceWindow[],
  cfg: Config,
): Decided {
  const out: Decided = { scores: [], alerts: [], alertsOpened: 0 };
  for (const [i, t] of tuples.entries()) {
    const { rows, active, activeFusion } = scored[i];
    const inMaintenance = maintenance.length
      ? maintenanceOf(maintenance, t.plant, t.asset, t.windowStart, t.windowEnd)
      : null;
    if (inMaintenance) {
      for (const row of rows)
        out.scores.push({ ...row, explanation: { ...row.explanation, maintenance: inMaintenance.id } });
      continue;
    }
    out.scores.push(...rows);
    if (t.revision !== 0 || !active) continue;
    const states = (state.rules[t.asset] ??= {});
    if (active.status === 'unscorable') continue;
    const inForce = activeFusion ? rulesForModel(rules, activeFusion) : rules;
    for (const d of evaluateRules(active, states, inForce, {
      publicUrl: cfg.alerts.publicUrl,
      notes: t.notes,
    })) {
      const type = EVENT[d.kind];
      if (d.kind === 'opened') out.alertsOpened++;
      // Event ids and times come from the decision and its window, so a replay writes nothing new.
      out.alerts.push({
        alert: d.alert,
        type,
        by: `rule:${d.alert.rule}`,
        eventId: type
          ? eventIdOf(d.alert.id, type, type === 'alert.escalated' ? d.alert.severity : '')
          : null,
        at:
          (d.kind === 'resolved' ? (d.alert.resolvedWindow ?? d.alert.lastWindow) : d.alert.lastWindow) +
          t.slideMs,
      });
    }
  }
  return out;
}
