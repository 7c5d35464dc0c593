/**
 * The alert work that time drives, run on a timer by the service: snoozes that end, alerts nobody
 * acknowledged, and data-quality alerts from the pipeline's stream and clock states. Also keeps the rule
 * set the pipeline evaluates in step with the database (the API can change it).
 */
import type { Logger } from 'pino';
import type { AlertRule, Config } from '../schemas/index.js';
import {
  activeAlerts,
  activeModelDrift,
  changeAlert,
  eventIdOf,
  listRules,
  writeAlertChanges,
  type Db,
} from '../store/index.js';
import { timedChanges } from './lifecycle.js';
import { partitionAsset, type PartitionLag } from '../ingest/lag.js';
import { qualityChecks, type ClockState, type StreamState } from './quality.js';
import { configuredRules } from './rules.js';

/** The stored drift figures a plant's drift is judged on: the last 10 minutes of them. */
const DRIFT_SPAN_MS = 600_000;

export interface AlertJobs {
  /** The rule set in force (refreshed from the database). */
  rules(): AlertRule[];
  refreshRules(): Promise<void>;
  /** One round of checks at `now`; resolves with the number of changes. */
  check(now?: number): Promise<number>;
  stop(): void;
}

export function startAlertJobs(o: {
  db: Db;
  cfg: Config;
  logger: Logger;
  streams: () => StreamState[];
  clocks: () => ClockState[];
  /** The lag of the input partitions this instance holds (Kafka mode). */
  partitions?: () => PartitionLag[];
  onChange: () => void;
  clock?: () => number;
  autostart?: boolean;
}): AlertJobs {
  const { db, cfg, logger } = o;
  const now = o.clock ?? Date.now;
  let rules = configuredRules(cfg.alerts);

  async function refreshRules() {
    const rows = await listRules(db);
    if (rows.length) rules = rows.map((r) => r.rule);
  }

  async function check(at = now()): Promise<number> {
    let n = 0;
    const active = await activeAlerts(db);
    for (const c of timedChanges(active, at, cfg.alerts.escalateUnacknowledgedMs)) {
      await changeAlert(db, c.alert.id, at, (cur, unackEscalated) => {
        // Decided on a read outside the lock: re-check against the locked row.
        if (cur.state === 'resolved') return null;
        if (
          c.event === 'alert.snooze_expired' &&
          cur.snoozedUntil !== c.alert.snoozedUntil &&
          cur.snoozedUntil !== null &&
          cur.snoozedUntil > at
        )
          return null;
        if (c.event === 'alert.escalated' && (unackEscalated || cur.state !== 'open')) return null;
        return {
          alert: {
            ...cur,
            snoozedUntil: c.event === 'alert.snooze_expired' ? null : cur.snoozedUntil,
            severity: c.alert.severity,
          },
          event: c.event,
          by: 'system',
          comment: c.reason,
          unackEscalated: c.unackEscalated,
          eventId: eventIdOf(
            c.alert.id,
            c.event,
            c.event === 'alert.escalated' ? 'unacknowledged' : String(cur.snoozedUntil),
          ),
        };
      });
      n++;
    }
    // Data quality: only for the assets and partitions this instance consumes (their streams are here).
    const streams = o.streams();
    const partitions = o.partitions?.() ?? [];
    const mine = new Set([
      ...streams.map((s) => s.asset),
      ...partitions.map((p) => partitionAsset(p.topic, p.partition)),
    ]);
    // Model drift is plant-scoped: every instance judges it on the drift figures all of them stored, so
    // they agree, and the shared alert table keeps one alert per plant and model.
    const drift = cfg.alerts.driftPsi > 0 ? await activeModelDrift(db, at - DRIFT_SPAN_MS, at + 1) : [];
    const openDq = active
      .map((x) => x.alert)
      .filter((a) => a.kind === 'data_quality' && (mine.has(a.asset) || a.rule === 'dq:model-drift'));
    const dq = qualityChecks(streams, o.clocks(), openDq, at, cfg.alerts, partitions, drift);
    if (dq.length) {
      await db.transaction((tx) =>
        writeAlertChanges(
          tx,
          dq.map((d) => ({
            alert: d.alert,
            type: d.kind === 'opened' ? ('alert.opened' as const) : ('alert.resolved' as const),
            by: `rule:${d.alert.rule}`,
            eventId: eventIdOf(d.alert.id, d.kind),
            at,
          })),
          at,
        ),
      );
      n += dq.length;
    }
    if (n) o.onChange();
    return n;
  }

  let timer: NodeJS.Timeout | null = null;
  if (o.autostart !== false) {
    const run = () => {
      refreshRules()
        .then(() => check())
        .catch((e) => logger.warn({ err: (e as Error).message }, 'alert checks failed; retrying'));
    };
    timer = setInterval(run, cfg.alerts.checkEveryMs);
    timer.unref();
  }
  return {
    rules: () => rules,
    refreshRules,
    check,
    stop: () => {
      if (timer) clearInterval(timer);
    },
  };
}
