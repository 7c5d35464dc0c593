/**
 * What people do to alerts, and what time does to them. Pure functions over an alert and "now"; the store
 * applies them in one transaction with the alert's event and its webhook outbox rows.
 *
 *   open ──acknowledge(by, comment)──▶ acknowledged ──resolve(by)──▶ resolved
 *   open | acknowledged ──snooze(until)──▶ same state, notifications of escalations held until `until`,
 *                                          then alert.snooze_expired
 *   open (nobody acknowledged it for escalateUnacknowledgedMs) ──▶ alert.escalated once, severity +1
 */
import { TributaryError } from '../schemas/errors.js';
import type { Alert, AlertEventType, Severity } from '../schemas/index.js';

export type AlertAction =
  | { type: 'acknowledge'; by: string; comment?: string | null }
  | { type: 'snooze'; by: string; until: number; comment?: string | null }
  | { type: 'resolve'; by: string; comment?: string | null };

/** An action the alert's state does not allow (409), or a field of the action that is invalid (400, named). */
export class LifecycleError extends TributaryError {
  constructor(message: string, field?: string) {
    super(field ? 'invalid_body' : 'conflict', message, { field });
  }
}

export function applyAction(
  a: Alert,
  act: AlertAction,
  now: number,
): { alert: Alert; event: AlertEventType } {
  if (a.state === 'resolved') throw new LifecycleError(`alert ${a.id} is resolved`);
  switch (act.type) {
    case 'acknowledge':
      if (a.state === 'acknowledged')
        throw new LifecycleError(`alert ${a.id} is already acknowledged by ${a.acknowledgedBy}`);
      return {
        alert: { ...a, state: 'acknowledged', acknowledgedBy: act.by, acknowledgedAt: now },
        event: 'alert.acknowledged',
      };
    case 'snooze':
      if (!(act.until > now)) throw new LifecycleError('until must be in the future', 'until');
      return { alert: { ...a, snoozedUntil: act.until }, event: 'alert.snoozed' };
    case 'resolve':
      return {
        alert: {
          ...a,
          state: 'resolved',
          resolvedBy: act.by,
          resolvedWindow: a.lastWindow,
          snoozedUntil: null,
        },
        event: 'alert.resolved',
      };
  }
}

export const isSnoozed = (a: Alert, now: number) => a.snoozedUntil !== null && a.snoozedUntil > now;

const NEXT: Record<Severity, Severity> = { warning: 'major', major: 'critical', critical: 'critical' };

export interface TimedCheckInput {
  alert: Alert;
  createdAt: number;
  unackEscalated: boolean;
}
export type TimedChange = {
  alert: Alert;
  event: 'alert.snooze_expired' | 'alert.escalated';
  reason: string;
  unackEscalated?: boolean;
};

/** Snoozes that ended and alerts nobody acknowledged in time. */
export function timedChanges(
  xs: TimedCheckInput[],
  now: number,
  escalateUnacknowledgedMs: number,
): TimedChange[] {
  const out: TimedChange[] = [];
  for (const { alert: a, createdAt, unackEscalated } of xs) {
    if (a.state === 'resolved') continue;
    if (a.snoozedUntil !== null && a.snoozedUntil <= now) {
      out.push({
        alert: { ...a, snoozedUntil: null },
        event: 'alert.snooze_expired',
        reason: 'the snooze ended',
      });
      continue;
    }
    if (
      escalateUnacknowledgedMs > 0 &&
      a.state === 'open' &&
      !unackEscalated &&
      !isSnoozed(a, now) &&
      now - createdAt >= escalateUnacknowledgedMs
    ) {
      out.push({
        alert: { ...a, severity: NEXT[a.severity] },
        event: 'alert.escalated',
        reason: `not acknowledged within ${Math.round(escalateUnacknowledgedMs / 60_000)} min`,
        unackEscalated: true,
      });
    }
  }
  return out;
}
