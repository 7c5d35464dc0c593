/**
 * The rule engine: per asset and rule, decides from each window's score when an alert opens, escalates and
 * resolves. Pure and deterministic: its state is plain data checkpointed with the window state, and alert
 * ids are derived from (asset, rule, first window of the run), so a replay decides, and writes, the same.
 *
 *   idle ──(score ≥ openAbove in openK of the last openN windows)──▶ open
 *   open ──(severity rises: by score, or by windows anomalous)──▶ open (alert.escalated)
 *   open ──(closeM consecutive windows < closeBelow)──▶ resolved ──▶ cooldown (cooldownWindows) ──▶ idle
 * Between closeBelow and openAbove a window counts as neither (hysteresis). Acknowledge, snooze and manual
 * resolve are the lifecycle's (alerts/lifecycle.ts); they do not move the engine: after a manual resolve
 * a new alert opens only once the condition has cleared and come back.
 */
import { createHash } from 'node:crypto';
import {
  matchesAny,
  modalityOfChannel,
  SEVERITY_RANK,
  type Alert,
  type AlertRule,
  type Config,
  type ScoreRow,
  type Severity,
  type TupleNote,
} from '../schemas/index.js';

export interface RuleRunState {
  /** The last openN windows: [window start, anomalous]. */
  recent: Array<[number, boolean]>;
  below: number;
  /** Windows left in the cooldown after a resolve. */
  cooldown: number;
  /** Anomalous windows since the alert opened. */
  anomalous: number;
  open: Alert | null;
}
/** Per asset: rule id → state. */
export type AssetRuleStates = Record<string, RuleRunState>;

export const initialRunState = (): RuleRunState => ({
  recent: [],
  below: 0,
  cooldown: 0,
  anomalous: 0,
  open: null,
});

export type Decision = { kind: 'opened' | 'updated' | 'escalated' | 'resolved'; alert: Alert };

export function alertId(asset: string, rule: string, openedWindow: number): string {
  return createHash('sha256').update(`${asset}\u0000${rule}\u0000${openedWindow}`).digest('hex').slice(0, 32);
}

/** The configured rules, or the default rule built from threshold / openAfter / resolveAfter. */
export function configuredRules(a: Config['alerts']): AlertRule[] {
  if (a.rules.length) return a.rules;
  return [
    {
      id: 'default',
      description: 'score ≥ threshold in openAfter consecutive windows',
      plants: [],
      assets: [],
      openAbove: a.threshold,
      openK: a.openAfter,
      openN: a.openAfter,
      closeBelow: a.threshold,
      closeM: a.resolveAfter,
      cooldownWindows: 0,
      severity: {
        major: { above: 2 * a.threshold, windows: 30 },
        critical: { above: 4 * a.threshold, windows: 120 },
      },
      enabled: true,
    },
  ];
}

export const ruleApplies = (r: AlertRule, plant: string, asset: string) =>
  r.enabled && matchesAny(r.plants, plant) && matchesAny(r.assets, asset);

export function severityOf(r: AlertRule, peak: number, anomalous: number): Severity {
  const hit = (l: { above?: number; windows?: number }) =>
    (l.above !== undefined && peak >= l.above) || (l.windows !== undefined && anomalous >= l.windows);
  return hit(r.severity.critical) ? 'critical' : hit(r.severity.major) ? 'major' : 'warning';
}

/** The modality and channel that weigh most in a score's contributions. */
export function topOf(contributions: Record<string, number>): {
  topModality: Alert['topModality'];
  topChannel: string | null;
} {
  const top = Object.entries(contributions).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
  if (!top) return { topModality: null, topChannel: null };
  return { topModality: modalityOfChannel(top[0]), topChannel: top[0] };
}

export const timelineLink = (publicUrl: string, asset: string, from: number) =>
  `${publicUrl.replace(/\/$/, '')}/v1/assets/${encodeURIComponent(asset)}/timeline?from=${new Date(from - 3_600_000).toISOString()}`;

export interface RuleContext {
  publicUrl: string;
  notes?: TupleNote[];
}

const snap = (a: Alert): Alert => ({
  ...a,
  notes: [...a.notes],
  contributions: { ...a.contributions },
  links: { ...a.links },
});

/** One scored window through one rule. */
export function evaluateRule(row: ScoreRow, s: RuleRunState, r: AlertRule, ctx: RuleContext): Decision[] {
  if (row.status !== 'scored' || row.score === null) return [];
  const score = row.score;
  const anomalous = score >= r.openAbove;
  if (!s.open && s.cooldown > 0) {
    s.cooldown--;
    return [];
  }
  s.recent.push([row.windowStart, anomalous]);
  if (s.recent.length > r.openN) s.recent.splice(0, s.recent.length - r.openN);

  if (!s.open) {
    const hits = s.recent.filter(([, a]) => a);
    if (!anomalous || hits.length < r.openK) return [];
    const openedWindow = hits[0][0];
    s.anomalous = hits.length;
    s.below = 0;
    s.open = {
      id: alertId(row.asset, r.id, openedWindow),
      plant: row.plant,
      asset: row.asset,
      rule: r.id,
      kind: 'anomaly',
      state: 'open',
      severity: severityOf(r, score, s.anomalous),
      openedWindow,
      lastWindow: row.windowStart,
      resolvedWindow: null,
      peakScore: score,
      modelVersion: row.modelVersion,
      contributions: row.contributions,
      ...topOf(row.contributions),
      notes: (ctx.notes ?? []).map((n) => ({ ts: n.ts, author: n.author, text: n.text })),
      acknowledgedBy: null,
      acknowledgedAt: null,
      snoozedUntil: null,
      resolvedBy: null,
      reason: null,
      links: { timeline: timelineLink(ctx.publicUrl, row.asset, openedWindow) },
    };
    return [{ kind: 'opened', alert: snap(s.open) }];
  }

  const a = s.open;
  if (score < r.closeBelow) s.below++;
  else s.below = 0;
  if (s.below >= r.closeM) {
    const resolved: Alert = { ...snap(a), state: 'resolved', resolvedWindow: row.windowStart };
    s.open = null;
    s.recent = [];
    s.cooldown = r.cooldownWindows;
    s.anomalous = 0;
    return [{ kind: 'resolved', alert: resolved }];
  }
  if (!anomalous) return [];
  s.anomalous++;
  a.lastWindow = row.windowStart;
  if (score > a.peakScore) {
    a.peakScore = score;
    a.contributions = row.contributions;
    Object.assign(a, topOf(row.contributions));
  }
  if (ctx.notes?.length) {
    const seen = new Set(a.notes.map((n) => `${n.ts}\u0000${n.text}`));
    for (const n of ctx.notes)
      if (!seen.has(`${n.ts}\u0000${n.text}`) && a.notes.length < 20)
        a.notes.push({ ts: n.ts, author: n.author, text: n.text });
  }
  const sev = severityOf(r, a.peakScore, s.anomalous);
  if (SEVERITY_RANK[sev] > SEVERITY_RANK[a.severity]) {
    a.severity = sev;
    return [{ kind: 'escalated', alert: snap(a) }];
  }
  return [{ kind: 'updated', alert: snap(a) }];
}

/** Every applicable rule for one window; `states` (the asset's) is advanced in place. */
export function evaluateRules(
  row: ScoreRow,
  states: AssetRuleStates,
  rules: AlertRule[],
  ctx: RuleContext,
): Decision[] {
  const out: Decision[] = [];
  for (const r of rules) {
    if (!ruleApplies(r, row.plant, row.asset)) continue;
    out.push(...evaluateRule(row, (states[r.id] ??= initialRunState()), r, ctx));
  }
  return out;
}
