/**
 * The live stream (Server-Sent Events): each asset's latest score and every alert event, filterable by
 * plant and asset. One poller per process reads the store (the asset catalogue and the alert event log),
 * so every instance of a group streams the whole plant, whichever partitions it owns; it runs only while
 * someone listens. Rows are read with an overlap (a transaction's now() can commit late) and de-duplicated.
 */
import { changesSince, databaseNow, type Queryable } from '../store/index.js';

export interface StreamEvent {
  type: 'score' | 'alert';
  plant: string;
  asset: string;
  data: unknown;
}
export interface StreamClient {
  plants: string[] | null;
  plant?: string;
  asset?: string;
  send(e: StreamEvent): void;
}

export interface EventHub {
  subscribe(c: StreamClient): () => void;
  clients(): number;
  /** One poll now (tests); resolves with the events sent. */
  poll(): Promise<number>;
  stop(): void;
}

const OVERLAP_MS = 5_000;

export function createEventHub(db: Queryable, o: { pollMs: number; onError?: (e: Error) => void }): EventHub {
  const clients = new Set<StreamClient>();
  let timer: NodeJS.Timeout | null = null;
  let cursor: number | null = null;
  let seen = new Map<string, number>();
  let busy = false;

  const matches = (c: StreamClient, e: StreamEvent) =>
    (!c.plants || c.plants.includes(e.plant)) &&
    (!c.plant || c.plant === e.plant) &&
    (!c.asset || c.asset === e.asset);

  async function poll(): Promise<number> {
    if (busy) return 0;
    busy = true;
    try {
      // Start from the database's clock, so the cursor and the rows' stamps share one clock.
      const now = await databaseNow(db);
      // The first poll only learns what is already there (the overlap would otherwise replay it).
      const priming = cursor === null;
      const since = new Date((cursor ?? now) - OVERLAP_MS).toISOString();
      const changes = await changesSince(db, since);
      const out: StreamEvent[] = [];
      const next = new Map<string, number>();
      const fresh = (key: string, stamp: number) => {
        next.set(key, stamp);
        return !seen.has(key);
      };
      for (const s of changes.assets) {
        const windowStart = new Date(s.last_window).toISOString();
        if (!fresh(`s:${s.asset}:${windowStart}:${s.last_score}`, new Date(s.updated_at).getTime())) continue;
        out.push({
          type: 'score',
          plant: s.plant,
          asset: s.asset,
          data: {
            plant: s.plant,
            asset: s.asset,
            windowStart,
            status: s.last_status,
            score: s.last_score,
            model: s.last_model,
            contributions: s.contributions,
          },
        });
      }
      for (const e of changes.events) {
        if (!fresh(`a:${e.event_id}`, new Date(e.recorded_at).getTime())) continue;
        out.push({
          type: 'alert',
          plant: e.plant,
          asset: e.asset,
          data: {
            eventId: e.event_id,
            alertId: e.alert_id,
            type: e.type,
            at: new Date(e.at).toISOString(),
            by: e.by,
            comment: e.comment,
            alert: e.data,
          },
        });
      }
      // Keep only keys the next overlap can see again.
      for (const [k, t] of seen) if (t >= now - 2 * OVERLAP_MS && !next.has(k)) next.set(k, t);
      seen = next;
      cursor = now;
      if (priming) return 0;
      for (const e of out) for (const c of clients) if (matches(c, e)) c.send(e);
      return out.length;
    } finally {
      busy = false;
    }
  }

  const schedule = () => {
    if (timer || !clients.size) return;
    timer = setInterval(() => {
      poll().catch((e) => o.onError?.(e as Error));
    }, o.pollMs);
    timer.unref();
  };

  return {
    subscribe(c) {
      clients.add(c);
      schedule();
      return () => {
        clients.delete(c);
        if (!clients.size && timer) {
          clearInterval(timer);
          timer = null;
          cursor = null;
          seen.clear();
        }
      };
    },
    clients: () => clients.size,
    poll,
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      clients.clear();
    },
  };
}
